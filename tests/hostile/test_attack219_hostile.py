"""Attack 219: the shapes attack 218's closing note left to the redactor.

Found and fixed (before, ``redact``, ``without_secrets`` and ``printable`` showed the secret):
a known token's prefix split inside itself by a control (``gh\\np_...``, ``pyp\\ni-...``), or a
token split by a control other than tab, CR and LF, or by one spelled as a repr or JSON escapes
it (``\\\\n``, ``\\\\x0a``, ``\\\\u000a``): ``redaction_lines.KNOWN_TOKEN`` glued raw tabs and
line breaks in a body only. An anaconda.org ``/t/`` token split by a NBSP or another Unicode
blank (``redaction._GLUED_SEGMENT``). An ``Authorization`` value folded onto the next line
(HTTP's obs-fold, ``redaction_headers._FOLD``), or a bare ``Bearer``/``Basic`` value after a
tab or a CRLF fold. A password pprint splits into adjacent literals on an indented line
(``redaction_userinfo.QUOTE_END``; at a blank, ``_LITERALS_JOINED``). A password of digits
before a blank or a line break, read as a port: a port is five digits and 65535 at most
(``redaction_userinfo._PORT``), as urllib3, requests and curl read one.

Held: secret-free text with hosts, ports, addresses, module names and quotes stays as it was
(Hypothesis); every new rule is linear (8x the text, about 8x the time).
"""

from __future__ import annotations

import pprint
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.echoed import without_secrets
from mlenv.redaction import redact, redact_urls
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.hidden_secrets import BODY as _BODY
from tests.support.hidden_secrets import SECRET as _SECRET
from tests.support.hidden_secrets import assert_hidden as _assert_hidden

pytestmark = pytest.mark.hostile


_PREFIXES = [
    "gh\np_",
    "glp\tat-",
    "h\nf_",
    "pyp\ni-AgEIcHlwaS5vcmc",
    "xo\nxb-1234-",
    "gith\rub_pat_",
]


@pytest.mark.parametrize("prefix", _PREFIXES)
@pytest.mark.parametrize("split", ["", "\\n", "\x00"])
@pytest.mark.parametrize("around", ["https://h.example/x/{}/y", "{}", "token '{}' refused"])
def test_a_prefix_split_inside_itself_is_hidden(prefix: str, split: str, around: str) -> None:
    """Before: ``gh\\np_Zq8vKp3mWx7TnR...`` shown whole (the prefix was read unbroken)."""
    for spelled in (prefix, prefix.encode("unicode_escape").decode()):
        _assert_hidden(_BODY, around.format(f"{spelled}{_BODY[:10]}{split}{_BODY[10:]}"))


# Tab, CR and LF: attack 218.
_CONTROLS = [chr(code) for code in (*range(0x20), 0x7F) if chr(code) not in "\t\r\n"]
_ESCAPES = ["\\n", "\\t", "\\r", "\\u000a", "\\u001b", "\\x0a", "\\x00", "\\x7f", "\\\\n"]


@pytest.mark.parametrize("control", _CONTROLS + _ESCAPES)
@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "glpat-", "pypi-AgEIcHlwaS5vcmc", "xoxb-1-"])
def test_a_token_split_by_any_control_is_hidden(control: str, prefix: str) -> None:
    """Before: ``ghp_Zq8vKp3mWx\\x007TnR...`` and ``ghp_Zq8vKp3mWx\\\\n7TnR...`` shown whole."""
    for at in (2, 10):
        _assert_hidden(_BODY, f"https://h.example/x/{prefix}{_BODY[:at]}{control}{_BODY[at:]}/y")


_WIDE_BLANKS = [
    "\xa0",
    "\x85",
    "\u1680",
    "\u2003",
    "\u200a",
    "\u2028",
    "\u202f",
    "\u205f",
    "\u3000",
]


