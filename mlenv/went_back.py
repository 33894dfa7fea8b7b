"""Why the resolver went back to older releases of the packages that lead to a conflict.

The PubGrub article's example: the manifest asks ``menu``, ``icons==1`` and ``intl==5``.
menu 15 needs dropdown 2, which needs icons 2; so the resolver goes back to menu 10, whose
dropdown 1 needs intl 3, and resolvelib reports only that last conflict over ``intl``. Without
these lines nothing says that menu 15 was given up over ``icons``: each package on the chain to
the conflict whose newer releases (in its asker's range) are all ruled out, down to the
requirement no release the manifest allows meets.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from mlenv.dead_ends import WORK, World, dead_ends


@dataclass(frozen=True)
class Step:
    """A release on a chain to the conflict, and the ranges its askers gave it."""

    name: NormalizedName
    version: Version
    ranges: tuple[SpecifierSet, ...]

    def allows(self, version: Version) -> bool:
        return all(r.contains(version, True) for r in self.ranges)


def within(world: World, limits: Sequence[tuple[NormalizedName, SpecifierSet]]) -> World:
    """The world seen through the manifest's own ranges (``icons==1`` leaves icons 1 only)."""

    def ranges(name: NormalizedName) -> list[SpecifierSet]:
        return [spec for limited, spec in limits if limited == name and str(spec)]

    def versions(name: NormalizedName) -> Sequence[Version]:
        own = ranges(name)  # once, not once per release: 10,000 releases x 100 requirements
        return [v for v in world.versions(name) if all(r.contains(v, True) for r in own)]

    def said(name: NormalizedName) -> str:
        asked = ", ".join(f"{name}{spec}" for spec in ranges(name))
        return f"; the manifest asks {asked}" if asked else ""

    return World(versions, world.needs, world.spent, said)


def went_back(
    steps: Iterable[Step],
    world: World,
    reported: Collection[tuple[NormalizedName, Version]] = (),
) -> list[str]:
    """Lines for each step whose every newer release its askers allow is ruled out; nothing
    for a step with a newer release the account cannot rule out. Releases in ``reported``
    are askers in the conflict itself (200 nightlies of a each needing b<2): already said."""
    lines: list[str] = []
    seen: set[NormalizedName] = set()
    for step in steps:
        if step.name in seen:
            continue
        seen.add(step.name)
        if world.spent[0] > WORK:  # no account is given past the budget: stop looking
            break
        releases = world.versions(step.name)
        world.spent[0] += len(releases) * max(1, len(step.ranges))  # as ``dead_ends`` counts
        newer = [
            v
            for v in releases
            if v > step.version and step.allows(v) and (step.name, v) not in reported
        ]
        found = dead_ends(((step.name, v) for v in newer), world) if newer else []
        if found:
            lines.append(
                f"{step.name}: the resolver went back to {step.name} {step.version}, as no "
                "newer release it may take fits the manifest"
            )
            lines += found
    return lines
