"""Kubernetes label selectors: what each operator selects, and clear errors for every bad shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.selector import Requirement, SelectorError, parse

LABELS = {"pool": "a100", "nvidia.com/gpu.present": "true", "zone": ""}


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("", True),
        ("pool=a100", True),
        ("pool==a100", True),
        ("pool=h100", False),
        ("pool!=h100", True),
        ("pool!=a100", False),
        ("missing!=x", True),  # != holds when the key is absent
        ("pool in (h100, a100)", True),
        ("pool in (h100)", False),
        ("pool notin (h100)", True),
        ("missing notin (x)", True),  # notin holds when the key is absent
        ("pool notin (a100,h100)", False),
        ("nvidia.com/gpu.present", True),
        ("missing", False),
        ("!missing", True),
        ("!pool", False),
        ("zone=", True),  # an empty value is a value
        ("zone", True),
        ("pool=a100,!missing,nvidia.com/gpu.present=true", True),
        ("pool=a100,missing", False),
        ("  pool  in(a100)  ,  zone  ", True),
    ],
)
def test_each_operator_selects_as_kubernetes_documents(text: str, selected: bool) -> None:
    """Guards the meaning of each operator, including the absent-key cases of != and notin."""
    assert parse(text).matches(LABELS) is selected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pool in a100", "expected '(' to open the value set, found 'a100' at character 9"),
        ("pool in (a100", "expected ',' or ')' in the value set, found the end at character 14"),
        ("pool in ()", "expected a value, found ')' at character 10"),
        ("pool in (a,)", "expected a value after ',', found ')' at character 12"),
        ("pool a100", "expected =, ==, !=, in or notin after 'pool', found 'a100' at character 6"),
        ("=a100", "expected a label key, found '=' at character 1"),
        ("pool=a=b", "expected ',' between requirements, found '=' at character 7"),
        ("pool>1", "unexpected '>' at character 5"),
        ("pool,", "expected a label key, found the end at character 6"),
        ("in", "expected a label key, found the keyword 'in' at character 1"),
        ("-pool=a", "'-pool' is not a label key"),
        ("Example.com/pool=a", "'Example.com/pool' is not a label key"),
        ("pool=" + "v" * 64, "is not a label value"),
        ("pool=a!", "expected ',' between requirements, found '!' at character 7"),
        ("!pool=a", "expected ',' between requirements, found '=' at character 6"),
    ],
)
def test_bad_selectors_say_where_and_what_was_expected(text: str, message: str) -> None:
    """Guards the clear-error promise: every malformed shape names its position and need."""
    with pytest.raises(SelectorError) as caught:
        parse(text)
    assert message in caught.value.message
    assert caught.value.where == "--selector"
    assert caught.value.hint


_name = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?", fullmatch=True)
_key = st.builds(
    lambda p, n: f"{p}/{n}" if p else n, st.sampled_from(["", "nvidia.com", "x.io"]), _name
)
_value = st.one_of(st.just(""), _name)
_requirement = st.one_of(
    st.builds(Requirement, _key, st.sampled_from(["=", "!="]), st.tuples(_value)),
    st.builds(
        Requirement,
        _key,
        st.sampled_from(["in", "notin"]),
        st.lists(_name, min_size=1, max_size=3, unique=True).map(tuple),
    ),
    st.builds(Requirement, _key, st.sampled_from(["exists", "!exists"])),
)


def _render(requirement: Requirement, eq: str, space: str) -> str:
    key, op, values = requirement.key, requirement.operator, requirement.values
    if op == "exists":
        return key
    if op == "!exists":
        return f"!{space}{key}"
    if op in ("=", "!="):
        return f"{key}{space}{eq if op == '=' else '!='}{space}{values[0]}"
    return f"{key} {op}{space}({f'{space},{space}'.join(values)})"


@given(
    st.lists(_requirement, max_size=4),
    st.sampled_from(["=", "=="]),
    st.sampled_from(["", " ", "  "]),
    st.dictionaries(_key, _value, max_size=4),
)
def test_any_written_selector_parses_back_and_selects_like_its_parts(
    requirements: list[Requirement], eq: str, space: str, labels: dict[str, str]
) -> None:
    """Guards the parser over the whole grammar: spelling and spacing never change meaning, and
    a selector selects exactly when every requirement does (checked per operator by hand)."""
    text = f"{space},{space}".join(_render(r, eq, space) for r in requirements)
    selector = parse(text)
    assert selector.requirements == tuple(requirements)
    for requirement in requirements:
        labels_with = {**labels}
        if requirement.values:
            labels_with[requirement.key] = requirement.values[0]
            expected = requirement.operator in ("=", "in")
            assert requirement.matches(labels_with) is expected
        labels_without = {k: v for k, v in labels.items() if k != requirement.key}
        assert requirement.matches(labels_without) is (
            requirement.operator in ("!=", "notin", "!exists")
        )
    assert selector.matches(labels) is all(r.matches(labels) for r in requirements)
