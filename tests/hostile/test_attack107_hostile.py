"""Hundred-and-seventh adversary pass: ``[pypi] overrides`` against uv's
``override-dependencies`` (``uv pip compile --override``) on the same wheels-only index.

uv replaces a requirement on an overridden project whole, its marker included: only the extra
the requirement sits under is kept (an extra's dependency stays the extra's). So
``b; sys_platform == "win32"`` in a dependency's metadata, overridden by ``b>=1``, requires b on
linux too; mlenv judged the original marker first and dropped b, so its lock differed from uv's
and ``fetch``'s METADATA check would then call uv's (right) lock contradicted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.index import MemoryIndex
from mlenv.lockfile_read import loads as load_lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cli import run_mlenv
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, write_simple_index

URL = "https://attack107.invalid/simple"
WORLD = [
    build_wheel(
        "a",
        "1.0",
        requires_dist=[
            'b; sys_platform == "win32"',
            'c; extra == "x" and sys_platform == "win32"',
            "d[y]>=1",
        ],
        provides_extra=["x"],
    ),
    build_wheel("b", "1.0"),
    build_wheel("b", "2.0"),
    build_wheel("c", "1.0"),
    build_wheel(
        "d", "1.0", requires_dist=['e; extra == "y"', 'f; extra == "z"'], provides_extra=["y", "z"]
    ),
    build_wheel("e", "1.0"),
    build_wheel("f", "1.0"),
]


def _quoted(items: Sequence[str]) -> str:
    return ", ".join("'" + item + "'" for item in items)


def _manifest(roots: Sequence[str], overrides: Sequence[str], url: str = URL) -> str:
    return (
        '[environment]\nname = "d"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{url}"\ndependencies = [{_quoted(roots)}]\n'
        f"overrides = [{_quoted(overrides)}]\n"
    )


def _mlenv(
    wheels: Sequence[tuple[str, bytes]],
    roots: Sequence[str],
    overrides: Sequence[str],
    yanked: Mapping[str, str] | None = None,
) -> dict[str, str]:
    index = MemoryIndex(URL, dict(wheels), yanked=yanked)
    lock = lock_manifest(
        loads(_manifest(roots, overrides)), Sources(index, (URL,), ()), reporter=MemoryReporter()
    )
    return {str(package.name): package.version for _, package in lock.packages()}


def _uv(
    wheels: Sequence[tuple[str, bytes]],
    roots: Sequence[str],
    overrides: Sequence[str],
    work: Path,
    yanked: Mapping[str, str] | None = None,
) -> dict[str, str] | None:
    url = write_simple_index(work / "index", wheels, yanked=yanked)
    (work / "r.in").write_text("\n".join(roots) + "\n")
    (work / "o.txt").write_text("\n".join(overrides) + "\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", str(work / "r.in"), "--override", str(work / "o.txt"),
         "-o", str(work / "r.txt"), "--no-cache", "--quiet", "--no-header",
         "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
         "--only-binary", ":all:", "--default-index", url],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    return pins_of((work / "r.txt").read_text()) if done.returncode == 0 else None


CASES = [
    (["a"], ["b>=1"]),  # a's win32-only b: the override's (absent) marker decides, not a's
    (["a[x]"], ["c>=1"]),  # under a's extra x: the extra is kept, the platform test is not
    (["a"], ["c>=1"]),  # without the extra, c stays out
    (["a"], ["d[z]>=1"]),  # the override's extras replace the requirement's
    (["a"], ["d>=1"]),  # and an override without extras drops them
    (['b; sys_platform == "win32"'], ["b>=1"]),  # the manifest's own requirement too
    (["a"], ['b>=1; sys_platform == "win32"']),  # an override false here: b nowhere
    (["a", "b"], ['b<2; sys_platform == "win32"']),  # even where the manifest names b
    (["a", "B"], ["b<2"]),  # names spelt differently
]


@pytest.mark.parametrize(("roots", "overrides"), CASES)
def test_mlenv_locks_what_uv_locks_under_overrides(
    roots: list[str], overrides: list[str], tmp_path: Path
) -> None:
    """Protects uv's override rule: the override replaces the requirement, marker and extras,
    keeping only the extra it sits under; each world has one resolution."""
    assert _mlenv(WORLD, roots, overrides) == _uv(WORLD, roots, overrides, tmp_path)


_NAMES = ("p", "q", "r", "s")
_MARKERS = ("", '; sys_platform == "win32"', '; python_version >= "3.12"', '; extra == "x"',
            '; extra == "x" or sys_platform == "linux"',  # uv: no top-level extra, a base line
            '; python_version < "3.12" and extra == "x"',
            '; extra == "x" and sys_platform == "win32"')  # fmt: skip
_VERSIONS = ("1.0", "2.0")


@st.composite
def _worlds(draw: st.DrawFn) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Each project's Requires-Dist (the same for both its releases), roots and overrides."""
    world = {}
    for i, name in enumerate(_NAMES):
        later = _NAMES[i + 1 :]
        deps = draw(st.lists(st.sampled_from(later), unique=True)) if later else []
        requires = [
            dep + draw(st.sampled_from(("", ">=2", "<2"))) + draw(st.sampled_from(_MARKERS))
            for dep in deps
        ]
        world[name] = requires
    roots = draw(
        st.lists(st.sampled_from(("p", "p[x]", "q", "q[x]")), min_size=1, max_size=2,
                 unique_by=lambda root: root[0])
    )  # fmt: skip
    overrides = draw(
        st.lists(
            st.sampled_from([*_NAMES, "q[x]", "s[x]", "p[x]"]).flatmap(
                lambda n: st.sampled_from(
                    (n, f"{n}<2", f"{n}>=2", f'{n}<2; sys_platform == "win32"',
                     f'{n}>=2; sys_platform != "win32"')
                )
            ),
            min_size=1, max_size=3, unique=True,
        )
    )  # fmt: skip
    return world, roots, overrides


