"""The resolver's searches: resolvelib's, undoing on a conflict only the pins that bear on
it, and a second one when that finds no resolution.

resolvelib's backjumping can skip the one pin whose other version would have worked, and
then report that no resolution exists for a world that has one (sarugaku/resolvelib issue
206: ``p2`` alone, where ``p2 2`` needs a missing ``p1==3``, ``p2 1`` takes ``p1 2`` first,
and ``p1 2``'s ``p0 2`` wants ``p2==2``; only ``p1 1`` works, and the backjump passes over
``p1``'s state because ``p1 2``'s dependencies are not among the conflict's names). Its safe
mode undoes the newest pin instead, whatever it is, so every version of every package pinned
since the pin at fault was tried in turn. ``Jumping`` undoes the newest pin that can bear on
the conflict (its account grows with each undone pin, so no pin at fault is passed over).
When the first search fails, a second one also never pins a candidate over an earlier pin it
breaks (resolvelib then pins the other name again, and pins that undo each other can go
round until ``Cycling`` stops them, in a world that has a resolution: the second search runs
after that too), and a third undoes pins strictly one at a time, so no account that missed
a pin can make a solvable world unsolvable. Each runs at most ``RETRY_ROUNDS`` rounds; when
they find nothing, the first search's account stands.
"""

from __future__ import annotations

from collections import ChainMap, defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep
from resolvelib.resolvers import Criterion, RequirementsConflicted
from resolvelib.structs import RequirementInformation, State, build_iter_view

from mlenv.cycles import Cycling, resolve_guarded
from mlenv.repin import Repinning

RT = TypeVar("RT")
CT = TypeVar("CT")

# each later opinion's bound: a true conflict runs both to it, still seconds in a large world
RETRY_ROUNDS = 2_000


class Jumping(Repinning):
    """resolvelib's Resolution that, on a conflict, undoes the newest pin that can bear on it.

    A pin bears on a conflict when its name is in the conflict's account (the names the
    failing requirements are on and came from, the name being pinned and who limited it, the
    names whose requirements the provider matches their releases against, and why their
    releases were refused before: ``_blame``) or its release depends on one that
    does, each through a requirement that leaves out a release (``_bearers``). Undoing any
    other pin cannot help: trying every version of an unrelated package one
    by one multiplied the rounds by the product of their versions (three packages of 10
    versions between the pin at fault and the conflict: 2,000 rounds used up, a solvable
    world reported unsolvable).
    """

    jumps = True  # pass over pins that cannot bear on the conflict

    def __init__(self, provider: Any, reporter: BaseReporter[Any, Any, str]) -> None:
        super().__init__(provider, reporter)
        self._optimistic_backjumping_ratio = 0.0  # resolvelib 1.2: no optimistic jumps
        self._pinning: str | None = None
        # each name, the names whose pins made its releases refused (kept: a wider account
        # only undoes more, one pin at a time)
        self._blame: defaultdict[str, set[str]] = defaultdict(set)
        # each pinned release's dependencies, and whether each leaves out a release
        self._needs: dict[Any, dict[str, bool]] = {}
        # the names whose requirements the provider matches each name's releases against
        self._reads: Callable[[str], tuple[str, ...]] = provider.reads
        # whether a requirement leaves out a release of its name
        self._narrows: Callable[[Any], bool] = provider.narrows
        self._rooted: set[str] = set()  # the names the manifest asks for

    def resolve(self, requirements: Iterable[Any], max_rounds: int) -> State[Any, Any, str]:
        requirements = list(requirements)
        self._rooted = {self._p.identify(r) for r in requirements}  # always asked for
        return super().resolve(requirements, max_rounds)

    def _attempt_to_pin_criterion(self, name: str) -> list[Criterion[Any, Any]]:
        self._pinning = name
        return super()._attempt_to_pin_criterion(name)

    def _backjump(self, causes: list[RequirementInformation[Any, Any]]) -> bool:
        # The top state failed to pin; below it, the state of the newest pin. The failed
        # criteria (``causes``) hold what the pin would have added: who asked for their names.
        asked: defaultdict[str, list[RequirementInformation[Any, Any]]] = defaultdict(list)
        for cause in causes:
            asked[self._p.identify(cause.requirement)].append(cause)
        failed = {key: Criterion(build_iter_view(()), infos, []) for key, infos in asked.items()}
        names = set(failed).union(*map(self._askers, asked.values()))
        if self._pinning is not None:
            names.add(self._pinning)
        at_fault = self._account(names, ChainMap(failed, self.state.criteria))
        while len(self._states) >= 3:
            del self._states[-1]
            undone = self._states.pop()
            if not undone.mapping:
                raise ResolutionImpossible(causes)
            at_fault = self._bearing(at_fault, undone.mapping)
            name, candidate = undone.mapping.popitem()
            if self.jumps and name not in at_fault and undone.mapping:
                self._push_new_state()  # this pin cannot help: on to the one below it
                continue
            self._blame[name] |= at_fault
            known = [(key, list(c.incompatibilities)) for key, c in undone.criteria.items()]
            known.append((name, [candidate]))
            self._push_new_state()
            if self._patch_criteria(known):
                return True
            # a name left without a release: why its releases went joins the account
            refused = {key for key, candidates in known if candidates}
            at_fault = self._account(at_fault | refused, self.state.criteria)
        return False

    def _account(self, names: set[str], criteria: Mapping[str, Criterion[Any, Any]]) -> set[str]:
        """``names``, the names whose requirements limit their releases (``b`` for ``b[x]``:
        the provider's ``reads``), who asked for each in a way that bears on it
        (``_bearers``), and why releases of each were refused before."""
        found = {key for name in names for key in self._reads(name)}
        for name in set(found):
            found |= self._blame.get(name, set())
            if name in criteria:
                found |= self._askers(criteria[name].information)
        return found

    def _askers(self, asked: Iterable[RequirementInformation[Any, Any]]) -> set[str]:
        """The pins among who asked that bear on the name asked for (``_bearers``)."""
        return _bearers(
            (self._narrows(i.requirement), None if i.parent is None else self._p.identify(i.parent))
            for i in asked
        )

    def _bearing(self, names: set[str], mapping: Mapping[str, Any]) -> set[str]:
        """``names`` and every pin whose release depends on one of them in a way that bears on
        it (``_bearers``; the manifest asking counts), at any depth: one walk up who depends
        on whom (a pass over every pin per link of a chain was cubic in a 300-package chain's
        depth, four times resolvelib's time a round)."""
        dependents: defaultdict[str, list[tuple[bool, str | None]]] = defaultdict(list)
        for name, candidate in mapping.items():
            for needed, narrows in self._needed(candidate).items():
                dependents[needed].append((narrows, name))
        for name in self._rooted:
            dependents[name].append((False, None))
        found = set(names)
        todo = list(found)
        while todo:
            for name in _bearers(dependents.get(todo.pop(), ())) - found:
                found.add(name)
                todo.append(name)
        return found

    def _needed(self, candidate: Any) -> dict[str, bool]:
        needs = self._needs.get(candidate)
        if needs is None:
            needs = {}
            for dependency in self._p.get_dependencies(candidate):
                key = self._p.identify(dependency)
                needs[key] = needs.get(key, False) or self._narrows(dependency)
            self._needs[candidate] = needs
        return needs