@pytest.mark.parametrize("blank", _WIDE_BLANKS)
@pytest.mark.parametrize("at", [0, 6])
def test_a_path_token_split_by_a_unicode_blank_is_hidden_whole(blank: str, at: int) -> None:
    """Before: ``/t/S3cret\\xa0Pw9xQ7zrLong/chan`` shown whole."""
    text = f"cannot fetch https://conda.anaconda.org/t/{_SECRET[:at]}{blank}{_SECRET[at:]}/chan"
    _assert_hidden(_SECRET, text)
    assert redact(text).endswith("/t/***/chan")


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer\r\n {_SECRET}\r\nHost: h",
        f"Authorization: Basic\r\n\t{_SECRET}==",
        f"Authorization: Token\r\n {_SECRET}",
        f"Authorization: Bearer {_SECRET[:6]}\r\n {_SECRET[6:]}",
        f"Proxy-Authorization: Bearer\n  {_SECRET}",
        repr(f"GET / HTTP/1.1\r\nAuthorization: Bearer\r\n {_SECRET}\r\nHost: h\r\n".encode()),
        f"curl -H 'Authorization: Bearer\r\n {_SECRET}' https://h.example/",
        f"Bearer\t{_SECRET}",
        f"sent Bearer\r\n {_SECRET}",
        f"Basic\t{_SECRET}==",
    ],
)
def test_a_folded_or_tabbed_authorization_value_is_hidden(text: str) -> None:
    """Before: the folded line (or the value after a tab, with no header name) shown."""
    _assert_hidden(_SECRET, text)


def test_a_fold_takes_only_lines_indented_deeper_than_its_header() -> None:
    """A header inside a line (a message) has no fold; a YAML list's next key stays."""
    assert redact("error: Authorization: Bearer X\n  hint: check it") == (
        "error: Authorization: ***\n  hint: check it"
    )
    text = f"headers:\n  Authorization: Bearer {_SECRET}\n  Accept: json"
    assert redact(text) == "headers:\n  Authorization: ***\n  Accept: json"
    assert redact("a bearer\n  token, 12345") == "a bearer\n  token, 12345"


@pytest.mark.parametrize("quote", ["'", '"'])
@pytest.mark.parametrize(
    "shape",
    [
        "{q}https://u:{a}{q}\n    {q}{b}@host{q}",
        "[{q}https://u:{a}{q}\n {q}{b}@host/simple{q}, {q}x{q}]",
        "x = ({q}https://u:{a}{q}\r\n     {q}{b}@host{q})",
    ],
)
def test_adjacent_literals_on_an_indented_line_hide_the_password(quote: str, shape: str) -> None:
    """Before: ``'https://u:S3cretPw'\\n    '9xQ7zrLong@host'`` shown whole (the indent ended
    the userinfo)."""
    text = shape.format(q=quote, a=_SECRET[:8], b=_SECRET[8:])
    _assert_hidden(_SECRET, text)
    assert "host" in redact(text)


def test_a_password_with_a_blank_that_pprint_splits_is_hidden() -> None:
    """Before: pprint splits a long string after a blank, and the literal after the split
    showed the password's tail (a raw password's run ended at the quote)."""
    url = f"https://alice:{_SECRET[:6]} {_SECRET[6:]}{'x' * 80}@h.example/simple"
    for value in ([url, "numpy"], {"index-url": url}):
        text = pprint.pformat(value)
        assert "'\n" in text  # pprint split it
        _assert_hidden(_SECRET, text)
        assert "***@h.example/simple" in redact(text)


_DIGITS = "12345678901234567890"


@pytest.mark.parametrize(
    "text",
    [
        f"https://u:{_DIGITS} @h.example/",
        f"https://u:{_DIGITS}\n@h.example/",
        f"https://u:{_DIGITS}\r\n@h.example/x",
        f"https://u:{_DIGITS}\t@h.example/x",
        f"https://u:{_DIGITS}/x@h.example",
    ],
)
def test_a_password_of_digits_is_no_port(text: str) -> None:
    """Before: ``https://u:12345678901234567890 @h`` shown (the digits read as a port)."""
    _assert_hidden(_DIGITS, text)


