"""Attack 197: mlenv's resolver against uv (``uv pip compile --no-build``) over the feature
space attack 74 did not generate: extras requiring extras (their own package's too), markers
joined with ``and``/``or`` and parentheses, Requires-Python with patch floors and exclusions,
tags of other interpreters, ABIs, glibc levels, musl and machines, local/post/dev releases,
yanked files, ``===``, ``!=1.*``, ``~=``, ``==1.*`` and dependency cycles.

A first run (1,022 worlds of a draft of ``tests/support/uv_worlds``) found one rule where
mlenv was wrong: a Requires-Python exclusion at the bottom of its range (``>=3.11,!=3.11.0``) was
dropped with the upper bounds, so a 3.11 target (judged at 3.11.0) took a release that refuses
it, where uv reads the range's lowest Python (26 worlds). After the fix, 4,000 worlds of
``world_of`` (seeds 1970000-1971999 and 1980000-1981999) gave no world that one resolves and the
other does not; 14 got other pins, each a valid resolution for both, where resolvelib let a
later release's requirement move a package chosen earlier and uv kept it (README: mlenv takes
the resolution pip reaches). The property below therefore compares outcomes, not pins. A
further 1,200 worlds (seeds 1990000-1991199) gave three more: two of that kind, and a release
requiring its own project at versions without its own (``e 2.0``: ``e~=1.0``), which moved the
pin to the pre-release ``e 1.1a1`` where uv refuses ``e 2.0`` and takes the final ``e 0.9``; now
refused as uv does (scenario ``self-requirement-excluding-its-own-version``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mlenv.requires_python import python_floor
from mlenv.resolver.model import ResolutionError
from tests.support.uv_worlds import Release, World, mlenv_pins, problems, uv_pins, world_of


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_mlenv_fails_exactly_where_uv_does_and_its_pins_are_a_solution(
    seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Protects completeness and soundness on extras, markers, Requires-Python, tags, local,
    yanked and pre-releases: mlenv resolves exactly the worlds uv resolves, and its pins meet
    every requirement reached (extras of extras included) with installable, unyanked files."""
    world = world_of(seed)
    reference = uv_pins(world, tmp_path_factory.mktemp("uv"))
    try:
        pins = mlenv_pins(world)
    except ResolutionError as error:
        assert reference is None, f"uv resolved {world.roots} to {reference}; mlenv: {error}"
        return
    assert reference is not None, f"mlenv resolved {world.roots} to {pins}; uv found none"
    assert problems(world, pins) == []


def _world(requires_python: str, python: str = "3.11") -> World:
    def release(stated: str | None) -> Release:
        return Release((), {}, stated, ("py3-none-any",), False)

    return World({"a": {"1.0": release(">=3.8"), "2.0": release(requires_python)}}, ("a",),
                 python, "linux-64")  # fmt: skip


@pytest.mark.parametrize(
    ("requires_python", "python", "pinned"),
    [
        (">=3.11,!=3.11.0", "3.11", "1.0"),  # starts above 3.11.0
        (">=3.11,!=3.11", "3.11", "1.0"),  # 3.11 is 3.11.0
        (">=3.11,!=3.11.*", "3.11", "1.0"),  # starts at 3.12
        (">=3.11,!=3.11.*,!=3.12.*", "3.12", "1.0"),  # one lift meets the next exclusion
        (">=3.11,!=3.11.*", "3.12", "2.0"),
        (">=3.10,!=3.11.*", "3.11", "2.0"),  # starts at 3.10: only the lowest Python counts
        ("!=3.11.*", "3.11", "2.0"),
        (">=3.11,!=3.11.1", "3.11", "2.0"),
        (">=3.11,<3.11.1", "3.11", "2.0"),
    ],
)
def test_a_requires_python_is_read_by_the_lowest_python_it_admits(
    requires_python: str, python: str, pinned: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Before: every ``!=`` was dropped with the upper bounds, so ``>=3.11,!=3.11.0`` locked
    2.0 for 3.11, which refuses 3.11.0; uv (the reference, run here too) takes 1.0."""
    world = _world(requires_python, python)
    assert mlenv_pins(world) == {"a": Version(pinned)}
    assert uv_pins(world, tmp_path_factory.mktemp("uv")) == {"a": Version(pinned)}


@given(
    floor=st.sampled_from((">=", ">")),
    low=st.integers(8, 14),
    excluded=st.lists(st.tuples(st.integers(8, 14), st.sampled_from(("0", "1", "*"))), max_size=3),
    python=st.integers(8, 14),
)
def test_python_floor_refuses_a_python_below_everything_the_range_admits(
    floor: str, low: int, excluded: list[tuple[int, str]], python: int
) -> None:
    """A target (judged at its oldest patch) passes exactly when some Python at or below it is
    in the range with its upper bounds dropped: uv's reading, over minors and first patches."""
    stated = SpecifierSet(",".join([f"{floor}3.{low}", *(f"!=3.{m}.{p}" for m, p in excluded)]))
    target = Version(f"3.{python}.0")
    grid = [Version(f"3.{m}.{p}") for m in range(7, python + 1) for p in range(3)]
    admitted = any(stated.contains(v) for v in grid if v <= target)
    assert python_floor(stated).contains(target) == admitted


def test_a_requires_python_bound_compares_as_a_pep_440_version(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A documented difference (README, Requires-Python): ``>=3.11.0.post1`` is above 3.11.0,
    the 3.11 target's oldest patch, so mlenv takes the older release; uv 0.13.9 takes 2.0."""
    world = _world(">=3.11.0.post1")
    assert mlenv_pins(world) == {"a": Version("1.0")}
    assert uv_pins(world, tmp_path_factory.mktemp("uv")) == {"a": Version("2.0")}


def test_arbitrary_equality_in_a_marker_is_pep_508s(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A documented difference (README, PEP rules): PEP 508 allows ``===`` in a marker, a
    string equality, so ``b; python_version === "3.11"`` holds on 3.11; uv 0.13.9 refuses the
    release as invalid metadata and finds no resolution."""
    world = World(
        {
            "a": {
                "1.0": Release(
                    ('b; python_version === "3.11"',), {}, None, ("py3-none-any",), False
                )
            },
            "b": {"1.0": Release((), {}, None, ("py3-none-any",), False)},
        },
        ("a",),
        "3.11",
        "linux-64",
    )
    assert mlenv_pins(world) == {"a": Version("1.0"), "b": Version("1.0")}
    assert uv_pins(world, tmp_path_factory.mktemp("uv")) is None
