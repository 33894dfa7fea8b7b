"""Integrity: a lock edited by hand and a base image whose blobs were changed are refused by
every command that would trust them, with nothing written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mlenv.commands.build import output_digests
from mlenv.tarball import Entry
from tests.support.cli import run_mlenv
from tests.support.golden import golden_project
from tests.support.images import write_image

pytestmark = pytest.mark.hostile

HASH = re.compile(r'(inputs-hash = "sha256:)([0-9a-f])')
SHA256 = re.compile(r'(\nsha256 = ")[0-9a-f]{64}')


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The golden project fetched and built once; each test edits a copy."""
    root = tmp_path_factory.mktemp("template")
    project = golden_project(root / "project")
    env = {"MLENV_CACHE_DIR": str(root / "cache"), "SOURCE_DATE_EPOCH": ""}
    for args in (["fetch"], ["build", "--offline"]):
        result = run_mlenv(args, project, env)
        assert result.returncode == 0, result.stderr
    return project, env


@pytest.fixture
def built(tmp_path: Path, template: tuple[Path, dict[str, str]]) -> tuple[Path, dict[str, str]]:
    project, env = template
    return Path(shutil.copytree(project, tmp_path / "project", symlinks=True)), env


def _flip_first_hex_digit(match: re.Match[str]) -> str:
    return match[1] + ("1" if match[2] == "0" else "0")


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        pytest.param(
            lambda text: HASH.sub(_flip_first_hex_digit, text),
            "stale",
            id="inputs-hash",
        ),
        pytest.param(
            lambda text: SHA256.sub(r"\1not-a-digest", text),
            "platform.linux-64.package[0].sha256: expected 64 lower-case hex digits",
            id="damaged-sha256",
        ),
    ],
)
@pytest.mark.parametrize(
    "args",
    [
        ["lock", "--check"],
        ["build", "--offline"],
        ["export", "--format", "requirements", "-o", "requirements.txt"],
        ["fetch"],
        ["verify"],
    ],
    ids=lambda args: args[0],
)
def test_a_hand_edited_lock_is_refused(
    built: tuple[Path, dict[str, str]], edit: object, says: str, args: list[str]
) -> None:
    project, env = built
    lock = project / "mlenv.lock"
    assert callable(edit)
    edited = edit(lock.read_text())
    assert edited != lock.read_text()
    lock.write_text(edited)
    before = output_digests(project / "dist")
    result = run_mlenv(args, project, env)
    assert result.returncode == 1
    assert says in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert output_digests(project / "dist") == before
    assert not (project / "requirements.txt").exists()


def _base_image(project: Path) -> dict[str, str]:
    """A one-layer base image beside the manifest; its blob digests by role."""
    (project / "rootfs" / "etc").mkdir(parents=True)
    os_release = project / "rootfs" / "etc" / "os-release"
    os_release.write_text("ID=test\n")
    entries = [
        Entry("etc", "dir", 0o755),
        Entry("etc/os-release", "file", 0o644, source=os_release, size=os_release.stat().st_size),
    ]
    image = write_image(project / "base", [("base", entries)], ref="latest", cmd=["/bin/sh"])
    with (project / "mlenv.toml").open("a") as manifest:
        manifest.write('[build]\nbase-image = "base"\n')
    return {
        "layer": image.layer_digests[0],
        "config": image.config_digest,
        "manifest": image.manifest_digest,
    }


@pytest.mark.parametrize("blob", ["layer", "config", "manifest"])
def test_a_base_image_blob_that_does_not_match_its_digest_is_refused(
    built: tuple[Path, dict[str, str]], blob: str
) -> None:
    project, env = built
    digest = _base_image(project)[blob]
    on_base = run_mlenv(["build", "--offline"], project, env)
    assert on_base.returncode == 0, on_base.stderr
    before = output_digests(project / "dist")
    path = project / "base" / "blobs" / "sha256" / digest.removeprefix("sha256:")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the digest can tell
    path.unlink()  # a new file: dist/oci holds the old layer by a hardlink
    path.write_bytes(bytes(data))
    result = run_mlenv(["build", "--offline"], project, env)
    assert result.returncode == 1, result.stderr
    assert f"blob {digest} is corrupt" in result.stderr
    assert "Traceback" not in result.stderr
    assert output_digests(project / "dist") == before
