"""A failed resolution's account names the requirement no release meets below the askers, not a
sibling the askers also wanted (dart-lang/pub's version solver test "issue 18300")."""

from __future__ import annotations

from collections.abc import Sequence

from mlenv.dead_ends import DEPTH, dead_ends
from tests.support.dead_worlds import Releases
from tests.support.dead_worlds import askers as _askers
from tests.support.dead_worlds import world as _world

ISSUE_18300: Releases = {
    "analyzer": {"0.12.2": []},
    "angular": {v: ["di>=0.0.32,<0.1.0", "collection>=0.9.1,<1.0.0"] for v in ("0.10.0", "0.9.11")},
    "collection": {"0.9.0": [], "0.9.1": []},
    "di": {"0.0.37": ["analyzer>=0.13.0,<0.14.0"], "0.0.36": ["analyzer>=0.13.0,<0.14.0"]},
}


def test_the_chain_leads_to_the_requirement_no_release_meets() -> None:
    lines = dead_ends(_askers("angular 0.10.0", "angular 0.9.11"), _world(ISSUE_18300))
    assert lines == [
        "  angular 0.10.0, angular 0.9.11 need di<0.1.0,>=0.0.32",
        "  di 0.0.37, di 0.0.36 need analyzer<0.14.0,>=0.13.0",
        "  analyzer<0.14.0,>=0.13.0: no release matches (versions available: 0.12.2)",
    ]


def test_an_asker_that_can_be_taken_leaves_the_reported_conflict_standing() -> None:
    world = _world({**ISSUE_18300, "angular": {"0.10.0": ["collection"]}})
    assert dead_ends(_askers("angular 0.10.0"), world) == []


def test_one_takeable_asker_among_dead_ones_explains_nothing() -> None:
    world = _world({**ISSUE_18300, "angular": {"0.10.0": ["di"], "0.9.11": ["collection"]}})
    assert dead_ends(_askers("angular 0.10.0", "angular 0.9.11"), world) == []


def test_a_cycle_does_not_blame_itself() -> None:
    world = _world({"a": {"1": ["b"]}, "b": {"1": ["a==1"]}})
    assert dead_ends(_askers("a 1"), world) == []


def test_metadata_never_read_counts_as_takeable() -> None:
    world = _world({"a": {"1": ["b"]}, "b": {"1": None}})
    assert dead_ends(_askers("a 1"), world) == []


def test_a_dependency_on_itself_is_not_a_blocker() -> None:
    world = _world({"a": {"1": ["a[x]", "c>2"]}, "c": {"1": []}})
    assert dead_ends(_askers("a 1"), world) == [
        "  a 1 needs c>2",
        "  c>2: no release matches (versions available: 1)",
    ]


def test_a_chain_deeper_than_the_search_counts_as_takeable() -> None:
    chain: dict[str, dict[str, Sequence[str] | None]] = {
        f"p{i}": {"1": [f"p{i + 1}"]} for i in range(10 * DEPTH)
    }
    chain[f"p{10 * DEPTH}"] = {"1": ["missing>1"]}
    assert dead_ends(_askers("p0 1"), _world(chain)) == []
    short = {f"p{i}": chain[f"p{i}"] for i in range(DEPTH // 2)}
    short[f"p{DEPTH // 2}"] = {"1": ["missing>1"]}
    assert dead_ends(_askers("p0 1"), _world(short))[-1] == (
        "  missing>1: no release matches (versions available: none)"
    )


def test_many_askers_of_the_same_thing_are_named_up_to_a_count() -> None:
    releases: Releases = {"a": {f"1.{i}": ["b>2"] for i in range(20)}, "b": {"1": []}}
    lines = dead_ends(_askers(*(f"a 1.{i}" for i in range(20))), _world(releases))
    assert lines[0] == (
        "  a 1.0, a 1.1, a 1.2, a 1.3, a 1.4, a 1.5, a 1.6, a 1.7 and 12 more need b>2"
    )
