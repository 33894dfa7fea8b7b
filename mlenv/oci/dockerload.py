"""Load a built image into a running Docker daemon, as ``docker load`` would, without the CLI.

The docker SDK finds the daemon the way the CLI does (DOCKER_HOST, DOCKER_TLS_VERIFY,
DOCKER_CERT_PATH, then the current context, then /var/run/docker.sock); it is confined to this
module so the rest of mlenv never sees its exceptions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import docker
import docker.errors

from mlenv.errors import MlenvError
from mlenv.userfiles import open_input

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# Loading a multi-gigabyte image can keep the daemon busy well past the SDK's 60 s default.
LOAD_TIMEOUT_SECONDS = 1800


class DockerLoadError(MlenvError):
    """No Docker daemon answered, or it refused the image."""


def load(image_tar: Path, *, base_url: str | None = None) -> str:
    """Load a docker-archive (mlenv's image.tar) and return the image's name:tag, else its id.

    ``base_url`` (e.g. ``unix:///run/docker.sock``, ``tcp://host:2375``) overrides DOCKER_HOST.
    The tar is streamed to the daemon, never read into memory.
    """
    try:
        stream = open_input(image_tar, "image archive")
    except FileNotFoundError:
        raise DockerLoadError("the image archive does not exist", where=str(image_tar)) from None
    except MlenvError as error:
        raise DockerLoadError(error.message, where=error.where, hint=error.hint) from None
    with stream:
        return _load(stream, image_tar, base_url)


def check_daemon(base_url: str | None = None) -> None:
    """Refuse ``build --load`` before the build when no daemon answers: the build of a 5 GiB
    image takes minutes, and its end is the wrong moment to learn that."""
    _client(base_url).close()


def _client(base_url: str | None) -> docker.DockerClient:
    """A client of the daemon, which answered (the SDK asks its API version on creation)."""
    daemon = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    try:
        if base_url is None:
            return docker.from_env(timeout=LOAD_TIMEOUT_SECONDS)
        return docker.DockerClient(base_url=base_url, timeout=LOAD_TIMEOUT_SECONDS)
    except docker.errors.DockerException as error:
        raise DockerLoadError(
            f"no Docker daemon answers: {error}",
            where=daemon,
            hint="start it (`dockerd`, or `systemctl start docker`), or point DOCKER_HOST "
            "at its socket, e.g. DOCKER_HOST=unix:///run/docker.sock",
        ) from error


def _load(stream: BinaryIO, image_tar: Path, base_url: str | None) -> str:
    daemon = base_url or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    client = _client(base_url)
    try:
        images = client.images.load(stream)
    except docker.errors.DockerException as error:
        raise DockerLoadError(
            f"the Docker daemon did not load the image: {error}",
            where=f"{image_tar} -> {daemon}",
            hint="check that the archive is complete (`mlenv verify`) and the daemon is healthy",
        ) from error
    finally:
        client.close()
    if len(images) != 1:
        raise DockerLoadError(
            f"the archive holds {len(images)} images, expected one", where=str(image_tar)
        )
    image = images[0]
    return image.tags[0] if image.tags else str(image.id)
