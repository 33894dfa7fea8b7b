"""Why the releases that ask for a package cannot be taken, when resolvelib's account of a
failure names a conflict that is not one.

After backtracking through every release of a package, resolvelib reports the requirements
of the last criterion it could not meet. That can be a sibling the failing releases also asked
for (dart-lang/pub's issue 18300: every ``angular`` asks for ``collection>=0.9.1``, which
collection 0.9.1 meets; what rules each angular out is its ``di``, whose every release needs an
``analyzer`` no index has). The account then blames a package at no fault. This module finds
the requirement below the askers that no release can meet, from the metadata the resolution
read, and the chain that leads to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

DEPTH = 100  # deeper chains count as takeable: an account, not a second resolution, and no
# RecursionError on a hostile world whose chain runs thousands of packages deep
NAMED = 8  # releases named on one line, the rest counted
WORK = 200_000  # version comparisons and dependencies looked at in all (a second or two); past
# it the account is given up: 10,000 releases each asking 100 projects of 10,000 releases would
# otherwise compare for hours before the error is shown


class _Exhausted(Exception):
    """The search spent ``WORK``: the failure is reported without this account."""


@dataclass(frozen=True)
class Need:
    """One dependency: the project, its range, and the requirement as written."""

    name: NormalizedName
    specifier: SpecifierSet
    text: str


@dataclass(frozen=True)
class World:
    """What the failed resolution knows: the releases of a project it could take, and a
    release's dependencies (None where it never read them: such a release counts as takeable)."""

    versions: Callable[[NormalizedName], Sequence[Version]]
    needs: Callable[[NormalizedName, Version], Sequence[Need] | None]
    # work every account in this world has spent: a failure naming many packages asks one
    # account each, and all of them together stay within ``WORK``
    spent: list[int] = field(default_factory=lambda: [0])
    # what else rules a project's releases out, said after its versions ("; the manifest asks
    # icons==1"): a world seen through the manifest's ranges shows fewer than the index has
    limits: Callable[[NormalizedName], str] = lambda _: ""


@dataclass(frozen=True)
class _Search:
    world: World
    blockers: dict[tuple[NormalizedName, Version], Need | None] = field(default_factory=dict)
    open: set[tuple[NormalizedName, Version]] = field(default_factory=set)
    takeables: dict[Need, bool] = field(default_factory=dict)
    assumed: list[int] = field(default_factory=lambda: [0])  # open releases counted takeable

    def spend(self, amount: int) -> None:
        self.world.spent[0] += amount + 1
        if self.world.spent[0] > WORK:
            raise _Exhausted

    def matching(self, need: Need) -> list[Version]:
        versions = self.world.versions(need.name)
        self.spend(len(versions) * max(1, len(need.specifier)))  # a clause is a comparison
        return [v for v in versions if need.specifier.contains(v, True)]

    def blocker(self, name: NormalizedName, version: Version) -> Need | None:
        """A dependency of the release no release can meet, or None (a release on a cycle
        being judged counts as takeable, so a cycle never blames itself)."""
        key = (name, version)
        if key in self.blockers:
            return self.blockers[key]
        if key in self.open or len(self.open) >= DEPTH:
            self.assumed[0] += 1
            return None
        self.open.add(key)
        needs = self.world.needs(name, version) or ()
        self.spend(len(needs))
        found = next(
            (need for need in needs if need.name != name and not self.takeable(need)), None
        )
        self.open.discard(key)
        self.blockers[key] = found
        return found

    def takeable(self, need: Need) -> bool:
        """Kept once known (every release of a wide project asking the same requirement would
        scan its releases again), unless it held only by counting an open release takeable."""
        if need in self.takeables:
            return self.takeables[need]
        assumed = self.assumed[0]
        found = any(self.blocker(need.name, v) is None for v in self.matching(need))
        if not found or assumed == self.assumed[0]:
            self.takeables[need] = found
        return found


def dead_ends(askers: Iterable[tuple[NormalizedName, Version]], world: World) -> list[str]:
    """Lines saying why each asker cannot be taken, down to a requirement no release meets;
    empty unless every asker is ruled out so (then the reported conflict is the real one), or
    when finding out would cost more than ``WORK``."""
    search = _Search(world)
    try:
        return _dead_ends(search, askers)
    except _Exhausted:
        return []


def _dead_ends(search: _Search, askers: Iterable[tuple[NormalizedName, Version]]) -> list[str]:
    groups: dict[Need, list[str]] = {}
    for name, version in dict.fromkeys(askers):
        blocker = search.blocker(name, version)
        if blocker is None:
            return []
        groups.setdefault(blocker, []).append(f"{name} {version}")
    lines = [f"  {_named(who)} need{_s(who)} {need.text}" for need, who in groups.items()]
    return lines + _chain(search, list(groups))


def _chain(search: _Search, todo: list[Need]) -> list[str]:
    lines: list[str] = []
    seen: set[Need] = set()
    while todo:
        need = todo.pop(0)
        if need in seen:
            continue
        seen.add(need)
        matching = search.matching(need)
        if not matching:
            known = ", ".join(str(v) for v in search.world.versions(need.name)[:8]) or "none"
            limits = search.world.limits(need.name)
            lines.append(f"  {need.text}: no release matches (versions available: {known}{limits})")
            continue
        groups: dict[Need, list[str]] = {}
        for version in matching:
            blocker = search.blocker(need.name, version)
            if blocker is not None:
                groups.setdefault(blocker, []).append(f"{need.name} {version}")
        for blocker, who in groups.items():
            lines.append(f"  {_named(who)} need{_s(who)} {blocker.text}")
            todo.append(blocker)
    return lines


def _named(who: Sequence[str]) -> str:
    """The releases that need the same thing; past ``NAMED``, a count (a nightly series)."""
    more = f" and {len(who) - NAMED} more" if len(who) > NAMED else ""
    return ", ".join(who[:NAMED]) + more


def _s(who: Sequence[str]) -> str:
    return "s" if len(who) == 1 else ""
