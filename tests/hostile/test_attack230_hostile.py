"""Attack 230: the glue 224 reads as one joint (``redaction_tokens.hide_tokens``).

Found and fixed (before, the token's body showed in ``redact``, ``without_secrets``,
``printable``, the JSON reporter and ``mlenv lock``'s stderr):

- A token split by any of 399 invisible characters past Latin-1 the glue did not spell: the
  other format characters (U+0600.., U+061C, U+206A..U+206F, U+FFF9..U+FFFB, tags
  U+E0001..U+E007F), variation selectors U+FE00..U+FE0D and U+E0100.., Mongolian ones, the
  line and paragraph separators.
- Those marks escaped: JSON's ``\\u2066``, ``\\u202a``, ``\\ufe0f``, a tag as surrogates, a
  repr's ``\\U000e0020``, percent-encoded UTF-8 (``%E2%81%A6``, any case) or a bytes repr's
  (``\\xe2\\x80\\x8b``): an escape is judged by the character it decodes to.
- Two tokens with a line break or any glue between them: the first body read on into the
  second's prefix (``ghp_A...\\nghp``) and the second body showed; a ``pypi-`` or ``glpat-``
  body took the second token whole, line break and prefix included.
- A long ``pypi-``/``glpat-``/``xox`` body broken by line breaks took 14x the time for 8x the
  text (a greedy repeat of a group), and cutting tokens at each joint before a prefix was
  quadratic while it was being fixed.
"""

from __future__ import annotations

import io
import json
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.redaction import redact, redact_urls
from mlenv.report import JsonReporter
from tests.support.cli import run_mlenv
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.hidden_secrets import BODY as _BODY
from tests.support.hidden_secrets import HIDERS, KNOWN_TOKENS
from tests.support.pypi_settings import write_manifest

pytestmark = pytest.mark.hostile

_TOKENS = KNOWN_TOKENS
_INVISIBLE = [
    chr(point)
    for point in range(0x100, sys.maxunicode + 1)
    if unicodedata.category(chr(point)) in ("Cf", "Zl", "Zp")
    or "VARIATION SELECTOR" in unicodedata.name(chr(point), "")
]
_ESCAPED = [
    "\\u2066",
    "\\u202A",
    "\\ufe0f",
    "\\u034f",
    "\\u2028",
    "\\u061c",
    "\\udb40\\udc20",
    "\\U000E0020",
    "\\\\u2069",
    "%E2%81%A6",
    "%e2%80%aa",
    "%EF%B8%8F",
    "%CD%8F",
    "%F3%A0%80%A0",
    "%e2%80%8b",
    "\\x85",
    "\\xe2\\x80\\x8b",
    "\\XE2\\X81\\XA6",
    "\\xc2\\xa0",
    "\\u0600",
    "%E2%81%AA",
    "\\\\u206f",
]


def _split(prefix: str, glue: str, at: int = 9) -> str:
    """The token of ``prefix`` with ``glue`` after its ``at``-th character."""
    whole = prefix + _TOKENS[prefix]
    return whole[:at] + glue + whole[at:]


@pytest.mark.parametrize("hide", HIDERS, ids=lambda hide: hide.__name__)
def test_every_invisible_character_splitting_a_token_is_hidden_and_nothing_else(
    hide: Callable[[str], str],
) -> None:
    """Before: 399 of these showed the body; the cut is exactly the body, glue included."""
    for glue in _INVISIBLE:
        for prefix in ("ghp_", "glpat-"):
            text = f"x {_split(prefix, glue)} y"
            assert hide(text) == f"x {prefix}*** y", (hex(ord(glue)), prefix)


@pytest.mark.parametrize("glue", _ESCAPED)
@pytest.mark.parametrize("prefix", sorted(_TOKENS))
def test_an_escaped_invisible_mark_splitting_a_token_is_hidden(glue: str, prefix: str) -> None:
    """Before: each escape here showed the body."""
    for at in (len(prefix) + 1, len(prefix) + 12):
        text = f'"{_split(prefix, glue, at)}" refused'
        for hide in (*HIDERS, redact_urls):
            assert hide(text) == f'"{prefix}***" refused', (hide.__name__, text)


_BETWEEN = [
    "\n",
    "\r\n",
    "\t",
    "\n\n\n",
    "\x1b[0m",
    "\u200e\x1b[38:5:196m",
    "\u200b",
    "%0A",
    "\\n",
    "\u2060" * 1000,
]


