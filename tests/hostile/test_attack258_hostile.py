"""Attack 258: the redactor's remaining holes after 244.

A known token (``ghp_``, ``hf_``...) split by a terminal's control string other than an OSC
(a DCS ``\\x1bP...\\x1b\\\\``, SOS, PM, APC, their 8-bit C1 forms ``\\x90``...``\\x9f``), by
C1's CSI without parameters (``\\x9bm``), by an OSC 8 link whose URI is over 512 characters,
by a percent-encoded CSI (``%1b%5b0m``) or by a JS or Rust escape (``\\u{200b}``, ``\\u{70}``)
showed whole, as did a token inside an OSC 8 link's URI. A Docker config's ``auth`` on the
line after its key (YAML's ``auth: >-``), an ``.npmrc``'s ``_auth``, ``_password`` and
``//host/:_authToken``, a bare ``Token <secret>`` and a body broken by a line break then
followed by ``-<digit>`` showed too. Then: ordinary log lines stay whole, and a token in any
mix of glue is hidden.
"""

from __future__ import annotations

import base64
import hashlib
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.redaction import redact, redact_urls
from tests.support.hidden_secrets import BODY, HIDERS, KNOWN_TOKENS, SECRET, assert_hidden

pytestmark = pytest.mark.hostile

_GLUE = [
    "\x1bPqfoo\x1b\\",
    "\x1bP1$r\x07",
    "\x1bXsos\x1b\\",
    "\x1b^pm\x1b\\",
    "\x1b_apc\x1b\\",
    "\x90dcs\x9c",
    "\x98sos\x9c",
    "\x9d8;;https://h/\x9c",
    "\x9d0;title\x07",
    "\x9epm\x9c",
    "\x9fapc\x9c",
    "\x9bm",
    f"\x1b]8;;https://h/{'a' * 600}\x1b\\",
    "%1b%5b0m",
    "%1B%5B0M",
    "%1b%5B38%3b5%3B196m",
    "\\u{200b}",
    "\\u{200B}",
    "\\\\u{00ad}",
    "\\u{1b}[0m",
]


@pytest.mark.parametrize("glue", _GLUE)
@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "github_pat_", "glpat-", "pypi-", "xoxb-"])
def test_a_control_string_or_escape_inside_a_prefix_or_body_is_glue(prefix: str, glue: str) -> None:
    """Before: ``gh\\x1bPq\\x1b\\\\p_...`` and ``ghp_Zq8v%1b%5b0mKp3m...`` showed whole."""
    body = KNOWN_TOKENS[prefix]
    assert_hidden(body, f"t {prefix[:2]}{glue}{prefix[2:]}{body} end")
    assert_hidden(body, f"t {prefix}{body[:6]}{glue}{body[6:]} end")
    assert redact(f"t {prefix}{body[:6]}{glue}{body[6:]} end") == f"t {prefix}*** end"


@pytest.mark.parametrize("spelled", ["gh\\u{70}_", "\\u{67}hp_", "ghp\\u{5F}", "gh\\u{000070}_"])
def test_a_prefix_with_a_js_escaped_letter_is_a_prefix(spelled: str) -> None:
    assert_hidden(BODY, f'{{"said": "{spelled}{BODY}"}}')


@pytest.mark.parametrize("close", ["\x1b\\", "\x07"])
def test_a_token_inside_an_osc_8_link_is_hidden(close: str) -> None:
    """Before: the whole control string was one joint, and the token in its URI showed (a
    terminal shows a link's target)."""
    text = f"\x1b]8;;https://h/x/ghp_{BODY}/y{close}ghp_{BODY}\x1b]8;;{close}"
    assert_hidden(BODY, text)
    assert redact(text) == f"\x1b]8;;https://h/x/ghp_***/y{close}ghp_***\x1b]8;;{close}"


_LOGIN = "dXNlcjpTM2NyZXRQdzl4UTd6ckxvbmc="  # base64 of user:S3cretPw9xQ7zrLong


