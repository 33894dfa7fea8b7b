"""Real OCI tools accept what mlenv writes: skopeo reads the layout and image.tar as both archive
kinds, the reference decompressors agree with the diff_ids, umoci unpacks the image and runc
runs the environment's script on the busybox base image, and Docker loads and runs image.tar."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlenv.oci.read import read_base
from mlenv.oci.write import ImageResult, ImageSpec, image_config, write_image_tar, write_layout
from mlenv.tarball import Compression, LayerBlob, write_layer
from mlenv.tree_listing import collect
from tests.support.daemons import Dockerd, dockerd

pytestmark = pytest.mark.integration
INSTALL = "apt-get update && apt-get install -y skopeo umoci runc zstd busybox-static"
PLATFORMS = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}
PREFIX = "/opt/mlenv/demo"
MTIME = 1_700_000_000
SCRIPT = b'#!/bin/sh\necho "hello from $VIRTUAL_ENV"\nbusybox cat "$VIRTUAL_ENV/share/note.txt"\n'
NOTE = b"the note\n"


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing; install the integration tools: {INSTALL}"
    return path


def run(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class Built:
    layout: Path
    archive: Path
    result: ImageResult
    blobs: tuple[LayerBlob, ...]


def layer(staging: Path, dest: str, out: Path, compression: Compression) -> tuple[LayerBlob, Path]:
    with open(out, "wb") as stream:
        blob = write_layer(collect(staging, dest), stream, compression=compression, mtime=MTIME)
    return blob, out


def build(root: Path, compression: Compression) -> Built:
    """A busybox base image (gzip) and the environment layer on top, with ``compression``."""
    busybox = Path("/bin/busybox")
    assert busybox.is_file(), f"a static /bin/busybox is needed for the base image: {INSTALL}"
    target = PLATFORMS[platform.machine()]
    base_fs = root / "base-fs"
    base_fs.mkdir()
    shutil.copy(busybox, base_fs / "busybox")
    (base_fs / "sh").symlink_to("busybox")
    base_layer = layer(base_fs, "bin", root / "base.blob", "gzip")
    base_spec = ImageSpec(name="busybox", platform=target, prefix="/", created=0, lock_sha256="")
    base_config = image_config(base_spec, [(base_layer[0], "busybox")], None)
    write_layout(root / "base", [base_layer], base_config, None, "latest")
    base = read_base(root / "base", platform=target, ref="latest")

    env_fs = root / "env-fs"
    previous = os.umask(0o077)  # the image must not care
    try:
        (env_fs / "bin").mkdir(parents=True)
        (env_fs / "share").mkdir()
        (env_fs / "bin" / "hello").write_bytes(SCRIPT)
        (env_fs / "bin" / "hello").chmod(0o700)
        (env_fs / "share" / "note.txt").write_bytes(NOTE)
    finally:
        os.umask(previous)
    env_layer = layer(env_fs, PREFIX.lstrip("/"), root / "env.blob", compression)
    spec = ImageSpec(
        name="demo",
        platform=target,
        prefix=PREFIX,
        created=MTIME,
        lock_sha256="sha256:" + "ab" * 32,
        env={"VIRTUAL_ENV": PREFIX},
        nvidia_require_cuda="cuda>=12.4",
    )
    config = image_config(spec, [(env_layer[0], "environment")], base)
    result = write_layout(root / "image", [env_layer], config, base, "latest")
    write_image_tar(root / "image", root / "image.tar", "demo:latest")
    return Built(root / "image", root / "image.tar", result, (base_layer[0], env_layer[0]))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Compression], Built]:
    built: dict[Compression, Built] = {}

    def get(compression: Compression) -> Built:
        if compression not in built:
            built[compression] = build(tmp_path_factory.mktemp(compression), compression)
        return built[compression]

    return get


def inspect(reference: str, *extra: str) -> Any:
    return json.loads(run(tool("skopeo"), "inspect", *extra, reference))


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_skopeo_reads_the_layout_and_image_tar_as_oci_and_docker_archive(
    images: Callable[[Compression], Built], compression: Compression
) -> None:
    image = images(compression)
    result = image.result
    references = {
        "oci": f"oci:{image.layout}:latest",
        "oci-archive": f"oci-archive:{image.archive}",
        "docker-archive": f"docker-archive:{image.archive}",
    }
    for transport, reference in references.items():
        summary = inspect(reference)
        config = inspect(reference, "--config")
        assert config["rootfs"]["diff_ids"] == list(result.diff_ids), transport
        # docker-archive has no compressed identity: skopeo lists its layers by diff_id.
        expected = result.diff_ids if transport == "docker-archive" else result.layer_digests
        assert summary["Layers"] == list(expected), transport
        assert summary["Os"] == "linux"
        assert f"PATH={PREFIX}/bin:/bin:" in " ".join(summary["Env"])
        assert "NVIDIA_REQUIRE_CUDA=cuda>=12.4" in summary["Env"]
        assert summary["Labels"]["dev.mlenv.lock-sha256"] == "sha256:" + "ab" * 32


DECOMPRESS = {"gzip": ("gzip", "-dc"), "zstd": ("zstd", "-dcq"), "none": ("cat",)}


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_reference_decompressors_give_back_the_diff_ids(
    images: Callable[[Compression], Built], compression: Compression
) -> None:
    image = images(compression)
    for blob in image.blobs:
        command, *flags = DECOMPRESS[blob.compression]
        path = image.layout / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
        tar = subprocess.run(
            [tool(command), *flags, str(path)], capture_output=True, check=True, timeout=60
        ).stdout
        assert "sha256:" + hashlib.sha256(tar).hexdigest() == blob.diff_id
        assert len(tar) == blob.uncompressed_size


@contextlib.contextmanager
def container(bundle: Path, name: str) -> Iterator[str]:
    try:
        yield run(tool("runc"), "run", "--bundle", str(bundle), name, timeout=60)
    finally:
        subprocess.run([tool("runc"), "delete", "--force", name], capture_output=True, check=False)


# umoci 0.4.7 (Debian 12) refuses tar+zstd layers ("blob is not correct mediatype"); the zstd
# image is proven by skopeo and the zstd CLI above.
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_umoci_unpacks_the_image_and_runc_runs_the_environment(
    images: Callable[[Compression], Built], compression: Compression, tmp_path: Path
) -> None:
    assert os.geteuid() == 0, "umoci unpack and runc run need root here"
    image = images(compression)
    bundle = tmp_path / "bundle"
    run(tool("umoci"), "unpack", "--image", f"{image.layout}:latest", str(bundle))
    env = bundle / "rootfs" / PREFIX.lstrip("/")
    modes = {
        path: stat.S_IMODE((env / path).lstat().st_mode)
        for path in ("bin", "bin/hello", "share", "share/note.txt")
    }
    assert modes == {"bin": 0o755, "bin/hello": 0o755, "share": 0o755, "share/note.txt": 0o644}
    assert (env / "share" / "note.txt").read_bytes() == NOTE
    assert (env / "share" / "note.txt").stat().st_mtime == MTIME
    assert (bundle / "rootfs" / "bin" / "sh").readlink() == Path("busybox")

    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = ["hello"]  # found through the image's PATH
    config["process"]["terminal"] = False
    config_path.write_text(json.dumps(config))
    with container(bundle, f"mlenv-test-{os.getpid()}-{compression}") as output:
        assert output == f"hello from {PREFIX}\n{NOTE.decode()}"


@pytest.fixture(scope="module")
def docker() -> Iterator[Dockerd]:
    with dockerd() as daemon:
        yield daemon


def docker_ok(daemon: Dockerd, *args: str) -> str:
    result = daemon.docker(*args)
    assert result.returncode == 0, f"docker {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


# Docker Engine before 23.0 cannot apply zstd layers (moby/moby#41759); Debian 12 ships 20.10.
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_docker_loads_image_tar_and_runs_the_environment(
    images: Callable[[Compression], Built], compression: Compression, docker: Dockerd
) -> None:
    image = images(compression)
    assert "Loaded image: demo:latest" in docker_ok(docker, "load", "--input", str(image.archive))
    try:
        layers = docker_ok(
            docker, "image", "inspect", "--format", "{{json .RootFS.Layers}}", "demo:latest"
        )
        assert json.loads(layers) == list(image.result.diff_ids)
        output = docker_ok(docker, "run", "--rm", "--network", "none", "demo:latest", "hello")
        assert output == f"hello from {PREFIX}\n{NOTE.decode()}"
    finally:
        docker_ok(docker, "rmi", "--force", "demo:latest")
