"""The lock as a value: ``Lock``, its platforms and entries, the errors a lock raises, and the
table layout of each entry type (``_fields``), the one source its renderer and reader share.

Every command that holds a lock names these types; rendering (``lockfile_render``), reading
(``lockfile_read``), the entries' consistency (``lockfile_consistency``) and freshness against the
manifest (``lockfile_fresh``) live beside it, each its own concern.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from mlenv.conda.records import CondaRecord
from mlenv.errors import MlenvError, ProblemsError
from mlenv.inputs import LOCK_VERSION
from mlenv.platforms import unknown_platform_hint


class LockError(ProblemsError):
    """The lock file cannot be read or does not describe a valid lock."""


class StaleLockError(MlenvError):
    """The lock was made from other inputs than the manifest now holds."""


@dataclass(frozen=True)
class LockedPackage:
    """A wheel from a PyPI index, find-links directory or file:// mirror."""

    name: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int
    index: str
    requires_python: str | None = None
    dependencies: tuple[str, ...] = ()
    source: str = "pypi"
    cuda: str | None = None
    requires_driver: str | None = None
    # Written only when true, so locks that use neither keep their bytes:
    yanked: bool = False  # PEP 592: an == pin or the earlier lock took it, though yanked
    cpu_ok: bool = False  # a CPU-only build for a CUDA target, allowed by [cuda] cpu-ok


@dataclass(frozen=True)
class LockedPlatform:
    """One platform's pins: PyPI packages and conda records."""

    platform: str
    packages: tuple[LockedPackage, ...]
    conda: tuple[CondaRecord, ...] = ()

    def by_name(self) -> dict[str, LockedPackage]:
        return {p.name: p for p in self.packages}


@dataclass(frozen=True)
class LockTarget:
    """The resolution inputs a lock was made from, as the lock records them."""

    python: str
    glibc: str
    platforms: tuple[str, ...]
    index_strategy: str
    indexes: tuple[str, ...]
    find_links: tuple[str, ...]
    requirements: tuple[str, ...]
    cuda: str | None = None
    driver_floor: str | None = None
    requires_driver: str | None = None
    requires_driver_because: str | None = None
    conda_channels: tuple[str, ...] = ()
    conda_requirements: tuple[str, ...] = ()
    # [pypi] sources as "name=index" (drift.recorded_sources), sorted; written only when used
    sources: tuple[str, ...] | None = None
    # [pypi] prerelease; written only when not the default
    prerelease: str | None = None
    # [pypi] constraints and overrides, sorted; written only when used
    constraints: tuple[str, ...] | None = None
    overrides: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Lock:
    """mlenv.lock as a value: what every command that reads a lock works from."""

    inputs_hash: str
    target: LockTarget
    platforms: tuple[LockedPlatform, ...] = field(default_factory=tuple)
    version: int = LOCK_VERSION

    def platform(self, name: str) -> LockedPlatform:
        for platform in self.platforms:
            if platform.platform == name:
                return platform
        if name in self.target.platforms:  # nothing pinned for it: the lock writes no table
            return LockedPlatform(name, ())
        raise MlenvError(
            f"the lock has no platform {name!r}",
            where="mlenv.lock",
            hint=unknown_platform_hint(name, self.target.platforms),
        )

    def packages(self) -> list[tuple[str, LockedPackage]]:
        return [(p.platform, pkg) for p in self.platforms for pkg in p.packages]

    def conda_packages(self) -> list[tuple[str, CondaRecord]]:
        return [(p.platform, pkg) for p in self.platforms for pkg in p.conda]

    def with_platforms(self, platforms: Sequence[LockedPlatform]) -> Lock:
        return replace(self, platforms=tuple(sorted(platforms, key=lambda p: p.platform)))


@dataclass(frozen=True)
class _Field:
    """One key of a table: its TOML spelling, its attribute, its type, whether it must be there."""

    key: str
    attr: str
    kind: type
    required: bool


def _fields(cls: type) -> tuple[_Field, ...]:
    """The table layout of a lock dataclass, read from its fields: one source for render and
    parse, so the two cannot drift. Keys are the attributes spelled with dashes."""
    kinds = {"str": str, "int": int, "bool": bool, "tuple[str, ...]": list}
    result = []
    for item in dataclasses.fields(cls):
        annotation = str(item.type)
        optional = annotation.endswith("| None")
        kind = kinds[annotation.removesuffix(" | None")]
        has_default = item.default is not dataclasses.MISSING or (
            item.default_factory is not dataclasses.MISSING
        )
        result.append(
            _Field(item.name.replace("_", "-"), item.name, kind, not (optional or has_default))
        )
    return tuple(result)


_TARGET = _fields(LockTarget)
_PACKAGE = _fields(LockedPackage)
_CONDA = _fields(CondaRecord)
