"""Small random package worlds locked by mlenv and by uv (``uv pip compile``), and an
independent reading of what makes a set of pins valid for a world, so a differential test can
tell which of two disagreeing resolvers is wrong.

A world covers what a resolver scenario suite varies: extras that require other extras (of the
same package too), markers joined with ``and``/``or`` and parentheses, Requires-Python with
patch floors and exclusions, wheel tags of several interpreters, ABIs, glibc levels and
machines, local, post, dev and pre-releases, yanked files, and every PEP 440 operator.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.requires_python import python_floor
from mlenv.target import Target
from tests.support.peers import clean_env, pins_of, tool
from tests.support.wheels import build_wheel, requirement_for_extra, write_simple_index

URL = "https://uv-worlds.invalid/simple"
VERSIONS = (
    "0.9", "1.0", "1.0+cu130", "1.0+cpu", "1.0.post1", "1.1.dev1", "1.1a1", "1.1rc1", "1.1",
    "1.2.0", "1.2.0.post1.dev2", "2.0b1", "2.0", "2.0.1", "2.0.1+local.7", "3.0rc1", "3.0",
    "1!0.5",
)  # fmt: skip
MARKERS = (
    'python_version >= "3.12"', 'python_version < "3.12"', 'python_version == "3.11"',
    'sys_platform == "win32"', 'sys_platform == "linux"', 'sys_platform != "darwin"',
    'platform_machine == "x86_64"', 'platform_machine == "aarch64"',
    'platform_machine in "x86_64 AMD64"', 'python_full_version >= "3.11.2"',
    'python_full_version < "3.11.1"', 'implementation_name == "cpython"',
    'implementation_name == "pypy"', 'platform_python_implementation != "PyPy"',
    'os_name == "nt"', 'platform_system == "Linux"', '"linux" in sys_platform',
)  # fmt: skip
REQUIRES_PYTHON = (None,) * 10 + (
    ">=3.12", ">=3.8", ">=3.11.3", ">=3.11.1", ">=3.11.0", "<3.12", "!=3.11.*", ">=3.10,<3.11",
    "~=3.11", ">3.11", "==3.11.*", ">=3.11,!=3.11.0", "<4,>=3.9", ">=3.12.0rc1", "<=3.11",
    ">=3.11,!=3.11.*", ">=3.10,!=3.11.*",
)  # fmt: skip
TAGS = ("py3-none-any",) * 16 + ("cp311-cp311-manylinux_2_17_x86_64",) * 4 + (
    "cp312-cp312-manylinux_2_17_x86_64", "cp311-cp311-manylinux_2_31_x86_64",
    "cp311-cp311-manylinux_2_28_x86_64", "cp311-cp311-manylinux2014_x86_64",
    "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64", "py3-none-manylinux_2_28_aarch64",
    "cp311-cp311-manylinux_2_28_aarch64", "cp311-abi3-manylinux_2_28_x86_64",
    "cp39-abi3-manylinux_2_17_x86_64", "cp313-abi3-manylinux_2_17_x86_64",
    "cp311-cp311-musllinux_1_2_x86_64", "cp311-cp311-linux_x86_64", "cp311-cp311-win_amd64",
    "py2.py3-none-any", "py311-none-any", "cp311-none-any", "py2-none-any", "py312-none-any",
)  # fmt: skip
EXTRAS = ("x", "y", "z")


@dataclass(frozen=True)
class Release:
    requires: tuple[str, ...]
    extras: Mapping[str, tuple[str, ...]]
    requires_python: str | None
    tags: tuple[str, ...]
    yanked: bool


@dataclass(frozen=True)
class World:
    packages: Mapping[str, Mapping[str, Release]]
    roots: tuple[str, ...]
    python: str
    platform: str  # linux-64 or linux-aarch64

    @property
    def target(self) -> Target:
        return Target(self.platform, self.python, "2.28")


def spec_of(rng: random.Random, versions: list[str]) -> str:
    kind, version = rng.random(), Version(rng.choice(versions))
    if kind < 0.3:
        return ""
    if kind < 0.7:
        op = rng.choice((">=", "<", "==", "!=", "~=", ">", "<=", "==="))
        ordered = op in (">", "<", ">=", "<=", "~=")
        if op == "~=" and len(version.release) < 2:
            op = ">="
        return f"{op}{version.public if ordered else version}"
    if kind < 0.8:
        epoch = f"{version.epoch}!" if version.epoch else ""
        return f"{rng.choice(('==', '!='))}{epoch}{version.release[0]}.*"
    if kind < 0.88:
        return f"=={version.public}"
    return rng.choice((">=1.0rc1", ">=1.1a1", "<2.0b2", ">=2.0b1", ">=1.1.dev0", "==1.1rc1"))


def marker_of(rng: random.Random) -> str:
    a, b, c = (rng.choice(MARKERS) for _ in range(3))
    return rng.choice((a, a, f"{a} and {b}", f"{a} or {b}", f"({a} or {b}) and {c}",
                       f"{a} and ({b} or {c})", f"{a} or {b} and {c}"))  # fmt: skip


def _extras(
    rng: random.Random, name: str, later: list[str], versions: Mapping[str, list[str]]
) -> dict[str, tuple[str, ...]]:
    extras: dict[str, tuple[str, ...]] = {}
    for extra in rng.sample(EXTRAS, rng.randint(0, 3)) if rng.random() < 0.6 else ():
        lines = []
        for _ in range(rng.randint(0, 2)):
            if rng.random() < 0.25 or not later:  # the package itself with another extra
                line = f"{name}[{rng.choice(EXTRAS)}]"
            else:
                dep = rng.choice(later)
                wanted = f"[{rng.choice(EXTRAS)}]" if rng.random() < 0.3 else ""
                line = dep + wanted + spec_of(rng, versions[dep])
            lines.append(line + (f"; {marker_of(rng)}" if rng.random() < 0.25 else ""))
        extras[extra] = tuple(lines)
    return extras


def _random_release(
    rng: random.Random, name: str, names: list[str], versions: Mapping[str, list[str]]
) -> Release:
    """One release of ``name``: dependencies on later names (an earlier one makes a cycle)."""
    later = names[names.index(name) + 1 :]
    pool = later + ([rng.choice(names)] if rng.random() < 0.1 else [])
    requires = tuple(
        dep
        + (f"[{rng.choice(EXTRAS)}]" if rng.random() < 0.2 else "")
        + spec_of(rng, versions[dep])
        + (f"; {marker_of(rng)}" if rng.random() < 0.25 else "")
        for dep in rng.sample(pool, rng.randint(0, min(3, len(pool))))
    )
    return Release(
        requires,
        _extras(rng, name, later, versions),
        rng.choice(REQUIRES_PYTHON),
        tuple({rng.choice(TAGS): None for _ in range(rng.randint(1, 3))}),
        rng.random() < 0.04,
    )


def world_of(seed: int) -> World:
    """The world of ``seed``: packages a-f, their roots, the target's Python and machine."""
    rng = random.Random(seed)
    names = ["a", "b", "c", "d", "e", "f"][: rng.randint(2, 6)]
    versions = {n: sorted(rng.sample(VERSIONS, rng.randint(1, 4)), key=Version) for n in names}
    packages = {
        n: {v: _random_release(rng, n, names, versions) for v in versions[n]} for n in names
    }
    roots = []
    for name in rng.sample(names, rng.randint(1, min(3, len(names)))):
        wanted = "[" + ",".join(rng.sample(EXTRAS, rng.randint(1, 2))) + "]"
        spec = spec_of(rng, versions[name]) if rng.random() < 0.5 else ""
        marker = f"; {marker_of(rng)}" if rng.random() < 0.1 else ""
        roots.append(name + (wanted if rng.random() < 0.35 else "") + spec + marker)
    python = rng.choice(("3.11", "3.11", "3.11", "3.12", "3.10"))
    platform = "linux-64" if rng.random() < 0.85 else "linux-aarch64"
    return World(packages, tuple(roots), python, platform)


