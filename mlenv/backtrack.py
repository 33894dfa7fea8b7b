"""A second, plain-backtracking search when resolvelib's backjumping finds no resolution.

resolvelib's backjumping can skip the one pin whose other version would have worked, and
then report that no resolution exists for a world that has one (sarugaku/resolvelib issue
206: ``p2`` alone, where ``p2 2`` needs a missing ``p1==3``, ``p2 1`` takes ``p1 2`` first,
and ``p1 2``'s ``p0 2`` wants ``p2==2``; only ``p1 1`` works, and the backjump passes over
``p1``'s state because ``p1 2``'s dependencies are not among the conflict's names). So when
the first search fails, a second one undoes pins strictly one at a time, newest first, each
undone pin marked incompatible, which cannot pass over a pin; and it never pins a candidate
over an earlier pin it breaks (resolvelib then pins the other name again, and pins that undo
each other can go round until ``Cycling`` stops them, in a world that has a resolution: the
second search runs after that too). It runs at most
``RETRY_ROUNDS`` rounds; when it finds nothing, the first search's account stands.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep
from resolvelib.resolvers import Criterion, RequirementsConflicted
from resolvelib.structs import RequirementInformation, State

from mlenv.cycles import Cycling, resolve_guarded
from mlenv.repin import Repinning

RT = TypeVar("RT")
CT = TypeVar("CT")

RETRY_ROUNDS = 2_000  # a second opinion, bounded: a true conflict in a large world waits little


class Stepwise(Repinning):
    """resolvelib's Resolution that, on a conflict, undoes only the newest pin."""

    def __init__(self, provider: Any, reporter: BaseReporter[Any, Any, str]) -> None:
        super().__init__(provider, reporter)
        self._optimistic_backjumping_ratio = 0.0  # resolvelib 1.2: no optimistic jumps

    def _backjump(self, causes: list[RequirementInformation[Any, Any]]) -> bool:
        # The top state failed to pin; below it, the state of the newest pin.
        while len(self._states) >= 3:
            del self._states[-1]
            undone = self._states.pop()
            if not undone.mapping:
                raise ResolutionImpossible(causes)
            name, candidate = undone.mapping.popitem()
            known = [(key, list(c.incompatibilities)) for key, c in undone.criteria.items()]
            known.append((name, [candidate]))
            self._push_new_state()
            if self._patch_criteria(known):
                return True
        return False

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


def resolve_or_retry(
    provider: Any, reporter: BaseReporter[RT, CT, str], roots: Iterable[RT], max_rounds: int
) -> State[RT, CT, str]:
    """``resolve_guarded``; when it finds nothing (ResolutionImpossible, or Cycling: resolvelib
    went round pins that undo each other), the stepwise search's result if it has one, else
    the first search's failure."""
    roots = list(roots)
    try:
        return resolve_guarded(provider, reporter, roots, max_rounds, Repinning)
    except (ResolutionImpossible, Cycling) as first:
        try:
            return resolve_guarded(provider, reporter, roots, RETRY_ROUNDS, Stepwise)
        except (ResolutionImpossible, ResolutionTooDeep, Cycling):
            raise first from None
