"""Hidden characters are found by the fast path exactly as by the character-by-character rule."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.errors import DEFAULT_IGNORABLE, hidden_characters, terminal_text

HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs"}


def by_character(text: str) -> list[str]:
    """The rule itself, one character at a time (what the fast path must agree with)."""
    return [c for c in text if unicodedata.category(c) in HIDDEN or DEFAULT_IGNORABLE.match(c)]


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=40))
def test_the_fast_path_finds_exactly_the_hidden_characters(text: str) -> None:
    """Protects: any text (every category, surrogates, unassigned and private-use code points,
    ignorables) gives the same hidden characters whichever path answers, and is shown with
    each of them as ?."""
    assert hidden_characters(text) == by_character(text)
    if not by_character(text):
        assert terminal_text(text) == text


def test_every_code_point_outside_the_fast_path_is_judged_one_by_one() -> None:
    """Protects: no single code point is called shown by the fast path yet hidden by the rule
    (the whole range, so no category or unassigned block is missed)."""
    wrong = [
        hex(point)
        for point in range(0x110000)
        if not hidden_characters(chr(point)) and by_character(chr(point))
    ]
    assert wrong == []
