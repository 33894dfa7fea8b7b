"""What to say about an exact pin (``==`` or ``===``) that no version on the indexes matches.

A pin to a missing version is most often a typo or a spelling the index does not use, so the
error names the versions around it: the releases just below and above, and every existing
spelling of the same release (``1.0`` for ``===1.0.0``, ``1.0+cu124`` for ``===1.0``), which
is the version the user most likely meant.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from resolvelib.structs import RequirementInformation

_AROUND = 2  # releases named on each side of the missing one
_SPELLINGS = 4  # spellings of the same release named (a torch release has many +cuXYZ)
_NEWEST = 4  # releases named when the pin is no version at all (``===nightly``)
_MISSING = 5  # missing pins named, the rest counted


@dataclass(frozen=True)
class Pinned:
    """One requirement's name and specifiers, as the resolver holds them."""

    name: str
    specifier: SpecifierSet


def _missing(
    pinned: Iterable[Pinned], seen: Collection[Version]
) -> Iterator[tuple[str, Specifier]]:
    """Each exact pin in ``pinned`` (name, specifier) that matches none of ``seen``."""
    for requirement in pinned:
        for spec in requirement.specifier:
            if spec.operator not in ("==", "===") or "*" in spec.version:
                continue
            if not any(spec.contains(v, prereleases=True) for v in seen):
                yield requirement.name, spec


def missing_pins(pinned: Iterable[Pinned], seen: Collection[Version], searched: str) -> list[str]:
    """A line for every exact pin in ``pinned`` that matches none of ``seen``."""
    releases = sorted({Version(v.public) for v in seen})  # 2.5.1, not each +cuXYZ of it
    missing = list(_missing(pinned, seen))
    lines = [
        f"  {name} {spec.version} does not exist on {searched} ({_nearby(spec, seen, releases)})"
        for name, spec in missing[:_MISSING]
    ]
    if len(missing) > _MISSING:  # 1,000 releases of a parent each pinning a missing version
        lines.append(f"  and {len(missing) - _MISSING} more pinned versions that do not exist")
    return lines


def foreign_local_pins(pinned: Iterable[Pinned], seen: Collection[Version]) -> list[Version]:
    """The missing exact pins to a local version (``torch==2.7.0+cu128``) where no version seen
    has a local label at all: such a build is published on its maker's own index (PyTorch's),
    never on the one searched, and relaxing a requirement is not what helps."""
    if any(v.local for v in seen):
        return []
    found = []
    for _name, spec in _missing(pinned, seen):
        try:
            version = Version(spec.version)
        except InvalidVersion:
            continue
        if version.local:
            found.append(version)
    return found


def _nearby(spec: Specifier, seen: Collection[Version], releases: Sequence[Version]) -> str:
    """The versions around the pinned one, or the newest ones when it is no version at all."""
    try:
        wanted = Version(spec.version)
    except InvalidVersion:  # === with an arbitrary string: nothing is "near" it
        newest = ", ".join(str(v) for v in reversed(releases[-_NEWEST:]))
        return f"newest versions: {newest or 'none'}"
    public = Version(wanted.public)
    below = [v for v in releases if v < public][-_AROUND:]
    same = sorted(v for v in seen if Version(v.public) == public)[:_SPELLINGS]
    above = [v for v in releases if v > public][:_AROUND]
    nearby = ", ".join(str(v) for v in below + same + above) or "none"
    try:
        loose = [v for v in same if Specifier(f"=={spec.version}").contains(v, prereleases=True)]
    except InvalidSpecifier:  # a spelling Version takes but == does not
        loose = []
    if spec.operator == "===" and loose:
        return (
            f"nearest versions: {nearby}; === compares the exact spelling, "
            f"=={spec.version} would match {loose[-1]}"
        )
    return f"nearest versions: {nearby}"


def exclusive_misses(pinned: Sequence[Pinned], offered: Collection[Version]) -> list[str]:
    """A line for each offered version that PEP 440's exclusive comparisons alone left out:
    ``<2.0`` never admits 2.0's own pre-releases, ``>1.0`` never admits 1.0's post-releases or
    local builds, however the rest reads ("why is 2.0rc1 not below 2.0?")."""
    lines = []
    specs = [spec for requirement in pinned for spec in requirement.specifier]
    for spec in specs:
        if spec.operator not in ("<", ">"):
            continue
        try:
            edge = Version(spec.version)
        except InvalidVersion:
            continue
        others = [other for other in specs if other is not spec]
        for version in sorted(offered, reverse=True):
            if version.release != edge.release or version.epoch != edge.epoch:
                continue
            if spec.operator == "<" and version.is_prerelease and not edge.is_prerelease:
                why, fix = f"{edge}'s own pre-releases", f"<={version}"
            elif spec.operator == ">" and version > edge and not edge.is_postrelease:
                pin = f"=={version}" if version.local else f">={version}"  # no >= on a local
                why, fix = f"{edge}'s post-releases and local builds", pin
            else:
                continue
            if all(other.contains(version, prereleases=True) for other in others):
                lines.append(
                    f"  refused: {version}: {spec} leaves out {why} (PEP 440); {fix} admits it"
                )
    return lines[:_NEWEST]


class _Named(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def extras(self) -> frozenset[str]: ...


R = TypeVar("R", bound=_Named)


def base_roots(
    infos: Sequence[RequirementInformation[R, Any]], roots: Iterable[R]
) -> list[RequirementInformation[R, Any]]:
    """The manifest's other requirements on the name of ``infos`` when one of those has
    extras: ``pkg[x]``'s versions were matched against ``pkg``'s own requirements too, so a
    ``pkg==1.0`` beside ``pkg[x]>1`` is half the conflict, though resolvelib names only the
    ``pkg[x]`` side."""
    if not any(info.requirement.extras for info in infos):
        return []
    name = infos[0].requirement.name
    known = [info.requirement for info in infos]
    return [RequirementInformation(r, None) for r in roots if r.name == name and r not in known]