@pytest.mark.parametrize(
    "text",
    [
        "https://pypi.internal:65535\nmaintainer@example.com",
        "https://pypi.internal:00080\nmaintainer@example.com",
        "https://pypi.internal:8443 said a@b",
        "http://localhost:1/x@y",
        "index https://h.example:443\r\nAuthor: a@b.c",
    ],
)
def test_a_port_stays_a_port(text: str) -> None:
    """Five digits, 65535 at most: a host and port at a line's end stay whole."""
    assert redact(text) == text
    assert redact_urls(text) == text


_PIECES = [
    "https://pypi.internal:8443/simple",
    "https://h.example:65535/x",
    "https://pypi.internal:65535",
    "http://localhost:8080",
    "http://[::1]:8080/x",
    "Author: a@b.c",
    "hf_transfer",
    "npm_config",
    "gh",
    "h",
    "xo",
    "pyp",
    "f_transfer",
    "i-foo",
    "p_x",
    "prix\xa0: 10",
    "'a'",
    '"b"',
    "Accept: json",
    "hint: check it",
    "numpy==2.1.0",
    "https://conda.anaconda.org/conda-forge/linux-64",
    "wheels",
    "12345",
    "port 65535",
    "pkg @ https://h.example/p-1.0-py3-none-any.whl",
    "https://files.example/hf_transfer-1.0-py3-none-any.whl",
    "['https://pypi.internal:8443',",
    "'x']",
    "(u:1)",
    "\\n",
    "\\u000a",
]
_BETWEEN = ["\n", " ", "\n  ", "\t", "\xa0", "\n    ", "\r\n"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_BETWEEN)), min_size=1, max_size=6)
)
def test_hypothesis_secret_free_text_stays_as_it_was(pieces: list[tuple[str, str]]) -> None:
    """Texts the redactor before this attack left whole (20,000 drawn so, none changed) stay
    whole: no new rule reads a module name, a host and port, an address or a quote as a
    secret."""
    text = "".join(piece + between for piece, between in pieces)
    for hide in (redact, redact_urls, without_secrets):
        assert hide(text) == text, hide.__name__


_SHAPES: dict[str, Callable[[int], str]] = {
    "split prefixes": lambda n: "g\nh\x00" * (n // 4),
    "prefixes then controls": lambda n: ("gh\np_A" + "\x00" * 20) * (n // 26),
    "controls in a body": lambda n: "ghp_" + "A\\x0a" * (n // 5),
    "escapes without a body": lambda n: "hf_" + "\\\\u001b" * (n // 8),
    "prefixes in a run": lambda n: "pyp\ni-" * (n // 6),
    "blanks in a path token": lambda n: "https://h/t/" + "a\xa0" * (n // 2),
    "folded header": lambda n: "Authorization: x" + "\r\n y" * (n // 4),
    "escaped headers": lambda n: "\\r\\nAuthorization: x\\r\\n y" * (n // 28),
    "schemes before blanks": lambda n: "Bearer" + " \t" * (n // 2),
    "folds after schemes": lambda n: "Bearer\r\n " * (n // 9),
    "indented quotes": lambda n: "://a" + "'\n   " * (n // 5),
    "indents before no quote": lambda n: ("://a'\n" + " " * 100) * (n // 106),
    "joined literals": lambda n: "://u:a" + "'\n '" * (n // 4),
    "long digits": lambda n: "https://u:" + "1" * n,
    "digit passwords": lambda n: ("://u:" + "1" * 10 + " ") * (n // 16),
}


_HIDDEN: dict[str, Callable[[int], str]] = {
    "blanks in a path token": lambda n: "https://h/t/***\xa0",
    "folded header": lambda n: "Authorization: ***",
    "escaped headers": lambda n: "\\r\\nAuthorization: ***" * (n // 28),
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_the_new_rules_read_a_long_hostile_text_once(shape: str) -> None:
    """8x the text takes about 8x the time (measured 7.2x to 8.2x from 25,000 characters to
    200,000; quadratic work takes 64x), and 400,000 characters are read as the short text is
    (only three shapes hold a secret)."""
    make = _SHAPES[shape]
    assert redact(make(400_000)) == _HIDDEN.get(shape, make)(400_000)
    assert growth(redact, make, small=25_000, times=8) < LINEAR_BOUND
