"""resolve_guarded: resolvelib stopped when it goes in circles (python-poetry/poetry's
``test_no_valid_solution`` world made resolvelib 1.2 pin and unpin for 200000 rounds)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from resolvelib import BaseReporter, ResolutionImpossible

from mlenv.cycles import Cycling, resolve_guarded
from tests.support.toy_resolver import Need, Release, ToyProvider, World


def _resolve(world: World, roots: Sequence[str]) -> dict[str, int]:
    reporter: BaseReporter[Need, Release, str] = BaseReporter()
    state = resolve_guarded(ToyProvider(world), reporter, [Need.of(r, None) for r in roots], 1000)
    return {name: release.version for name, release in state.mapping.items()}


def test_pins_that_undo_each_other_stop_at_once_naming_both() -> None:
    world: World = {"a": {1: [("b", 1)], 2: [("b", 2)]}, "b": {1: [("a", 2)], 2: [("a", 1)]}}
    with pytest.raises(Cycling) as stopped:
        _resolve(world, ["a", "b"])
    assert {info.requirement.name for info in stopped.value.causes} == {"a", "b"}


def test_a_solvable_world_resolves_as_before() -> None:
    world: World = {
        "a": {1: [("b", 1)], 2: [("b", 2), ("c", 1)]},
        "b": {1: [], 2: [("c", 2)]},
        "c": {1: [], 2: []},
    }
    assert _resolve(world, ["a"]) == {"a": 1, "b": 1}


def test_a_plain_conflict_is_still_resolvelibs_to_report() -> None:
    world: World = {"a": {1: [("c", 1)]}, "b": {1: [("c", 2)]}, "c": {1: [], 2: []}}
    with pytest.raises(ResolutionImpossible):
        _resolve(world, ["a", "b"])


def test_a_forward_resolution_is_never_fingerprinted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fingerprints cost O(state) a round: only a backjump or a second pin of a name pays."""
    calls: list[object] = []

    def counted(state: object) -> bytes:
        calls.append(state)
        return b""

    monkeypatch.setattr("mlenv.cycles.fingerprint", counted)
    world: World = {f"p{i}": {1: [(f"p{i + 1}", None)] if i < 50 else []} for i in range(51)}
    assert len(_resolve(world, ["p0"])) == 51
    assert calls == []
