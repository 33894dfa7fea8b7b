"""Attack 160: the whole lock path (mlenv's provider, not a toy one) against brute force on small
random worlds with extras, markers, Requires-Python floors and wheel tags that do not fit the
target: a lock exists exactly when some assignment of versions satisfies every requirement that
applies on the target, and a lock that is made satisfies them all.

The scenario files hold the upstream suites' worlds; these worlds are the shapes between them
(an extra naming a package another edge pins, a marker-guarded edge next to an unguarded one,
a release only reachable by backtracking past one the target cannot install)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.wheels import build_wheel

INDEX = "https://attack160.invalid/simple"
TARGET = {"python_version": "3.12", "sys_platform": "linux", "extra": ""}
NAMES = ("a", "b", "c", "d")
# a release the target can never take: its floor is above CPython 3.12, or its only wheel is cp311
UNUSABLE_PYTHON = ">=3.13"
UNUSABLE_TAG = "cp311-cp311-manylinux_2_17_x86_64"


@dataclass(frozen=True)
class Release:
    requires: tuple[str, ...]
    extra: tuple[str, ...]  # what the release's extra "x" adds
    python: str | None
    tag: str

    @property
    def usable(self) -> bool:
        return self.python != UNUSABLE_PYTHON and self.tag != UNUSABLE_TAG


World = Mapping[str, Mapping[str, Release]]


@st.composite
def _requirement(draw: st.DrawFn, names: Sequence[str]) -> str:
    line = draw(st.sampled_from(names)) + draw(st.sampled_from(["", "", "[x]"]))
    line += draw(st.sampled_from(["", "", "==1", "==2", ">=2", "<3", "!=2", ">=2,<4"]))
    return line + draw(
        st.sampled_from(["", "", "", "; python_version >= '3.13'", "; sys_platform == 'linux'"])
    )


@st.composite
def _worlds(draw: st.DrawFn) -> tuple[World, list[str]]:
    names = NAMES[: draw(st.integers(2, len(NAMES)))]
    world: dict[str, dict[str, Release]] = {}
    for name in names:
        others = [n for n in names if n != name]
        versions = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3, unique=True))
        world[name] = {
            str(v): Release(
                tuple(draw(st.lists(_requirement(others), max_size=2))),
                tuple(draw(st.lists(_requirement(names), max_size=2))),
                draw(st.sampled_from([None, None, None, UNUSABLE_PYTHON, ">=3.8,<3.11"])),
                draw(st.sampled_from(["py3-none-any"] * 4 + [UNUSABLE_TAG])),
            )
            for v in versions
        }
    roots = draw(st.lists(_requirement(names), min_size=1, max_size=2, unique=True))
    return world, roots


def _lock(world: World, roots: Sequence[str]) -> dict[str, str] | None:
    files: dict[str, bytes] = {}
    for name, releases in world.items():
        for version, release in releases.items():
            filename, data = build_wheel(
                name,
                version,
                requires_dist=[*release.requires, *_guarded(release.extra)],
                requires_python=release.python,
                provides_extra=["x"],
                tag=release.tag,
            )
            files[filename] = data
    manifest = (
        '[environment]\nname = "t"\npython = "3.12"\nplatforms = ["linux-64"]\n'
        f'[pypi]\nindex-url = "{INDEX}"\ndependencies = {json.dumps(list(roots))}\n'
    )
    try:
        locked = lock_manifest(
            loads(manifest),
            Sources(MemoryIndex(INDEX, files), (INDEX,), ()),
            reporter=MemoryReporter(),
        )
    except ResolutionError:
        return None
    return {pkg.name: pkg.version for _, pkg in locked.packages()}


def _guarded(lines: Sequence[str]) -> list[str]:
    """``lines`` as Requires-Dist lines that apply only with the extra ``x``."""
    guarded = []
    for line in lines:
        parsed = Requirement(line)
        condition = "extra == 'x'"
        if parsed.marker is not None:
            condition = f"({parsed.marker}) and {condition}"
        parsed.marker = None
        guarded.append(f"{parsed}; {condition}")
    return guarded


def _satisfies(world: World, roots: Sequence[str], pins: Mapping[str, str | None]) -> bool:
    """Every requirement reachable from ``roots`` on the target holds for ``pins``."""
    edges = [Requirement(r) for r in roots]
    expanded: set[tuple[str, str]] = set()
    for edge in edges:  # grows while walked
        if edge.marker is not None and not edge.marker.evaluate(TARGET):
            continue
        version = pins.get(edge.name)
        if version is None or not edge.specifier.contains(Version(version), prereleases=True):
            return False
        release = world[edge.name][version]
        for part in ("", *edge.extras):
            if (edge.name, part) not in expanded:
                expanded.add((edge.name, part))
                more = release.requires if part == "" else release.extra
                edges += [Requirement(r) for r in more]
    return True


def _brute(world: World, roots: Sequence[str]) -> Mapping[str, str | None] | None:
    names = list(world)
    choices = [[None, *(v for v, r in world[n].items() if r.usable)] for n in names]
    for combination in itertools.product(*choices):
        pins = dict(zip(names, combination, strict=True))
        if _satisfies(world, roots, pins):
            return pins
    return None


@settings(max_examples=250, deadline=None, derandomize=True)
@given(_worlds())
def test_a_lock_exists_exactly_when_brute_force_finds_one_and_it_holds(
    case: tuple[World, list[str]],
) -> None:
    world, roots = case
    pins = _lock(world, roots)
    if pins is not None:
        assert _satisfies(world, roots, pins), pins
        assert all(world[name][version].usable for name, version in pins.items()), pins
    assert (pins is None) == (_brute(world, roots) is None), pins


def test_an_extra_that_pins_a_package_another_edge_needs_is_backtracked_past() -> None:
    """a[x] wants b==1 while c needs b>=2 through its newest release only: c 1 with b 1."""
    any_ = "py3-none-any"
    world: World = {
        "a": {"1": Release((), ("b==1",), None, any_)},
        "b": {"1": Release((), (), None, any_), "2": Release((), (), None, any_)},
        "c": {"1": Release(("b",), (), None, any_), "2": Release(("b>=2",), (), None, any_)},
    }
    assert _lock(world, ["a[x]", "c"]) == {"a": "1", "b": "1", "c": "1"}
