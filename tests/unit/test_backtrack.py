"""resolve_or_retry: a plain-backtracking second search when backjumping finds nothing
(sarugaku/resolvelib issue 206: a satisfiable world reported impossible)."""

from __future__ import annotations

import pytest
from resolvelib import BaseReporter, ResolutionImpossible

from mlenv.backtrack import Jumping, Plain, resolve_or_retry
from tests.support.toy_resolver import Need, Release, ToyProvider, World

# p2 2 needs a p1 3 that does not exist; p2 1 takes p1 2 first, whose p0 2 wants p2 2.
ISSUE_206: World = {
    "p0": {2: [("p2", 2)]},
    "p1": {1: [], 2: [("p0", 2)]},
    "p2": {1: [("p1", None)], 2: [("p1", 3)]},
}


def _resolve(world: World, roots: list[str]) -> dict[str, int]:
    reporter: BaseReporter[Need, Release, str] = BaseReporter()
    state = resolve_or_retry(ToyProvider(world), reporter, [Need.of(r, None) for r in roots], 1000)
    return {name: release.version for name, release in state.mapping.items()}


def test_the_pin_backjumping_skips_is_tried() -> None:
    # p2 1's "p1 in {1, 2}" is "any" here: p1 has no other versions.
    assert _resolve(ISSUE_206, ["p2"]) == {"p2": 1, "p1": 1}


def test_a_true_conflict_keeps_the_first_searchs_causes() -> None:
    world: World = {"a": {1: [("c", 1)]}, "b": {1: [("c", 2)]}, "c": {1: [], 2: []}}
    with pytest.raises(ResolutionImpossible) as failed:
        _resolve(world, ["a", "b"])
    assert {info.requirement.name for info in failed.value.causes} == {"c"}


def test_the_last_search_passes_over_no_pin_whatever_the_account_missed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A conflict's account that named nothing would pass over every pin; the last search
    undoes them one by one anyway, so the solvable world still resolves."""
    monkeypatch.setattr(Jumping, "_account", lambda self, names, criteria: set())
    monkeypatch.setattr(Jumping, "_bearing", lambda self, names, mapping: set())
    assert _resolve(ISSUE_206, ["p2"]) == {"p2": 1, "p1": 1}
    monkeypatch.setattr(Plain, "jumps", True)
    with pytest.raises(ResolutionImpossible):
        _resolve(ISSUE_206, ["p2"])
