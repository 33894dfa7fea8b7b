"""Attack 235: the resolver against scenarios nobody here wrote, beside ``uv pip compile``
(0.13.9): PEP 440 through the whole lock path, odd Requires-Python, local versions, the same
project required twice, denser worlds and the failure accounts.

One rule was wrong. A world where resolvelib's backjumping passes over the pin at fault
(sarugaku/resolvelib issue 206: ``p1 2`` brings ``p0``, whose ``p2>=2`` cannot be met, and only
``p1 1`` works) goes to the second, pin-by-pin search of ``mlenv.backtrack``. When ``p1 2``
also brings packages that have nothing to do with the conflict, both searches undid those one
version at a time before reaching ``p1``: three of 10 versions used up the second search's
2,000 rounds and the lock failed ("p1 3.0 does not exist") where uv resolves at once; three of
15 versions took 94 s to fail. Now a conflict undoes only the pins that bear on it (its names,
who asked for them, why their releases were refused before, and every pin depending on them):
0.16 s, resolved.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from tests.support.uv_worlds import Release, World, mlenv_pins, problems, uv_pins


def _release(*requires: str) -> Release:
    return Release(requires, {}, None, ("py3-none-any",), False)


def _past(padding: dict[str, list[tuple[str, ...]]]) -> World:
    """Issue 206's world, ``p1 2`` also requiring every package of ``padding`` (each release's
    requirements listed per version): a lock needs ``p1 1``, however many versions of the
    padding there are to try first."""
    packages = {
        "p0": {"2.0": _release("p2>=2.0")},
        "p1": {"1.0": _release(), "2.0": _release("p0>=2.0", *padding)},
        "p2": {"1.0": _release("p1"), "2.0": _release("p1==3.0")},
        **{
            name: {f"{i}.0": _release(*needs) for i, needs in enumerate(releases, start=1)}
            for name, releases in padding.items()
        },
    }
    return World(packages, ("p2",), "3.11", "linux-64")


def test_a_conflict_undoes_the_pin_at_fault_past_unrelated_packages() -> None:
    """Protects completeness past unrelated pins: 1,000 combinations of three packages that
    cannot help are not tried one by one before the pin at fault (was: no resolution)."""
    world = _past({name: [()] * 10 for name in ("a0", "a1", "a2")})
    assert mlenv_pins(world) == {"p1": Version("1.0"), "p2": Version("1.0")}


@st.composite
def _paddings(draw: st.DrawFn) -> dict[str, list[tuple[str, ...]]]:
    """Up to four padding packages of 8 to 12 versions; a release may need a later one."""
    names = [f"a{i}" for i in range(draw(st.integers(3, 4)))]
    padding: dict[str, list[tuple[str, ...]]] = {}
    for position, name in enumerate(names):
        later = names[position + 1 :]
        releases = []
        for _ in range(draw(st.integers(8, 12))):
            needs = draw(st.lists(st.sampled_from(later), max_size=1)) if later else []
            releases.append(tuple(needs))
        padding[name] = releases
    return padding


@settings(max_examples=6)
@given(padding=_paddings())
def test_past_any_padding_mlenv_resolves_as_uv_does(
    padding: dict[str, list[tuple[str, ...]]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Protects completeness against a reference resolver: uv resolves each padded world, so
    mlenv must, with pins that meet every requirement."""
    world = _past(padding)
    reference = uv_pins(world, Path(tmp_path_factory.mktemp("uv")))
    assert reference is not None
    pins = mlenv_pins(world)
    assert problems(world, pins) == []
    assert pins["p1"] == Version("1.0")
