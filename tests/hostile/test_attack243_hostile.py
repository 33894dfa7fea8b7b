"""Attack 243: the resolver's backjumping (``mlenv.backtrack.Jumping``, attack 235) against
worlds where a conflict's account of the pins that bear on it misses one.

An extra's identity ``b[x]`` is its own name to resolvelib, but mlenv's provider matches its
releases against ``b``'s requirements too. When ``c 2`` (pinned first) asks for ``b<2`` and a
later ``e`` asks for ``b[x]>=2``, the conflict is on ``b[x]``: its account named ``b[x]``,
``e`` and who asked for ``e``, never ``b`` and so never ``c``. Both jumping searches passed
over ``c`` and found nothing; only the last, pin-by-pin search could reach ``c 1``, and with
three packages of 10 versions pinned after ``c 2`` its 2,000 rounds ran out: a solvable
world reported unsolvable ("b[x]>=2: no version satisfies"), where the code before attack 235
resolved it in 3.4 s. Now the account also names the names whose requirements limit each
name's releases (the provider's ``reads``): resolved in 0.1 s.

The account also cost too much: the pins depending on a conflict's names were found by passing
over every pin until none was added, at each state undone, once per link of a chain of
dependents; in a 300-package chain a round took 4 times resolvelib's own. Now one walk up the
dependents.
"""

from __future__ import annotations

from typing import Any

import pytest
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionTooDeep

from mlenv import backtrack
from mlenv.cycles import resolve_guarded
from tests.support.toy_resolver import Need, Release, ToyProvider, Wanted
from tests.support.toy_resolver import World as ToyWorld
from tests.support.uv_worlds import Release as Wheel
from tests.support.uv_worlds import World, mlenv_pins


def _release(*requires: str) -> Wheel:
    return Wheel(requires, {"x": ()}, None, ("py3-none-any",), False)


def _limited_base(versions: int) -> World:
    """``c 2`` limits ``b`` and brings three packages of ``versions`` versions each; ``e``,
    pinned after them, wants ``b[x]>=2``: only ``c 1`` works."""
    padding = {f"a{i}": {f"{v}.0": _release() for v in range(1, versions + 1)} for i in range(3)}
    packages = {
        "a": {"1.0": _release("e")},
        "b": {"1.0": _release(), "2.0": _release()},
        "c": {"1.0": _release(), "2.0": _release("b<2", *padding)},
        "e": {"1.0": _release("b[x]>=2")},
        **padding,
    }
    return World(packages, ("a", "c"), "3.11", "linux-64")


WANTED = {"a": Version("1.0"), "b": Version("2.0"), "c": Version("1.0"), "e": Version("1.0")}


def test_a_conflict_on_an_extra_undoes_the_pin_that_limited_its_base() -> None:
    """Protects completeness for extras: who limits ``b`` bears on a conflict on ``b[x]``
    (was: no resolution, the last search's rounds used up on the padding)."""
    assert mlenv_pins(_limited_base(10)) == WANTED


def test_the_jumping_searches_alone_resolve_an_extra_limited_through_its_base(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Protects the account itself, without the pin-by-pin safety net: a world the jumping
    searches call unsolvable costs the last search's rounds whenever it is solvable."""
    monkeypatch.setattr(backtrack.Plain, "jumps", True)
    assert mlenv_pins(_limited_base(1)) == WANTED


def _chain(depth: int) -> ToyWorld:
    """``s000`` needs ``s001`` ... needs ``z==2``, which does not exist; two releases each, so
    every round past the first few is a backjump from the chain's end."""
    last: list[tuple[str, Wanted]] = [("z", 2)]
    world: dict[str, dict[int, list[tuple[str, Wanted]]]] = {
        f"s{i:03d}": {v: [(f"s{i + 1:03d}", None)] if i + 1 < depth else last for v in (1, 2)}
        for i in range(depth)
    }
    world["z"] = {1: []}
    return world


def _reads_against_one_pass(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Dependency reads of ``Jumping``'s account over 600 rounds of a 200-package chain, and
    the pins its states held when the account was taken: one pass over them reads each once."""
    counts = {"reads": 0, "pins": 0}
    bearing, needed = backtrack.Jumping._bearing, backtrack.Jumping._needed

    def counted_bearing(self: backtrack.Jumping, names: set[str], mapping: Any) -> set[str]:
        counts["pins"] += len(mapping)
        return bearing(self, names, mapping)

    def counted_needed(self: backtrack.Jumping, candidate: Any) -> dict[str, bool]:
        counts["reads"] += 1
        return needed(self, candidate)

    monkeypatch.setattr(backtrack.Jumping, "_bearing", counted_bearing)
    monkeypatch.setattr(backtrack.Jumping, "_needed", counted_needed)
    reporter: BaseReporter[Need, Release, str] = BaseReporter()
    needs = [Need.of("s000", None), Need.of("z", None)]
    with pytest.raises(ResolutionTooDeep):
        resolve_guarded(ToyProvider(_chain(200)), reporter, needs, 600, backtrack.Jumping)
    return counts["reads"], counts["pins"]


def test_a_backjump_reads_each_pins_dependencies_once_per_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Protects the cost of the account, counted rather than timed: finding the pins that
    depend on a conflict's names passed over every pin once per link of the chain they form,
    at each state undone (a 300-package chain: 4 times resolvelib's own time a round, 38 s
    for 2,000 rounds). Now one walk up the dependents: at most one read per pin a state holds."""
    reads, pins = _reads_against_one_pass(monkeypatch)
    assert 0 < reads <= pins, (reads, pins)
