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
"""

from __future__ import annotations

import pytest
from packaging.version import Version

from mlenv import backtrack
from tests.support.uv_worlds import Release, World, mlenv_pins


def _release(*requires: str) -> Release:
    return Release(requires, {"x": ()}, None, ("py3-none-any",), False)


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