@settings(max_examples=60, deadline=None)
@given(drawn=_worlds())
def test_mlenv_and_uv_agree_under_random_overrides(
    drawn: tuple[dict[str, list[str]], list[str], list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Protects the override rule on random worlds (every release of a project requires the
    same things, so where a resolution exists uv's newest-first one is the one mlenv finds)."""
    world, roots, overrides = drawn
    wheels = [
        build_wheel(name, version, requires_dist=requires, provides_extra=["x"])
        for name, requires in world.items()
        for version in _VERSIONS
    ]
    reference = _uv(wheels, roots, overrides, tmp_path_factory.mktemp("uv"))
    try:
        pins = _mlenv(wheels, roots, overrides)
    except ResolutionError as error:
        assert reference is None, f"uv: {reference}; mlenv: {error}"
        return
    assert pins == reference


def test_fetch_holds_the_lock_to_a_dependency_an_override_brings_to_this_platform(
    tmp_path: Path,
) -> None:
    """a requires ``b; sys_platform == "win32"``; the override ``b>=2`` requires it here too,
    as uv does: the lock has b under a, and fetch's check of a's METADATA (whose only b line
    is false here) applies the override instead of calling the lock contradicted."""
    url = write_simple_index(tmp_path / "index", WORLD)
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(_manifest(["a"], ["b>=2"], url))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], project, env)
    assert locked.returncode == 0, locked.stderr
    lock = load_lock((project / "mlenv.lock").read_text())
    packages = {package.name: package for _, package in lock.packages()}
    assert packages["b"].version == "2.0"
    assert "b" in packages["a"].dependencies
    fetched = run_mlenv(["fetch"], project, env)
    assert fetched.returncode == 0, fetched.stderr
    verified = run_mlenv(["verify"], project, env)
    assert verified.returncode == 0, verified.stderr


def test_an_export_of_an_overridden_lock_says_why_no_deps_is_needed(tmp_path: Path) -> None:
    """b requires c; the override drops c here. pip without --no-deps re-reads b's own
    METADATA (which still requires c) and refuses the file under --require-hashes; the export
    must say the lock applies overrides, and a real pip with --no-deps installs it."""
    wheels = [build_wheel("b", "1.0", requires_dist=["c"]), build_wheel("c", "1.0")]
    url = write_simple_index(tmp_path / "index", wheels)
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        _manifest(["b"], ['c; python_version < "3"'], url).replace('"3.11"', '"3.12"', 1)
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    exported = run_mlenv(["export", "--format", "requirements", "-o", "r.txt"], project, env)
    assert exported.returncode == 0, exported.stderr
    text = (project / "r.txt").read_text()
    assert "c==" not in text
    assert "# The lock applies [pypi] overrides" in text
    installed = subprocess.run(
        [tool("pip"), "install", "--dry-run", "--quiet", "--ignore-installed",
         "--python-version", "3.12", "--only-binary", ":all:", "--no-deps",
         "--require-hashes", "-r", str(project / "r.txt")],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    with_deps = subprocess.run(
        [tool("pip"), "install", "--dry-run", "--quiet", "--ignore-installed",
         "--python-version", "3.12", "--only-binary", ":all:",
         "--require-hashes", "-r", str(project / "r.txt")],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert with_deps.returncode != 0 and "c" in with_deps.stderr  # what the comment warns of


@pytest.mark.parametrize("dependency", ["d", "h"])
def test_under_cuda_an_override_extra_the_pin_lacks_is_refused_naming_the_override(
    dependency: str,
) -> None:
    """The override ``d[gpu]<2`` asks for an extra d 1.0 lacks (a silent CPU lock on a CUDA
    fleet, which the manifest's own extras are refused for). It was refused only where it
    replaced the manifest's ``d``, blaming [pypi].dependencies, and locked where it replaced
    h's ``d``: now refused both ways, naming [pypi] overrides."""
    wheels = [
        build_wheel("d", "1.0"),
        build_wheel("d", "2.0", provides_extra=["gpu"], requires_dist=['e; extra == "gpu"']),
        build_wheel("e", "1.0"),
        build_wheel("h", "1.0", requires_dist=["d"]),
    ]
    text = _manifest([dependency], ["d[gpu]<2"]).replace(
        "[pypi]", '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n[pypi]'
    )
    index = MemoryIndex(URL, dict(wheels))
    with pytest.raises(ResolutionError) as raised:
        lock_manifest(loads(text), Sources(index, (URL,), ()), reporter=MemoryReporter())
    assert "[pypi] overrides ask for d[gpu]" in raised.value.message
    assert raised.value.hint is not None
    assert raised.value.hint.endswith("or drop the extra from [pypi].overrides")


@pytest.mark.parametrize("roots", [["a"], ["b"]])
def test_an_override_pinning_a_yanked_release_takes_it_as_uv_does(
    roots: list[str], tmp_path: Path
) -> None:
    """b 1.0 is yanked; the override ``b==1.0`` pins it exactly, which uv takes wherever the
    override applies. mlenv took it only where the override replaced the manifest's b, and
    refused it under a's b ("only a manifest pin ==1.0 selects it": the override is one)."""
    wheels = [build_wheel("a", "1.0", requires_dist=["b"]), build_wheel("b", "1.0"),
              build_wheel("b", "2.0")]  # fmt: skip
    yanked = {wheels[1][0]: ""}
    expected = _uv(wheels, roots, ["b==1.0"], tmp_path, yanked)
    assert expected is not None and expected["b"] == "1.0"
    assert _mlenv(wheels, roots, ["b==1.0"], yanked) == expected


@pytest.mark.parametrize(
    ("dependencies", "overrides", "pinned"),
    [
        (["a", "b"], ['b; sys_platform == "win32"'], {"a": "1.0"}),  # b required nowhere here
        (['b; sys_platform == "win32"'], ["b>=1"], {"b": "1.0"}),  # b required here too
    ],
)
def test_the_locks_closure_check_reads_the_manifests_requirements_through_the_overrides(
    dependencies: list[str], overrides: list[str], pinned: dict[str, str], tmp_path: Path
) -> None:
    """The lock reader holds each platform to the [target] requirements whose marker holds
    there. A requirement an override drops made the lock unwritable ("has no entry for 'b'",
    blamed on the index); one whose false marker an override replaced made the written lock
    "edited" for lock --check, fetch and verify. The overrides decide, as they did for the
    resolution."""
    url = write_simple_index(tmp_path / "index", [build_wheel("a", "1.0"), build_wheel("b", "1.0")])
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(_manifest(dependencies, overrides, url))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], project, env)
    assert locked.returncode == 0, locked.stderr
    lock = load_lock((project / "mlenv.lock").read_text())
    assert {str(p.name): p.version for _, p in lock.packages()} == pinned
    for command in (["lock", "--check"], ["fetch"], ["verify"]):
        done = run_mlenv(command, project, env)
        assert done.returncode == 0, (command, done.stdout, done.stderr)


@pytest.mark.parametrize(
    ("marker", "roots", "pinned"),
    [
        ('extra == "x" or sys_platform == "win32"', ["q"], True),  # a branch without extra
        ('(extra == "x" or extra == "y") and os_name == "nt"', ["q"], False),
        ('(extra == "x" or extra == "y") and os_name == "nt"', ["q[y]"], True),
    ],
)
def test_an_override_keeps_the_extras_a_marker_needs_on_every_branch(
    marker: str, roots: list[str], pinned: bool, tmp_path: Path
) -> None:
    """uv keeps a replaced requirement optional (for the extras its marker names) only when
    every way of meeting the marker tests an extra; otherwise the override is a base
    requirement, here on linux without any extra. mlenv kept it optional whenever the marker
    named an extra, and left r out of the first lock."""
    wheels = [build_wheel("q", "1.0", requires_dist=[f"r; {marker}"], provides_extra=["x", "y"]),
              build_wheel("r", "1.0")]  # fmt: skip
    expected = _uv(wheels, roots, ["r"], tmp_path)
    assert expected is not None and ("r" in expected) is pinned
    assert _mlenv(wheels, roots, ["r"]) == expected