@pytest.mark.parametrize(
    "config",
    [
        f"auths:\n  registry.example:\n    auth: >-\n      {_LOGIN}\n    email: a@b\n",
        f"auth: |\n  {_LOGIN}\n",
        f"auth:\n  {_LOGIN}\n",
        f"auth: >\r\n  {_LOGIN}\r\n",
    ],
)
def test_a_docker_auth_on_the_next_line_is_hidden(config: str) -> None:
    """Before: YAML's ``auth: >-`` then the base64 login on the next line showed."""
    for hide in HIDERS:
        assert _LOGIN[:12] not in hide(config), (hide.__name__, hide(config))
    assert redact(config) == config.replace(_LOGIN, "***")


_PASSWORD = "UzNjcmV0UHc5eFE3enJMb25n"  # base64 of S3cretPw9xQ7zrLong


@pytest.mark.parametrize(
    "npmrc",
    [
        f"_auth={_LOGIN}",
        f"_auth = {_LOGIN}",
        f"_password={_PASSWORD}",
        f"//registry.example/:_password={_PASSWORD}",
        f"//registry.example/npm/:_auth={_LOGIN}",
        f"//registry.npmjs.org/:_authToken={SECRET}",
        f"//registry.npmjs.org/:_authToken = {SECRET}",
        f"NPM_CONFIG__AUTH={_LOGIN}",
        f"export npm_config__auth={_LOGIN}",
    ],
)
def test_an_npmrc_credential_is_hidden(npmrc: str) -> None:
    """Before: npm's ``_auth``, ``_password`` and ``//host/:_authToken`` keys showed."""
    text = f"registry=https://registry.example/\n{npmrc}\nalways-auth=true\n"
    for hide in HIDERS:
        said = hide(text)
        assert _LOGIN[:12] not in said and _PASSWORD[:12] not in said, (hide.__name__, said)
        assert SECRET[:8] not in said, (hide.__name__, said)
        assert "registry=https://registry.example/" in said and "always-auth=true" in said


_PROSE = [
    "Token indices sequence length is longer than the specified maximum (1024 > 512)",
    "Token expired, log in again",
    "token is valid (permission: write).",
    "pad token 50256 set",
]


@pytest.mark.parametrize("scheme", ["Token", "TOKEN"])
def test_a_bare_token_scheme_value_is_hidden(scheme: str) -> None:
    """Before: ``Token <secret>`` outside a header (a repr of a request's headers, a log
    line) showed; ``Basic`` and ``Bearer`` values were hidden. Prose's ``Token`` stays."""
    value = hashlib.sha1(scheme.encode()).hexdigest()  # Django REST framework's shape
    assert_hidden(value, f"sent {scheme} {value} to the index")
    assert redact(f"sent {scheme} {value} to x") == f"sent {scheme} *** to x"
    for prose in _PROSE:
        assert redact(prose) == prose


_WHEELS = [
    "hf_HubIntegrationToolsForAzureMLStudio-1.0-py3-none-any.whl",
    "github_pat_tools_for_enterprise_automation-1.0-py3-none-any.whl",
    "glpat-1-cp311-cp311-manylinux_2_17_x86_64.whl",
]


@pytest.mark.parametrize("joint", ["\n", "\r\n", "\u200b"])
@pytest.mark.parametrize("prefix", ["ghp_", "hf_", "github_pat_"])
def test_a_body_broken_by_a_line_then_a_version_is_hidden(prefix: str, joint: str) -> None:
    """Before: ``ghp_<18>\\n<18>-1`` showed the body's rest. The ``-<digit>`` ending is a
    wheel's version, and a wheel named like a token stays whole; no wheel's name holds a
    line break."""
    body = KNOWN_TOKENS[prefix] if prefix == "github_pat_" else BODY[:34]
    assert_hidden(body, f"{prefix}{body[:16]}{joint}{body[16:]}-1.0")
    for name in _WHEELS:
        line = f"Downloading https://files.example/p/{name} (12 kB)"
        assert redact(line) == line
        assert redact_urls(line) == line


