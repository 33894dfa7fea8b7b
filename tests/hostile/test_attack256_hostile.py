"""Attack 256: the resolver's backjumping (``mlenv.backtrack``, attacks 235 and 243) against
worlds where many packages ask for a name with no version bound while two pins fight over it.

``b 3`` needs ``z>=2``, older ``b`` need ``z<2``, ``d`` (reached later) needs ``z<2``, and
twenty packages ``c00``..``c19`` of two releases each ask for any ``z``. Each ``c`` asked for
``z``, so each was in the conflict's account (as who asked, and as a pin depending on ``z``):
every combination of their versions was tried before ``b`` was reached. Every search ran to
its round limit (the first search's 200,000 rounds: 14 minutes) and the lock failed where
``uv pip compile`` resolves at once. A requirement that admits every release of ``z`` cannot
be why ``z`` has none left: only the askers whose requirement leaves a release out bear on
the conflict, and when none does, none bears if the manifest asks for the name itself
(``backtrack._bearers``, with the provider's ``narrows``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible

from mlenv import backtrack
from mlenv.cycles import resolve_guarded
from mlenv.resolver import resolve as resolve_module
from mlenv.resolver.model import ResolutionError
from tests.support.toy_resolver import Need, Release, ToyProvider, Wanted
from tests.support.toy_resolver import World as ToyWorld
from tests.support.uv_worlds import Release as Wheel
from tests.support.uv_worlds import World, mlenv_pins, problems, uv_pins

ASKERS = [f"c{i:02d}" for i in range(20)]


def _wheel(*requires: str) -> Wheel:
    return Wheel(requires, {}, None, ("py3-none-any",), False)


def _contested(newest_b: str) -> World:
    """``b``'s newest release needs ``newest_b``, its older ones ``z<2``; ``e`` brings ``d``,
    which needs ``z<2`` and is pinned after every ``c`` asking for any ``z``."""
    packages = {
        "b": {"1.0": _wheel("z<2"), "2.0": _wheel("z<2"), "3.0": _wheel(newest_b)},
        "d": {"1.0": _wheel("z<2")},
        "e": {"1.0": _wheel("d")},
        "z": {v: _wheel() for v in ("1.0", "2.0", "3.0")},
        **{name: {"1.0": _wheel("z"), "2.0": _wheel("z")} for name in ASKERS},
    }
    return World(packages, ("b", *ASKERS, "e"), "3.11", "linux-64")


class _Rounds(BaseReporter[Need, Release, str]):
    def __init__(self) -> None:
        self.rounds = 0

    def starting_round(self, index: int) -> None:
        self.rounds += 1


def test_twenty_packages_asking_for_any_z_do_not_hide_the_resolution(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Protects completeness: the lock resolves as uv does within 2,000 rounds (was: every
    search to its limit, no resolution)."""
    monkeypatch.setattr(resolve_module, "MAX_ROUNDS", 2_000)
    world = _contested("z>=2")
    pins = mlenv_pins(world)
    assert problems(world, pins) == []
    reference = uv_pins(world, tmp_path)
    assert reference is not None
    assert {n: pins[n] for n in "bdz"} == {n: reference[n] for n in "bdz"}
    assert pins["b"] == Version("2.0")


