"""The lock memo's escaping of what a run said (``cache.memo._escape``/``_unescape``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cache.memo import _escape, _unescape


@given(st.text())
def test_any_line_said_comes_back_as_it_was(text: str) -> None:
    """Protects replay: a line with any character (a backslash, a tab, U+2028, a surrogate
    escape's) is said again exactly as the first run said it."""
    assert _unescape(_escape(text)) == text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the codec's, on "\\(": no _escape's
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_an_ascii_field_reads_as_the_codec_reads_it(text: str) -> None:
    """Protects the shortcut past the codec: any ASCII field, escaped or not, reads as
    ``unicode_escape`` reads it (a stray backslash at the end is refused alike)."""
    try:
        expected = text.encode("ascii").decode("unicode_escape")
    except UnicodeError:
        with pytest.raises(UnicodeError):
            _unescape(text)
        return
    assert _unescape(text) == expected


def test_a_field_that_is_not_ascii_is_refused() -> None:
    """Protects a damaged entry's refusal: no ``_escape`` writes a non-ASCII field."""
    with pytest.raises(UnicodeError):
        _unescape("é")