def _lines(release: Release) -> list[str]:
    under = [requirement_for_extra(r, e) for e, lines in release.extras.items() for r in lines]
    return [*release.requires, *under]


def files_of(world: World) -> Iterator[tuple[str, bytes, bool]]:
    """(filename, bytes, yanked) of every wheel of the world."""
    for name, releases in world.packages.items():
        for version, release in releases.items():
            for tag in release.tags:
                filename, data = build_wheel(
                    name,
                    version,
                    requires_dist=_lines(release),
                    requires_python=release.requires_python,
                    provides_extra=list(release.extras),
                    tag=tag,
                )
                yield filename, data, release.yanked


def mlenv_pins(world: World) -> dict[str, Version]:
    """What ``mlenv lock`` pins; raises its ResolutionError."""
    files = list(files_of(world))
    index = MemoryIndex(URL, {f: d for f, d, _ in files}, yanked={f: "" for f, _, y in files if y})
    manifest = (
        f'[environment]\nname = "w"\npython = "{world.python}"\n'
        f'platforms = ["{world.platform}"]\nglibc = "2.28"\n[pypi]\nindex-url = "{URL}"\n'
        f"dependencies = {json.dumps(list(world.roots))}\n"
    )
    lock = lock_manifest(loads(manifest), Sources(index, (URL,), ()), reporter=MemoryReporter())
    return {str(canonicalize_name(p.name)): Version(p.version) for _, p in lock.packages()}


