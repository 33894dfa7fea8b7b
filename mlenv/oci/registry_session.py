"""One authenticated session on a registry repository: the distribution API's reads and writes.

Every blob is asked for first (HEAD) and sent only when the registry lacks it, so re-pushing
an image after a one-package change sends only the changed layer. Bodies go out in bounded
chunks read from disk: memory stays flat whatever the layer's size, and a chunk can be sent
again when a short-lived token expires in the middle of a long push.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx

from mlenv.errors import MlenvError, printable
from mlenv.index.bodies import ResponseReader
from mlenv.net import proxy
from mlenv.net.origins import UnsafeUrlError, follow
from mlenv.oci.auth import (
    BLOB_DOWNLOAD,
    ChallengeAuth,
    bound_answer,
    guard_request,
    readable_redirect,
    url_where,
)
from mlenv.oci.credentials import Credentials
from mlenv.oci.model import JSON_LIMIT, MANIFEST_MEDIA_TYPE, Descriptor, sha256_of
from mlenv.oci.patience import DROPPED, PatientClient, RegistryBusy, busy
from mlenv.oci.push_image import PushImage
from mlenv.oci.reference import Reference, RegistryError
from mlenv.oci.registry_errors import error_detail, status_hint
from mlenv.report import Reporter, Task
from mlenv.userfiles import open_input

# Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size.
CHUNK_SIZE = 16 << 20
_OCI_ONLY = (MANIFEST_MEDIA_TYPE,)
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class PushResult:
    digest: str  # the manifest digest, as the registry confirmed it
    pushed_blobs: int
    skipped_blobs: int  # already in the repository, not sent again
    bytes_pushed: int
    mounted_blobs: int = 0  # linked in from another repository of the registry, not sent

    @property
    def mounted_note(self) -> str:
        """``, N mounted from other repositories`` for a summary line, empty when none were."""
        count = self.mounted_blobs
        return f", {count} mounted from other repositories" if count else ""


class _Session:
    """One push: an httpx client bound to the registry, authenticating as challenged."""

    def __init__(
        self,
        reference: Reference,
        base_url: str,
        credentials: Credentials | None,
        scopes: tuple[str, ...],
        transport: httpx.BaseTransport | None,
        mount_from: Sequence[str] = (),
        delays: Sequence[float] | None = None,
    ) -> None:
        self._reference = reference
        self._repo = reference.repository
        self._mount_from = tuple(mount_from)
        self._client = PatientClient(
            delays=delays,
            base_url=base_url,
            auth=ChallengeAuth(base_url, credentials, scopes),
            transport=proxy.transport(transport),  # the proxy rules; trust: mlenv.net.tls
            trust_env=False,
            timeout=_TIMEOUT,
            follow_redirects=True,
            headers={"Accept-Encoding": "identity"},
            event_hooks={
                "request": [functools.partial(guard_request, base_url)],
                "response": [readable_redirect, bound_answer],
            },
        )

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def push(self, image: PushImage, reporter: Reporter) -> PushResult:
        self._check(self._client.get("/v2/"), (200,), "the registry check (GET /v2/)")
        images = (*image.children, image)
        blobs = {blob.digest: (blob, one) for one in images for blob in one.blobs}
        missing = [(blob, one) for blob, one in blobs.values() if not self._has_blob(blob)]
        mounted = {blob.digest for blob, _ in missing if self._mount(blob)}
        sent = [(blob, one) for blob, one in missing if blob.digest not in mounted]
        total = sum(blob.size for blob, _ in sent)
        with reporter.task(f"push {self._reference}", total=total, unit="bytes") as task:
            for blob, one in sent:
                try:
                    self._upload(blob, one.blob_path(blob.digest), task)
                except MlenvError as error:  # named as the user knows it, not by digest alone
                    error.about(one.blob_label(blob.digest))
                    raise
        for child in image.children:
            self._put_manifest(child, child.manifest.digest)
        digest = self._put_manifest(image, self._reference.tag or image.manifest.digest)
        result = PushResult(digest, len(sent), len(blobs) - len(missing), total, len(mounted))
        reporter.info(
            f"pushed {self._reference}: {digest} ({len(sent)} blobs uploaded"
            f"{result.mounted_note}, {result.skipped_blobs} already in the registry)"
        )
        return result

    def find_manifest(self, tag: str) -> bytes | None:
        """The manifest under ``tag`` of this repository, None when there is no such tag."""
        response = self._client.head(
            f"/v2/{self._repo}/manifests/{tag}", headers={"Accept": ", ".join(_OCI_ONLY)}
        )
        self._check(response, (200, 404), f"the check for the tag {tag}")
        return None if response.status_code == 404 else self.manifest(tag=tag)

    def manifest(
        self,
        digest: str | None = None,
        accept: tuple[str, ...] = _OCI_ONLY,
        *,
        tag: str | None = None,
    ) -> bytes:
        """A manifest (the reference's, ``digest`` or ``tag``), checked against the digest if
        any."""
        target = digest or tag or self._reference.digest or self._reference.tag
        url = f"/v2/{self._repo}/manifests/{target}"
        headers = {"Accept": ", ".join(accept)}
        with self._client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                response.read()
            self._check(response, (200,), "reading the manifest")
            buffer = bytearray()  # not bytes +=: a trickle of small chunks stays linear
            for chunk in response.iter_bytes():
                buffer += chunk
                if len(buffer) > JSON_LIMIT:  # a hostile registry does not fill the memory
                    raise RegistryError(
                        "the manifest is too big", where=url_where(response.request.url)
                    )
            data = bytes(buffer)
        wanted = digest or (None if tag else self._reference.digest)
        if wanted is not None and sha256_of(data) != wanted:
            raise RegistryError(
                f"the registry served a manifest whose digest is {sha256_of(data)}, not {wanted}",
                where=url_where(response.request.url),
                hint="the registry's storage was tampered with or is corrupted",
            )
        return data

    @contextmanager
    def blob(self, digest: str) -> Iterator[BinaryIO]:
        """The blob as a file, streamed; the caller verifies the bytes (the cache does). A
        broken transfer is the index client's transient error, so fetch retries it."""
        url = f"/v2/{self._repo}/blobs/{digest}"
        with self._client.stream("GET", url, extensions={BLOB_DOWNLOAD: True}) as response:
            if response.status_code != 200:
                response.read()
            self._check(response, (200,), f"downloading blob {digest}")
            yield io.BufferedReader(ResponseReader(response, url_where(response.request.url)))

    def has(self, digest: str) -> bool:
        response = self._client.head(f"/v2/{self._repo}/blobs/{digest}")
        self._check(response, (200, 404), f"the check for blob {digest}")
        return response.status_code == 200

    def _has_blob(self, blob: Descriptor) -> bool:
        return self.has(blob.digest)

    def _mount(self, blob: Descriptor) -> bool:
        """Link the blob in from the first mount source that holds it (HEAD there, then the
        distribution API's cross-repository mount); False when none has it or the registry
        declines (it then answers 202 with an upload session, which is cancelled)."""
        for repository in self._mount_from:
            response = self._client.head(f"/v2/{repository}/blobs/{blob.digest}")
            if response.status_code != 200:
                continue  # not there, or not readable with these credentials
            response = self._client.post(
                f"/v2/{self._repo}/blobs/uploads/",
                params={"mount": blob.digest, "from": repository},
            )
            self._check(response, (201, 202), f"mounting {blob.digest} from {repository}")
            if response.status_code == 201:
                return True
            self._client.delete(self._location(response))
            return False
        return False

    def _upload(self, blob: Descriptor, path: Path, task: Task) -> None:
        """POST opens an upload session; one PUT, or PATCH chunks then a PUT, close it. The
        blob is opened once, as a plain file (``userfiles.open_input``: a FIFO never blocks)."""
        hint = "the layout is incomplete; build it again"
        try:
            stream = open_input(path, "image blob")
        except FileNotFoundError:
            raise RegistryError(
                f"the blob {blob.digest} is missing", where=str(path), hint=hint
            ) from None
        except MlenvError as error:
            raise RegistryError(error.message, where=error.where, hint=hint) from None
        with stream:
            if os.fstat(stream.fileno()).st_size != blob.size:
                raise RegistryError(
                    f"the blob {blob.digest} is not {blob.size} bytes", where=str(path), hint=hint
                )
            for delay in self._client.attempts():  # a busy registry: the upload begun again
                stream.seek(0)
                try:
                    self._send_blob(blob, stream, path, task)
                    return
                except (RegistryBusy, *DROPPED):
                    if delay is None or not self._client.pause(delay):
                        raise

    def _send_blob(self, blob: Descriptor, stream: BinaryIO, path: Path, task: Task) -> None:
        response = self._client.post(f"/v2/{self._repo}/blobs/uploads/")
        self._check(response, (202,), f"starting the upload of {blob.digest}")
        location = self._location(response)
        digest = hashlib.sha256()
        if blob.size <= CHUNK_SIZE:
            body = stream.read(CHUNK_SIZE)
            digest.update(body)
        else:
            body = b""
            for start, chunk in _chunks(stream):
                digest.update(chunk)
                response = self._client.patch(
                    location,
                    content=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{start}-{start + len(chunk) - 1}",
                    },
                )
                self._check(response, (202,), f"uploading {blob.digest}")
                location = self._location(response)
                task.advance(len(chunk))
        if "sha256:" + digest.hexdigest() != blob.digest:
            with suppress(httpx.HTTPError):  # a courtesy: the corrupt blob is the error
                self._client.delete(location)
            raise RegistryError(
                f"the blob does not match its digest {blob.digest}",
                where=str(path),
                hint="the layout was modified; build it again",
            )
        response = self._client.put(
            location.copy_merge_params({"digest": blob.digest}),
            content=body,
            headers={"Content-Type": "application/octet-stream"},
        )
        self._check(response, (201,), f"finishing the upload of {blob.digest}")
        _confirmed(response, response.headers.get("Docker-Content-Digest"), blob.digest, "the blob")
        if body:
            task.advance(len(body))

    def _put_manifest(self, image: PushImage, target: str) -> str:
        url = f"/v2/{self._repo}/manifests/{target}"
        media_type = image.manifest.media_type
        response = self._client.put(
            url, content=image.manifest_bytes, headers={"Content-Type": media_type}
        )
        self._check(response, (201,), "storing the manifest")
        remote: str | None = response.headers.get("Docker-Content-Digest")
        if remote is None:  # optional in the OCI spec: hash what the registry serves instead
            served = self._client.get(url, headers={"Accept": media_type})
            self._check(served, (200,), "reading the stored manifest back")
            remote = sha256_of(served.content)
        _confirmed(response, remote, image.manifest.digest, "the manifest")
        return image.manifest.digest

    def _location(self, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("Location")
        where = url_where(response.request.url)
        if not location:
            raise RegistryError("the registry gave no upload location", where=where)
        try:
            url = follow(location, base=str(response.request.url), where=where, downgrade=True)
            return httpx.URL(url)
        except UnsafeUrlError as error:
            raise RegistryError(error.message, where=where, hint=error.hint) from None

    def _check(self, response: httpx.Response, expected: tuple[int, ...], action: str) -> None:
        if response.status_code in expected:
            return
        raise (RegistryBusy if busy(response.status_code) else RegistryError)(
            f"{action} failed: HTTP {response.status_code} {printable(response.reason_phrase, 80)}"
            f"{error_detail(response)}",
            where=url_where(response.request.url),
            hint=status_hint(response.status_code, self._reference.registry, self._repo),
        )


def _confirmed(response: httpx.Response, remote: str | None, digest: str, what: str) -> None:
    """A write the registry closed (``response``, 201) stored ``digest``: what it says it
    stored (``remote``: its Docker-Content-Digest, or the digest of what it serves back), when
    known, must say so. Another digest means it stored other bytes than were sent (or rewrote
    them), and the manifest would promise what the registry does not hold."""
    if remote is not None and remote.strip() != digest:
        raise RegistryError(
            f"the registry stored {what} as {printable(remote, 80)}, not {digest}",
            where=url_where(response.request.url),
            hint="the registry rewrote what was pushed; it cannot be trusted with this push",
        )


def _chunks(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    start = 0
    while chunk := stream.read(CHUNK_SIZE):
        yield start, chunk
        start += len(chunk)
