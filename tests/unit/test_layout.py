"""The layout shows the data flow. In the package, a later stage never imports an earlier
stage's heavy machinery (the offline build loading the resolver or the index client). In the
test tree, helpers shared between test modules live in tests/support and shared fixtures in a
conftest.py, so no module imports a test module or a conftest (that would run another module's
collection-time code, re-collect its fixtures and hide where a helper lives)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_names(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The modules an import statement names and the names it takes from one, dotted and
    absolute (a relative import resolved against ``package``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        parent = parts[: len(parts) - node.level + 1]
        base = ".".join([*parent, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def imports_of_test_modules(source: str, package: str) -> list[str]:
    """``line: statement`` for each import, anywhere in the source, of a test module
    (``test_*``) or a conftest, or of a name from one."""
    return [
        f"{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            part.startswith("test_") or part == "conftest"
            for name in imported_names(node, package)
            for part in name.split(".")
        )
    ]


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    """Guards the layout: a helper or fixture imported from a test module fails here, naming
    the file and line, until it moves to tests/support or a conftest.py."""
    found = []
    files = sorted([*(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").rglob("*.py")])
    assert len(files) > 100  # the scan sees the whole tree
    for path in files:
        package = ".".join(path.relative_to(ROOT).parent.parts)
        for hit in imports_of_test_modules(path.read_text(), package):
            found.append(f"{path.relative_to(ROOT)}:{hit}")
    assert not found, "move what these take to tests/support or a conftest.py:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "package"),
    [
        ("from tests.unit.test_lock import sample", "tests.hostile"),
        ("from tests.unit import test_lock", "tests.hostile"),
        ("import tests.functional.test_build_cli", "bench"),
        ("import tests.unit.test_lock as lock_tests", "tests.unit"),
        ("from .test_lock import sample", "tests.unit"),
        ("from . import test_lock", "tests.unit"),
        ("from ..functional.test_build_cli import build", "tests.unit"),
        ("from tests.functional.conftest import fetched", "tests.hostile"),
        ("from .conftest import image", "tests.unit"),
        ("def helper() -> None:\n    from tests.unit.test_lock import sample\n", "tests.unit"),
        ("if True:\n    import tests.unit.test_verify\n", "tests.unit"),
    ],
)
def test_every_shape_of_such_an_import_is_found(source: str, package: str) -> None:
    """Guards the scan itself: absolute, relative, aliased and nested imports of a test module
    or a conftest are each reported once."""
    assert len(imports_of_test_modules(source, package)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support.locks import sample",
        "from tests.support import golden",
        "import tests.support.fake_registry",
        "from .support.golden import build",
        "import pytest\nfrom mlenv.lockfile import loads",
    ],
)
def test_support_modules_and_libraries_may_be_imported(source: str) -> None:
    """Guards against a scan so wide it would push helpers out of tests/support too."""
    assert imports_of_test_modules(source, "tests") == []


# What locking needs and nothing after it may load: the resolver and the index client.
EARLIER_STAGES = ("resolvelib", "mlenv.resolver", "mlenv.locking", "mlenv.index", "httpx")


def modules_loaded_by(module: str) -> set[str]:
    """Every module a fresh interpreter holds after importing ``module`` alone."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(result.stdout))


@pytest.mark.parametrize(
    "module",
    [
        "mlenv.commands.build",
        "mlenv.oci.base",  # the base image of an offline build: no registry client
        "mlenv.commands.multiplatform",
        "mlenv.commands.verify",
        "mlenv.judge",
        "mlenv.cache.bundle",
        "mlenv.cache.lock_artifacts",
        "mlenv.oci.read",
        "mlenv.oci.write",
        "mlenv.lockfile",
    ],
)
def test_a_later_stage_does_not_load_the_resolver_or_the_index_client(module: str) -> None:
    """Guards the one-way data flow: the offline build reads a lock and the cache; a record
    conversion that pulls in the locking module (and with it resolvelib) fails here."""
    loaded = modules_loaded_by(module)
    assert module in loaded
    assert not loaded & set(EARLIER_STAGES), sorted(loaded & set(EARLIER_STAGES))


def test_the_stage_check_sees_an_earlier_stage() -> None:
    """Guards the check itself: the locking use case does load what it must not leak."""
    assert {"resolvelib", "mlenv.resolver", "mlenv.index"} <= modules_loaded_by("mlenv.locking")


# One concept per module: a module over MAX_LINES lines is a grab bag to split (issue #14).
MAX_LINES = 400
# Subpackages whose callers import each name from the submodule that owns it.
NO_REEXPORTS = (
    "mlenv/cli",
    "mlenv/commands",
    "mlenv/conda",
    "mlenv/cuda",
    "mlenv/importers",
    "mlenv/install",
    "mlenv/net",
    "mlenv/oci",
    "mlenv/resolver",
)


def test_no_module_grows_past_the_size_of_one_concept() -> None:
    """Guards the split of issue #14: every module holds one concept, so none grows past
    MAX_LINES lines."""
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in (ROOT / "mlenv").rglob("*.py")
    }
    assert len(sizes) > 80  # the scan sees the whole package
    over = sorted(path for path, lines in sizes.items() if lines > MAX_LINES)
    assert not over, f"split by concept: {over}"


@pytest.mark.parametrize("package", NO_REEXPORTS)
def test_subpackage_init_holds_only_its_docstring(package: str) -> None:
    """Guards one home per name: ``from mlenv.cuda.tags import extract``, never a second
    spelling through the package."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    assert len(tree.body) == 1
    assert isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant)
