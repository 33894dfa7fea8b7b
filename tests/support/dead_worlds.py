"""Worlds for ``mlenv.dead_ends`` written as release tables: project -> version -> its
requirements (None where the resolution never read them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.dead_ends import Need, World

Releases = Mapping[str, Mapping[str, Sequence[str] | None]]


def world(releases: Releases) -> World:
    """Releases by project and version, each with its requirements (None: never read)."""

    def versions(name: NormalizedName) -> list[Version]:
        return sorted((Version(v) for v in releases.get(name, {})), reverse=True)

    def needs(name: NormalizedName, version: Version) -> list[Need] | None:
        listed = {Version(v): reqs for v, reqs in releases.get(name, {}).items()}[version]
        if listed is None:
            return None
        parsed = [Requirement(r) for r in listed]
        return [Need(canonicalize_name(r.name), r.specifier, str(r)) for r in parsed]

    return World(versions, needs)


def askers(*pins: str) -> list[tuple[NormalizedName, Version]]:
    return [(canonicalize_name(p.split()[0]), Version(p.split()[1])) for p in pins]
