"""Seventy-fourth adversary pass: mlenv's resolver against uv (``uv pip compile``) on the same
wheels-only index.

A differential run (several hundred requirement sets over the local mirrors and synthetic
worlds) found no set where mlenv locked something invalid or failed where uv succeeded, except
for two documented rules, which the tests below hold so a change to either is deliberate:

- markers are judged at the oldest patch release (``python_full_version`` is 3.11.0), so
  ``tomli; python_full_version <= "3.11.0a6"`` (coverage's ``toml`` extra) is not taken where
  uv 0.13 takes it;
- pre-releases follow uv 0.12's rule: every final release in range before any pre-release,
  a pre-release only where no final release can be taken (yanked, no wheel, Requires-Python,
  or rejected by the resolution), whoever asked for it.

The property test builds small random worlds, pre-releases included, and checks that mlenv and
uv agree on whether they resolve, and that every pin set mlenv writes satisfies each
requirement.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, requirement_for_extra, write_simple_index

URL = "https://attack74.invalid/simple"
VERSIONS = (
    "0.9", "1.0", "1.0.post1", "1.1a1", "1.1", "1.2.0", "2.0b1", "2.0", "2.0.1", "3.0rc1", "3.0",
)  # fmt: skip
MARKERS = (
    'python_version >= "3.12"',
    'python_version < "3.12"',
    'sys_platform == "win32"',
    'platform_machine == "x86_64"',
    'python_full_version >= "3.11.2"',
)
TAGS = ("py3-none-any",) * 5 + (
    "cp311-cp311-manylinux_2_17_x86_64",
    "cp312-cp312-manylinux_2_17_x86_64",
    "cp311-cp311-manylinux_2_31_x86_64",  # newer than the glibc 2.28 floor
    "py3-none-manylinux_2_28_aarch64",
    "cp311-abi3-manylinux_2_28_x86_64",
)


@dataclass(frozen=True)
class Release:
    requires: tuple[str, ...]
    extra: tuple[str, ...]  # Requires-Dist under the extra "x"
    requires_python: str | None
    tags: tuple[str, ...]
    yanked: bool


World = Mapping[str, Mapping[str, Release]]


def _spec(rng: random.Random, versions: list[str]) -> str:
    op = rng.choice(("", "", ">=", "<", "==", "!=", "~=", ">", "<="))
    version = rng.choice(versions)
    if op == "~=" and len(Version(version).release) < 2:
        op = ">="
    return f"{op}{version}" if op else ""


def _world(seed: int) -> tuple[World, tuple[str, ...]]:
    rng = random.Random(seed)
    names = ["a", "b", "c", "d", "e"][: rng.randint(2, 5)]
    versions = {n: sorted(rng.sample(VERSIONS, rng.randint(1, 4)), key=Version) for n in names}
    world: dict[str, dict[str, Release]] = {}
    for i, name in enumerate(names):
        later = names[i + 1 :]
        world[name] = {}
        for version in versions[name]:
            requires = []
            for dep in rng.sample(later, rng.randint(0, len(later))):
                marker = f"; {rng.choice(MARKERS)}" if rng.random() < 0.15 else ""
                requires.append(dep + _spec(rng, versions[dep]) + marker)
            extra: tuple[str, ...] = ()
            if later and rng.random() < 0.3:
                dep = rng.choice(later)
                extra = (dep + _spec(rng, versions[dep]),)
            world[name][version] = Release(
                tuple(requires),
                extra,
                rng.choice((None, None, None, ">=3.12", ">=3.8", ">=3.11.3")),
                tuple({rng.choice(TAGS): None, rng.choice(TAGS[:6]): None}),
                rng.random() < 0.05,
            )
    roots = tuple(
        n + ("[x]" if rng.random() < 0.25 else "") + _spec(rng, versions[n])
        for n in rng.sample(names, rng.randint(1, min(3, len(names))))
    )
    return world, roots


def _files(world: World) -> Iterator[tuple[str, bytes, bool]]:
    for name, releases in world.items():
        for version, release in releases.items():
            requires = [*release.requires, *(requirement_for_extra(r, "x") for r in release.extra)]
            for tag in release.tags:
                filename, data = build_wheel(
                    name,
                    version,
                    requires_dist=requires,
                    requires_python=release.requires_python,
                    provides_extra=["x"] if release.extra else [],
                    tag=tag,
                )
                yield filename, data, release.yanked


def _manifest(roots: tuple[str, ...], python: str) -> str:
    deps = ", ".join(f'"{r}"' for r in roots)
    return (
        f'[environment]\nname = "d"\npython = "{python}"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{URL}"\ndependencies = [{deps}]\n'
    )


def _mlenv(world: World, roots: tuple[str, ...], python: str) -> dict[NormalizedName, Version]:
    files = list(_files(world))
    index = MemoryIndex(URL, {f: d for f, d, _ in files}, yanked={f: "" for f, _, y in files if y})
    lock = lock_manifest(
        loads(_manifest(roots, python)), Sources(index, (URL,), ()), reporter=MemoryReporter()
    )
    return {canonicalize_name(pkg.name): Version(pkg.version) for _, pkg in lock.packages()}


def _uv(world: World, roots: tuple[str, ...], python: str, work: Path) -> dict[str, str] | None:
    files = list(_files(world))
    url = write_simple_index(
        work / "index", [(f, d) for f, d, _ in files], yanked={f: "" for f, _, y in files if y}
    )
    (work / "r.in").write_text("\n".join(roots) + "\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", str(work / "r.in"), "-o", str(work / "r.txt"),
         "--no-cache", "--quiet", "--no-header", "--python-version", python,
         "--python-platform", "x86_64-manylinux_2_28", "--only-binary", ":all:",
         "--default-index", url],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    return pins_of((work / "r.txt").read_text()) if done.returncode == 0 else None


def _environment(python: str, extra: str = "") -> dict[str, str]:
    """PEP 508's environment for the target at the minor's oldest patch (README's rule)."""
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_machine": "x86_64",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "extra": extra,
    }


