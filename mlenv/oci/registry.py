"""Push an OCI image layout to any registry that speaks the OCI distribution API, or read one.

The entry points (``push``, ``push_manifest``, ``reader``) check what they are asked to send and
open one authenticated session on the repository (``registry_session``), which does the work;
an HTTP failure of the session becomes the error that names the registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from mlenv.oci.credentials import Credentials, docker_credentials
from mlenv.oci.model import MANIFEST_MEDIA_TYPE, Descriptor, sha256_of
from mlenv.oci.push_image import PushImage, read_layout
from mlenv.oci.reference import Reference, RegistryError, parse_reference
from mlenv.oci.registry_errors import transport_error
from mlenv.oci.registry_session import PushResult, _Session
from mlenv.report import Reporter


def push(
    layout: Path,
    ref: str,
    *,
    insecure: bool = False,
    auth: Credentials | None = None,
    reporter: Reporter,
    transport: httpx.BaseTransport | None = None,
    mount_from: Sequence[str] = (),
    expect: str | None = None,
) -> PushResult:
    """Push the one image of an OCI layout to ``ref``; blobs the registry has are skipped, and
    blobs another repository of it has (``mount_from``, repository names) are mounted.

    A multi-platform image (the layout names an image index) goes up as the index's every
    manifest and blob first, each manifest by digest, then the index under ``ref``: a reader
    never meets an index whose manifests are not there yet.

    ``auth=None`` takes the credentials from the Docker config file, if it has some for the
    registry. ``insecure`` speaks plain http (a registry on loopback). The registry's digest of
    the stored manifest must equal the local one, or the push fails. ``transport`` replaces
    the network (tests give an in-memory registry). ``expect``: the digest the build record
    beside the layout names for it (the manifest, or a multi-platform build's index); the
    layout's own must be it, so a layout swapped for another (every blob of which matches its
    digest) is refused before anything is sent.
    """
    reference = parse_reference(ref)
    image = read_layout(layout)
    if expect is not None and image.manifest.digest != expect:
        raise RegistryError(
            f"the layout's image is {image.manifest.digest}, but build.json records {expect}",
            where=str(layout / "index.json"),
            hint="the layout is not the one this build wrote; build again (`mlenv build "
            "--offline`) and check it with `mlenv verify`",
        )
    if reference.digest is not None and reference.digest != image.manifest.digest:
        raise RegistryError(
            f"the image's manifest is {image.manifest.digest}, not {reference.digest}",
            where=str(layout),
            hint="push by tag, or name the digest of this image",
        )
    with _session(reference, "pull,push", insecure, auth, transport, mount_from) as session:
        return session.push(image, reporter)


def push_manifest(
    ref: str,
    manifest: bytes,
    blobs: Mapping[Descriptor, Path],
    *,
    insecure: bool = False,
    auth: Credentials | None = None,
    reporter: Reporter,
    transport: httpx.BaseTransport | None = None,
    mount_from: Sequence[str] = (),
    delays: Sequence[float] | None = None,
) -> PushResult:
    """Push an OCI manifest and its blobs from wherever they are on disk (``push``'s checks:
    blobs the registry has are skipped, each upload is hashed against its digest, and the
    registry's digest of the stored manifest must be the local one). ``delays``: how often,
    and after how long, a busy registry's answer is repeated (``oci.patience.DELAYS`` when
    None); ``()`` for a write that must land now or fail."""
    reference = parse_reference(ref)
    descriptor = Descriptor(MANIFEST_MEDIA_TYPE, sha256_of(manifest), len(manifest))
    paths = {blob.digest: path for blob, path in blobs.items()}
    image = PushImage(descriptor, manifest, tuple(blobs), Path(), paths)
    with _session(reference, "pull,push", insecure, auth, transport, mount_from, delays) as session:
        return session.push(image, reporter)


@contextmanager
def reader(
    ref: str,
    *,
    insecure: bool = False,
    auth: Credentials | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[_Session]:
    """A pull-only session on ``ref``'s repository: ``manifest()`` and ``blob(digest)``."""
    reference = parse_reference(ref)
    with _session(reference, "pull", insecure, auth, transport) as session:
        yield session


@contextmanager
def _session(
    reference: Reference,
    actions: str,
    insecure: bool,
    auth: Credentials | None,
    transport: httpx.BaseTransport | None,
    mount_from: Sequence[str] = (),
    delays: Sequence[float] | None = None,
) -> Iterator[_Session]:
    credentials = auth if auth is not None else docker_credentials(reference.registry)
    base_url = f"{'http' if insecure else 'https'}://{reference.api_host}"
    scopes = (
        f"repository:{reference.repository}:{actions}",
        *(f"repository:{repository}:pull" for repository in mount_from),
    )
    try:
        with _Session(
            reference, base_url, credentials, scopes, transport, mount_from, delays
        ) as session:
            yield session
    except httpx.HTTPError as error:
        raise transport_error(error, base_url, insecure) from error
