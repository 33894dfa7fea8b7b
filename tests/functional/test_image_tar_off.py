"""`[build] image-tar = false`: the OCI layout only, the very bytes of the layout a build with
image.tar writes; build.json, verify, inspect, --check and --load agree that there is no
image.tar, and none of an earlier build is left behind."""

from __future__ import annotations

import json
from pathlib import Path

from mlenv.cache import LAYERS
from tests.support.cli import run_mlenv
from tests.support.golden import build, digests
from tests.support.layered import configure, layered_project

OFF = "image-tar = false\n"


def _layout(dist: Path) -> dict[str, str]:
    return {name: sha for name, sha in digests(dist).items() if name.startswith("oci/")}


def test_a_layout_only_build_after_a_full_one(fetched: tuple[Path, Path]) -> None:
    """Protects the key end to end: switching it off and building again into the same dist/
    leaves no image.tar of the earlier build (dist/ is replaced whole), the layout's bytes
    and the image's digest do not change, build.json names no image-tar, and the layout
    verifies and inspects on its own."""
    project, cache = fetched
    assert build(project, cache).returncode == 0
    dist = project / "dist"
    full_layout = _layout(dist)
    full = json.loads((dist / "build.json").read_text())["outputs"]["oci"]
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text() + "[build]\n" + OFF)
    result = build(project, cache)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in dist.iterdir()) == [
        "build.json", "golden.tar.gz", "oci", "sbom.cdx.json"
    ]  # fmt: skip
    assert _layout(dist) == full_layout
    oci = json.loads((dist / "build.json").read_text())["outputs"]["oci"]
    assert "image-tar" not in oci
    assert oci == {key: value for key, value in full.items() if key != "image-tar"}
    assert "image.tar" not in result.stdout
    env = {"MLENV_CACHE_DIR": str(cache)}
    verified = run_mlenv(["verify", "dist/oci"], project, env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    inspected = run_mlenv(["inspect", "--json", "dist/oci"], project, env)
    assert inspected.returncode == 0, inspected.stderr
    checked = build(project, cache, "--check")
    assert checked.returncode == 0, checked.stderr
    assert "check: two builds are byte-identical (" in checked.stderr
    assert not (dist / "image.tar").exists()


def test_load_is_refused_before_any_work(fetched: tuple[Path, Path]) -> None:
    """Protects --load: it sends image.tar, which this build does not write; the refusal names
    the key and how to turn it on, and nothing is built."""
    project, cache = fetched
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text() + "[build]\n" + OFF)
    result = build(project, cache, "--load")
    assert result.returncode != 0
    assert "[build].image-tar" in result.stderr
    assert "set [build] image-tar = true" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "dist").exists()


def test_a_changed_reused_layer_is_caught_without_image_tar(tmp_path: Path) -> None:
    """Protects security invariant 1 without image.tar: a reused blob is linked unread, and
    the hashing read that replaces image.tar's write catches one that changed (same size, so
    the link is made): the build runs again and gives the first build's bytes."""
    project = layered_project(tmp_path / "project", '"auto"')
    configure(project, '"auto"', "1.0", 'outputs = ["oci"]\n' + OFF)
    cache = tmp_path / "cache"
    assert build(project, cache).returncode == 0
    first = digests(project / "dist")
    assert not (project / "dist" / "image.tar").exists()
    blob = max((cache / LAYERS).glob("??/*/blob"), key=lambda p: p.stat().st_size)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.unlink()  # a hard link to a dist file: never write through it
    blob.write_bytes(bytes(data))
    again = build(project, cache)
    assert again.returncode == 0, again.stderr
    assert "changed in the layer cache during the build; building again" in again.stderr
    assert digests(project / "dist") == first
