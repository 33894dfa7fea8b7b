"""Base images from a real registry (Debian's docker-registry on loopback), pinned by digest:
pulled by `fetch` into the cache, verified, and built on offline exactly as from a layout."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlenv.oci.model import INDEX_MEDIA_TYPE
from mlenv.oci.registry import push
from mlenv.oci.write import ImageResult
from mlenv.report import MemoryReporter
from mlenv.tree_listing import collect
from tests.support.cli import run_mlenv
from tests.support.daemons import Registry, registry
from tests.support.httpserver import IndexServer
from tests.support.images import write_image
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def reg() -> Iterator[Registry]:
    with registry() as running:
        yield running


@pytest.fixture(scope="module")
def base(reg: Registry, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImageResult]:
    """A small base image, pushed as base/img:1 and listed in an image index as base/img:multi."""
    root = tmp_path_factory.mktemp("base")
    (root / "tree" / "etc").mkdir(parents=True)
    (root / "tree" / "etc" / "os-release").write_text("ID=test\n")
    layout = root / "layout"
    image = write_image(
        layout, [("os", collect(root / "tree" / "etc", "etc"))], ref="b", cmd=["/bin/sh"]
    )
    push(layout, f"{reg.host}/base/img:1", insecure=True, reporter=MemoryReporter())
    manifest_blob = layout / "blobs" / "sha256" / image.manifest_digest.removeprefix("sha256:")
    architecture = json.loads(
        (layout / "blobs" / "sha256" / image.config_digest.removeprefix("sha256:")).read_bytes()
    )["architecture"]
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": image.manifest_digest,
                "size": manifest_blob.stat().st_size,
                "platform": {"architecture": architecture, "os": "linux"},
            }
        ],
    }
    response = httpx.put(
        f"{reg.url}/v2/base/img/manifests/multi",
        content=json.dumps(index).encode(),
        headers={"Content-Type": INDEX_MEDIA_TYPE},
    )
    assert response.status_code == 201, response.text
    return layout, image


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    write_simple_index(
        tmp_path / "www", [build_wheel("lib", "2.0", files={"lib/__init__.py": b""})]
    )
    with IndexServer(tmp_path / "www") as server:
        root = tmp_path / "project"
        root.mkdir()
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        (root / "mlenv.toml").write_text(manifest(f"{server.url}/simple", "build/none"))
        assert run_mlenv(["lock"], root, env).returncode == 0
        yield root, env


def manifest(index: str, base_image: str) -> str:
    return (
        '[environment]\nname = "b"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["lib"]\n'
        f'[build]\noutputs = ["oci"]\nbase-image = "{base_image}"\n'
    )


def set_base(root: Path, value: str) -> None:
    text = (root / "mlenv.toml").read_text()
    start = text.index('base-image = "') + len('base-image = "')
    (root / "mlenv.toml").write_text(text[:start] + value + text[text.index('"', start) :])


def image_tar(root: Path, env: dict[str, str], out: Path) -> bytes:
    built = run_mlenv(["build", "--offline", "-o", str(out)], root, env)
    assert built.returncode == 0, built.stderr
    return (out / "image.tar").read_bytes()


@pytest.mark.parametrize("tag", ["1", "multi"])
def test_a_pinned_base_builds_offline_as_from_its_layout(
    reg: Registry,
    base: tuple[Path, ImageResult],
    project: tuple[Path, dict[str, str]],
    tmp_path: Path,
    tag: str,
) -> None:
    """Guards the pinned pull: by digest (an image, or an index narrowed to the platform), into
    the cache, then an offline build byte-identical to one on the original layout."""
    layout, image = base
    root, env = project
    digest = image.manifest_digest
    if tag == "multi":
        served = httpx.get(
            f"{reg.url}/v2/base/img/manifests/multi", headers={"Accept": INDEX_MEDIA_TYPE}
        )
        digest = "sha256:" + hashlib.sha256(served.content).hexdigest()
    set_base(root, f"{reg.host}/base/img@{digest}")
    fetched = run_mlenv(["fetch", "--insecure"], root, env)
    assert fetched.returncode == 0, fetched.stderr
    from_registry = image_tar(root, env, tmp_path / "a")
    set_base(root, str(layout))
    from_layout = image_tar(root, env, tmp_path / "b")
    assert from_registry == from_layout


def test_a_tag_is_refused_with_the_digest_to_pin(
    reg: Registry, base: tuple[Path, ImageResult], project: tuple[Path, dict[str, str]]
) -> None:
    """Guards reproducibility: a tag can move, so fetch refuses it and says the digest; build
    refuses it without the network."""
    _, image = base
    root, env = project
    set_base(root, f"{reg.host}/base/img:1")
    fetched = run_mlenv(["fetch", "--insecure"], root, env)
    assert fetched.returncode == 1
    assert f'base-image = "{reg.host}/base/img@{image.manifest_digest}"' in fetched.stderr
    built = run_mlenv(["build", "--offline"], root, env)
    assert built.returncode == 1
    assert "names a tag, which can move" in built.stderr


def test_a_base_not_fetched_is_not_built_on(
    reg: Registry, base: tuple[Path, ImageResult], project: tuple[Path, dict[str, str]]
) -> None:
    """Guards the offline build: a registry base image missing from the cache is an error."""
    _, image = base
    root, env = project
    assert run_mlenv(["fetch"], root, env).returncode == 0  # the wheels; no base yet
    set_base(root, f"{reg.host}/base/img@{image.manifest_digest}")
    built = run_mlenv(["build", "--offline"], root, env)
    assert built.returncode == 1
    assert "is not in the cache" in built.stderr and "mlenv fetch" in built.stderr


def test_a_tampered_base_layer_is_refused(
    reg: Registry,
    base: tuple[Path, ImageResult],
    project: tuple[Path, dict[str, str]],
    tmp_path: Path,
) -> None:
    """Guards the verified pull: a layer the registry serves with other bytes never enters the
    cache, and no layout is written for the build to use."""
    _, image = base
    root, _ = project
    layer = image.layer_digests[0].removeprefix("sha256:")
    data = reg.storage / "docker/registry/v2/blobs/sha256" / layer[:2] / layer / "data"
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    cache = tmp_path / "victim"
    try:
        set_base(root, f"{reg.host}/base/img@{image.manifest_digest}")
        fetched = run_mlenv(["fetch", "--insecure"], root, {"MLENV_CACHE_DIR": str(cache)})
    finally:
        data.write_bytes(original)
    assert fetched.returncode == 1
    assert f"the lock says {layer}" in fetched.stderr
    assert not (cache / "base-v1" / image.manifest_digest.removeprefix("sha256:")).exists()
