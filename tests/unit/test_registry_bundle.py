"""The registry bundle's manifest and the shared cache's settings, without a registry."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from mlenv.cache.artifacts import Artifact, ArtifactCache, CacheError, IntegrityError
from mlenv.limits import LimitError
from mlenv.oci.bundle import (
    ARTIFACT_TYPE,
    CACHE_REGISTRY_ENV,
    TITLE,
    BundleRefError,
    _listed,
    _Shared,
    bundle_manifest,
    cache_registry,
    cache_tag,
)
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import reader


def stored(cache: ArtifactCache, name: str, data: bytes) -> Artifact:
    sha = hashlib.sha256(data).hexdigest()
    artifact = Artifact(
        name, f"https://files.example/pkgs/{name}-1.0-py3-none-any.whl", sha, len(data)
    )
    cache.add(artifact, [data])
    return artifact


def test_the_manifest_names_every_blob_by_the_locks_sha256_and_is_byte_stable(
    tmp_path: Path,
) -> None:
    """Guards the artifact manifest: lock digests unchanged, titled layers for ORAS, our
    artifactType, an empty config, and the same bytes for the same lock (dedup of pushes)."""
    cache = ArtifactCache(tmp_path / "cache")
    artifacts = [stored(cache, "a", b"first"), stored(cache, "b", b"second")]
    (tmp_path / "mlenv.toml").write_text("[environment]\n")
    (tmp_path / "mlenv.lock").write_text("# lock\n")
    args = (tmp_path / "mlenv.toml", tmp_path / "mlenv.lock", artifacts, cache)
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    data, blobs = bundle_manifest(*args, tmp_path / "s1")
    again, _ = bundle_manifest(*args, tmp_path / "s2")
    assert data == again
    document = json.loads(data)
    assert document["artifactType"] == ARTIFACT_TYPE
    assert document["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    assert document["config"]["digest"] == "sha256:" + hashlib.sha256(b"{}").hexdigest()
    layers = {layer["annotations"][TITLE]: layer for layer in document["layers"]}
    assert layers["a-1.0-py3-none-any.whl"]["digest"] == f"sha256:{artifacts[0].sha256}"
    assert layers["b-1.0-py3-none-any.whl"]["size"] == len(b"second")
    assert sorted(layers) == [
        "a-1.0-py3-none-any.whl",
        "b-1.0-py3-none-any.whl",
        "mlenv.lock",
        "mlenv.toml",
    ]
    assert {d.digest: p for d, p in blobs.items()}[f"sha256:{artifacts[0].sha256}"] == cache.path(
        artifacts[0].sha256
    )


def test_a_bundle_needs_every_artifact_in_the_cache(tmp_path: Path) -> None:
    """Guards against pushing a bundle with a hole: an artifact the cache lacks is an error."""
    cache = ArtifactCache(tmp_path / "cache")
    missing = Artifact("gone 1.0", "https://x/gone.whl", "0" * 64, 3)
    (tmp_path / "m").write_text("")
    with pytest.raises(CacheError, match="not in the cache"):
        bundle_manifest(tmp_path / "m", tmp_path / "m", [missing], cache, tmp_path)


@pytest.mark.parametrize(
    "document",
    [
        {"schemaVersion": 2, "layers": []},  # an image, not an mlenv bundle
        {"artifactType": "application/vnd.other+json", "layers": []},
        {"artifactType": ARTIFACT_TYPE, "layers": "all"},
        {"artifactType": ARTIFACT_TYPE, "layers": [{"size": 1}]},
        ["not", "an", "object"],
    ],
)
def test_only_mlenv_bundles_are_read(document: object) -> None:
    """Guards --from against another artifact or image under the same reference."""
    with pytest.raises(BundleRefError, match="not an mlenv bundle"):
        _listed(json.dumps(document).encode(), "oci://r/x:1")


def test_a_manifest_that_is_not_the_pinned_digest_is_refused() -> None:
    """Guards --from REF@sha256: a registry serving other manifest bytes is not believed."""
    pinned = "sha256:" + hashlib.sha256(b'{"a":1}').hexdigest()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"a":2}')

    with (
        pytest.raises(RegistryError, match="not " + pinned),
        reader(f"reg.test/x@{pinned}", transport=httpx.MockTransport(handle)) as session,
    ):
        session.manifest()


@pytest.mark.parametrize(
    ("configured", "environ", "expected"),
    [
        (None, {}, None),
        ("oci://r:5000/fleet/cache", {}, "oci://r:5000/fleet/cache"),
        ("oci://r:5000/fleet/cache", {CACHE_REGISTRY_ENV: "oci://other/c"}, "oci://other/c"),
        (None, {CACHE_REGISTRY_ENV: ""}, None),
    ],
)
def test_the_runner_setting_wins(
    configured: str | None, environ: dict[str, str], expected: str | None
) -> None:
    """Guards the precedence: a runner's MLENV_CACHE_REGISTRY over the manifest's [cache]."""
    assert cache_registry(configured, environ) == expected


@pytest.mark.parametrize(
    "value", ["r:5000/fleet/cache", "https://r/fleet", "oci://r/c@sha256:" + "0" * 64]
)
def test_a_bad_shared_cache_setting_is_an_error(value: str) -> None:
    """Guards against a mistyped MLENV_CACHE_REGISTRY being ignored or half-understood."""
    with pytest.raises(BundleRefError) as caught:
        cache_registry(None, {CACHE_REGISTRY_ENV: value})
    assert caught.value.where == CACHE_REGISTRY_ENV


def test_the_cache_tag_is_one_per_lock() -> None:
    """Guards the per-lock tag: the same lock always the same tag, another lock another."""
    assert cache_tag(b"lock a") == cache_tag(b"lock a") != cache_tag(b"lock b")
    assert len(cache_tag(b"x")) <= 128


def test_a_huge_manifest_is_not_read_into_memory() -> None:
    """Guards the size bound on what a registry sends as a manifest (every answer but a blob
    is bounded by ``oci.auth.bound_answer``; ``manifest`` counts too)."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b" " * (1 << 20)] * 17))

    with (
        pytest.raises((RegistryError, LimitError), match=r"too big|more than 16,777,216"),
        reader("reg.test/x:1", transport=httpx.MockTransport(handle)) as session,
    ):
        session.manifest()


