"""Attack 244: the redactor's remaining holes after 233.

A known token (``ghp_``, ``hf_``...) split by an HTML character reference or Python's
``\\N{...}`` escape of an invisible character (``gh&#8203;p_``, ``&ZeroWidthSpace;``,
``\\N{ZERO WIDTH SPACE}``) showed whole: only percent and backslash escapes were glue. A
token's character written as an escape (JSON's ``\\u0067hp_``, HTML's ``ghp&#x5f;``, a URL's
``%5F``) split it too. And a fixed-length body read on past a line break took the next line's
first word (``ghp_<36>\\nnext word`` printed ``ghp_*** word``).
"""

from __future__ import annotations

import pytest

from mlenv.redaction import redact, redact_urls
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.hidden_secrets import BODY, HIDERS, KNOWN_TOKENS, SECRET, assert_hidden

pytestmark = pytest.mark.hostile

_INVISIBLE = [
    "&#8203;",
    "&#x200B;",
    "&#x200b;",
    "&ZeroWidthSpace;",
    "&NegativeThinSpace;",
    "&shy;",
    "&nbsp;",
    "&#173;",
    "&zwj;",
    "&NoBreak;",
    "\\N{ZERO WIDTH SPACE}",
    "\\N{zero width space}",
    "\\\\N{SOFT HYPHEN}",
    "\\N{WORD JOINER}",
]


@pytest.mark.parametrize("glue", _INVISIBLE)
@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "github_pat_", "glpat-", "pypi-", "xoxb-"])
def test_an_escaped_invisible_character_inside_a_prefix_or_body_is_glue(
    prefix: str, glue: str
) -> None:
    """Before: ``gh&#8203;p_...`` and ``ghp_Zq8v&ZeroWidthSpace;Kp3m...`` showed whole."""
    body = KNOWN_TOKENS[prefix]
    assert_hidden(body, f"t {prefix[:2]}{glue}{prefix[2:]}{body} end")
    assert_hidden(body, f"t {prefix}{body[:6]}{glue}{body[6:]} end")
    assert redact(f"t {prefix}{body[:6]}{glue}{body[6:]} end") == f"t {prefix}*** end"


_LETTERS = {
    "ghp&#x5f;": "ghp_",
    "ghp&#95;": "ghp_",
    "ghp&lowbar;": "ghp_",
    "\\u0067hp_": "ghp_",
    "g\\\\u0068p_": "ghp_",
    "%67hp_": "ghp_",
    "ghp%5F": "ghp_",
    "gh\\x70_": "ghp_",
    "gh\\N{LATIN SMALL LETTER P}_": "ghp_",
    "glpat&#45;": "glpat-",
    "h&#x66;_": "hf_",
}


@pytest.mark.parametrize("spelled", sorted(_LETTERS))
def test_a_prefix_with_an_escaped_letter_is_a_prefix(spelled: str) -> None:
    """Before: JSON's ``\\u0067hp_``, HTML's ``ghp&#x5f;`` showed the body."""
    body = KNOWN_TOKENS[_LETTERS[spelled]]
    text = f'{{"said": "{spelled}{body}"}}'
    assert_hidden(body, text)
    assert redact(text) == f'{{"said": "{spelled}***"}}'


def test_an_escaped_letter_inside_a_body_joins_it() -> None:
    text = f"ghp_{BODY[:10]}\\u{ord(BODY[10]):04x}{BODY[11:]}"
    assert_hidden(BODY, text)
    assert redact_urls(f"https://h/x/{text}/y") == "https://h/x/ghp_***/y"


@pytest.mark.parametrize("joint", ["\n", "\r\n", "\t", "\u200b", "\x1b[0m", "%0A"])
@pytest.mark.parametrize("word", ["next word", "Next2 word", "12 apples", "next_word"])
@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "npm_"])
def test_a_whole_body_does_not_read_on_into_the_next_word(
    prefix: str, word: str, joint: str
) -> None:
    """Before: ``ghp_<36>\\nnext word`` printed ``ghp_*** word``."""
    body = BODY[:34] if prefix == "hf_" else BODY
    assert redact(f"{prefix}{body}{joint}{word}") == f"{prefix}***{joint}{word}"


