"""`load` into a real Docker Engine started by the test, then the image runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlenv.oci.dockerload import DockerLoadError, load
from mlenv.oci.read import read_base
from mlenv.oci.write import ImageSpec, image_config, write_image_tar, write_layout
from mlenv.tarball import write_layer
from mlenv.tree_listing import collect
from tests.support.base_image import REF, base_image_layout
from tests.support.daemons import Dockerd, dockerd

pytestmark = pytest.mark.integration

TAG = "mlenv-test/hello:1"


@pytest.fixture(scope="module")
def daemon() -> Iterator[Dockerd]:
    with dockerd() as running:
        yield running


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The debootstrap base plus one layer with a script: the tar and its config digest."""
    work = tmp_path_factory.mktemp("image")
    app = work / "app"
    app.mkdir()
    (app / "hello.py").write_text("import sys\nprint('hello from', sys.version_info[:2])\n")
    base = read_base(base_image_layout(), platform="linux-64", ref=REF)
    with open(work / "layer", "wb") as out:
        blob = write_layer(
            collect(app, "opt/hello", parents=False), out, compression="gzip", mtime=0
        )
    spec = ImageSpec(
        name="hello", platform="linux-64", prefix="/opt/hello", created=0, lock_sha256="0" * 64
    )
    config = image_config(spec, [(blob, "hello")], base)
    result = write_layout(work / "layout", [(blob, work / "layer")], config, base, "hello")
    tar = work / "image.tar"
    write_image_tar(work / "layout", tar, TAG)
    return tar, result.config_digest


def test_loaded_image_runs_python_from_the_base_and_the_added_layer(
    daemon: Dockerd, image: tuple[Path, str]
) -> None:
    tar, config_digest = image
    assert load(tar, base_url=daemon.url) == TAG
    inspect = daemon.docker("image", "inspect", "--format", "{{.Id}}", TAG)
    assert inspect.stdout.strip() == config_digest  # Docker's image id is our config's digest
    ok = daemon.docker("run", "--rm", "--network", "none", TAG, "python3", "-c", "print('ok')")
    assert (ok.returncode, ok.stdout) == (0, "ok\n"), ok.stderr
    hello = daemon.docker("run", "--rm", "--network", "none", TAG, "python3", "/opt/hello/hello.py")
    assert (hello.returncode, hello.stdout) == (0, "hello from (3, 11)\n"), hello.stderr


def test_docker_host_is_honoured(
    daemon: Dockerd, image: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", daemon.url)
    assert load(image[0]) == TAG


def test_a_broken_archive_is_refused_by_the_daemon(daemon: Dockerd, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(DockerLoadError, match="did not load the image") as error:
        load(broken, base_url=daemon.url)
    assert error.value.where == f"{broken} -> {daemon.url}"


def test_no_daemon_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"")
    socket = f"unix://{tmp_path}/no-daemon/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", socket)
    with pytest.raises(DockerLoadError) as error:
        load(archive)
    text = error.value.render()
    assert text.startswith(f"{socket}: no Docker daemon answers")
    assert "hint: start it" in text and "DOCKER_HOST" in text
    with pytest.raises(DockerLoadError, match="no Docker daemon answers") as explicit:
        load(archive, base_url=socket)
    assert explicit.value.where == socket