def _unmet(
    world: World, roots: tuple[str, ...], pins: Mapping[NormalizedName, Version], python: str
) -> list[str]:
    """Every requirement (root, or of a pinned release with its requested extras) the pins
    leave unsatisfied."""
    edges = [(Requirement(r), "the manifest") for r in roots]
    wanted = {canonicalize_name(e.name) for e, _ in edges if "x" in e.extras}
    for name, version in pins.items():
        release = world[name][str(version)]
        edges += [(Requirement(r), f"{name} {version}") for r in release.requires]
        if name in wanted:
            edges += [(Requirement(r), f"{name}[x] {version}") for r in release.extra]
    unmet = []
    for req, parent in edges:
        if req.marker is not None and not Marker(str(req.marker)).evaluate(_environment(python)):
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned, prereleases=True):
            unmet.append(f"{req} (from {parent}): pinned {pinned}")
    return unmet


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), python=st.sampled_from(("3.11", "3.12")))
def test_mlenv_and_uv_agree_on_resolvability_and_mlenv_pins_are_valid(
    seed: int, python: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Protects the resolver's completeness and soundness against a reference resolver: on a
    world with and without pre-releases, mlenv fails exactly when uv does, and every requirement
    is met by mlenv's pins (uv may pick another valid set: both are solutions)."""
    world, roots = _world(seed)
    reference = _uv(world, roots, python, tmp_path_factory.mktemp("uv"))
    try:
        pins = _mlenv(world, roots, python)
    except ResolutionError as error:
        assert reference is None, f"uv resolved {roots} to {reference}; mlenv: {error}"
        assert error.hint, "a failed lock must say what to change"
        return
    assert reference is not None, f"mlenv resolved {roots} to {pins}; uv found no resolution"
    assert _unmet(world, roots, pins, python) == []


def test_a_marker_below_the_oldest_patch_release_does_not_pull_its_dependency() -> None:
    """Protects the oldest-patch rule for ``python_full_version`` (README): coverage's
    ``tomli; python_full_version <= "3.11.0a6" and extra == "toml"`` is false for 3.11.0, as
    packaging evaluates it; uv 0.13.9 locks tomli there, which a 3.11 interpreter never needs."""
    requirement = 'tomli; python_full_version <= "3.11.0a6" and extra == "toml"'
    assert Requirement(requirement).marker is not None
    expected = Marker(str(Requirement(requirement).marker)).evaluate(_environment("3.11", "toml"))
    world: World = {
        "coverage": {"7.0": Release((), ("tomli; python_full_version <= '3.11.0a6'",), None,
                                    ("py3-none-any",), False)},
        "tomli": {"2.0": Release((), (), None, ("py3-none-any",), False)},
    }  # fmt: skip
    pins = _mlenv(world, ("coverage[x]",), "3.11")
    assert ("tomli" in pins) is expected
    assert pins[canonicalize_name("coverage")] == Version("7.0")


@pytest.mark.parametrize(
    "final",
    [
        Release((), (), None, ("py3-none-any",), True),  # yanked
        Release((), (), None, ("cp311-cp311-win_amd64",), False),  # no wheel for linux-64
        Release((), (), ">=3.12", ("py3-none-any",), False),  # Requires-Python excludes 3.11
    ],
    ids=["yanked", "no-wheel", "requires-python"],
)
def test_an_unusable_final_release_falls_back_to_the_pre_release(final: Release) -> None:
    """uv 0.12's rule, which mlenv follows: a final release first, but where none in range
    can be taken (yanked, no wheel for the target, Requires-Python) the pre-release is locked
    rather than the lock failing; a range that admits no pre-release still fails, naming it."""
    world: World = {
        "a": {"1.0": final, "1.1a1": Release((), (), None, ("py3-none-any",), False)},
    }
    assert _mlenv(world, ("a",), "3.11") == {canonicalize_name("a"): Version("1.1a1")}
    assert _mlenv(world, ("a>=1.1a1",), "3.11") == {canonicalize_name("a"): Version("1.1a1")}
    with pytest.raises(ResolutionError) as raised:
        _mlenv(world, ("a<1.1a0",), "3.11")
    assert "a" in str(raised.value) and raised.value.hint
