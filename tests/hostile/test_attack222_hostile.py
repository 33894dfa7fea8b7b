"""Attack 222: near-variants of attack 219's redactor rules that its tests did not try.

Found and fixed (before, ``redact``, ``without_secrets`` and ``printable`` showed the secret):

- A known token split by a C1 control (``\\x85``, ``\\x9b``, or its ``\\x85``/``\\u0085``
  escape), a zero-width character (``\\u200b``, ``\\u2060``, ``\\ufeff``) or a terminal's
  colour sequence (``ghp_Zq8v\\x1b[31mKp3m...``, ``gh\\x1b[0mp_...``): a terminal shows the
  token whole across each. ``redaction_lines._CONTROL`` and ``_IN_PREFIX`` glue them.
- A password in a bytes value pprint splits into adjacent ``b'...'`` literals (it splits a
  long bytes value every few characters): ``redaction_userinfo.QUOTE_END`` and
  ``_LITERALS_JOINED`` read on across a ``b`` before the next literal's quote.
- A ``Bearer`` scheme in mixed case (``BeArEr``; RFC 9110 11.1: schemes are
  case-insensitive): ``redaction._AUTH_VALUE_SHOWN`` reads ``bearer`` in any case.

Held (tried, hidden or kept as documented): lowercase and uppercase ``bearer``,
``Proxy-Authorization``, ``Cookie: token=``, a fold of mixed tabs and blanks, digit passwords
past 65535, hosts and ports in pip/uv messages, ``Author: a@b.c``, CUDA/driver messages.
"""

from __future__ import annotations

import pprint
from collections.abc import Callable

import pytest

from mlenv.echoed import shown, without_secrets
from mlenv.errors import printable
from mlenv.redaction import redact, redact_urls
from tests.support.growth import LINEAR_BOUND, growth

pytestmark = pytest.mark.hostile

_HIDERS: list[Callable[[str], str]] = [redact, without_secrets, shown, printable]
_BODY = "Zq8vKp3mWx7TnR2bYc6LaB4dE5fG6hJ7kM8n"
_SECRET = "S3cretPw9xQ7zrLong"


def _shows(secret: str, text: str) -> list[str]:
    """The 8-character slices of ``secret`` that ``text`` shows."""
    return [secret[at : at + 8] for at in range(len(secret) - 7) if secret[at : at + 8] in text]


def _assert_hidden(secret: str, text: str) -> None:
    for hide in _HIDERS:
        assert _shows(secret, hide(text)) == [], (hide.__name__, text, hide(text))


_SPLITS = [
    "\x85",
    "\x9b",
    "\x80",
    "\u200b",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\x1b[31m",
    "\x1b[0m",
    "\x1b[1;32m",
    "\\x85",
    "\\u0085",
    "\\x9b",
]


@pytest.mark.parametrize("split", _SPLITS)
@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "glpat-", "pypi-AgEIcHlwaS5vcmc", "xoxb-1-"])
def test_a_token_split_by_a_c1_control_a_zero_width_or_a_colour_is_hidden(
    split: str, prefix: str
) -> None:
    """Before: ``ghp_Zq8vKp3mWx\\x1b[31m7TnR...`` and ``...\\u200b...`` shown whole."""
    for at in (2, 10):
        _assert_hidden(_BODY, f"token {prefix}{_BODY[:at]}{split}{_BODY[at:]} refused")
        _assert_hidden(_BODY, f"https://h.example/x/{prefix}{_BODY[:at]}{split}{_BODY[at:]}/y")


@pytest.mark.parametrize("split", ["\x1b[0m", "\x85", "\u200b"])
def test_a_prefix_split_by_a_colour_is_hidden(split: str) -> None:
    """Before: ``gh\\x1b[0mp_...`` shown whole."""
    _assert_hidden(_BODY, f"token gh{split}p_{_BODY} refused")


def test_a_password_in_pprinted_bytes_is_hidden() -> None:
    """Before: pprint splits a long bytes value into ``b'...'`` literals on indented lines;
    the userinfo's run ended at the first one's quote and the rest of the password showed."""
    url = f"https://alice:{_SECRET}{'x' * 30}@h.example/simple".encode()
    for text in (
        pprint.pformat({"index-url": url}, width=40),
        pprint.pformat([url, b"numpy"], width=30),
    ):
        assert "'\n" in text and "b'" in text.split("\n")[1]  # pprint split it into literals
        _assert_hidden(_SECRET, text)
        assert "***@h.example" in redact(text)


@pytest.mark.parametrize("scheme", ["BeArEr", "bEARER", "Bearer", "bearer", "BEARER"])
def test_a_bearer_scheme_in_any_case_is_hidden(scheme: str) -> None:
    """Before: ``BeArEr S3cret...`` shown (only three spellings were read)."""
    _assert_hidden(_SECRET, f"sent {scheme} {_SECRET}")


@pytest.mark.parametrize(
    "text",
    [
        "\x1b[31mERROR\x1b[0m: hf_transfer 0.1.8 needs Python >=3.9",
        "\x1b[1mghp\x1b[0m is not a package",
        "ERROR: Could not find a version that satisfies the requirement torch==2.9 "
        "(from versions: none)\nWARNING: Retrying after connection broken by "
        "'NewConnectionError': /simple/torch/ on https://pypi.internal:8443",
        "Author: a@b.c\nAuthor-email: Dev Team <dev@example.org>",
        "CUDA driver version is insufficient for CUDA runtime version",
        "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 550.54",
        "/opt/conda/envs/my_env-1/lib/python3.11/site-packages/hf_transfer/__init__.py",
        "[b'https://pypi.internal:8443',\n b'x@y']",
        "b'abc'\n b'def@g'",
    ],
)
def test_common_text_stays_whole(text: str) -> None:
    """Coloured output, pip's retries, author lines, driver messages, paths and bytes lists
    hold no secret and stay as they were."""
    assert redact(text) == text
    assert redact_urls(text) == text


_SHAPES: dict[str, Callable[[int], str]] = {
    "colour runs in a body": lambda n: "ghp_" + "A\x1b[1;" * (n // 5),
    "unended colours in a prefix": lambda n: ("g\x1b[" + "1" * 50) * (n // 53),
    "c1 and zero-width in a body": lambda n: "hf_" + "a\x85\u200b" * (n // 3),
    "bytes literals": lambda n: "://u:a" + "'\n b'" * (n // 5),
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_the_new_glue_reads_a_long_hostile_text_once(shape: str) -> None:
    """8x the text takes about 8x the time; 400,000 characters are read as the short text is."""
    make = _SHAPES[shape]
    assert redact(make(400_000)) == make(400_000)
    assert growth(redact, make, small=25_000, times=8) < LINEAR_BOUND
