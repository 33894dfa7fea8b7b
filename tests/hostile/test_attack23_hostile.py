"""Pass 23: the linear redactor against the old expressions it replaced, shape by shape.

The redactor of pass 22 matches userinfo from any ``://``, scheme or not, and hides it before
it reads query parameters. Where no scheme stood before ``://`` the old redactor read no
userinfo there but a parameter, whose value runs on past the ``@``:
``é://a&token=SEC@RET`` lost all of ``SEC@RET`` to the old one and only ``SEC`` to the new.
After a scheme the old redactor took userinfo too and left the host: so does the new one (an
index URL's redacted form is part of the inputs hash, so hiding its host would let a lock
made for one host pass as fresh for another).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.redaction import redact
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.old_redact import REF_SEPARATORS_40, old_redact, reference_redact


def test_a_parameter_in_schemeless_userinfo_keeps_its_whole_value_hidden() -> None:
    """A secret parameter the old redactor hid whole is not shown in part because the new one
    took the text before its ``@`` for userinfo (no scheme: ``é``, a digit, nothing)."""
    for text in ("é://a&token=SEC@RET", "1x://u&sig=a@RET/x", "see ://a;password=p@ss@RET",
                 "é://a&token=@RET x", "é://a&Token=S@RET://u@h"):  # fmt: skip
        assert "RET" not in redact(text), (text, redact(text))
        assert "RET" not in old_redact(text), text


PIECES = ["?", "&", ";", "#", "=", "&token=", ";sig=", "?key=", "token", "sig", "K", "\u212a",
          "\u017f", "a", "é", "1", "_", "-", ".", "+", "://", "https://", "@", ":", "/", "/t/",
          " ", '"', "Bearer ", "Basic ", "x"]  # fmt: skip


@st.composite
def marked_text(draw: st.DrawFn) -> tuple[str, int]:
    """Text from URL-ish pieces with ``n`` unique word-character marks ``Q<i>Q`` among them."""
    pieces = draw(st.lists(st.sampled_from(PIECES), max_size=25))
    marks = draw(st.integers(0, 4))
    for i in range(marks):
        at = draw(st.integers(0, len(pieces)))
        pieces[at:at] = [f"Q{i}Q"]
    return "".join(pieces), marks


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(marked_text())
def test_nothing_the_old_redactor_hid_is_shown(drawn: tuple[str, int]) -> None:
    """Every mark the old expressions hid, the redactor hides too, in any arrangement."""
    text, marks = drawn
    old, new = old_redact(text), redact(text)
    for i in range(marks):
        if f"Q{i}Q" not in old:
            assert f"Q{i}Q" not in new, (text, old, new)


SCHEME_BEFORE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*\Z")


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(marked_text())
def test_after_a_scheme_the_redaction_is_the_old_one(drawn: tuple[str, int]) -> None:
    """Where every ``://`` follows a scheme, redact gives the old expressions' text exactly
    (with pass 26's fragment parameters and raw-slash passwords, ``reference_redact``): the
    same secrets hidden, the same host kept for the inputs hash."""
    text, _ = drawn
    starts = [m.start() for m in re.finditer("://", text)]
    if all(SCHEME_BEFORE.search(text[:at]) for at in starts) and not _relative_parameter(text):
        assert redact(text) == reference_redact(text)


def _relative_parameter(text: str) -> bool:
    """A scheme-relative userinfo holding a parameter (``//a&token=S@CRET``): no scheme stands
    before it, so the value runs on past the '@' as the old parameter expression read it
    (``test_nothing_the_old_redactor_hid_is_shown`` holds that case)."""
    relative = re.finditer(REF_SEPARATORS_40[1] + r"[^/?#\s]*@", text)
    return any("&" in m[0] or ";" in m[0] for m in relative)


def test_a_userinfo_after_a_scheme_keeps_its_host() -> None:
    assert redact("https://a&token=S@host/simple") == "https://***@host/simple"


SCHEMELESS: dict[str, Callable[[int], str]] = {
    "token-userinfo": lambda n: "é://" + "a&token=x@" * (n // 10),
    "nested-urls": lambda n: "é://a&token=" + "x@://" * (n // 5),
    "sig-runs": lambda n: "://a;sig=" * (n // 9) + "@",
    "token-runs": lambda n: "é://" + "&token=" * (n // 7) + "@x",
    "empty-tokens": lambda n: "://&token=@" * (n // 11),
}


@pytest.mark.parametrize("make", SCHEMELESS.values(), ids=SCHEMELESS.keys())
def test_a_hostile_schemeless_userinfo_is_redacted_in_linear_time(
    make: Callable[[int], str],
) -> None:
    assert growth(redact, make) < LINEAR_BOUND
