"""Attack pass 32: today's redactor, index and drift changes, met by what users really run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.cache.bundle import shareable_manifest
from mlenv.redaction import redact
from tests.support.cli import run_mlenv
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.wheels import build_wheel, write_simple_index

# Projects whose names the credential-header rule took for headers: one word ending in
# token/secret/cookie, or a hyphenated name ending in -auth/-session/-key.
PROJECTS = ["tiktoken", "google-auth", "flask-session", "libsecret", "browsercookie"]


@pytest.mark.parametrize(
    "text",
    [
        "no version of tiktoken==0.9.9 for linux-64",
        "  google-auth==3.0 (from [pypi].dependencies)",
        "flask-session===0.5 is pinned",
        "x (tiktoken==0.7; python_version < '3.12') conflicts",
        "  tiktoken: no version satisfies the requirements",
        "libsecret=0.18 is not in conda-forge",
        "package 'browsercookie': no wheel for the target",
        'dependencies = ["google-auth", "numpy", "tiktoken", "regex"]',
        'dependencies = ["tiktoken==0.5.1", "google-auth==2.0"]',
    ],
)
def test_a_requirement_in_a_message_is_not_a_credential_header(text: str) -> None:
    """A pin (``name==version``), a project's name before a colon and a list of project names
    were read as ``Name=value`` / ``Name: value`` / a header pair: the rest was ``***``."""
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "[('Host', 'h.example'), ('X-Api-Key', 'S3CRETVALUE')]",
        "[(b'authorization', b'token S3CRETVALUE')]",
        "X-CSRFToken: S3CRETVALUE",
        "HF_TOKEN=S3CRETVALUE",
        "token: S3CRETVALUE",
        "Set-Cookie: sessionid=S3CRETVALUE",
        "PGPASSWORD=S3CRETVALUE",
        "X-Api-Key = S3CRETVALUE",
        '{"identitytoken": "S3CRETVALUE"}',  # a Docker config's credential words, glued
        "registrytoken: S3CRETVALUE",
        "csrftoken=S3CRETVALUE",
        "clientsecret: S3CRETVALUE",
    ],
)
def test_credential_headers_stay_hidden(text: str) -> None:
    """What the project-name rule must not give back: a glued credential word, a tuple pair."""
    shown = redact(text)
    assert "S3CRETVALUE" not in shown and "***" in shown, shown


def _project(tmp_path: Path, dependencies: list[str]) -> Path:
    wheels = [build_wheel(name, "2.0") for name in PROJECTS]
    index = write_simple_index(tmp_path / "index", wheels)
    project = tmp_path / "project"
    project.mkdir()
    listed = ", ".join(f'"{d}"' for d in dependencies)
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "demo"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = [{listed}]\n'
    )
    return project


def test_a_failed_lock_names_the_requirement_it_could_not_meet(tmp_path: Path) -> None:
    """``mlenv lock`` said ``tiktoken: ***`` and ``google-auth=***``: the user could not see
    which requirement failed nor the version asked for."""
    project = _project(tmp_path, ["tiktoken==9.9", "google-auth==3.0"])
    result = run_mlenv(["lock"], cwd=project)
    assert result.returncode == 1, result.stderr
    assert "***" not in result.stderr, result.stderr
    assert "tiktoken==9.9" in result.stderr or "google-auth==3.0" in result.stderr


def test_a_bundles_manifest_is_the_manifest(tmp_path: Path) -> None:
    """The bundle's manifest (redacted for the air gap) lost everything after the first
    ``tiktoken==`` of its dependency line: it was no TOML, and the air-gapped `lock --check`
    and `verify` refused it."""
    project = _project(tmp_path, ["tiktoken==2.0", "google-auth==2.0", "libsecret", "regex"])
    manifest = project / "mlenv.toml"
    assert shareable_manifest(manifest) == manifest.read_bytes()


def test_the_requirement_and_pair_rules_keep_the_scan_linear() -> None:
    """The ``==`` look-ahead and the pair's opening test are constant work per name."""
    shapes: list[Callable[[int], str]] = [
        lambda n: "x-auth==" * (n // 8),
        lambda n: '"x-auth", ' * (n // 10),
        lambda n: "('x-auth', " * (n // 11),
        lambda n: "x-auth" + "=" * n,
        lambda n: "tiktoken: " * (n // 10),
        lambda n: "a" * n + "token==",
    ]
    for number, shape in enumerate(shapes):
        assert growth(redact, shape) < LINEAR_BOUND, number