# A token among any mix of glue, escapes and control strings, with noise around it.
_ANY_GLUE = st.sampled_from([
    *_GLUE, "\n", "\r\n", "\t", "\u200b", "\x1b[0m", "\x1b]8;;u\x1b\\", "%0A", "\\n", "&#8203;",
    "\\N{ZERO WIDTH SPACE}", "\xad", "\\u200b", "%E2%80%8B",
])  # fmt: skip
_NOISE = st.text(st.sampled_from("abc XYZ 012 .,:;=/()[]'\""), max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.sampled_from(sorted(KNOWN_TOKENS)),
    cuts=st.lists(st.tuples(st.integers(0, 60), _ANY_GLUE), max_size=4),
    before=_NOISE,
    after=_NOISE,
)
def test_a_known_token_in_any_glue_is_hidden(
    prefix: str, cuts: list[tuple[int, str]], before: str, after: str
) -> None:
    token = prefix + KNOWN_TOKENS[prefix]
    last = len(token) - 1
    for at, glue in sorted(((min(at, last), glue) for at, glue in cuts), reverse=True):
        token = token[:at] + glue + token[at:]  # between the token's own characters
    assert_hidden(KNOWN_TOKENS[prefix], f"{before} {token} {after}")


# Ordinary lines of pip, uv, conda, docker and git output, with no secret in them.
_WORD = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_lowercase),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8),
)
_NAME = st.builds(
    lambda words, sep: sep.join(words),
    st.lists(st.one_of(_WORD, st.sampled_from(["hf", "npm", "token", "auth", "ghp", "pypi"])),
             min_size=1, max_size=4),
    st.sampled_from(["-", "_"]),
)  # fmt: skip
_VERSION = st.lists(st.integers(0, 300), min_size=1, max_size=3).map(
    lambda parts: ".".join(map(str, parts))
)
_COLOUR = st.sampled_from(["", "\x1b[1m", "\x1b[32m", "\x1b[2m"])


def _line(template: str, colour: str, name: str, version: str, seed: int) -> str:
    """``template`` filled in (digests of ``seed``), coloured as uv and pip colour a line."""
    data = seed.to_bytes(8, "big")
    line = template.format(
        name=name,
        version=version,
        digest=hashlib.sha256(data).hexdigest(),
        sha=hashlib.sha1(data).hexdigest(),
        b64=base64.b64encode(hashlib.sha512(data).digest()).decode(),
    )
    return f"{colour}{line}\x1b[0m" if colour else line


_LINES = st.builds(
    _line,
    st.sampled_from([
        "Collecting {name}=={version}",
        "  Downloading {name}-{version}-py3-none-any.whl (12 kB)",
        "  Using cached https://files.pythonhosted.org/packages/{sha}/{name}-{version}.tar.gz",
        "Successfully installed {name}-{version} {name}_ext-{version}",
        " + {name}=={version}",
        "Resolved 12 packages in 3ms",
        "  {name}  {version}  py_0  conda-forge",
        "{name}-{version}-h{sha}_0.conda",
        "Digest: sha256:{digest}",
        "{sha} Merge {name} {version}",
        "commit {sha}",
        '<a href="https://h/{name}-{version}.tar.gz#sha256={digest}&amp;x=1">{name}</a>',
        "integrity sha512-{b64}",
        "data:image/png;base64,{b64}",
        "{name}=={version} --hash=sha256:{digest}",
    ]),
    st.one_of(st.just(""), _COLOUR),
    _NAME,
    _VERSION,
    st.integers(0, 2**64 - 1),
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(_LINES, min_size=1, max_size=4))
def test_ordinary_log_lines_stay_whole(lines: list[str]) -> None:
    """A guard against over-hiding: passes before and after the fixes above."""
    text = "\n".join(lines)
    assert redact(text) == text
    assert redact_urls(text) == text
