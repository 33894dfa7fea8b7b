"""Hundred-and-tenth adversary pass: PEP 440 / PEP 508 / wheel-tag shapes against uv
(``uv pip compile`` on the same wheels-only file:// index) and the PEPs.

Local versions, epochs, post/dev releases, ``===``, ``~=``, wildcards, name and extra
normalisation, self-referential extras, marker shapes, Requires-Python spellings and wheel tags
all agreed with uv. One release with a Requires-Dist line no parser reads (an old setuptools'
``b~=1.0.*``, a truncated ``b (>=1.0``) ended the whole lock, although an older release of the
same project resolved: uv passes such a release over, as pip does ("has invalid metadata"),
and locks the next one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.index.model import MetadataError
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cli import run_mlenv
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, write_simple_index

URL = "https://attack110.invalid/simple"
Wheels = Sequence[tuple[str, bytes]]

# Requires-Dist lines neither packaging nor uv's lenient reader accepts
UNREADABLE = ["b~=1.0.*", "b[", "b==1.0.*+local", "b (>=1.0"]


def _mlenv(wheels: Wheels, roots: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    deps = ", ".join(f'"{r}"' for r in roots)
    manifest = (
        '[environment]\nname = "d"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{URL}"\ndependencies = [{deps}]\n'
    )
    reporter = MemoryReporter()
    lock = lock_manifest(
        loads(manifest), Sources(MemoryIndex(URL, dict(wheels)), (URL,), ()), reporter=reporter
    )
    pins = {str(canonicalize_name(p.name)): str(p.version) for _, p in lock.packages()}
    return pins, reporter.messages("warning")


def _uv(wheels: Wheels, roots: Sequence[str], work: Path) -> dict[str, str]:
    url = write_simple_index(work / "index", list(wheels))
    (work / "r.in").write_text("\n".join(roots) + "\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", str(work / "r.in"), "-o", str(work / "r.txt"),
         "--no-cache", "--no-config", "--quiet", "--no-header", "--python-version", "3.11",
         "--python-platform", "x86_64-manylinux_2_28", "--only-binary", ":all:",
         "--default-index", url],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return pins_of((work / "r.txt").read_text())


@pytest.mark.parametrize("line", UNREADABLE)
def test_a_release_with_an_unreadable_requires_dist_is_passed_over_as_uv_does(
    line: str, tmp_path: Path
) -> None:
    """Protects `resolver.dependencies._Dependencies.runs`: a 2.0 whose metadata holds a line no
    parser reads is not a candidate; the resolution takes 1.0, as uv does, and warns which release
    it passed over and why. Before, the lock failed with a MetadataError although 1.0 resolved."""
    wheels = [
        build_wheel("a", "2.0", requires_dist=[line]),
        build_wheel("a", "1.0", requires_dist=["b"]),
        build_wheel("b", "1.0"),
    ]
    pins, warnings = _mlenv(wheels, ["a"])
    assert pins == _uv(wheels, ["a"], tmp_path) == {"a": "1.0", "b": "1.0"}
    assert any("a 2.0" in w and "Requires-Dist" in w for w in warnings), warnings


def test_a_dependency_release_with_unreadable_metadata_is_passed_over_deep_in_the_tree(
    tmp_path: Path,
) -> None:
    """Protects `resolver.dependencies._Dependencies.runs` below the root: c 2.0 (a dependency of a
    dependency) has a line no parser reads; the lock takes c 1.0 under a 2.0, as uv does."""
    wheels = [
        build_wheel("a", "2.0", requires_dist=["c>=1"]),
        build_wheel("a", "1.0"),
        build_wheel("c", "2.0", requires_dist=["d (>=1.0"]),
        build_wheel("c", "1.0", requires_dist=["d"]),
        build_wheel("d", "1.0"),
    ]
    pins, _ = _mlenv(wheels, ["a"])
    assert pins == _uv(wheels, ["a"], tmp_path) == {"a": "2.0", "c": "1.0", "d": "1.0"}


def test_the_only_release_with_unreadable_metadata_still_fails_naming_it() -> None:
    """Protects the clear error (docs/security.md): with no other release to take, the lock
    fails with the MetadataError naming the distribution, its file and the line."""
    wheels = [build_wheel("a", "2.0", requires_dist=["b~=1.0.*"]), build_wheel("b", "1.0")]
    with pytest.raises(MetadataError) as info:
        _mlenv(wheels, ["a"])
    assert info.value.where == f"a 2.0 ({URL}/files/a-2.0-py3-none-any.whl)"
    assert "b~=1.0.*" in info.value.message


# Requires-Python spellings on real wheels that uv reads by repairing them (a missing comma,
# quotes around the version); mlenv read them as unreadable and took an older release
REPAIRED_REQUIRES_PYTHON = [
    (">=3.6<4", "2.0"),
    (">3.6<=4", "2.0"),
    (">=3.6!=3.7.*", "2.0"),
    (">= '3.6'", "2.0"),
    ('">=3.6"', "2.0"),
    (">=3.12<4", "1.0"),
    (">= '3.12'", "1.0"),
]


@pytest.mark.parametrize(("requires_python", "locked"), REPAIRED_REQUIRES_PYTHON)
def test_a_requires_python_with_a_missing_comma_or_quotes_is_read_as_uv_reads_it(
    requires_python: str, locked: str, tmp_path: Path
) -> None:
    """Protects `pep508.lenient`: ``>=3.6<4`` is ``>=3.6,<4`` and ``>= '3.6'`` is
    ``>=3.6``, so a 2.0 that runs on CPython 3.11 is locked, as uv locks it, and a 2.0 whose
    repaired floor is 3.12 is still refused."""
    wheels = [build_wheel("a", "2.0", requires_python=requires_python), build_wheel("a", "1.0")]
    pins, _ = _mlenv(wheels, ["a"])
    assert pins == _uv(wheels, ["a"], tmp_path) == {"a": locked}


def _version(
    epoch: int, release: tuple[int, ...], pre: str, post: str, dev: str, local: str
) -> str:
    head = f"{epoch}!" if epoch else ""
    return head + ".".join(map(str, release)) + pre + post + dev + local


VERSIONS = st.builds(
    _version,
    st.sampled_from((0, 0, 0, 1)),
    st.lists(st.integers(0, 2), min_size=1, max_size=3).map(tuple),
    st.sampled_from(("", "", "", "a1", "rc1")),
    st.sampled_from(("", "", "", ".post1")),
    st.sampled_from(("", "", "", "", ".dev0")),
    st.sampled_from(("", "", "", "+cu1", "+cpu")),
)
OPERATORS = st.sampled_from(("==", "!=", "<=", ">=", "<", ">", "~=", "==*", "!=*"))


def _clause(operator: str, version: str) -> str | None:
    """``operator version`` if PEP 440 allows it (packaging's SpecifierSet is the judge)."""
    text = f"{operator[:2]}{version}{'.*' if operator.endswith('*') else ''}"
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return None
    return text


@settings(max_examples=60, deadline=None)
@given(
    offered=st.lists(VERSIONS, min_size=1, max_size=6, unique_by=lambda v: Version(v)),
    clauses=st.lists(st.tuples(OPERATORS, VERSIONS), min_size=1, max_size=2),
)
def test_the_locked_version_is_the_newest_final_the_specifier_accepts(
    offered: list[str], clauses: list[tuple[str, str]]
) -> None:
    """Protects the candidate filter and order (`resolver.provider._Provider.find_matches`) against
    PEP 440 as packaging reads it, over epochs, pre/post/dev releases and local versions: the
    lock holds the newest final release ``SpecifierSet.contains(v, prereleases=True)``
    accepts, else the newest pre-release it accepts (uv's rule since 0.12), else it fails."""
    written = [c for c in (_clause(o, v) for o, v in clauses) if c is not None]
    assume(written)
    specifier = SpecifierSet(",".join(written))
    accepted = [Version(v) for v in offered if specifier.contains(Version(v), prereleases=True)]
    finals = [v for v in accepted if not v.is_prerelease]
    expected = max(finals or accepted, default=None)
    wheels = [build_wheel("a", v) for v in offered]
    try:
        pins, _ = _mlenv(wheels, [f"a{specifier}"])
    except ResolutionError:
        assert expected is None, f"a{specifier} over {offered}: mlenv found none of {accepted}"
        return
    assert expected is not None and Version(pins["a"]) == expected, (specifier, offered, pins)


# Requires-Dist slips on real wheels that uv repairs (as it repairs a Requires-Python): a
# starred bound, a missing comma, a quoted version; each with the version uv then locks
REPAIRED_REQUIRES_DIST = [
    ("b>=1.0.*", "3.0"),
    ("b>=1.0.*,<2", "1.5"),
    ("b<2.0.*", "1.5"),
    ("b>=1.0<3", "2.0"),
    ("b>= '1.0'", "3.0"),
    ("b (>=1.0.*)", "3.0"),
    ("b[x]>=1.0.*; python_version >= '3'", "3.0"),
]


@pytest.mark.parametrize(("line", "locked"), REPAIRED_REQUIRES_DIST)
def test_a_requires_dist_slip_uv_repairs_is_read_as_uv_reads_it(
    line: str, locked: str, tmp_path: Path
) -> None:
    """Protects `pep508.metadata_requirement`, the one reading of an index's Requires-Dist
    (the resolver's, fetch's METADATA check's, the CUDA rules'): ``b>=1.0.*`` is ``b>=1.0``,
    so a 2.0 that says so is locked with the b it asks for, as uv locks it; before, the
    release was refused and an older one locked."""
    wheels = [
        build_wheel("a", "2.0", requires_dist=[line]),
        build_wheel("a", "1.0"),
        *(build_wheel("b", v, provides_extra=["x"]) for v in ("1.0", "1.5", "2.0", "3.0")),
    ]
    pins, warnings = _mlenv(wheels, ["a"])
    assert pins == _uv(wheels, ["a"], tmp_path) == {"a": "2.0", "b": locked}
    assert warnings == []


def test_fetch_holds_a_repaired_requires_dist_to_the_lock_as_lock_read_it(tmp_path: Path) -> None:
    """Protects the one reading (`pep508.metadata_requirement`) across commands: fetch checks
    each wheel's METADATA against the lock's dependencies; a reader of its own, strict where
    the resolver repairs, would refuse the very lock ``lock`` wrote from ``b>=1.0.*,<2``."""
    wheels = [
        build_wheel("a", "2.0", requires_dist=["b>=1.0.*,<2", "c (>=1.0<3)"]),
        build_wheel("b", "1.0"),
        build_wheel("c", "2.0"),
    ]
    url = write_simple_index(tmp_path / "www", wheels)
    project = tmp_path / "p"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["a"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], project, env=env)
    assert locked.returncode == 0, locked.stderr
    assert "+ b 1.0" in locked.stderr and "+ c 2.0" in locked.stderr
    fetched = run_mlenv(["fetch"], project, env=env)
    assert fetched.returncode == 0, fetched.stderr


