"""Base images from a registry, pinned by digest, pulled by ``fetch`` into the artifact cache
and laid out there as an OCI image layout that ``build`` reads offline.

``[build] base-image = "REGISTRY/REPO@sha256:…"`` names a registry image (a local layout is a
path); a tag can move, so it is refused with the digest it resolves to today. An image index
(multi-platform image, Docker manifest list) is narrowed to the lock's platforms. Every blob
and manifest is checked against its digest on the way into the cache, and ``oci.read_base``
checks every blob again when the build reads the layout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlenv.atomic import replace_dir, work_dir
from mlenv.cache import BASE_IMAGES
from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.digests import is_sha256_digest, is_sha256_hex
from mlenv.errors import MlenvError
from mlenv.limits import parse_json
from mlenv.manifest import Manifest
from mlenv.oci.model import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, is_size
from mlenv.oci.reference import Reference, parse_reference
from mlenv.platforms import by_name
from mlenv.report import Reporter
from mlenv.userfiles import input_kind

WHERE = "[build] base-image"
_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
_INDEXES = (INDEX_MEDIA_TYPE, _DOCKER_LIST)
_ACCEPT = (MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE, _DOCKER_MANIFEST, _DOCKER_LIST)


class BaseImageError(MlenvError):
    """A registry base image that is not pinned, not in the cache, or not for the platform."""


def registry_base(value: str | None) -> Reference | None:
    """The registry image ``[build] base-image`` names, or None for a local layout: a first
    component that is a host (a dot, a port or localhost) and a tag or digest."""
    if value is None:
        return None
    first, slash, rest = value.partition("/")
    host = "." in first.strip(".") or ":" in first or first == "localhost"
    if not slash or not host or not ("@" in rest or ":" in rest.rpartition("/")[2]):
        return None
    return parse_reference(value)


def layout_dir(cache: ArtifactCache, digest: str) -> Path:
    return cache.root / BASE_IMAGES / digest.removeprefix("sha256:")


def layout_digest(layout: Path) -> str | None:
    """The digest a pulled base image's layout is kept under (``layout_dir``), which the build
    holds it to (``oci.read_base(digest=)``): the cache is shared, and a layout planted under a
    pinned digest's key must not serve another image. None for a layout the manifest names."""
    name = layout.name
    if layout.parent.name != BASE_IMAGES or not is_sha256_hex(name):
        return None
    return f"sha256:{name}"


def _pinned(reference: Reference, resolved: str | None) -> str:
    if reference.digest is not None:
        return reference.digest
    pin = f"{reference.registry}/{reference.repository}@{resolved or 'sha256:…'}"
    raise BaseImageError(
        f"the base image {reference} names a tag, which can move: builds would not be reproducible",
        where=WHERE,
        hint=f'pin its digest: base-image = "{pin}"'
        + ("" if resolved else " (run `mlenv fetch` to resolve it)"),
    )


def pinned_base(manifest: Manifest, cache: ArtifactCache) -> Manifest:
    """The manifest with a registry base image replaced by its layout in the cache, which
    ``fetch`` wrote; a local layout is left alone."""
    reference = registry_base(manifest.build.base_image)
    if reference is None:
        return manifest
    layout = layout_dir(cache, _pinned(reference, None))
    try:
        input_kind(
            layout / "index.json",
            "cached base image index",
            expected="a plain file",
            directories=False,
        )
    except FileNotFoundError:
        raise BaseImageError(
            f"the base image {reference} is not in the cache",
            where=str(layout),
            hint="run `mlenv fetch` on a connected machine (it pulls the base image too)",
        ) from None
    build = dataclasses.replace(manifest.build, base_image=str(layout))
    return dataclasses.replace(manifest, build=build)


