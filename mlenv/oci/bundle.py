"""A bundle kept in an OCI registry instead of a directory: the air-gap transport and the
shared cache of a fleet.

``oci://REGISTRY/REPO:TAG`` names an OCI artifact manifest (``artifactType``
``application/vnd.mlenv.bundle.v1+json``, an empty config as the image spec's artifact
guidance asks) whose layers are the manifest, the lock and every locked artifact. Each blob's
digest *is* the lock's sha256, so the registry deduplicates artifacts across locks and no
artifact is hashed to be named; each layer carries ``org.opencontainers.image.title`` (its file
name), so ``oras pull`` writes the files out. Reading back goes through the artifact cache's
verified write: a blob whose bytes do not match the lock never enters the cache.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from mlenv.cache.artifacts import Artifact, ArtifactCache, IntegrityError
from mlenv.cache.bundle import shareable_manifest
from mlenv.cache.download import FetchResult, Opener, fetch
from mlenv.cache.held import hash_file
from mlenv.cache.lock_artifacts import missing_error
from mlenv.errors import MlenvError
from mlenv.limits import parse_json
from mlenv.oci.model import MANIFEST_MEDIA_TYPE, Descriptor, canonical_json
from mlenv.oci.push_image import TITLE as TITLE  # a layer's file name, as bundles name it
from mlenv.oci.reference import RegistryError, mount_sources, parse_reference
from mlenv.oci.registry import push_manifest, reader
from mlenv.oci.registry_session import PushResult
from mlenv.report import Reporter

SCHEME = "oci://"
ARTIFACT_TYPE = "application/vnd.mlenv.bundle.v1+json"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
MANIFEST_LAYER = "application/vnd.mlenv.manifest.v1+toml"
LOCK_LAYER = "application/vnd.mlenv.lock.v1+toml"
ARTIFACT_LAYER = "application/vnd.mlenv.artifact.v1"
PACKAGE = "org.mlenv.package"


class BundleRefError(MlenvError):
    """An ``oci://`` bundle that is not one mlenv wrote, or lacks what the lock needs."""


def is_registry(location: str) -> bool:
    return location.startswith(SCHEME)


def image_ref(location: str) -> str:
    """``oci://REGISTRY/REPO:TAG`` as the image reference the registry client reads."""
    return location.removeprefix(SCHEME)


@dataclass(frozen=True)
class _Layer:
    descriptor: Descriptor
    path: Path
    title: str
    package: str | None = None

    def to_json(self) -> dict[str, Any]:
        annotations = {TITLE: self.title}
        if self.package is not None:
            annotations[PACKAGE] = self.package
        return {**self.descriptor.to_json(), "annotations": annotations}


def _file_name(artifact: Artifact) -> str:
    return unquote(urlsplit(artifact.url).path.rsplit("/", 1)[-1]) or artifact.sha256


def bundle_manifest(
    manifest_path: Path,
    lock_path: Path,
    artifacts: Sequence[Artifact],
    cache: ArtifactCache,
    scratch: Path,
    manifest_bytes: bytes | None = None,
) -> tuple[bytes, dict[Descriptor, Path]]:
    """The artifact manifest (byte-stable: the same lock gives the same digest) and the file of
    every blob; the empty config is written into ``scratch``."""
    empty = scratch / "empty.json"
    empty.write_bytes(EMPTY)
    shared = scratch / "mlenv.toml"
    shared.write_bytes(shareable_manifest(manifest_path, manifest_bytes))
    config = Descriptor(EMPTY_MEDIA_TYPE, "sha256:" + hash_file(empty), len(EMPTY))
    layers = [
        _Layer(Descriptor(media, "sha256:" + hash_file(path), path.stat().st_size), path, title)
        for media, path, title in (
            (MANIFEST_LAYER, shared, "mlenv.toml"),
            (LOCK_LAYER, lock_path, "mlenv.lock"),
        )
    ]
    layers += [
        _Layer(
            Descriptor(ARTIFACT_LAYER, f"sha256:{a.sha256}", a.size),
            _cached(cache, a),
            _file_name(a),
            a.name,
        )
        for a in artifacts
    ]
    document = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {**config.to_json(), "data": "e30="},
        "layers": [layer.to_json() for layer in layers],
    }
    blobs = {config: empty, **{layer.descriptor: layer.path for layer in layers}}
    return canonical_json(document), blobs