def test_arbitrary_equality_is_string_equality_as_pep_440_says() -> None:
    """Holds README's rule where uv 0.13 differs: ``===1.0.0`` does not select ``1.0`` (uv
    compares versions); ``===1.0`` does."""
    wheels = [build_wheel("a", "1.0")]
    assert _mlenv(wheels, ["a===1.0"])[0] == {"a": "1.0"}
    with pytest.raises(ResolutionError, match="=== compares the exact spelling"):
        _mlenv(wheels, ["a===1.0.0"])


@pytest.mark.parametrize(
    ("marker", "taken"),
    [
        ('python_version >= "3.6.*"', False),  # no version: PEP 508's string comparison
        ('python_version >= "3.6"', True),
        ('extra not in "a b"', False),  # the base: extra is "", which "a b" holds (pip)
        ('extra != "a"', True),
    ],
)
def test_markers_follow_pep_508_and_pip_where_uv_reads_otherwise(marker: str, taken: bool) -> None:
    """Holds README's rules for a dependency's marker on CPython 3.11: a comparison with a
    value that is no version compares strings ("3.11" < "3.6.*"), and a line is judged for
    the base with ``extra`` set to ``""``; uv 0.13 takes b in both first cases."""
    wheels = [build_wheel("a", "1.0", requires_dist=[f"b; {marker}"]), build_wheel("b", "1.0")]
    pins, _ = _mlenv(wheels, ["a"])
    assert ("b" in pins) is taken, pins
