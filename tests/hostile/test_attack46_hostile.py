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
from tests.support.wheels import build_wheel, write_simple_index


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


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _same_size(path: Path) -> None:
    """The blob rewritten in place with other bytes of the same size."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def _layer(layout: Path, dist: Path) -> None:
    digest = json.loads((dist / "build.json").read_text())["outputs"]["oci"]["layers"][0]["digest"]
    _same_size(_blob(layout, digest))


def _config(layout: Path, dist: Path) -> None:
    digest = json.loads((dist / "build.json").read_text())["outputs"]["oci"]["config-digest"]
    _same_size(_blob(layout, digest))


def _two_images(layout: Path, dist: Path) -> None:
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] = index["manifests"] * 2
    (layout / "index.json").write_text(json.dumps(index))


def _missing_layer(layout: Path, dist: Path) -> None:
    digest = json.loads((dist / "build.json").read_text())["outputs"]["oci"]["layers"][0]["digest"]
    _blob(layout, digest).unlink()


TAMPERED = {"layer": _layer, "config": _config, "two-images": _two_images,
            "missing-layer": _missing_layer}  # fmt: skip


def test_verify_judges_the_layout_a_deploy_sends(
    two_builds: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """`verify dist/oci` (before: refused as a directory, so the layout `skopeo copy oci:` and
    `mlenv push` send had no check at all): the layout as built passes; another build's
    layout in its place fails naming both images (`commands.verify._layout_digest`, over
    `oci.checked.checked_image`)."""
    first, second, env = two_builds
    wanted, other = _manifest_digest(first / "dist"), _manifest_digest(second / "dist")
    good = run_mlenv(["verify", "dist/oci"], first, env)
    assert good.returncode == 0, good.stdout + good.stderr
    project = _swapped(tmp_path, first, second)
    swapped = run_mlenv(["verify", "dist/oci"], project, env)
    assert swapped.returncode == 1, swapped.stdout + swapped.stderr
    shown = swapped.stdout + swapped.stderr
    assert wanted.removeprefix("sha256:") in shown and other.removeprefix("sha256:") in shown
    assert "Traceback" not in shown


@pytest.mark.parametrize("shape", sorted(TAMPERED))
def test_verify_fails_a_layout_whose_blobs_are_not_the_build(
    two_builds: tuple[Path, Path, dict[str, str]], tmp_path: Path, shape: str
) -> None:
    """Each blob a deploy of the layout reads is hashed: a layer or config rewritten with
    bytes of the same size, a missing layer, or an index naming two images fails with exit
    1 naming the file, never exit 0 or a traceback."""
    first, _, env = two_builds
    project = tmp_path / "p"
    shutil.copytree(first, project)
    layout = project / "dist" / "oci"
    TAMPERED[shape](layout, project / "dist")
    result = run_mlenv(["verify", "dist/oci"], project, env)
    shown = result.stdout + result.stderr
    assert result.returncode == 1, shown
    assert "output-corrupt" in shown and "Traceback" not in shown
    assert "index.json" in shown or "blobs/sha256/" in shown, shown
    checked = run_mlenv(["verify", "dist/image.tar"], project, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # image.tar is untouched


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A two-platform project, locked, fetched and built: dist/oci is one image index."""
    tmp = tmp_path_factory.mktemp("multi")
    url = write_simple_index(tmp / "www", [build_wheel("tiny", "1.0")])
    root = tmp / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "multi"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        'platforms = ["linux-64", "linux-aarch64"]\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["tiny"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp / "cache")}
    for step in (["lock"], ["fetch"], ["build", "--offline"]):
        done = run_mlenv(step, root, env)
        assert done.returncode == 0, f"{step}: {done.stderr}"
    return root, env


def test_a_multi_platform_layout_is_held_to_its_image_index(
    multi: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The joined dist/oci of a multi-platform build, and each platform's own layout, pass
    `verify` as built. Its index.json pointed at one platform's manifest alone (a valid image
    whose blobs the layout holds) fails `verify dist/oci`, and `push` refuses it before any
    connection (`registry.invalid` never resolves)."""
    root, env = multi
    for layout in ("dist/oci", "dist/linux-64/oci", "dist/linux-aarch64/oci"):
        done = run_mlenv(["verify", layout], root, env)
        assert done.returncode == 0, (layout, done.stdout + done.stderr)
    project = tmp_path / "p"
    shutil.copytree(root, project)
    platform = json.loads((project / "dist" / "linux-64" / "build.json").read_text())
    index_path = project / "dist" / "oci" / "index.json"
    index = json.loads(index_path.read_text())
    index["manifests"][0] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": platform["outputs"]["oci"]["manifest-digest"],
        "size": _blob(project / "dist" / "oci", platform["outputs"]["oci"]["manifest-digest"])
        .stat()
        .st_size,
    }
    index_path.write_text(json.dumps(index))
    checked = run_mlenv(["verify", "dist/oci"], project, env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "output-digest-mismatch" in checked.stdout + checked.stderr
    pushed = run_mlenv(["push", "registry.invalid/team/multi:1"], project, env)
    assert pushed.returncode == 1, pushed.stderr
    assert "build.json records" in pushed.stderr and "dist/oci/index.json" in pushed.stderr
