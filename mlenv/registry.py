"""Push an OCI image layout to any registry that speaks the OCI distribution API.

Every blob is asked for first (HEAD) and sent only when the registry lacks it, so re-pushing
an image after a one-package change sends only the changed layer. Bodies go out in bounded
chunks read from disk: memory stays flat whatever the layer's size, and a chunk can be sent
again when a short-lived token expires in the middle of a long push.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import json
import os
import re
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from mlenv.errors import MlenvError, printable, redact
from mlenv.index.http import _ResponseReader
from mlenv.limits import LimitError, parse_json
from mlenv.oci import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, Descriptor
from mlenv.origins import UnsafeUrlError, follow, may_send_credentials
from mlenv.report import Reporter, Task
from mlenv.tls import certificate_hint, ssl_context

# Blobs up to this size go in one PUT; bigger ones in PATCH chunks of this size.
CHUNK_SIZE = 16 << 20
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_MANIFEST_TYPES = (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE)
_OCI_ONLY = (MANIFEST_MEDIA_TYPE,)
# Docker Hub is named docker.io in references, served from another host, and keyed in
# config.json by its historical URL https://index.docker.io/v1/.
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_HUB_API = "registry-1.docker.io"
# distribution/reference's grammar.
_DOMAIN = re.compile(
    r"(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9-]+(?=:)|\[[0-9A-Fa-f:]+\])"
    r"(?::[0-9]+)?"
)
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)=(?:"([^"]*)"|([^\s,]*))')
_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_JSON_LIMIT = 16 << 20


class RegistryError(MlenvError):
    """The registry refused, could not be reached, or the image to push is unusable."""


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or token); the password never appears in a repr or message."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``, with Docker Hub's conventions applied."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def api_host(self) -> str:
        return _HUB_API if self.registry in _HUB_NAMES else self.registry

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


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


def mount_sources(target: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """The repositories of ``candidates`` (image references or ``oci://`` locations) that a
    push to ``target`` can mount blobs from: the same registry, another repository. A blob
    mount never crosses registries (the API has no way to), so others are dropped."""
    reference = parse_reference(target)
    found: dict[str, None] = {}
    for candidate in candidates:
        other = parse_reference(candidate.removeprefix("oci://"))
        if other.registry == reference.registry and other.repository != reference.repository:
            found[other.repository] = None
    return tuple(found)


def parse_reference(ref: str) -> Reference:
    """Read a reference as ``docker push`` does: no registry host means Docker Hub, no tag
    means ``latest``; a ``@sha256:`` digest pins the manifest that must be pushed."""
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise RegistryError(
            f"{digest!r} is not a sha256 digest", where=ref, hint="write @sha256:<64 hex digits>"
        )
    first, slash, rest = name.partition("/")
    if slash and _DOMAIN.fullmatch(first):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    repository, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
    if not _REPOSITORY.fullmatch(repository) or (colon and not _TAG.fullmatch(tag)):
        raise RegistryError(
            "not a valid image reference",
            where=ref,
            hint="write REGISTRY[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/team/env:1.0 "
            "(repository names are lower case)",
        )
    if registry in _HUB_NAMES and "/" not in repository:
        repository = f"library/{repository}"
    if not tag and not digest:
        tag = "latest"
    return Reference(registry, repository, tag or None, digest or None)


def docker_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``docker login`` keeps credentials: ``$DOCKER_CONFIG/config.json`` or ~/.docker."""
    env = os.environ if environ is None else environ
    directory = env.get("DOCKER_CONFIG")
    return (Path(directory) if directory else Path.home() / ".docker") / "config.json"


def docker_credentials(
    registry: str, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials ``docker login`` stored for ``registry`` in config.json's "auths", if any.

    Credential helpers (``credsStore``, ``credHelpers``) run external programs and are not read.
    """
    path = docker_config_path(environ)
    if not path.is_file():
        return None
    try:
        config = parse_json(path.read_bytes(), where=str(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RegistryError(
            f"the Docker config file cannot be read: {error}",
            where=str(path),
            hint="fix or remove it, or run `docker login` again",
        ) from error
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = set(_HUB_NAMES) if registry in _HUB_NAMES else {registry}
    for key, entry in auths.items():
        if _config_host(key) in wanted and isinstance(entry, dict):
            return _entry_credentials(entry, f"{path}: auths.{key}")
    return None


def push(
    layout: Path,
    ref: str,
    *,
    insecure: bool = False,
    auth: Credentials | None = None,
    reporter: Reporter,
    transport: httpx.BaseTransport | None = None,
    mount_from: Sequence[str] = (),
) -> PushResult:
    """Push the one image of an OCI layout to ``ref``; blobs the registry has are skipped, and
    blobs another repository of it has (``mount_from``, repository names) are mounted.

    A multi-platform image (the layout names an image index) goes up as the index's every
    manifest and blob first, each manifest by digest, then the index under ``ref``: a reader
    never meets an index whose manifests are not there yet.

    ``auth=None`` takes the credentials from the Docker config file, if it has some for the
    registry. ``insecure`` speaks plain http (a registry on loopback). The registry's digest of
    the stored manifest must equal the local one, or the push fails. ``transport`` replaces
    the network (tests give an in-memory registry).
    """
    reference = parse_reference(ref)
    image = _read_layout(layout)
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
) -> PushResult:
    """Push an OCI manifest and its blobs from wherever they are on disk (``push``'s checks:
    blobs the registry has are skipped, each upload is hashed against its digest, and the
    registry's digest of the stored manifest must be the local one)."""
    reference = parse_reference(ref)
    descriptor = Descriptor(MANIFEST_MEDIA_TYPE, _sha256(manifest), len(manifest))
    paths = {blob.digest: path for blob, path in blobs.items()}
    image = _Image(descriptor, manifest, tuple(blobs), Path(), paths)
    with _session(reference, "pull,push", insecure, auth, transport, mount_from) as session:
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
) -> Iterator[_Session]:
    credentials = auth if auth is not None else docker_credentials(reference.registry)
    base_url = f"{'http' if insecure else 'https'}://{reference.api_host}"
    scopes = (
        f"repository:{reference.repository}:{actions}",
        *(f"repository:{repository}:pull" for repository in mount_from),
    )
    try:
        with _Session(reference, base_url, credentials, scopes, transport, mount_from) as session:
            yield session
    except httpx.HTTPError as error:
        raise _transport_error(error, base_url, insecure) from error


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class _Image:
    manifest: Descriptor
    manifest_bytes: bytes
    blobs: tuple[Descriptor, ...]  # config and layers, each once
    root: Path
    paths: Mapping[str, Path] | None = None  # blobs kept elsewhere (the artifact cache)
    children: tuple[_Image, ...] = ()  # an image index's manifests, pushed before it

    def blob_path(self, digest: str) -> Path:
        if self.paths is not None:
            return self.paths[digest]
        return self.root / "blobs" / "sha256" / digest.removeprefix("sha256:")


def _read_layout(layout: Path) -> _Image:
    """The layout's single image (checked against its digest) and its blobs: an image
    manifest, or an image index of image manifests (a multi-platform build)."""
    index_path = layout / "index.json"
    index = _json_object(index_path)
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or len(manifests) != 1:
        raise RegistryError(
            "the image layout must hold exactly one image to push",
            where=str(index_path),
            hint="build one image per layout (mlenv build writes one)",
        )
    top = _descriptor(manifests[0], str(index_path))
    if top.media_type != INDEX_MEDIA_TYPE:
        return _read_manifest(layout, top, str(index_path))
    data, body, where = _read_verified(layout, top)
    listed = body.get("manifests")
    if not isinstance(listed, list) or not listed:
        raise RegistryError("the image index lists no manifests", where=where)
    children = tuple(_read_manifest(layout, _descriptor(i, where), where) for i in listed)
    return _Image(top, data, (), layout, children=children)


def _read_manifest(layout: Path, manifest: Descriptor, where: str) -> _Image:
    if manifest.media_type not in _MANIFEST_TYPES:
        raise RegistryError(
            f"cannot push a {manifest.media_type!r}: only image manifests and an OCI image "
            "index of them",
            where=where,
        )
    data, body, manifest_path = _read_verified(layout, manifest)
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise RegistryError("the manifest has no layers list", where=manifest_path)
    blobs: dict[str, Descriptor] = {}
    for item in (body.get("config"), *layers):
        descriptor = _descriptor(item, manifest_path)
        blobs.setdefault(descriptor.digest, descriptor)
    return _Image(manifest, data, tuple(blobs.values()), layout)


def _read_verified(layout: Path, descriptor: Descriptor) -> tuple[bytes, dict[str, Any], str]:
    """A manifest or index blob of the layout, checked against its digest, and parsed."""
    path = layout / "blobs" / "sha256" / descriptor.digest.removeprefix("sha256:")
    data = _read_small(path)
    if "sha256:" + hashlib.sha256(data).hexdigest() != descriptor.digest:
        raise RegistryError(
            "the manifest does not match its digest",
            where=str(path),
            hint="the layout was modified; build it again",
        )
    return data, _parse_object(data, str(path)), str(path)


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
    ) -> None:
        self._reference = reference
        self._repo = reference.repository
        self._mount_from = tuple(mount_from)
        self._client = httpx.Client(
            base_url=base_url,
            auth=_ChallengeAuth(base_url, credentials, scopes),
            transport=transport,
            verify=ssl_context(),
            timeout=_TIMEOUT,
            follow_redirects=True,
            event_hooks={"request": [functools.partial(guard_request, base_url)]},
        )

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def push(self, image: _Image, reporter: Reporter) -> PushResult:
        self._check(self._client.get("/v2/"), (200,), "the registry check (GET /v2/)")
        images = (*image.children, image)
        blobs = {blob.digest: (blob, one) for one in images for blob in one.blobs}
        missing = [(blob, one) for blob, one in blobs.values() if not self._has_blob(blob)]
        mounted = {blob.digest for blob, _ in missing if self._mount(blob)}
        sent = [(blob, one) for blob, one in missing if blob.digest not in mounted]
        total = sum(blob.size for blob, _ in sent)
        with reporter.task(f"push {self._reference}", total=total, unit="bytes") as task:
            for blob, one in sent:
                self._upload(blob, one.blob_path(blob.digest), task)
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
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > _JSON_LIMIT:  # a hostile registry does not fill the memory
                    raise RegistryError(
                        "the manifest is too big", where=_where(response.request.url)
                    )
        wanted = digest or (None if tag else self._reference.digest)
        if wanted is not None and _sha256(data) != wanted:
            raise RegistryError(
                f"the registry served a manifest whose digest is {_sha256(data)}, not {wanted}",
                where=_where(response.request.url),
                hint="the registry's storage was tampered with or is corrupted",
            )
        return data

    @contextmanager
    def blob(self, digest: str) -> Iterator[BinaryIO]:
        """The blob as a file, streamed; the caller verifies the bytes (the cache does). A
        broken transfer is the index client's transient error, so fetch retries it."""
        with self._client.stream("GET", f"/v2/{self._repo}/blobs/{digest}") as response:
            if response.status_code != 200:
                response.read()
            self._check(response, (200,), f"downloading blob {digest}")
            yield io.BufferedReader(_ResponseReader(response, _where(response.request.url)))

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
        """POST opens an upload session; one PUT, or PATCH chunks then a PUT, close it."""
        if not path.is_file() or path.stat().st_size != blob.size:
            raise RegistryError(
                f"the blob {blob.digest} is missing or not {blob.size} bytes",
                where=str(path),
                hint="the layout is incomplete; build it again",
            )
        response = self._client.post(f"/v2/{self._repo}/blobs/uploads/")
        self._check(response, (202,), f"starting the upload of {blob.digest}")
        location = self._location(response)
        digest = hashlib.sha256()
        if blob.size <= CHUNK_SIZE:
            body = path.read_bytes()
            digest.update(body)
        else:
            body = b""
            for start, chunk in _chunks(path):
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
        if body:
            task.advance(len(body))

    def _put_manifest(self, image: _Image, target: str) -> str:
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
            remote = "sha256:" + hashlib.sha256(served.content).hexdigest()
        if remote != image.manifest.digest:
            raise RegistryError(
                f"the registry stored the manifest as {remote}, not {image.manifest.digest}",
                where=str(response.request.url),
                hint="the registry rewrote the manifest; it cannot be trusted with this image",
            )
        return remote

    def _location(self, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("Location")
        where = _where(response.request.url)
        if not location:
            raise RegistryError("the registry gave no upload location", where=where)
        try:
            return httpx.URL(follow(location, base=str(response.request.url), where=where))
        except UnsafeUrlError as error:
            raise RegistryError(error.message, where=where, hint=error.hint) from None

    def _check(self, response: httpx.Response, expected: tuple[int, ...], action: str) -> None:
        if response.status_code in expected:
            return
        raise RegistryError(
            f"{action} failed: HTTP {response.status_code} {printable(response.reason_phrase, 80)}"
            f"{_error_detail(response)}",
            where=_where(response.request.url),
            hint=self._hint(response.status_code),
        )

    def _hint(self, status: int) -> str | None:
        registry = self._reference.registry
        if status == 401:
            return (
                f'log in with `docker login {registry}`, or put an "auths" entry for '
                f"{registry} into {docker_config_path()} (credential helpers are not read)"
            )
        if status == 403:
            return f"the credentials lack push access to {self._repo}"
        if status == 404:
            return f"check the registry address and the repository name {self._repo}"
        return None


_TOKEN_REALM = "mlenv-token-realm"  # request extension: this request fetches a Bearer token


def guard_request(registry: str, request: httpx.Request) -> None:
    """The wall every request to or on behalf of ``registry`` (its URL) passes, installed as
    an httpx request hook so redirects, upload ``Location``s and token requests meet it too.

    The URL must be one mlenv may follow from the registry (``origins.follow``: http(s), not
    this machine unless the registry is on it), and an ``Authorization`` header is removed
    unless ``origins.may_send_credentials`` allows it: the registry's own origin, or the
    token realm it named for a token request.
    """
    url = str(request.url)
    try:
        follow(url, base=registry, where=_where(request.url))
    except UnsafeUrlError as error:
        raise RegistryError(error.message, where=error.where, hint=error.hint) from None
    realm = bool(request.extensions.get(_TOKEN_REALM))
    if not may_send_credentials(registry, url, token_realm=realm):
        request.headers.pop("Authorization", None)


class _ChallengeAuth(httpx.Auth):
    """Answers a 401's WWW-Authenticate from the registry itself: Basic with the credentials,
    or Bearer by fetching a token from the realm (with the credentials, if any); the header is
    then sent up front, to the registry's origin only."""

    requires_response_body = True

    def __init__(
        self, registry: str, credentials: Credentials | None, scopes: tuple[str, ...]
    ) -> None:
        self._registry = registry
        self._credentials = credentials
        self._scopes = scopes
        self._header: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        own = may_send_credentials(self._registry, str(request.url))
        if self._header is not None and own:
            request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code != 401 or not own:
            return  # another host's challenge is never answered with this registry's secrets
        scheme, _, rest = response.headers.get("WWW-Authenticate", "").partition(" ")
        params = {
            key.lower(): quoted or bare for key, quoted, bare in _CHALLENGE_PARAM.findall(rest)
        }
        if scheme.lower() == "basic" and self._credentials is not None:
            header = _basic(self._credentials)
            if header == self._header:
                return  # these credentials were refused already
        elif scheme.lower() == "bearer" and params.get("realm"):
            token_response = yield self._token_request(params)
            header = f"Bearer {_token(token_response)}"
        else:
            return
        self._header = header
        request.headers["Authorization"] = header
        yield request

    def _token_request(self, params: Mapping[str, str]) -> httpx.Request:
        realm = params["realm"]
        if self._credentials is not None and not may_send_credentials(
            self._registry, realm, token_realm=True
        ):
            raise RegistryError(
                f"refusing to send the registry's credentials to the token realm {realm}",
                where=self._registry,
                hint="a token realm must be https (or the registry's own scheme) and may be on "
                "this machine only when the registry is; check the registry's address",
            )
        scopes = dict.fromkeys(scope for scope in (*self._scopes, params.get("scope")) if scope)
        query: dict[str, str | list[str]] = {"scope": list(scopes)}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {} if self._credentials is None else {"Authorization": _basic(self._credentials)}
        return httpx.Request(
            "GET", realm, params=query, headers=headers, extensions={_TOKEN_REALM: True}
        )


def _token(response: httpx.Response) -> str:
    realm = _where(response.request.url)
    if response.status_code != 200:
        raise RegistryError(
            f"the token service refused: HTTP {response.status_code} "
            f"{printable(response.reason_phrase, 80)}",
            where=realm,
            hint="check the credentials in the Docker config file (`docker login`)",
        )
    try:
        body = parse_json(response.content, where=realm)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RegistryError("the token service answered no JSON", where=realm) from error
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryError("the token service answered no token", where=realm)
    return token


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _chunks(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as stream:
        start = 0
        while chunk := stream.read(CHUNK_SIZE):
            yield start, chunk
            start += len(chunk)


def _where(url: httpx.URL) -> str:
    """A URL for messages: upload-session state in the query is noise; secrets are masked."""
    return redact(str(url.copy_with(query=None)))


def _error_detail(response: httpx.Response) -> str:
    """The registry's own error codes (distribution spec), when it sent them: the first few,
    shortened and without control characters (a registry's text never drives the terminal)."""
    try:
        errors = parse_json(response.content, where="").get("errors")
    except (ValueError, AttributeError, LimitError):
        return ""
    if not isinstance(errors, list):
        return ""
    parts = [
        f"{printable(item.get('code'), 40)}: {printable(item.get('message'))}"
        for item in errors[:3]
        if isinstance(item, dict)
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def _transport_error(error: httpx.HTTPError, base_url: str, insecure: bool) -> RegistryError:
    where = _where(error.request.url) if _has_request(error) else base_url
    hint = certificate_hint(error) or f"is a registry listening at {base_url}?"
    if insecure or certificate_hint(error):
        pass
    elif "SSL" in str(error) or "TLS" in str(error):
        hint = "a registry that speaks plain http (e.g. on loopback) needs --insecure"
    else:
        hint += " A plain-http registry needs --insecure."
    return RegistryError(f"cannot talk to the registry: {error}", where=where, hint=hint)


def _has_request(error: httpx.HTTPError) -> bool:
    try:
        error.request  # noqa: B018 - raises when the error happened before any request
    except RuntimeError:
        return False
    return True


def _config_host(key: str) -> str:
    """config.json keys are written as host, host:port or a URL with a path."""
    return key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]


def _entry_credentials(entry: Mapping[str, Any], where: str) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise RegistryError(
                "the stored credentials are not base64 of user:password",
                where=where,
                hint="run `docker login` again",
            ) from error
        username, colon, password = decoded.partition(":")
        if not colon:
            raise RegistryError(
                "the stored credentials are not base64 of user:password",
                where=where,
                hint="run `docker login` again",
            )
        return Credentials(username, password)
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str):
        return Credentials(user, secret)
    return None


def _json_object(path: Path) -> dict[str, Any]:
    return _parse_object(_read_small(path), str(path))


def _read_small(path: Path) -> bytes:
    if not path.is_file():
        raise RegistryError("not found", where=str(path), hint="is this an OCI image layout?")
    if path.stat().st_size > _JSON_LIMIT:
        raise RegistryError("too big to be image metadata", where=str(path))
    return path.read_bytes()


def _parse_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = parse_json(data, where=where)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RegistryError(f"invalid JSON: {error}", where=where) from error
    if not isinstance(value, dict):
        raise RegistryError("expected a JSON object", where=where)
    return value


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise RegistryError("expected a descriptor object", where=where)
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if (
        not isinstance(media_type, str)
        or not isinstance(digest, str)
        or not _DIGEST.fullmatch(digest)
        or not isinstance(size, int)
        or size < 0
    ):
        raise RegistryError(
            "a descriptor needs a media type, a sha256 digest and a size", where=where
        )
    return Descriptor(media_type, digest, size)