@pytest.mark.parametrize("glue", _BETWEEN, ids=repr)
@pytest.mark.parametrize("second", sorted(_TOKENS))
@pytest.mark.parametrize("first", sorted(_TOKENS))
def test_two_tokens_with_glue_between_are_both_hidden_and_the_glue_kept(
    first: str, second: str, glue: str
) -> None:
    """Before: the first body read on into the second prefix, which then showed its body
    (``ghp_***_Zq8v...``) or vanished with the glue (``pypi-***``)."""
    text = f"{glue}{first}{_TOKENS[first]}{glue}{second}{_TOKENS[second]}{glue}"
    assert redact(text) == f"{glue}{first}***{glue}{second}***{glue}"


@pytest.mark.parametrize(
    "text",
    [
        "\x00ghp_Zq8vKp3mW\x00x7TnR2bYc6LaB4dE5fG6hJ7kM8n\x00",
        "\u2060" * 1000 + "ghp_Zq8vKp3mW" + "\u2060" * 1000 + "x7TnR2bYc6LaB4dE5fG6hJ7kM8n",
        "ghp_Zq8vKp3mW\r\nx7TnR2bYc6LaB4dE5fG6hJ7kM8n\r\n",
        "e\u0301 ghp_Zq8vKp3mW\u200bx7TnR2bYc6LaB4dE5fG6hJ7kM8n\u0301 \\ud83d",
        "%E2%80ghp_Zq8vKp3mW%E2%80%8Bx7TnR2bYc6LaB4dE5fG6hJ7kM8n%E2%80",
    ],
    ids=["nul", "long glue", "crlf", "combining", "cut escape"],
)
def test_only_the_body_is_cut(text: str) -> None:
    """Glue at the edges, 1,000 glue characters, the joint (NUL) itself, CRLF and combining
    marks: the output is the input with the body (from the prefix's end) as ``***``."""
    start = text.index("ghp_") + 4
    end = text.index("kM8n") + 4
    assert redact(text) == text[:start] + "***" + text[end:]


_SHAPES: dict[str, Callable[[int], str]] = {
    "tokens on lines": lambda n: ("pypi-Ag" + "a" * 40 + "\n") * (n // 48),
    "pypi body broken by lines": lambda n: "pypi-Ag" + "a\n" * (n // 2),
    "glpat body broken by lines": lambda n: "glpat-A" + "a\n" * (n // 2),
    "prefixes after joints": lambda n: "ghp_" + "aB\nghp" * (n // 6),
    "percent then no hex": lambda n: "ghp_A" + "%E2%8" * (n // 5),
    "unterminated escaped csi": lambda n: "hf_a" + "\\x1b[1;" * (n // 7),
    "incomplete code points": lambda n: "ghp_A" + "\\udb40\\ud" * (n // 10),
    "escaped visible characters": lambda n: "hf_A" + "\\u4e2d%E3%81%82" * (n // 15),
    "escaped marks": lambda n: "ghp_A" + "\\u2066b%e2%80%8bc" * (n // 16),
    "many distinct invisible": lambda n: "".join(_INVISIBLE[i % 400] + "a" for i in range(n // 2)),
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_a_long_hostile_text_is_read_in_linear_time(shape: str) -> None:
    """8x the text takes about 8x the time."""
    assert growth(redact, _SHAPES[shape], small=50_000, times=8) < LINEAR_BOUND


def test_the_json_reporter_hides_a_glued_token() -> None:
    """Before: the reporter's line showed the body split by U+2066 or by its escape."""
    stream = io.StringIO()
    reporter = JsonReporter(stream)
    reporter.warning(f"slow {_split('ghp_', chr(0x2066))} and {_split('hf_', '%E2%81%A6')}")
    shown = stream.getvalue()
    assert _BODY[6:20] not in shown and _BODY[6:20] not in json.loads(shown)["message"]


def test_mlenv_lock_stderr_hides_a_token_glued_in_its_index_url(tmp_path: Path) -> None:
    """Before: ``error: http://127.0.0.1:9/simple/ghp_Zq8vKp3mWx%E2%81%A67TnR...`` on a
    failing lock."""
    url = f"http://127.0.0.1:9/simple/{_split('ghp_', '%E2%81%A6', 14)}/"
    write_manifest(tmp_path, url, 'dependencies = ["numpy==1.26.4"]\n')
    done = run_mlenv(["lock"], tmp_path)
    assert done.returncode != 0
    assert "ghp_***" in done.stderr and _BODY[10:] not in done.stderr, done.stderr
