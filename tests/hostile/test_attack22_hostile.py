"""Pass 22: regular expressions that backtracked quadratically on text a hostile party writes.

A scan of every compiled expression in mlenv, each run the way its code runs it over inputs of
2 and 8 kB built from repeated pieces, found three such: the redactor every message, log line
and JSON event passes through (a 40 kB link holding ``?tokentoken…`` took a second, 400 kB
about two minutes), a registry's ``WWW-Authenticate`` parameters, and ``ldd --version``'s first
line. Each is now linear; each test holds the new form to the old expression's answers (kept
here as the reference) and measures how its time grows over a shape that took the old one
seconds to minutes (a growth ratio, not a bound in seconds, which a loaded runner breaks).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.host_text import parse_ldd_version
from mlenv.oci.auth import _CHALLENGE_PARAM
from mlenv.redaction import _secret_params, redact
from mlenv.redaction_userinfo import _USERINFO
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.old_redact import OLD_USERINFO, REF_SECRET_PARAM_40, REF_SEPARATORS_40

OLD_CHALLENGE = re.compile(r'([A-Za-z_]+)=(?:"([^"]*)"|([^\s,]*))')
OLD_LDD = re.compile(r"ldd \([^)]*\b(?:E?GLIBC|GNU libc)\b[^)]*\) (\S+)")
GLIBC = re.compile(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?")

QUERY = ["?", "&", ";", "#", "=", "token", "TOKEN", "sig", "key", "api_key", "a", "-", ".",
         "K", "\u212a", "\u017f", "é", "x", " ", "\t", '"', "'", "<", "/", "?tokena", "pass",
         "word", "policy", "_state", "code", "session", "sessid", "sas", "j", "%20"]  # fmt: skip


# Pass 26 let a fragment start a parameter too (OAuth's ``#access_token=``), and pass 28
# judged more names secret (``a-key``, ``session``, ``sas``; a strict superset of the old
# names): the old expression with both is the reference.
@settings(max_examples=500)
@given(st.lists(st.sampled_from(QUERY), max_size=30).map("".join))
def test_secret_parameters_are_redacted_as_the_old_expression_did(text: str) -> None:
    assert _secret_params(text) == REF_SECRET_PARAM_40.sub(r"\g<key>***", text)


# no piece ends in ":", so "://" only ever comes from an "https://" piece
URLISH = ["u", "u:p@", "@", "h", "/", "?", "#", "a", "-", ".", "+", "1", "é"]
SEPARATORS = [" ", "/", "?", '"', "(", "\t"]


@st.composite
def urlish_text(draw: st.DrawFn) -> str:
    """Text whose every ``://`` follows a scheme the old expression took (a separator before
    ``https``): there the new and the old redaction agree to the character."""
    pieces = draw(st.lists(st.sampled_from(URLISH), max_size=20))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(pieces)))
        pieces[at:at] = [draw(st.sampled_from(SEPARATORS)), "https://"]
    return "".join(pieces)


@settings(max_examples=500)
@given(urlish_text())
def test_userinfo_is_redacted_as_the_old_expression_did(text: str) -> None:
    """With pass 40's scheme-relative ``//userinfo@`` where a URL starts (``REF_SEPARATORS_40``)."""
    new = _USERINFO.sub(lambda m: m[0][: m[0].index("/") + 2] + "***@", text)
    old = OLD_USERINFO.sub(r"\g<scheme>***@", text)
    assert new == re.sub(REF_SEPARATORS_40[1] + r"[^/?#\s]*@", r"\g<scheme>***@", old)


def test_userinfo_after_no_scheme_is_redacted_too() -> None:
    """Dropping the scheme from the expression only redacts more: a "://" the old one passed
    over (no letter-led scheme at a word boundary) now hides its userinfo as well."""
    for text in ("éhttps://u:pw@host/x", "1x://u:pw@host", "://u:pw@host"):
        assert "pw" not in redact(text), text


HOSTILE_TEXT: dict[str, Callable[[int], str]] = {
    "token-run": lambda n: "?" + "token" * (n // 5),
    "tokena-run": lambda n: "?" + "tokena" * (n // 6) + "x",
    "dashes": lambda n: "a-" * (n // 2),
    "dots": lambda n: "a." * (n // 2),
    "at-signs": lambda n: "x://" + "a@" * (n // 2),
}


@pytest.mark.parametrize("make", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_the_redactor_is_linear_in_hostile_text(make: Callable[[int], str]) -> None:
    assert growth(redact, make) < LINEAR_BOUND


CHALLENGE = ["a", "B", "_", "=", '"', ",", " ", "!", "\t", "realm", "service", "1"]


@settings(max_examples=500)
@given(st.lists(st.sampled_from(CHALLENGE), max_size=30).map("".join))
def test_challenge_parameters_are_read_as_the_old_expression_did(text: str) -> None:
    assert _CHALLENGE_PARAM.findall(text) == OLD_CHALLENGE.findall(text)


HOSTILE_CHALLENGE: dict[str, Callable[[int], str]] = {
    "bangs": lambda n: "a!" * (n // 2),
    "letters": lambda n: "a" * n,
    "underscores": lambda n: "a_" * (n // 2) + "=",
}


@pytest.mark.parametrize("make", HOSTILE_CHALLENGE.values(), ids=HOSTILE_CHALLENGE.keys())
def test_a_hostile_challenge_is_read_in_linear_time(make: Callable[[int], str]) -> None:
    assert growth(_CHALLENGE_PARAM.findall, make) < LINEAR_BOUND


LDD = ["ldd", " ", "(", ")", "GLIBC", "EGLIBC", "GNU libc", "GNU", "libc", "2.36", "2.39.1",
       "x", "-", "é", "_", "Debian", "\t"]  # fmt: skip


def _old_ldd(text: str) -> str | None:
    first = text.splitlines()[0].strip() if text.strip() else ""
    match = OLD_LDD.fullmatch(first)
    return match.group(1) if match and GLIBC.fullmatch(match.group(1)) else None


@settings(max_examples=500)
@given(st.lists(st.sampled_from(LDD), max_size=14).map("".join))
def test_ldd_lines_are_read_as_the_old_expression_did(text: str) -> None:
    assert parse_ldd_version(text) == _old_ldd(text)
    assert parse_ldd_version(f"ldd ({text}) 2.36") == _old_ldd(f"ldd ({text}) 2.36")


HOSTILE_LDD: dict[str, Callable[[int], str]] = {
    "glibc-words": lambda n: "ldd (" + "GLIBC " * (n // 6) + "x",
    "letters": lambda n: "ldd (" + "a " * (n // 2),
}


@pytest.mark.parametrize("make", HOSTILE_LDD.values(), ids=HOSTILE_LDD.keys())
def test_a_hostile_ldd_line_is_read_in_linear_time(make: Callable[[int], str]) -> None:
    assert parse_ldd_version(make(1000)) is None
    assert growth(parse_ldd_version, make) < LINEAR_BOUND
