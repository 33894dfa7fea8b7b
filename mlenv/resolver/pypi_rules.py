"""The manifest's ``[pypi]`` rules that steer a resolution, each decided at one place:
``constraints`` (the versions each project may take on the target), ``overrides`` (replacing a
project's requirements wherever they come from, as uv does) and the exact pins that opt into a
yanked release (PEP 592)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv.resolver.model import Req, to_req
from mlenv.resolver.requirements import _intersection, applies
from mlenv.target import Target


def _bounds(
    constraints: Iterable[Requirement], target: Target
) -> dict[NormalizedName, tuple[SpecifierSet, str]]:
    """Each constrained project's versions on ``target`` (the constraints whose markers hold
    there, intersected) and the constraints' text, for the reason a version is refused."""
    found: dict[NormalizedName, list[Requirement]] = defaultdict(list)
    for constraint in constraints:
        if applies(constraint, target.markers):
            found[canonicalize_name(constraint.name)].append(constraint)
    return {
        name: (
            _intersection(c.specifier for c in listed),
            ", ".join(str(c).split(";", 1)[0].strip() for c in listed),
        )
        for name, listed in found.items()
    }


OVERRIDDEN = "([pypi] overrides)"  # after an override's text where a resolution names it


def _replacements(
    overrides: Iterable[Requirement], target: Target
) -> dict[NormalizedName, tuple[Req, ...]]:
    """Each overridden project's requirements on ``target``: those whose markers hold there
    (none: the project is required nowhere on it, as uv drops it)."""
    found: dict[NormalizedName, list[Req]] = {}
    for override in overrides:
        req = to_req(override)
        listed = found.setdefault(req.name, [])
        if applies(override, target.markers):
            listed.append(dataclasses.replace(req, text=f"{req.text} {OVERRIDDEN}"))
    return {name: tuple(listed) for name, listed in found.items()}


def _overridden(
    requirements: Iterable[Requirement],
    replacing: Mapping[NormalizedName, tuple[Req, ...]],
    taking: Callable[[Requirement], Req] = to_req,
) -> list[Req]:
    """The requirements as the resolver takes them (``taking``), each on a project that
    ``[pypi] overrides`` names replaced by its overrides, once (uv's rule: wherever it comes
    from, the manifest or a dependency's metadata)."""
    if not replacing:  # the usual lock: no name normalised per requirement
        return [taking(requirement) for requirement in requirements]
    taken: list[Req] = []
    replaced: set[NormalizedName] = set()
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in replacing:
            taken.append(taking(requirement))
        elif name not in replaced:
            replaced.add(name)
            taken += replacing[name]
    return taken


@dataclass(frozen=True)
class OptIns:
    """What only the manifest's own requirements can opt into, as uv decides it: a dependency
    deep in the tree cannot pull a yanked file (PEP 592) into the environment. A yanked file is
    taken only when a manifest requirement, a constraint or an applied ``[pypi] overrides``
    entry (uv's rule) pins exactly its version (``==1.0``, not ``==1.*``, nor a local
    ``1.0+cu124`` through ``==1.0``), or when the earlier lock pinned it (``kept``: uv and
    poetry keep a locked release yanked since, so a relock does not move what nobody asked
    to move; ``--upgrade-package`` moves it off).

    Pre-releases need no opt-in: ``find_matches`` offers every final release in range before any
    pre-release (uv since 0.12), so one is locked only where no final release can be; the
    manifest's ``[pypi] prerelease`` sets that rule for every project (``Prerelease``).
    """

    pins: Mapping[NormalizedName, frozenset[Version]]  # the manifest's and the earlier lock's
    named: Mapping[NormalizedName, frozenset[Version]]  # the manifest's alone

    @classmethod
    def of(cls, roots: Iterable[Req], kept: Mapping[NormalizedName, Version]) -> OptIns:
        named: defaultdict[NormalizedName, set[Version]] = defaultdict(set)
        for req in roots:
            for spec in req.specifier:
                if spec.operator in ("==", "===") and "*" not in spec.version:
                    with suppress(InvalidVersion):  # "===" takes any string
                        named[req.name].add(Version(spec.version))
        exact = {name: frozenset(v) for name, v in named.items()}
        pins = dict(exact)
        for name, version in kept.items():
            pins[name] = pins.get(name, frozenset()) | {version}
        return cls(pins, exact)

    def kept_only(self, name: NormalizedName, version: Version) -> bool:
        """Whether only the earlier lock opts into this release: ``--upgrade-package`` moves
        it off, which it cannot do for a version the manifest pins."""
        return version in self.pins.get(name, ()) and version not in self.named.get(name, ())
