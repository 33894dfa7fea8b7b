"""Attack pass 51: ``redaction.redact_urls`` (a lock's URLs and find-links, a bundle's manifest,
the inputs hash) must hide every credential a URL carries and change no other byte: a changed
byte is a URL no index answers or a manifest that no longer matches. Each test names what it
protects and fails if its fix is undone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.redaction import redact, redact_urls

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
