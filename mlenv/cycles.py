"""Stop resolvelib when its backtracking goes in circles, and say over which packages.

resolvelib's backjumping can return to a state it has been in before: a pinned 1 needs b==1,
b 1 needs a==2, a 2 needs b==2, b 2 needs a==1 (python-poetry/poetry's
``test_no_valid_solution``) cycles until ``max_rounds`` runs out, minutes later, with a
message that names nothing. resolvelib is deterministic, so once the whole stack of states
repeats the rounds that follow repeat too: nothing new can be learned.

Two kinds of circle are caught. Without backjumping, each round depends on the top state
alone: when it comes back with no backjump in between, the same pins will be made and undone
forever (that poetry case never backjumps: b 2's a==1 unpins a 2, a 1's b==1 unpins b 2, and
so on, the stack growing by one state a round). With backjumping, the whole stack of states
is compared. A repeat while resolvelib is still backjumping optimistically rolls that mode
back at once, as its own cutoff would, only sooner; a repeat after that ends the resolution
with ``Cycling``, carrying the requirements on the names that went round, for the usual
account of a conflict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Generic, TypeVar

from resolvelib import BaseReporter
from resolvelib.resolvers import Resolution
from resolvelib.structs import RequirementInformation, State

RT = TypeVar("RT")
CT = TypeVar("CT")


class Cycling(Exception):
    """Backtracking came back to a stack of states it had already left."""

    def __init__(self, causes: Sequence[RequirementInformation[Any, Any]]) -> None:
        super().__init__("backtracking went in circles")
        self.causes = causes


def _key(obj: object) -> str:
    """A candidate by name, version and extras (not its file's long repr); else its repr."""
    version = getattr(obj, "version", None)
    if version is None:
        return repr(obj)
    return f"{getattr(obj, 'name', '')} {version} {sorted(getattr(obj, 'extras', ()))}"


def fingerprint(state: State[Any, Any, str]) -> bytes:
    """A digest of what decides resolvelib's next rounds from ``state``."""
    parts = [repr([(key, _key(c)) for key, c in state.mapping.items()])]
    parts.append(
        repr(sorted(f"{c.requirement!r}<-{_key(c.parent)}" for c in state.backtrack_causes))
    )
    for key in sorted(state.criteria):
        criterion = state.criteria[key]
        infos = sorted(f"{i.requirement!r}<-{_key(i.parent)}" for i in criterion.information)
        bad = sorted(_key(c) for c in criterion.incompatibilities)
        parts.append(f"{key}:{infos}:{bad}")
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).digest()


class CycleGuard(BaseReporter[RT, CT, str], Generic[RT, CT]):
    """Passes every event on to ``inner``; at the end of each round, checks for a repeat."""

    def __init__(self, inner: BaseReporter[RT, CT, str]) -> None:
        self.inner = inner
        self.resolution: Resolution[RT, CT, str] | None = None
        self._stacks: set[bytes] = set()  # whole stacks at the end of backjumping rounds
        self._tops: dict[bytes, int] = {}  # top states since the last backjump, and when
        self._pinned: list[str] = []  # the name pinned in each round since then
        self._repinned = False  # this round pinned a name pinned before since the last backjump
        self._backjumped = False  # this round backjumped
        self._mode: tuple[float, int] = (0.0, 0)
        self._below: dict[int, tuple[State[RT, CT, str], bytes]] = {}

    def _stack_print(self, states: Sequence[State[RT, CT, str]]) -> bytes:
        # A state below the top is no longer changed: its digest is kept while it is there.
        below = {}
        for state in states[:-1]:
            known = self._below.get(id(state))
            below[id(state)] = known if known and known[0] is state else (state, fingerprint(state))
        self._below = below
        digests = [digest for _, digest in below.values()] + [fingerprint(states[-1])]
        return hashlib.blake2b(b"".join(digests), digest_size=16).digest()

    def ending_round(self, index: int, state: State[RT, CT, str]) -> None:
        self.inner.ending_round(index, state)
        resolution = self.resolution
        if resolution is None:
            return
        mode = (getattr(resolution, "_optimistic_backjumping_ratio", 0.0), id(_saved(resolution)))
        if mode != self._mode:  # resolvelib rolled optimistic backjumping back: a new search
            self._mode = mode
            self._forget()
        # Only a round that backjumps or pins a name again can close a circle: a resolution
        # that pins each name once, going forward, is never fingerprinted.
        repinned, backjumped = self._repinned, self._backjumped
        self._repinned = self._backjumped = False
        if backjumped:
            if not self._stack_repeats(resolution._states):
                return
            causes = list(state.backtrack_causes)
        elif repinned:
            first = self._tops.setdefault(fingerprint(state), len(self._pinned))
            if first == len(self._pinned):
                return
            went_round = sorted(set(self._pinned[first:]))
            causes = [i for key in went_round for i in state.criteria[key].information]
        else:
            return
        if _saved(resolution) is None:
            raise Cycling(causes)
        resolution._rollback_states()  # optimistic backjumping loops: leave it now

    def _forget(self) -> None:
        self._stacks.clear()
        self._tops.clear()
        self._pinned.clear()

    def _stack_repeats(self, states: Sequence[State[RT, CT, str]]) -> bool:
        digest = self._stack_print(states)
        if digest in self._stacks:
            return True
        self._stacks.add(digest)
        return False

    def starting(self) -> None:
        self.inner.starting()

    def starting_round(self, index: int) -> None:
        self.inner.starting_round(index)

    def ending(self, state: State[RT, CT, str]) -> None:
        self.inner.ending(state)

    def adding_requirement(self, requirement: RT, parent: CT | None) -> None:
        self.inner.adding_requirement(requirement, parent)

    def resolving_conflicts(self, causes: Collection[RequirementInformation[RT, CT]]) -> None:
        self.inner.resolving_conflicts(causes)
        self._backjumped = True
        self._tops.clear()
        self._pinned.clear()

    def rejecting_candidate(self, criterion: Any, candidate: CT) -> None:
        self.inner.rejecting_candidate(criterion, candidate)

    def pinning(self, candidate: CT) -> None:
        self.inner.pinning(candidate)
        if self.resolution is not None:
            name = self.resolution._p.identify(candidate)
            self._repinned = name in self._pinned
            self._pinned.append(name)


def _saved(resolution: Resolution[Any, Any, str]) -> object:
    """The states optimistic backjumping would roll back to (resolvelib 1.2), or None."""
    return getattr(resolution, "_save_states", None)


def resolve_guarded(
    provider: Any,
    reporter: BaseReporter[RT, CT, str],
    roots: Iterable[RT],
    max_rounds: int,
    kind: type[Resolution[Any, Any, str]] = Resolution,
) -> State[RT, CT, str]:
    """``kind``'s ``resolve`` (resolvelib's Resolution), stopped by ``Cycling`` when it goes
    in circles."""
    guard = CycleGuard(reporter)
    resolution: Resolution[RT, CT, str] = kind(provider, guard)
    guard.resolution = resolution
    return resolution.resolve(roots, max_rounds=max_rounds)
