"""Attack pass 51: ``redaction.redact_urls`` (a lock's URLs and find-links, a bundle's manifest,
the inputs hash) must hide every credential a URL carries and change no other byte: a changed
byte is a URL no index answers or a manifest that no longer matches. Each test names what it
protects and fails if its fix is undone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.redaction import redact, redact_urls
from tests.support.old_redact import reference_redact

pytestmark = pytest.mark.hostile

SECRET = "S3CRETvalue"

# Held by ``redaction._AUTH_VALUE``: in data, a ``Basic``/``Bearer`` value is hidden only when
# it looks like a credential; a directory or project so named is a path.
AUTH_WORD_PATHS = [
    "Basic wheels",
    "./Basic wheels/",
    "file:///srv/Basic wheels/",
    "/data/Bearer tokens/linux/",
    "./Basic Wheels",
    "/srv/Bearer Tokens/Linux/x.whl",
]


@pytest.mark.parametrize("location", AUTH_WORD_PATHS)
def test_a_path_named_basic_or_bearer_is_kept_whole(location: str) -> None:
    """A find-links directory ``Basic wheels`` became ``Basic ***`` in the lock and the inputs
    hash: a location no longer found."""
    assert redact_urls(location) == location


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Basic {SECRET}",
        "Authorization: Basic dXNlcjpwYXNz",
        "Authorization: Basic YTpi",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "Bearer deadbeef0123",
        "Basic abc+def",
        "Basic abcdef==",
    ],
)
def test_a_credential_after_basic_or_bearer_is_still_hidden(text: str) -> None:
    """The narrower data rule still hides what a credential looks like; ``redact`` hides all."""
    value = text.rsplit(" ", 1)[1]
    assert value not in redact_urls(text)
    assert value not in redact(text)


@given(st.from_regex(r"[a-z][a-z._~-]{0,20}", fullmatch=True))
def test_a_lowercase_word_after_basic_is_a_path(word: str) -> None:
    """A lowercase word (a directory's, a project's) after ``Basic `` is kept in data, and
    hidden in text shown."""
    for scheme in ("Basic", "Bearer"):
        location = f"./{scheme} {word}/x.whl"
        assert redact_urls(location) == location
        assert word not in redact(location).split(" ", 1)[1]


# Held by ``redaction._SECRET_NAME``: a parameter named like a count, a pin of a build or a
# model's tokenizer carries no credential; in a lock's URL its value must stay.
HARMLESS_URLS = [
    "https://h/simple/x.whl?build_pin=3",
    "https://h/simple/?session_count=2",
    "https://h/simple/?sessions=4&page=2",
    "https://h/simple/?version-pin=1.2",
    "https://h/simple/?spin=1",
    "https://h/models/t5/?tokenizer=sentencepiece",
    "https://h/simple/?Tokenizer=bpe#sha256=ab",
    "https://h/simple/?session_timeout=30",
    "https://h/simple/?max_tokens=512&tokens_per_batch=8",
    "https://h/simple/?token_count=1",
    "https://h:8443/simple/?token_type=bearer",
    "https://h/simple/?maxTokens=2",
    "https://h/simple/?token_url=https://h/t",
]


@pytest.mark.parametrize("url", HARMLESS_URLS)
def test_a_harmless_parameter_keeps_its_value(url: str) -> None:
    """``?build_pin=3`` became ``?build_pin=***`` in a lock: a URL no index answers."""
    assert redact_urls(url) == url
    assert redact(url) == url


SECRET_URLS = [
    f"https://acme.jfrog.io/artifactory/api/pypi/pypi-remote/simple?X-JFrog-Art-Api={SECRET}",
    f"https://cas.example.edu/simple/?ticket=ST-{SECRET}",
    f"https://h/simple/?bearer={SECRET}",
    f"https://h/simple/?authkey={SECRET}",
    f"https://h/simple/?user_pin={SECRET}",
    f"https://h/simple/?pin={SECRET}",
    f"https://h/simple/?cardPin={SECRET}",
    f"https://h/simple/?session={SECRET}",
    f"https://h/simple/?session_id={SECRET}",
    f"https://h/simple/?sessionToken={SECRET}",
    f"https://h/simple/?user_session={SECRET}",
    f"https://h/simple/?tokenizer_token={SECRET}",
    f"https://h/simple/?x-auth-token={SECRET}",
    f"https://h/simple/?tokens={SECRET}",
    f"https://h/simple/?token_secret={SECRET}",
    f"https://h/simple/?refreshToken={SECRET}",
    f"https://h/login?next=https%3A%2F%2Fh%2Fx%3Fticket%3D{SECRET}",
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_a_credential_parameter_is_hidden(url: str) -> None:
    """``?X-JFrog-Art-Api=``, a CAS ``?ticket=``, ``?bearer=`` and ``?authkey=`` were kept
    whole in a lock; the narrowed names still hide what they hid."""
    assert SECRET not in redact_urls(url)
    assert SECRET not in redact(url)
    assert reference_redact(url) == redact(url)


@pytest.mark.parametrize("url", HARMLESS_URLS)
def test_the_reference_keeps_a_harmless_parameter(url: str) -> None:
    assert reference_redact(url) == url


# Credentials in the userinfo of real index URLs, each hidden with the host kept.
USERINFO_URLS = [
    f"https://aws:{SECRET}@dom-123456789012.d.codeartifact.us-east-1.amazonaws.com/pypi/repo/simple/",
    f"https://user:{SECRET}@pkgs.dev.azure.com/org/_packaging/feed/pypi/simple/",
    f"https://__token__:{SECRET}@gitlab.com/api/v4/projects/123/packages/pypi/simple",
    f"https://oauth2accesstoken:{SECRET}@us-python.pkg.dev/proj/repo/simple/",
    f"https://u:{SECRET}@[::1]:8080/simple/",
]


@pytest.mark.parametrize("url", USERINFO_URLS)
def test_userinfo_of_a_real_index_is_hidden_and_its_host_kept(url: str) -> None:
    shown = redact_urls(url)
    assert SECRET not in shown
    assert shown.split("@", 1)[1] == url.split("@", 1)[1]


NAME_PIECES = ["session", "Session", "pin", "Pin", "token", "izer", "ise", "s", "_", "-", ".",
               "user", "build", "card", "count", "id", "key", "auth", "ticket", "bearer", "art",
               "api", "x", "sp", "data", "max", "num", "type", "count", "url",
               "per", "T", "Tokens", "type_hint"]  # fmt: skip


@given(st.lists(st.sampled_from(NAME_PIECES), min_size=1, max_size=6), st.sampled_from("?&#;"))
def test_a_parameter_name_is_judged_as_the_reference_judges_it(
    pieces: list[str], separator: str
) -> None:
    """``_SECRET_NAME`` and ``reference_redact``'s names agree on every name of these words."""
    url = f"https://h/simple/x.whl?a=1{separator}{''.join(pieces)}={SECRET}"
    assert redact(url) == reference_redact(url)
    assert redact_urls(url) == redact(url)


@pytest.mark.parametrize(
    ("name", "hidden"),
    [("--pin", True), ("--Pin", True), ("--x-api", True), ("--my-pin", True), ("--cookie", True),
     ("--basic-auth", True), ("--no-pin", False), ("--x.api", False), ("-pin", False),
     ("--build", False)],
)  # fmt: skip
def test_a_parameter_spelled_as_an_option_is_judged_as_that_option(name: str, hidden: bool) -> None:
    """``?--pin=`` is the option ``--pin=`` carried in a URL: ``redact`` hides it as an option
    and ``redact_urls`` (data, no option rule) as a parameter; both agree."""
    url = f"https://h/simple/x.whl?a=1&{name}={SECRET}"
    assert (SECRET not in redact_urls(url)) is hidden
    assert redact_urls(url) == redact(url)