def _cached(cache: ArtifactCache, artifact: Artifact) -> Path:
    """The cache file of ``artifact``: a plain file, else a CacheError naming it. The upload
    hashes the bytes it sends against the digest, so a file swapped later fails the push."""
    with cache.open(artifact):
        return cache.path(artifact.sha256)


def push_bundle(
    location: str,
    manifest_path: Path,
    lock_path: Path,
    artifacts: Sequence[Artifact],
    cache: ArtifactCache,
    *,
    insecure: bool,
    reporter: Reporter,
    mount_from: Sequence[str] = (),
    manifest_bytes: bytes | None = None,
) -> PushResult:
    """Every artifact (already verified in the cache) to the registry; the ones it holds, from
    this or any earlier lock, are not uploaded again, and the ones another repository of it
    holds (``mount_from``: the shared cache, other bundles) are mounted, not uploaded."""
    ref = image_ref(location)
    with tempfile.TemporaryDirectory(prefix="mlenv-bundle-") as scratch:
        data, blobs = bundle_manifest(
            manifest_path, lock_path, artifacts, cache, Path(scratch), manifest_bytes
        )
        return push_manifest(
            ref, data, blobs, insecure=insecure, reporter=reporter,
            mount_from=mount_sources(ref, mount_from),
        )  # fmt: skip


class _Blobs(Protocol):
    def blob(self, digest: str) -> AbstractContextManager[BinaryIO]: ...

    def has(self, digest: str) -> bool: ...


class BlobOpener:
    """fetch's Opener over one registry session: an artifact's URL here ends in its digest."""

    def __init__(self, session: _Blobs) -> None:
        self._session = session

    def open(self, url: str) -> AbstractContextManager[BinaryIO]:
        return self._session.blob(url.rpartition("@")[2])


def _listed(data: bytes, where: str) -> set[str]:
    """The digests of an mlenv bundle manifest's layers; anything else (another kind of
    manifest, an image index, a layer that is not a descriptor) is refused before any blob is
    read. Only digests are taken: a layer's title or size never names or sizes a cache file,
    the lock does."""
    try:
        document = parse_json(data, where=where)
        kind = [document.get(key) for key in ("schemaVersion", "mediaType", "artifactType")]
        layers = document["layers"] if kind == [2, MANIFEST_MEDIA_TYPE, ARTIFACT_TYPE] else None
        digests = {layer["digest"] for layer in layers} if isinstance(layers, list) else None
        if digests is not None and not all(isinstance(d, str) for d in digests):
            digests = None
    except (ValueError, KeyError, TypeError, AttributeError):
        digests = None
    if digests is None:
        raise BundleRefError(
            f"not an mlenv bundle (an OCI image manifest of artifactType {ARTIFACT_TYPE} with "
            "a layers list)",
            where=where,
            hint="push one with `mlenv fetch --bundle oci://REGISTRY/REPO:TAG`",
        )
    return digests


def fetch_from(
    location: str,
    artifacts: Sequence[Artifact],
    cache: ArtifactCache,
    *,
    insecure: bool,
    reporter: Reporter,
    jobs: int = 4,
) -> FetchResult:
    """Fill the cache from a registry bundle with fetch's guarantees: each blob streamed into
    the cache's verified write (the lock's sha256 and size), retried on transient failures,
    never half there; the bundle must list every artifact the lock needs."""
    ref = image_ref(location)
    with reader(ref, insecure=insecure) as session:
        listed = _listed(session.manifest(), location)
        absent = [a for a in artifacts if f"sha256:{a.sha256}" not in listed]
        if absent:
            hint = f"push the bundle again from this lock: `mlenv fetch --bundle {location}`"
            raise missing_error(absent, location, hint)
        named = parse_reference(ref)
        base = f"{SCHEME}{named.registry}/{named.repository}"
        remote = [replace(a, url=f"{base}@sha256:{a.sha256}") for a in artifacts]
        return fetch(remote, cache, BlobOpener(session), reporter=reporter, jobs=jobs)


