"""The ``[pypi]`` settings that steer a resolution, drawn at random over a world of
``tests/support/uv_worlds``: constraints and overrides (markers, extras, name spellings), a
pre-release mode, an exclude-newer cutoff over PEP 700 upload times (some files undated, some
at the cutoff), and an extra index holding some releases, under either index strategy. mlenv
locks the world from JSON indexes, ``uv pip compile`` from the same indexes served over HTTP
with the matching flags, and ``settled_problems`` says which pins break a setting, so a
differential can tell which of two disagreeing resolvers is wrong.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mlenv.errors import MlenvError
from mlenv.index.http import HttpClient
from mlenv.locking import lock_manifest
from mlenv.locking_sources import open_sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from tests.support.httpserver import IndexServer
from tests.support.peers import clean_env, pins_of, tool
from tests.support.uv_worlds import Release, World, files_of, marker_of, problems, spec_of
from tests.support.wheels import write_simple_index

CUTOFF = "2026-02-01T00:00:00Z"
UPLOADS = ("2026-01-01T00:00:00Z", "2026-01-31T23:59:59.999Z", CUTOFF, "2026-02-01T00:00:01Z",
           "2026-01-31T23:30:00-01:00", None)  # fmt: skip
PRERELEASES = {"fallback": "if-necessary-or-explicit", "allow": "allow", "disallow": "disallow"}


@dataclass(frozen=True)
class Settings:
    constraints: tuple[str, ...]
    overrides: tuple[str, ...]
    prerelease: str  # a key of PRERELEASES
    exclude_newer: str | None
    uploaded: Mapping[str, str | None]  # filename -> PEP 700 upload-time, None for undated
    extra: frozenset[str] = frozenset()  # the files of an extra index (asked first), if any
    strategy: str = "first-index"  # or best-match

    def owned(self, name: str) -> set[str]:
        """The files of ``name`` the strategy lets a resolver choose from: under first-index,
        the extra index's when it has the project, else the main index's."""
        files = {f for f in self.uploaded if parse_wheel_filename(f)[0] == name}
        return files if self.strategy == "best-match" else (files & self.extra) or files


def _spelled(rng: random.Random, name: str) -> str:
    """``name`` as another project's metadata may spell it (PEP 503 folds them)."""
    return rng.choice((name, name.upper(), f"{name}_", f"{name}.")).rstrip("_.")


def _lines(rng: random.Random, world: World, extras: bool) -> tuple[str, ...]:
    lines = []
    for name in rng.sample(sorted(world.packages), rng.randint(0, 2)):
        versions = sorted(world.packages[name], key=Version)
        wanted = "[x]" if extras and rng.random() < 0.15 else ""
        spec = spec_of(rng, versions) or f">={Version(rng.choice(versions)).public}"
        marker = f"; {marker_of(rng)}" if rng.random() < 0.2 else ""
        lines.append(_spelled(rng, name) + wanted + spec + marker)
    return tuple(lines)


def settings_of(seed: int, world: World) -> Settings:
    rng = random.Random(seed)
    cutoff = rng.random() < 0.5
    return Settings(
        _lines(rng, world, extras=False),
        _lines(rng, world, extras=True),
        rng.choice(sorted(PRERELEASES)),
        CUTOFF if cutoff else None,
        _uploads(rng, world),
        _moved(rng, world) if rng.random() < 0.5 else frozenset(),
        rng.choice(("first-index", "best-match")),
    )


def _uploads(rng: random.Random, world: World) -> dict[str, str | None]:
    """Each release's upload time, given to all its files (an index dates them together)."""
    when = {
        (n, Version(v)): rng.choice(UPLOADS[:2] * 3 + UPLOADS)
        for n, rs in world.packages.items()
        for v in rs
    }
    return {f: when[parse_wheel_filename(f)[:2]] for f, _, _ in files_of(world)}


def _moved(rng: random.Random, world: World) -> frozenset[str]:
    """The files of some releases (all of a release's wheels go together), for an extra
    index."""
    releases = {(n, Version(v)) for n, rs in world.packages.items() for v in rs}
    chosen = {r for r in sorted(releases) if rng.random() < 0.3}
    return frozenset(f for f, _, _ in files_of(world) if parse_wheel_filename(f)[:2] in chosen)


def _indexes(world: World, settings: Settings, root: Path) -> list[str]:
    """The main index's URL, then the extra index's when the settings have one."""
    files = list(files_of(world))
    parts = [[f for f in files if f[0] not in settings.extra]]
    parts += [[f for f in files if f[0] in settings.extra]] if settings.extra else []
    return [
        write_simple_index(
            root / f"i{k}", [(f, d) for f, d, _ in part], json=True,
            yanked={f: "" for f, _, y in part if y},
            upload_times={f: t for f, t in settings.uploaded.items() if t is not None},
        )
        for k, part in enumerate(parts)
    ]  # fmt: skip