def _document(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = parse_json(data, where=where)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BaseImageError(
            "the registry served a manifest that is not a JSON object", where=where
        )
    return value


def _media_type(document: dict[str, Any]) -> str:
    declared = document.get("mediaType")
    if isinstance(declared, str):
        return declared
    return INDEX_MEDIA_TYPE if "manifests" in document else MANIFEST_MEDIA_TYPE


def _platform_entry(index: dict[str, Any], platform: str, where: str) -> dict[str, Any]:
    architecture = by_name(platform).oci_architecture
    entries = [
        entry
        for entry in index.get("manifests") or []
        if isinstance(entry, dict)
        and isinstance(entry.get("platform"), dict)
        and entry["platform"].get("architecture") == architecture
        and entry["platform"].get("os") == "linux"
    ]
    if len(entries) != 1:
        raise BaseImageError(
            f"the base image index has {len(entries)} manifests for linux/{architecture} "
            f"({platform}), not one",
            where=where,
            hint="use a base image built for the lock's platforms",
        )
    return entries[0]


def pull_base(
    value: str,
    platforms: Sequence[str],
    cache: ArtifactCache,
    *,
    insecure: bool,
    reporter: Reporter,
    jobs: int = 4,
) -> Path:
    """Pull the pinned base image for ``platforms`` into the cache and lay it out there."""
    from mlenv.cache.download import fetch  # the registry client, only for a pull
    from mlenv.oci.bundle import BlobOpener
    from mlenv.oci.registry import reader

    reference = registry_base(value)
    assert reference is not None, value
    with reader(value, insecure=insecure) as session:
        resolved = None
        if reference.digest is None:
            resolved = "sha256:" + hashlib.sha256(session.manifest(accept=_ACCEPT)).hexdigest()
        digest = _pinned(reference, resolved)
        where = f"{reference.registry}/{reference.repository}"
        top = session.manifest(digest, accept=_ACCEPT)
        top_document = _document(top, f"{where}@{digest}")
        manifests = {digest: top}
        images = [top_document]
        if _media_type(top_document) in _INDEXES:
            images = []
            for platform in platforms:
                entry = _platform_entry(top_document, platform, f"{where}@{digest}")
                chosen = "sha256:" + _descriptor(entry, f"{where}@{digest}").sha256
                data = session.manifest(chosen, accept=_ACCEPT)
                manifests[chosen] = data
                images.append(_document(data, f"{where}@{chosen}"))
        blobs: dict[str, Artifact] = {}
        for image in images:
            for item in [image.get("config"), *(image.get("layers") or [])]:
                found = _descriptor(item, where)
                blobs["sha256:" + found.sha256] = found
        fetch(list(blobs.values()), cache, BlobOpener(session), reporter=reporter, jobs=jobs)
    for named, data in manifests.items():
        cache.add(_artifact(where, named, len(data)), [data])
    return _write_layout(cache, digest, _media_type(top_document), len(top), [*manifests, *blobs])


def _artifact(where: str, digest: str, size: int) -> Artifact:
    """A blob as the cache stores it: by the hex of its digest, verified on the way in."""
    return Artifact(f"base image {where}", f"oci://{where}@{digest}", digest[7:], size)


def _descriptor(item: object, where: str) -> Artifact:
    """A descriptor from the registry, its digest and size checked before any path is built."""
    digest = item.get("digest") if isinstance(item, dict) else None
    size = item.get("size") if isinstance(item, dict) else None
    if not isinstance(digest, str) or not is_sha256_digest(digest) or not is_size(size):
        raise BaseImageError(
            "a manifest entry is not a descriptor with a sha256 digest and a size", where=where
        )
    return _artifact(where, digest, size)


def _write_layout(
    cache: ArtifactCache, digest: str, media_type: str, size: int, blobs: Sequence[str]
) -> Path:
    """An OCI layout of the cached blobs (hard links, copies across file systems)."""
    dest = layout_dir(cache, digest)
    with work_dir(dest) as scratch:
        work = scratch / "layout"
        (work / "blobs" / "sha256").mkdir(parents=True)
        (work / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        index = {
            "schemaVersion": 2,
            "manifests": [{"mediaType": media_type, "digest": digest, "size": size}],
        }
        (work / "index.json").write_text(json.dumps(index, sort_keys=True))
        for blob in blobs:
            source = cache.path(blob.removeprefix("sha256:"))
            target = work / "blobs" / "sha256" / blob.removeprefix("sha256:")
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        replace_dir(work, dest)
    return dest
