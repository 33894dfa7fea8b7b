"""Pass 33: the credential-header rule against the names mlenv's own text puts before a colon
or an ``=``: projects (``google-auth``, ``flask-session``, ``ssh-key``), whose last word may be
``auth``, ``key`` or ``session`` as a header's may. Pass 32 left them hidden: ``google-auth:
no version satisfies ...`` read ``google-auth: ***``, and a bundle's manifest lost the rest of a
``"google-auth=2.0"`` conda line. A bare name (no quote after it) is a header's only when its
last word is a credential itself or it has a custom header's ``X-`` (``redaction._CREDENTIAL_END``);
data (a location, a bundle's manifest) passes ``redaction.redact_urls``, which hides what URLs
carry and never reads to a line's end."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cache.bundle import shareable_manifest
from mlenv.lockfile_fresh import inputs_hash
from mlenv.manifest_read import loads
from mlenv.redaction import redact, redact_urls

# a project's name: lowercase words, the last one a word headers end in too
PROJECT = st.builds(
    "{}-{}".format,
    st.from_regex(r"[a-z][a-z0-9]{1,8}(-[a-z0-9]{1,6}){0,2}", fullmatch=True).filter(
        lambda n: not n.startswith(("x-", "x_"))
    ),
    st.sampled_from(["auth", "key", "session", "oauth", "keys"]),
)
SHOWN = st.sampled_from(
    [
        "{}: no version satisfies all of",
        "{}==2.0 (from the manifest)",
        "{}=2.0 is not in conda-forge",
        "  {} : 3 candidates refused",
        "'{}': no wheel for the target",
        "{{'{}': '2.0'}}",
    ]
)


@settings(max_examples=300)
@given(PROJECT, SHOWN)
def test_a_projects_name_before_a_colon_or_an_equals_is_shown_whole(
    project: str, shape: str
) -> None:
    text = shape.format(project)
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "X-Registry-Auth: S3CRETVALUE",
        "x-api-key: S3CRETVALUE",
        "X-Session-Id: S3CRETVALUE",
        "Ocp-Apim-Subscription-Key: S3CRETVALUE",
        "api-key=S3CRETVALUE",
        "private_key: S3CRETVALUE",
        "AWS_SESSION_TOKEN=S3CRETVALUE",
        "Proxy-Authorization: S3CRETVALUE",
        "{'secret-key': 'S3CRETVALUE'}",
        "{'X-Api-Key': b'S3CRETVALUE'}",
        "Cookie: S3CRETVALUE",
    ],
)
def test_credential_headers_by_their_last_word_stay_hidden(text: str) -> None:
    """What the last-word rule keeps, bare or quoted: custom ``X-`` headers and credential last
    words (the key of an API, an access, a subscription or a secret; a session id)."""
    shown = redact(text)
    assert "S3CRETVALUE" not in shown and "***" in shown, shown


MANIFEST = """[environment]
name = "demo"
python = "3.11"
[pypi]
index-url = "https://user:S3CRETVALUE@pypi.example/simple?token=S3CRETVALUE"
find-links = ["wheels: x-api-key: 1"]
dependencies = ["google-auth==2.0", "tiktoken"]
[conda]
channels = ["conda-forge"]
dependencies = ["google-auth=2.0", "x-api-key: 1", "libsecret"]
"""


def test_a_bundles_manifest_hides_url_secrets_and_stays_the_same_toml(tmp_path: Path) -> None:
    """The bundle's manifest (``shareable_manifest``) passes ``redact_urls``: its URL's secrets
    are gone, and every other byte is the manifest's, header-like lines included, so the air
    gap reads the same resolution inputs the lock was made from."""
    path = tmp_path / "mlenv.toml"
    path.write_text(MANIFEST)
    shared = shareable_manifest(path).decode()
    assert "S3CRETVALUE" not in shared
    assert shared == MANIFEST.replace("user:S3CRETVALUE@", "***@").replace("S3CRETVALUE", "***")
    assert tomllib.loads(shared)["conda"]["dependencies"] == [
        "google-auth=2.0", "x-api-key: 1", "libsecret"
    ]  # fmt: skip
    assert inputs_hash(loads(shared)) == inputs_hash(loads(MANIFEST))


def test_locations_are_redacted_as_urls_only() -> None:
    """A location counted in the inputs hash is judged as a URL: a header-like piece in a
    directory's name is part of the name, not a secret to hide."""
    assert redact_urls("wheels/x-api-key: 1") == "wheels/x-api-key: 1"
    assert redact_urls("https://u:p@h/simple?sig=S") == "https://***@h/simple?sig=***"