def test_a_body_broken_by_lines_still_reads_on_until_its_length() -> None:
    broken = "\n".join(BODY[at : at + 5] for at in range(0, 36, 5))
    assert redact(f"ghp_{broken}\nnext word") == "ghp_***\nnext word"
    assert redact(f"github_pat_{'A' * 40}\n{'b' * 42}\nnext") == "github_pat_***\nnext"


@pytest.mark.parametrize(
    "entry",
    [
        'machine idx.example login user password "{secret} and more"',
        'machine idx.example login "first last" password {secret}',
        'machine idx.example\nlogin user\npassword "{secret} \\" more"',
        'default login user password "{secret} more"',
    ],
)
def test_a_quoted_netrc_value_is_read_whole(entry: str) -> None:
    """Before: ``password "a b"`` hid ``"a`` and showed ``b"``; a quoted login with a blank
    (curl 7.84 and Python's netrc read both) left the password after it shown."""
    text = entry.format(secret=SECRET)
    for hide in HIDERS:
        said = hide(text)
        assert SECRET[:8] not in said and "more" not in said, (hide.__name__, said)


_LOGIN = "dXNlcjpTM2NyZXRQdzl4UTd6ckxvbmc="  # base64 of user:S3cretPw9xQ7zrLong


@pytest.mark.parametrize(
    "config",
    [
        f'{{"auths": {{"registry.example": {{"auth": "{_LOGIN}"}}}}}}',
        f'{{\n  "auths": {{\n    "registry.example": {{\n      "Auth": "{_LOGIN}"\n',
        f"auth: {_LOGIN}",
    ],
)
def test_a_docker_config_auth_is_hidden(config: str) -> None:
    """Before: ``~/.docker/config.json``'s ``"auth"`` (base64 of ``user:password``) showed."""
    for hide in HIDERS:
        assert _LOGIN[:12] not in hide(config), (hide.__name__, hide(config))


@pytest.mark.parametrize(
    "text",
    [
        '"auth": "required"',
        "auth: basicauthorization",
        "google-auth: 2.0",
        # a review of this attack: words whose base64 reading holds a ":" (aiohttp's source
        # in a traceback), before hidden to the line's end
        "auth: Optional[BasicAuth] = None",
        '"auth": "Original"',
        "auth: Override flag",
        "auth: Operator",
    ],
)
def test_an_auth_that_is_no_login_stays(text: str) -> None:
    assert redact(text) == text


def test_a_refresh_token_broken_by_a_line_hides_its_rest() -> None:
    """A review of this attack: ``ghr_`` refresh tokens are longer than the 36 characters of
    ``ghp_``, so a body stopped at 36 showed its rest after a line break or glue."""
    body = (BODY * 3)[:76]
    for glue in ("\n", "\u200b"):
        token = f"ghr_{body[:40]}{glue}{body[40:]}"
        for hide in HIDERS:
            assert body[40:] not in hide(token), (hide.__name__, glue)


# Each shape: a head, then a unit repeated to the text's length.
_SHAPES = {
    "entities between letters": ("ghp_", "aB&#8203;"),
    "named entities": ("hf_A", "&ZeroWidthSpace;b"),
    "unknown entities": ("ghp_A", "&nosuchentityxy;"),
    "escaped letters": ("ghp_A", "\\u0062&#x43;"),
    "queries": ("https://h/s?", "a=1&b=2&"),
    "unnamed characters": ("ghp_A", "\\N{NO SUCH CHARACTER}"),
    "body broken by lines": ("ghp_", "Ab\n"),
    "unclosed netrc quotes": ("", 'machine "a login "'),
    "auth values": ('{"auth": "', 'QUFBQUFB", "auth": "'),
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_the_new_escapes_are_read_in_linear_time(shape: str) -> None:
    """8x the text takes about 8x the time."""
    head, unit = _SHAPES[shape]
    assert growth(redact, lambda n: head + unit * (n // len(unit)), small=20_000, times=8) < (
        LINEAR_BOUND
    )