def _bearers(asked: Iterable[tuple[bool, str | None]]) -> set[str]:
    """Of the pins asking for a name (whether the requirement leaves out a release, who asked:
    None for the manifest), those that bear on a conflict over it. A requirement admitting
    every release cannot be why the name has none left (twenty packages asking for any ``z``
    while two pins fight over it undid each of them, every combination of their versions),
    so only the pins leaving some out. When no asker does and the manifest does not ask, the
    first pin listed (the oldest) does: while it stays, the name stays, whatever the others
    do (every one undid each combination of their versions again)."""
    asked = list(asked)
    narrowing = {name for narrows, name in asked if narrows and name is not None}
    if narrowing or any(narrows or name is None for narrows, name in asked):
        return narrowing
    return {name for _, name in asked[:1] if name is not None}


class Stepwise(Jumping):
    """The second search: ``Jumping`` that never pins a candidate over an earlier pin."""

    def _get_updated_criteria(self, candidate: Any) -> dict[str, Criterion[Any, Any]]:
        # A candidate that breaks an earlier pin is refused, not pinned over it: resolvelib
        # would pin the other name again, and again, without ever backtracking (pins that
        # undo each other went round until Cycling stopped them, in a solvable world).
        criteria = super()._get_updated_criteria(candidate)
        before = self.state.criteria
        for name, pinned in self.state.mapping.items():
            criterion = criteria[name]
            if criterion is before.get(name):
                continue  # the candidate's dependencies leave it as it was
            if not all(
                self._p.is_satisfied_by(requirement=r, candidate=pinned)
                for r in criterion.iter_requirement()
            ):
                raise RequirementsConflicted(criterion)
        return criteria


class Plain(Stepwise):
    """The last search: ``Stepwise`` undoing every pin, newest first, passing over none. It
    cannot skip a pin that bears on a conflict whatever ``Jumping``'s account missed, so a
    world with a resolution is never reported unsolvable for want of one."""

    jumps = False


def resolve_or_retry(
    provider: Any, reporter: BaseReporter[RT, CT, str], roots: Iterable[RT], max_rounds: int
) -> State[RT, CT, str]:
    """``resolve_guarded``; when it finds nothing (ResolutionImpossible, or Cycling: resolvelib
    went round pins that undo each other), the stepwise search's result if it has one, else
    the first search's failure."""
    roots = list(roots)
    try:
        return resolve_guarded(provider, reporter, roots, max_rounds, Jumping)
    except (ResolutionImpossible, Cycling) as first:
        for search in (Stepwise, Plain):
            try:
                return resolve_guarded(provider, reporter, roots, RETRY_ROUNDS, search)
            except (ResolutionImpossible, ResolutionTooDeep, Cycling):
                continue
        raise first from None
