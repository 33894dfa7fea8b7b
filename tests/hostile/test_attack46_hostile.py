"""Adversary pass 46: `mlenv verify` as the last gate before deploy, and the deploys after it.

`verify dist/image.tar` holds image.tar to the build.json beside it; `mlenv push` sends
`dist/oci`, which nothing held to that record: a layout swapped for another build's (every
blob of it matching its own digest) passed verify and was pushed as the build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.daemons import registry
from tests.support.golden import golden_project


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """The golden project built twice, at two SOURCE_DATE_EPOCHs: two images of one lock."""
    tmp = tmp_path_factory.mktemp("builds")
    env = {"MLENV_CACHE_DIR": str(tmp / "cache")}
    first = golden_project(tmp / "first")
    fetched = run_mlenv(["fetch"], first, env)
    assert fetched.returncode == 0, fetched.stderr
    second = tmp / "second"
    shutil.copytree(first, second)
    for project, epoch in ((first, "315532800"), (second, "1000000000")):
        built = run_mlenv(["build", "--offline"], project, {**env, "SOURCE_DATE_EPOCH": epoch})
        assert built.returncode == 0, built.stderr
    return first, second, env


def _manifest_digest(dist: Path) -> str:
    return str(json.loads((dist / "build.json").read_text())["outputs"]["oci"]["manifest-digest"])


def _swapped(tmp: Path, first: Path, second: Path) -> Path:
    """A copy of the first project whose dist/oci is the second build's layout."""
    project = tmp / "swapped"
    shutil.copytree(first, project)
    shutil.rmtree(project / "dist" / "oci")
    shutil.copytree(second / "dist" / "oci", project / "dist" / "oci")
    return project


def test_push_never_sends_a_layout_its_build_record_does_not_name(
    two_builds: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """Attacks the step after `verify dist/image.tar`: dist/oci replaced by another build's
    layout (self-consistent: every blob matches its digest). verify still passes, as it judges
    image.tar, but `mlenv push` must refuse to send a layout whose image is not the manifest
    build.json records (`commands.push.recorded_digest`, checked in `oci.registry.push` on the
    very index it pushes). Before: the other image was pushed and its digest printed."""
    first, second, env = two_builds
    wanted, other = _manifest_digest(first / "dist"), _manifest_digest(second / "dist")
    assert wanted != other
    project = _swapped(tmp_path, first, second)
    checked = run_mlenv(["verify", "dist/image.tar"], project, env)
    assert checked.returncode == 0, checked.stderr
    with registry() as served:
        ref = f"{served.host}/team/golden:1"
        pushed = run_mlenv(["push", "--insecure", ref], project, env)
        sent = [a for a in served.accesses() if a.method in ("PUT", "POST", "PATCH")]
        good = run_mlenv(["push", "--insecure", ref], first, env)
    assert pushed.returncode == 1, (pushed.stdout, pushed.stderr)
    assert other not in pushed.stdout
    assert wanted in pushed.stderr and other in pushed.stderr
    assert "dist/oci/index.json" in pushed.stderr
    assert sent == [], sent  # nothing reached the registry
    assert "Traceback" not in pushed.stderr
    assert good.returncode == 0, good.stderr  # the build as written still pushes
    assert good.stdout.strip() == f"{ref}@{wanted}"


RECORDS = {
    "garbage": b"not json",
    "nested": b"[" * 100_000,
    "no-image": None,  # the record with its oci output removed
    "not-an-object": b"[]",
}


@pytest.mark.parametrize("shape", sorted(RECORDS))
def test_push_refuses_a_layout_beside_a_build_record_it_cannot_read(
    two_builds: tuple[Path, Path, dict[str, str]], tmp_path: Path, shape: str
) -> None:
    """A build.json that cannot say which image the build wrote (garbage, nested past the
    parser's guard, not a record, recording no image) cannot vouch for dist/oci: push refuses,
    naming build.json, before any request, and never with a traceback."""
    first, _, env = two_builds
    project = tmp_path / "p"
    shutil.copytree(first, project)
    record = project / "dist" / "build.json"
    data = RECORDS[shape]
    if data is None:
        parsed = json.loads(record.read_text())
        del parsed["outputs"]["oci"]
        data = json.dumps(parsed).encode()
    record.write_bytes(data)
    # registry.invalid never resolves: the refusal must come before any connection
    pushed = run_mlenv(["push", "registry.invalid/team/golden:1"], project, env)
    assert pushed.returncode != 0, pushed.stderr
    assert "dist/build.json" in pushed.stderr, pushed.stderr
    assert "Traceback" not in pushed.stderr and "internal error" not in pushed.stderr
