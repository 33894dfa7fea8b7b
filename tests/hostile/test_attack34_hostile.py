"""Attack pass 34: the URL-only redactor as the bundle's manifest uses it, the find-links beside
the owning index, and hand-edited locks. Each test names what it protects and fails if its fix
is undone."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.cache.bundle import shareable_manifest
from mlenv.errors import MlenvError, redact, redact_urls
from tests.support.cli import run_mlenv
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.wheels import build_wheel, write_simple_index

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


# Projects among PyPI's 15,000 most downloaded whose canonical name ends in a credential word
# (``_CREDENTIAL_END``): every message naming one lost its rest to ``***``.
POPULAR = [
    "keyrings-google-artifactregistry-auth",  # the keyring GCP's Artifact Registry needs
    "azure-mgmt-authorization",
    "alibabacloud-credentials",
    "djangorestframework-api-key",
    "eks-token",
    "git-credentials",
]


@pytest.mark.parametrize("project", POPULAR)
@pytest.mark.parametrize(
    "shape",
    [
        "{}: no version satisfies all of",
        "{}: not found on https://pypi.example/simple",
        "{}=2.0 is not in conda-forge",
        "'{}': no wheel for the target",
        "  {} : 3 candidates refused",
    ],
)
def test_a_popular_projects_name_is_no_credential_header(project: str, shape: str) -> None:
    """mlenv prints a project by its canonical name (lowercase words joined by ``-``), as
    HTTP/2 spells a header; a header so spelled is one of a few (``proxy-authorization``,
    ``private-token``, ``api-key``...), all of whose words are credential or HTTP words. A
    project's other words (``azure``, ``git``, ``eks``) tell it apart."""
    text = shape.format(project)
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "proxy-authorization: S3CRETVALUE",
        "private-token: S3CRETVALUE",
        "job-token: S3CRETVALUE",
        "deploy-token: S3CRETVALUE",
        "set-cookie: session=S3CRETVALUE",
        "api-key: S3CRETVALUE",
        "ocp-apim-subscription-key: S3CRETVALUE",
        "dd-api-key: S3CRETVALUE",
        "dd-application-key: S3CRETVALUE",
        "client-secret = S3CRETVALUE",
        "auth-token: S3CRETVALUE",
        "{'secret-key': 'S3CRETVALUE'}",
        "[(b'private-token', b'S3CRETVALUE')]",
        # other spellings than a canonical project name keep the last-word rule
        "Azure-Mgmt-Authorization: S3CRETVALUE",
        "EKS_TOKEN=S3CRETVALUE",
        "git_credentials: S3CRETVALUE",
        "x-git-credentials: S3CRETVALUE",
    ],
)
def test_credential_headers_spelled_in_lowercase_stay_hidden(text: str) -> None:
    shown = redact(text)
    assert "S3CRETVALUE" not in shown and "***" in shown, shown


def test_lock_names_the_popular_project_it_cannot_find(tmp_path: Path) -> None:
    """``mlenv lock`` said ``keyrings-google-artifactregistry-auth: ***``: the user could not
    read why the keyring GCP's Artifact Registry needs was not locked."""
    index = write_simple_index(tmp_path / "index", [build_wheel("numpy", "2.0")])
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        f'{HEAD}index-url = "{index}"\ndependencies = ["keyrings.google-artifactregistry-auth"]\n'
    )
    result = run_mlenv(["lock"], cwd=project)
    assert result.returncode == 1, result.stderr
    assert "keyrings-google-artifactregistry-auth: not found on" in result.stderr, result.stderr
    assert "***" not in result.stderr, result.stderr


def test_the_project_spelling_rule_keeps_the_scan_linear() -> None:
    """The spelling test reads each name once, after the name patterns did."""
    shapes: list[Callable[[int], str]] = [
        lambda n: "a-" * (n // 2) + "token: x",
        lambda n: "eks-token: " * (n // 11),
        lambda n: "(b'git-credentials', " * (n // 21),
        lambda n: "a" * n + "-token=x",
    ]
    for number, shape in enumerate(shapes):
        assert growth(redact, shape) < LINEAR_BOUND, number