def mlenv_settled_pins(world: World, settings: Settings, work: Path) -> dict[str, Version] | None:
    """What ``mlenv lock`` pins under ``settings``, None where it finds no resolution."""
    urls = _indexes(world, settings, work / "index")
    pypi = {"index-url": urls[0], "extra-index-urls": urls[1:],
            "index-strategy": settings.strategy, "dependencies": list(world.roots),
            "constraints": list(settings.constraints), "overrides": list(settings.overrides),
            "prerelease": settings.prerelease}  # fmt: skip
    if settings.exclude_newer:
        pypi["exclude-newer"] = settings.exclude_newer
    manifest = loads(
        f'[environment]\nname = "w"\npython = "{world.python}"\n'
        f'platforms = ["{world.platform}"]\nglibc = "2.28"\n[pypi]\n'
        + "".join(f"{key} = {json.dumps(value)}\n" for key, value in pypi.items())
    )
    try:
        sources = open_sources(manifest, HttpClient(), None, work)
        lock = lock_manifest(manifest, sources, reporter=MemoryReporter())
    except MlenvError as error:
        assert error.hint, f"a failed lock must say what to change: {error}"
        return None
    return {str(canonicalize_name(p.name)): Version(p.version) for _, p in lock.packages()}


def uv_settled_pins(world: World, settings: Settings, work: Path) -> dict[str, Version] | None:
    """What ``uv pip compile`` pins for the same target, index and settings (the index over
    HTTP: uv reads PEP 700 upload times from JSON pages only)."""
    urls = _indexes(world, settings, work / "uv-index")
    (work / "r.in").write_text("\n".join(world.roots) + "\n")
    (work / "c.txt").write_text("".join(f"{line}\n" for line in settings.constraints))
    (work / "o.txt").write_text("".join(f"{line}\n" for line in settings.overrides))
    newer = ["--exclude-newer", settings.exclude_newer] if settings.exclude_newer else []
    strategy = "first-index" if settings.strategy == "first-index" else "unsafe-best-match"
    with IndexServer(work / "uv-index") as server:
        served = [f"{server.url}/{url.split('/uv-index/')[1]}" for url in urls]
        extra = [arg for url in served[1:] for arg in ("--extra-index-url", url)]
        done = subprocess.run(
            [tool("uv"), "pip", "compile", str(work / "r.in"), "-o", str(work / "r.txt"),
             "--no-cache", "--quiet", "--no-header", "--python-version", world.python,
             "--python-platform", f"{world.target.machine}-manylinux_2_28", "--no-build",
             "--index-url", served[0], *extra, "--index-strategy", strategy,
             "-c", str(work / "c.txt"),
             "--override", str(work / "o.txt"),
             "--prerelease", PRERELEASES[settings.prerelease], *newer],
            env=clean_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        return None
    return {n: Version(v) for n, v in pins_of((work / "r.txt").read_text()).items()}


def _overridden(lines: tuple[str, ...], overrides: tuple[str, ...]) -> tuple[str, ...]:
    """``lines`` with every requirement on an overridden project replaced by its overrides
    (the replaced line's marker goes with it; the extra it sits under stays, as a release's
    extras keep their lines apart)."""
    by_name: dict[str, list[str]] = {}
    for line in overrides:
        by_name.setdefault(str(canonicalize_name(Requirement(line).name)), []).append(line)
    kept: list[str] = []
    for line in lines:
        kept += by_name.get(str(canonicalize_name(Requirement(line).name)), [line])
    return tuple(dict.fromkeys(kept))


def _exact(lines: tuple[str, ...]) -> set[tuple[str, Version]]:
    return {
        (str(canonicalize_name(Requirement(line).name)), Version(spec.version))
        for line in lines
        for spec in Requirement(line).specifier
        if spec.operator in ("==", "===") and "*" not in spec.version
    }


def _before(when: str | None, cutoff: str) -> bool:
    def read(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return when is not None and read(when) < read(cutoff)


def settled_problems(world: World, settings: Settings, pins: Mapping[str, Version]) -> list[str]:
    """``problems`` of the world with the overrides applied, and what breaks a setting: a pin
    outside a constraint that holds on the target, a pre-release under ``disallow``, or no file
    for the target from the index the strategy takes it from (uploaded before any cutoff)."""

    def applied(release: Release) -> Release:
        extras = {e: _overridden(lines, settings.overrides) for e, lines in release.extras.items()}
        return replace(release, requires=_overridden(release.requires, settings.overrides),
                       extras=extras)  # fmt: skip

    packages = {n: {v: applied(r) for v, r in rs.items()} for n, rs in world.packages.items()}
    roots = _overridden(world.roots, settings.overrides)
    exact = _exact(settings.constraints) | _exact(settings.overrides)
    found = [
        problem
        for problem in problems(replace(world, packages=packages, roots=roots), pins)
        if not any(problem == f"{n} {v} is yanked and not pinned with ==" for n, v in exact)
    ]
    for line in settings.constraints:
        constraint = Requirement(line)
        pinned = pins.get(str(canonicalize_name(constraint.name)))
        holds = constraint.marker is None or constraint.marker.evaluate(world.target.markers)
        if pinned is not None and holds and not constraint.specifier.contains(pinned, True):
            found.append(f"{pinned} breaks the constraint {line}")
    if settings.prerelease == "disallow":
        found += [f"{n} {v} is a pre-release" for n, v in pins.items() if v.is_prerelease]
    for name, version in pins.items():
        usable = [
            f
            for f in settings.owned(name)
            if parse_wheel_filename(f)[1] == version
            and (
                settings.exclude_newer is None
                or _before(settings.uploaded[f], settings.exclude_newer)
            )
            and set(parse_tag(f.removesuffix(".whl").split("-", 2)[2]))
            & set(world.target.tag_priority)
        ]
        if not usable:
            found.append(f"{name} {version} has no file for the target its index may give")
    return found