# ---------------------------------------------------------------------------------------------
# The fleet's shared cache

CACHE_REGISTRY_ENV = "MLENV_CACHE_REGISTRY"


def cache_registry(configured: str | None, environ: Mapping[str, str]) -> str | None:
    """``$MLENV_CACHE_REGISTRY`` (a runner's setting wins), else ``[cache] registry``."""
    value = environ.get(CACHE_REGISTRY_ENV) or configured
    if value is not None and (
        not is_registry(value) or "@" in value or ":" in value.rpartition("/")[2]
    ):
        raise BundleRefError(
            f"{value!r} is not an oci:// registry repository",
            where=CACHE_REGISTRY_ENV if environ.get(CACHE_REGISTRY_ENV) else "[cache] registry",
            hint="write oci://REGISTRY/REPOSITORY without a tag, e.g. "
            "oci://registry.internal:5000/mlenv/cache",
        )
    return value


def cache_tag(lock_bytes: bytes) -> str:
    """The tag that keeps one lock's artifacts referenced (a registry's garbage collector
    deletes blobs no manifest names): the same lock always maps to the same tag."""
    return "lock-" + hashlib.sha256(lock_bytes).hexdigest()[:32]


class _Shared:
    """fetch's Opener that takes each artifact from the shared cache when it has it, else
    from the index; bytes from either go through the cache's verified write."""

    def __init__(
        self, session: _Blobs, fallback: Opener, digests: Mapping[str, str], where: str
    ) -> None:
        self._session = session
        self._fallback = fallback
        self._digests = digests
        self._where = where
        self.hits: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def open(self, url: str) -> Iterator[BinaryIO]:
        """From the shared cache if it has the blob and serves it, else from the index: a
        shared cache that fails in the middle of a fetch only slows it down (the lock's
        hashes judge the bytes either way)."""
        digest = self._digests[url]
        with ExitStack() as stack:
            stream: BinaryIO | None = None
            try:
                if self._session.has(digest):
                    stream = stack.enter_context(self._session.blob(digest))
            except RegistryError:
                pass  # the index it is
            if stream is None:
                yield stack.enter_context(self._fallback.open(url))
                return
            try:
                yield stream
            except IntegrityError as error:
                raise IntegrityError(
                    f"the shared cache serves other bytes for {digest} than the lock names "
                    f"({error.message})",
                    where=f"{self._where}@{digest}",
                    hint="its storage was tampered with or is corrupted; delete the blob from "
                    f"the registry (or unset {CACHE_REGISTRY_ENV} / [cache] registry) and fetch "
                    "again. Nothing was stored",
                ) from None
        with self._lock:
            self.hits.add(digest)


@dataclass(frozen=True)
class SharedResult:
    fetched: FetchResult
    from_registry: int  # of ``fetched.fetched``: the rest came from the indexes


def fetch_shared(
    registry: str,
    artifacts: Sequence[Artifact],
    cache: ArtifactCache,
    fallback: Opener,
    *,
    insecure: bool,
    reporter: Reporter,
    jobs: int = 4,
) -> SharedResult:
    """Fetch with the shared cache in front of the indexes. A shared cache that cannot be
    reached is a warning, not a failure: the indexes still serve every artifact."""
    digests = {a.url: f"sha256:{a.sha256}" for a in artifacts}
    try:
        with reader(image_ref(registry), insecure=insecure) as probe:
            probe.has(next(iter(digests.values()), "sha256:" + "0" * 64))
    except RegistryError as error:
        reporter.warning(f"the shared cache is unavailable, fetching from the indexes: {error}")
        return SharedResult(fetch(artifacts, cache, fallback, reporter=reporter, jobs=jobs), 0)
    with reader(image_ref(registry), insecure=insecure) as session:
        opener = _Shared(session, fallback, digests, registry)
        result = fetch(artifacts, cache, opener, reporter=reporter, jobs=jobs)
        return SharedResult(result, len(opener.hits))