def uv_pins(world: World, work: Path) -> dict[str, Version] | None:
    """What ``uv pip compile`` pins for the same target from a file:// index, None if it
    finds no resolution."""
    files = list(files_of(world))
    url = write_simple_index(
        work / "index", [(f, d) for f, d, _ in files], yanked={f: "" for f, _, y in files if y}
    )
    return uv_compiled(world, url, work)


def uv_compiled(world: World, url: str, work: Path) -> dict[str, Version] | None:
    """What ``uv pip compile`` pins for the world's roots and target from the index at
    ``url``, None if it finds no resolution."""
    (work / "r.in").write_text("\n".join(world.roots) + "\n")
    done = subprocess.run(
        [tool("uv"), "pip", "compile", str(work / "r.in"), "-o", str(work / "r.txt"),
         "--no-cache", "--quiet", "--no-header", "--python-version", world.python,
         "--python-platform", f"{world.target.machine}-manylinux_2_28", "--no-build",
         "--index-url", url],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return None
    return {n: Version(v) for n, v in pins_of((work / "r.txt").read_text()).items()}


def _release(world: World, name: str, version: Version) -> Release | None:
    found = [r for v, r in world.packages.get(name, {}).items() if str(Version(v)) == str(version)]
    return found[0] if found else None


def problems(world: World, pins: Mapping[str, Version]) -> list[str]:
    """What makes ``pins`` no solution: an unmet or unreached requirement (extras, those the
    package's own extras request included, and markers judged at the oldest patch), a release
    whose Requires-Python (its lowest Python) refuses the target, with no wheel for its tags,
    or yanked without an exact ``==`` (or ``===``) pin in the manifest."""
    target = world.target
    wanted: dict[str, set[str]] = {}
    edges: dict[tuple[str, str], Requirement] = {}

    def reach(line: str, asker: str, extra: str) -> None:
        requirement = Requirement(line)
        environment = {**target.markers, "extra": extra}
        if requirement.marker is None or requirement.marker.evaluate(environment):
            edges.setdefault((line, asker), requirement)
            wanted.setdefault(str(canonicalize_name(requirement.name)), set()).update(
                requirement.extras
            )

    for root in world.roots:
        reach(root, "the manifest", "")
    size = (-1, -1)
    while size != (len(edges), sum(map(len, wanted.values()))):
        size = (len(edges), sum(map(len, wanted.values())))
        for name, version in pins.items():
            release = _release(world, name, version)
            for line in _lines(release) if release else ():
                for extra in ("", *sorted(wanted.get(name, ()))):
                    reach(line, f"{name} {version}", extra)
    found = []
    for (_, asker), requirement in edges.items():
        pinned = pins.get(str(canonicalize_name(requirement.name)))
        if pinned is None or not requirement.specifier.contains(pinned, prereleases=True):
            found.append(f"{requirement} (from {asker}) unmet by {pinned}")
    exact = {
        (str(canonicalize_name(Requirement(root).name)), Version(spec.version))
        for root in world.roots
        for spec in Requirement(root).specifier
        if spec.operator in ("==", "===") and "*" not in spec.version
    }
    for name, version in pins.items():
        release = _release(world, name, version)
        if name not in wanted or release is None:
            found.append(f"{name} {version} is not required or not in the world")
            continue
        floor = python_floor(SpecifierSet(release.requires_python or ""))
        if not floor.contains(target.python_full_version, prereleases=True):
            found.append(f"{name} {version} requires Python {release.requires_python}")
        tags = {tag for text in release.tags for tag in parse_tag(text)}
        if not tags & set(target.tag_priority):
            found.append(f"{name} {version} has no wheel for the target: {release.tags}")
        if release.yanked and (name, version) not in exact:
            found.append(f"{name} {version} is yanked and not pinned with ==")
    return found
