"""Attack 232: two known tokens written back to back, with nothing between them.

Attack 230 cut a token's body before the next token's prefix only where glue sat between
them. Written together (``ghp_<body>ghp_<body>``, a copy-paste of two secrets, or a token
right after another in a concatenated value), the first body read on through the second
prefix's letters (a GitHub, Hugging Face or npm body is letters and digits) and ended at its
``_``: ``ghp_***_Cd2...`` showed the second body whole. ``redaction_tokens._bodies`` now cuts
a body that ends on the head of a prefix and hides the token written from it.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.redaction import redact
from tests.support.hidden_secrets import KNOWN_TOKENS, assert_hidden

_OTHER = "Cd2Ef4Gh6Jk8Lm1Np3Qr5St7Uv9Wx2Yz4Ab6"  # a second secret of a GitHub body's shape


def _second(prefix: str) -> str:
    """A second token's body for ``prefix``, as unlike the first as its shape allows."""
    body = KNOWN_TOKENS[prefix]
    return body.translate(str.maketrans("0123456789", "9876543210")) if body != _OTHER else body


@pytest.mark.parametrize("second", sorted(KNOWN_TOKENS))
@pytest.mark.parametrize("first", sorted(KNOWN_TOKENS))
def test_two_tokens_back_to_back_are_both_hidden(first: str, second: str) -> None:
    """Before: ``ghp_<36>ghp_<36>`` came out as ``ghp_***_<second body>``."""
    later = _second(second)
    text = f"token {first}{KNOWN_TOKENS[first]}{second}{later} end"
    assert_hidden(later, text)
    assert_hidden(KNOWN_TOKENS[first], text)


@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "npm_", "gho_"])
def test_three_in_a_row_keep_their_prefixes_and_hide_each_body(prefix: str) -> None:
    body = KNOWN_TOKENS[prefix]
    text = f"x {prefix}{body}{prefix}{_OTHER}{prefix}{body} y"
    assert redact(text) == f"x {prefix}***{prefix}***{prefix}*** y"


def test_a_body_ending_on_a_prefixs_letters_before_no_token_is_hidden_whole() -> None:
    """``ghp_<36>ghp_short``: no second token follows, so the first body runs to its end, as
    before, and only the prefix's last character and the word after it show."""
    body = KNOWN_TOKENS["ghp_"]
    assert redact(f"ghp_{body}ghp_short") == "ghp_***_short"


_SEPARATORS = ["", " ", "\n", "\t", "\u200b", ",", "/", "=", ":", ";", '"', "'", "%0A", "\x1b[0m"]


def _same_shape(body: str, draw: st.DrawFn) -> str:
    """Another body of ``body``'s shape: each letter or digit drawn from its own class."""
    classes = (string.ascii_uppercase, string.ascii_lowercase, string.digits)
    return "".join(
        draw(st.sampled_from(next((c for c in classes if char in c), char))) for char in body
    )


@st.composite
def _runs_of_tokens(draw: st.DrawFn) -> tuple[str, list[str]]:
    """One to four known tokens, each after a separator a text may hold (none included)."""
    text, bodies = "pre ", []
    for _ in range(draw(st.integers(1, 4))):
        prefix = draw(st.sampled_from(sorted(KNOWN_TOKENS)))
        body = _same_shape(KNOWN_TOKENS[prefix], draw)
        text += draw(st.sampled_from(_SEPARATORS)) + prefix + body
        bodies.append(body)
    return text + draw(st.sampled_from(_SEPARATORS)) + " post", bodies


@settings(max_examples=300, deadline=None)
@given(_runs_of_tokens())
def test_no_body_of_tokens_written_together_shows(run: tuple[str, list[str]]) -> None:
    """Before: 6,862 of 40,000 such texts (redact and without_secrets) showed a body."""
    text, bodies = run
    for body in bodies:
        assert_hidden(body, text)
