"""Adversary pass 47: the resolver on inputs nobody here wrote, held to uv and pip.

A wheel's own METADATA Requires-Python was never read: the resolver judged only the index
page's ``data-requires-python``, which PEP 503 makes optional and a find-links directory never
has. A wheel saying ``Requires-Python: >=3.12`` was locked for CPython 3.11 (uv and pip both
pick the older release that runs; pip refuses to install the locked one)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from mlenv.index import CoreMetadata, IndexFile, MemoryIndex
from mlenv.lockfile_read import loads as load_lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cli import run_mlenv
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, write_simple_index

URL = "https://attack47.invalid/simple"


class _PageWithoutRequiresPython(MemoryIndex):
    """An index whose pages omit ``data-requires-python`` (PEP 503: optional)."""

    def files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        return tuple(replace(f, requires_python=None) for f in super().files(project))

    def metadata(self, file: IndexFile) -> CoreMetadata:
        (published,) = (f for f in super().files(file.name) if f.filename == file.filename)
        return super().metadata(published)


def _manifest(requires: list[str], url: str = URL, extra: str = "") -> str:
    deps = ", ".join(f'"{r}"' for r in requires)
    return (
        '[environment]\nname = "a47"\npython = "3.11"\nglibc = "2.28"\n'
        f'platforms = ["linux-64"]\n[pypi]\nindex-url = "{url}"\n{extra}'
        f"dependencies = [{deps}]\n"
    )


def _lock(wheels: list[tuple[str, bytes]], requires: list[str]) -> dict[str, str]:
    index = _PageWithoutRequiresPython(URL, dict(wheels))
    lock = lock_manifest(
        loads(_manifest(requires)), Sources(index, (URL,), ()), reporter=MemoryReporter()
    )
    return {pkg.name: pkg.version for _, pkg in lock.packages()}


def _world() -> list[tuple[str, bytes]]:
    return [
        build_wheel("a", "1.0", requires_python=">=3.8"),
        build_wheel("a", "2.0", requires_python=">=3.12"),
        build_wheel("b", "1.0", requires_dist=["a"]),
    ]


def test_metadata_requires_python_refuses_a_wheel_the_page_said_nothing_about() -> None:
    assert _lock(_world(), ["a"]) == {"a": "1.0"}
    assert _lock(_world(), ["b"]) == {"a": "1.0", "b": "1.0"}


def test_only_a_wheel_for_a_newer_python_is_an_error_naming_why() -> None:
    with pytest.raises(ResolutionError) as failure:
        _lock(_world(), ["a==2.0"])
    message = str(failure.value)
    assert "2.0" in message and ">=3.12" in message, message


def test_metadata_requires_python_reads_only_lower_bounds_as_the_page_does() -> None:
    wheels = [build_wheel("a", "1.0"), build_wheel("a", "2.0", requires_python=">=3.8,<3.11")]
    assert _lock(wheels, ["a"]) == {"a": "2.0"}


def test_a_find_links_directory_and_a_bare_page_agree_with_uv(tmp_path: Path) -> None:
    """Through `mlenv lock`: a find-links directory (no page at all) and an index page without
    data-requires-python; uv, on the same page, picks the same."""
    wheels = _world()
    url = write_simple_index(tmp_path / "index", wheels)
    page = tmp_path / "index" / "simple" / "a" / "index.html"
    page.write_text(re.sub(r' data-requires-python="[^"]*"', "", page.read_text()))
    links = tmp_path / "links"
    links.mkdir()
    for filename, data in wheels:
        (links / filename).write_bytes(data)
    requirements = tmp_path / "r.in"
    requirements.write_text("b\n")
    uv = subprocess.run(
        [tool("uv"), "pip", "compile", str(requirements), "--python-version", "3.11",
         "--python-platform", "x86_64-manylinux_2_28", "--no-cache", "--quiet",
         "--default-index", url, "--no-header", "-o", str(tmp_path / "uv.txt")],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert uv.returncode == 0, uv.stderr
    expected = pins_of((tmp_path / "uv.txt").read_text())
    assert expected == {"a": "1.0", "b": "1.0"}
    for name, extra in (
        ("page", ""),
        ("links", f'find-links = ["{links}"]\nindex-strategy = "best-match"\n'),
    ):
        root = tmp_path / f"project-{name}"
        root.mkdir()
        (root / "mlenv.toml").write_text(_manifest(["b"], url, extra))
        result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 0, result.stderr
        lock = load_lock((root / "mlenv.lock").read_text())
        assert {p.name: p.version for _, p in lock.packages()} == expected, name


def test_backjumping_does_not_skip_a_pin_that_required_the_conflict_with_an_extra() -> None:
    """a 3.0 needs b!=3.0; b 2.1 needs c[x]; c 3.0 needs b==3.0: b 2.0 resolves (uv: a 3.0,
    b 2.0). The conflict on b names c, the pin of b 2.1 named only c[x]: resolvelib jumped
    over it, blamed a 3.0, and reported no resolution."""
    wheels = [
        build_wheel("a", "3.0", requires_dist=["b!=3.0"]),
        build_wheel("b", "2.0"),
        build_wheel("b", "2.1", requires_dist=["c[x]==3.0"]),
        build_wheel("c", "3.0", requires_dist=["b==3.0"], provides_extra=["x"]),
    ]
    assert _lock(wheels, ["a"]) == {"a": "3.0", "b": "2.0"}
    assert _lock(wheels, ["a", "b"]) == {"a": "3.0", "b": "2.0"}


@pytest.mark.parametrize(
    ("requires_python", "pinned"),
    [(">=3.11.*", "2.0"), (">3.10.*", "2.0"), (">=3.6.*,", "2.0"), (">=3.12.*", "1.0")],
)
def test_a_starred_lower_bound_is_read_as_uv_reads_it(requires_python: str, pinned: str) -> None:
    """``>=3.11.*`` is no PEP 440 specifier but is on real wheels: uv reads it as ``>=3.11``
    and pip ignores it; mlenv refused the wheel as "unreadable"."""
    wheels = [build_wheel("a", "1.0"), build_wheel("a", "2.0", requires_python=requires_python)]
    index = MemoryIndex(URL, dict(wheels))
    lock = lock_manifest(
        loads(_manifest(["a"])), Sources(index, (URL,), ()), reporter=MemoryReporter()
    )
    assert {pkg.name: pkg.version for _, pkg in lock.packages()} == {"a": pinned}


def test_a_cycle_of_leftover_pins_does_not_end_a_resolved_lock_in_recursion() -> None:
    """Found by fuzzing against uv (which pins a 1.1): after backtracking, pins of b and c
    that require each other (through extras) outlive the pin of a that brought them in.
    resolvelib's walk from each pin to the root recursed around that cycle forever: a lock
    that had resolved died in a RecursionError."""
    world: list[tuple[str, str, list[str]]] = [
        ("a", "1.1", []),
        ("a", "3.0", ["b>=2.0"]),
        ("b", "1.1", ['c<=2.0; sys_platform == "linux"']),
        ("b", "2.1", ["a~=1.0", "c>=2.1"]),
        ("c", "1.1", []),
        ("c", "2.0", ["b[x,y]!=2.1"]),
        ("c", "2.1", ["a[y]==1.1"]),
        ("c", "3.0", ["b[y]<2.1"]),
    ]
    wheels = [build_wheel(n, v, requires_dist=r, provides_extra=["x", "y"]) for n, v, r in world]
    assert _lock(wheels, ["a"]) == {"a": "1.1"}