# ---------------------------------------------------------------------------------------------
# A shared cache that fails in the middle of a fetch (_Shared, fetch's opener in front of the
# indexes): the index serves what the registry would not


class Blobs:
    """A registry session: ``has``/``blob`` answer from ``blobs`` or raise ``failure``."""

    def __init__(self, blobs: dict[str, bytes], failure: str = "") -> None:
        self.blobs, self.failure = blobs, failure

    def has(self, digest: str) -> bool:
        if self.failure == "has":
            raise RegistryError("the check for blob failed: HTTP 503", where="registry")
        return digest in self.blobs

    @contextmanager
    def blob(self, digest: str) -> Iterator[BinaryIO]:
        if self.failure == "blob":
            raise RegistryError("downloading blob failed: HTTP 502", where="registry")
        yield io.BytesIO(self.blobs[digest])


class Index:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.opened = files, list[str]()

    @contextmanager
    def open(self, url: str) -> Iterator[BinaryIO]:
        self.opened.append(url)
        yield io.BytesIO(self.files[url])


URL, DIGEST = "https://files.example/a.whl", "sha256:" + "a" * 64


@pytest.mark.parametrize("failure", ["has", "blob"])
def test_a_shared_cache_failing_mid_fetch_leaves_the_artifact_to_the_index(failure: str) -> None:
    """Guards that the shared cache only speeds a fetch up: once the registry fails (after
    the client's bounded repetitions) the index serves the artifact, and it counts as no hit.
    Before, the fetch failed with the registry's error."""
    index = Index({URL: b"from the index"})
    shared = _Shared(Blobs({DIGEST: b"from the registry"}, failure), index, {URL: DIGEST}, "r")
    with shared.open(URL) as stream:
        assert stream.read() == b"from the index"
    assert index.opened == [URL] and shared.hits == set()


def test_a_shared_cache_serving_the_blob_is_used_and_counted() -> None:
    index = Index({URL: b"from the index"})
    shared = _Shared(Blobs({DIGEST: b"from the registry"}), index, {URL: DIGEST}, "r")
    with shared.open(URL) as stream:
        assert stream.read() == b"from the registry"
    assert index.opened == [] and shared.hits == {DIGEST}


def test_other_bytes_from_the_shared_cache_are_still_an_integrity_error() -> None:
    """Guards that falling back is for a registry that fails, never for one that lies."""
    shared = _Shared(Blobs({DIGEST: b"x"}), Index({}), {URL: DIGEST}, "oci://r")
    with (
        pytest.raises(IntegrityError, match="the shared cache serves other bytes"),
        shared.open(URL),
    ):
        raise IntegrityError("sha256 mismatch", where="cache")
