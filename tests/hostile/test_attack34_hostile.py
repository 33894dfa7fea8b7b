"""Attack pass 34: the URL-only redactor as the bundle's manifest uses it, the find-links beside
the owning index, and hand-edited locks. Each test names what it protects and fails if its fix
is undone."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mlenv.cache.bundle import shareable_manifest
from mlenv.errors import MlenvError, redact_urls

pytestmark = pytest.mark.hostile

HEAD = '[environment]\nname = "demo"\npython = "3.11"\n[pypi]\n'


def _each_url_redacted(value: object) -> object:
    """A parsed manifest with every string (keys too) passed through ``redact_urls``."""
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {redact_urls(k): _each_url_redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_each_url_redacted(item) for item in value]
    return value


def _shared_or_refused(path: Path) -> str | None:
    """The bundle's manifest, checked to read as the manifest with each value redacted; None
    when refused, after checking the refusal names the file and the key and hints."""
    try:
        shared = shareable_manifest(path).decode()
    except MlenvError as error:
        shown = str(error)
        assert "S3CRET" not in shown and "VALUE" not in shown, shown
        assert str(path) in shown and "hint:" in shown, shown
        assert ": pypi." in shown or ": line 5" in shown, shown
        return None
    wanted = _each_url_redacted(tomllib.loads(path.read_text()))
    assert tomllib.loads(shared) == wanted, shared
    return shared


@pytest.mark.parametrize(
    "line",
    [
        # TOML escapes spell the '@' or the parameter's name: the raw text shows no URL secret
        'index-url = "https://user:S3CRETVALUE\\u0040pypi.example/simple"\n',
        'index-url = "https://pypi.example/simple?tok\\u0065n=S3CRETVALUE"\n',
        'extra-index-urls = ["https://pypi.example/simple?token\\u003dS3CRETVALUE"]\n',
        # a line-ending backslash continues the secret on the next line
        'index-url = """https://pypi.example/simple?token=S3CRET\\\n  VALUE"""\n',
    ],
)
def test_a_bundles_manifest_never_carries_a_secret_spelled_with_toml_escapes(
    tmp_path: Path, line: str
) -> None:
    """``shareable_manifest`` redacted the file's text, but TOML reads the escapes: the copy
    a bundle carries into the air gap held the password or token (or its tail), as the decoded
    manifest shows. It is refused, naming the key, never written with the secret."""
    path = tmp_path / "mlenv.toml"
    path.write_text(HEAD + line)
    shared = _shared_or_refused(path)
    assert shared is None or ("S3CRET" not in shared and "VALUE" not in shared)


@pytest.mark.parametrize(
    "line",
    [
        # an escaped quote inside a secret value: the '\\' went with the value, the quote
        # then closed the string early and the bundle's manifest was no TOML
        'index-url = "https://pypi.example/simple?token=ab\\"cd"\n',
        # no blank between two strings: the userinfo pattern ran from the first "://" over
        # the '",' to the '@' of the next string and fused the two into one
        'find-links = ["https://h.example","wheels@2"]\n',
    ],
)
def test_a_bundles_manifest_is_the_manifest_or_refused(tmp_path: Path, line: str) -> None:
    """What the bundle carries reads as the manifest read with its URLs redacted, value by
    value; a text whose redaction changes any other value is refused with a clear error, not
    written as TOML the air gap refuses or as other resolution inputs."""
    path = tmp_path / "mlenv.toml"
    path.write_text(HEAD + line)
    _shared_or_refused(path)


def test_a_plain_manifest_is_still_shared_byte_for_byte_but_its_secrets(tmp_path: Path) -> None:
    path = tmp_path / "mlenv.toml"
    url = "https://u:S3CRETVALUE@h.example/simple?token=S3CRETVALUE"
    path.write_text(
        f'{HEAD}index-url = "{url}"\nfind-links = ["https://h.example", "wheels@2"]  # ops@corp\n'
    )
    shared = _shared_or_refused(path)
    text = path.read_text()
    assert shared == text.replace("u:S3CRETVALUE@", "***@").replace("S3CRETVALUE", "***")