def test_with_no_resolution_the_lock_fails_naming_the_pins_that_fight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Protects the failure: every ``b`` needs ``z>=2``, so there is none; the lock says so
    naming ``b``, ``d`` and ``z`` within 2,000 rounds (was: "gave up after" the rounds, naming
    nothing; the later searches, pin by pin, get 200 rounds)."""
    monkeypatch.setattr(resolve_module, "MAX_ROUNDS", 2_000)
    monkeypatch.setattr(backtrack, "RETRY_ROUNDS", 200)
    world = _contested("z>=2")
    world = World(
        {**world.packages, "b": {v: _wheel("z>=2") for v in ("1.0", "2.0", "3.0")}},
        world.roots,
        world.python,
        world.platform,
    )
    with pytest.raises(ResolutionError) as failed:
        mlenv_pins(world)
    shown = str(failed.value)
    assert "gave up" not in shown
    assert all(name in shown for name in ("b", "d", "z<2", "z>=2")), shown


def _toy(askers: int) -> ToyWorld:
    world: dict[str, dict[int, list[tuple[str, Wanted]]]] = {
        "b": {1: [("z", 1)], 2: [("z", 1)], 3: [("z", frozenset({2, 3}))]},
        "d": {1: [("z", 1)]},
        "z": {1: [], 2: [], 3: []},
    }
    world.update({f"c{i:02d}": {1: [("z", None)], 2: [("z", None)]} for i in range(askers)})
    return world


def test_the_first_search_alone_resolves_in_few_rounds() -> None:
    """Protects the account itself, counted in rounds: the jumping search passes over the
    plain askers (was: 2,000 rounds used up on their combinations)."""
    reporter = _Rounds()
    roots = [Need.of("b", None), *(Need.of(f"c{i:02d}", None) for i in range(20))]
    state = resolve_guarded(
        ToyProvider(_toy(20)), reporter, [*roots, Need.of("d", None)], 2_000, backtrack.Jumping
    )
    assert {n: state.mapping[n].version for n in "bdz"} == {"b": 2, "d": 1, "z": 1}
    assert reporter.rounds < 100, reporter.rounds


# --- random contested worlds, against brute force ---------------------------------------------

CORE = ("b", "d", "e", "z")


@st.composite
def _contested_worlds(draw: st.DrawFn) -> tuple[ToyWorld, list[str]]:
    """``b`` (pinned before the askers) and ``d`` (reached through ``e``, after them) each
    need some versions of ``z``; 8 to 12 askers of two or three releases ask for any version
    of ``z``, ``b`` or ``d``. The world and its roots."""
    zs = draw(st.sets(st.integers(1, 4), min_size=1))
    some = st.frozensets(st.integers(1, 4), min_size=1)
    world: dict[str, dict[int, list[tuple[str, Wanted]]]] = {
        "b": {v: [("z", draw(some))] for v in draw(st.sets(st.integers(1, 4), min_size=1))},
        "d": {v: [("z", draw(some))] for v in draw(st.sets(st.integers(1, 3), min_size=1))},
        "e": {1: [("d", None)]},
        "z": {v: [] for v in zs},
    }
    askers = [f"c{i:02d}" for i in range(draw(st.integers(8, 12)))]
    for name in askers:
        wanted = draw(st.sampled_from(("z", "z", "b", "d")))
        world[name] = {v: [(wanted, None)] for v in range(1, draw(st.integers(2, 3)) + 1)}
    return world, ["b", *askers, "e"]


def _holds(world: ToyWorld, roots: Sequence[str], pins: Mapping[str, int | None]) -> bool:
    return all(pins.get(r) is not None for r in roots) and all(
        (found := pins.get(needed)) is not None and Need.of(needed, wanted).allows(found)
        for name, version in pins.items()
        if version is not None
        for needed, wanted in world[name][version]
    )


def _brute(world: ToyWorld) -> bool:
    """Whether some pins of ``b``, ``d``, ``e`` and ``z`` meet every requirement (each asker
    only needs its name pinned, and ``b`` and ``e`` are roots: so is what they ask for)."""
    return any(
        _holds(world, ["b", "d", "e", "z"], dict(zip(CORE, combo, strict=True)))
        for combo in itertools.product(*[list(world[n]) for n in CORE])
    )


@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=_contested_worlds())
def test_contested_worlds_agree_with_brute_force(case: tuple[ToyWorld, list[str]]) -> None:
    """Protects soundness and completeness together, in rounds: a world brute force solves
    resolves with pins meeting every requirement; one it cannot fails with the conflict's
    packages named, never by running out of rounds (1,500 for the first search, 200 for each
    later one)."""
    world, roots = case
    reporter: BaseReporter[Need, Release, str] = BaseReporter()
    needs = [Need.of(r, None) for r in roots]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backtrack, "RETRY_ROUNDS", 200)
        if _brute(world):
            state = backtrack.resolve_or_retry(ToyProvider(world), reporter, needs, 1_500)
            assert _holds(world, roots, {n: c.version for n, c in state.mapping.items()})
        else:
            with pytest.raises(ResolutionImpossible) as failed:
                backtrack.resolve_or_retry(ToyProvider(world), reporter, needs, 1_500)
            assert {info.requirement.name for info in failed.value.causes} & set(CORE)


def test_askers_leaving_out_only_a_yanked_release_do_not_hide_the_resolution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read-only adversary: askers of ``z<3`` beside a yanked ``z 3.0`` counted as leaving
    a release out, so each was in the account again and 2,000 rounds ran out (200,000 rounds:
    286 s). A yanked release no pin names is never a candidate (``_Provider.narrows``)."""
    monkeypatch.setattr(resolve_module, "MAX_ROUNDS", 2_000)
    world = _contested("z>=2")
    packages = {name: dict(releases) for name, releases in world.packages.items()}
    packages["z"]["3.0"] = Wheel((), {}, None, ("py3-none-any",), True)
    for name in ASKERS[:12]:
        packages[name] = {"1.0": _wheel("z<3"), "2.0": _wheel("z<3")}
    yanked = World(packages, ("b", *ASKERS[:12], "e"), "3.11", "linux-64")
    pins = mlenv_pins(yanked)
    assert problems(yanked, pins) == []
    assert (pins["b"], pins["z"]) == (Version("2.0"), Version("1.0"))
