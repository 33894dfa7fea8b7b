"""What a push sends: an OCI layout's one image (a manifest, or an index of manifests), read
and checked against its digests, and the blobs it names. Pure reading; ``oci.registry`` sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlenv.digests import is_sha256_digest
from mlenv.errors import printable
from mlenv.oci.model import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Descriptor,
    OciError,
    is_size,
    parse_json,
)
from mlenv.oci.read import DirSource, read_blob
from mlenv.oci.reference import RegistryError

TITLE = "org.opencontainers.image.title"  # an annotation: a layer's file name
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE)


@dataclass(frozen=True)
class PushImage:
    manifest: Descriptor
    manifest_bytes: bytes
    blobs: tuple[Descriptor, ...]  # config and layers, each once
    root: Path
    paths: Mapping[str, Path] | None = None  # blobs kept elsewhere (the artifact cache)
    children: tuple[PushImage, ...] = ()  # an image index's manifests, pushed before it

    def blob_label(self, digest: str) -> str:
        """What the user knows a blob of this image as, for messages that name its digest: a
        bundle layer's title (the artifact's file name), ``layer N of M``, or the config."""
        try:
            body = parse_json(self.manifest_bytes, where="")
        except OciError:
            return digest
        if not isinstance(body, dict):
            return digest
        config = body.get("config")
        if isinstance(config, dict) and config.get("digest") == digest:
            return f"the image config {digest}"
        layers = body.get("layers")
        layers = layers if isinstance(layers, list) else []
        for number, layer in enumerate(layers, 1):
            if isinstance(layer, dict) and layer.get("digest") == digest:
                annotations = layer.get("annotations")
                title = annotations.get(TITLE) if isinstance(annotations, dict) else None
                name = title if isinstance(title, str) else f"layer {number} of {len(layers)}"
                return f"{printable(name, 120)} ({digest})"
        return digest

    def blob_path(self, digest: str) -> Path:
        if self.paths is not None:
            return self.paths[digest]
        return self.root / "blobs" / "sha256" / digest.removeprefix("sha256:")


def read_layout(layout: Path) -> PushImage:
    """The layout's single image (checked against its digest) and its blobs: an image
    manifest, or an image index of image manifests (a multi-platform build)."""
    index_path = layout / "index.json"
    index = _parse_object(_layout_file(layout, "index.json"), str(index_path))
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
    return PushImage(top, data, (), layout, children=children)


def _read_manifest(layout: Path, manifest: Descriptor, where: str) -> PushImage:
    if manifest.media_type not in MANIFEST_TYPES:
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
    return PushImage(manifest, data, tuple(blobs.values()), layout)


def _read_verified(layout: Path, descriptor: Descriptor) -> tuple[bytes, dict[str, Any], str]:
    """A manifest or index blob of the layout, read by the OCI layout reader (checked against
    its digest and size), and parsed."""
    path = layout / "blobs" / "sha256" / descriptor.digest.removeprefix("sha256:")
    try:
        data = read_blob(DirSource(layout), descriptor)
    except OciError as error:
        raise RegistryError(error.message, where=error.where, hint=error.hint) from None
    return data, _parse_object(data, str(path)), str(path)


def _layout_file(layout: Path, name: str) -> bytes:
    try:
        return DirSource(layout).read_file(name)
    except OciError as error:
        raise RegistryError(
            error.message, where=error.where, hint="is this an OCI image layout?"
        ) from None


def _parse_object(data: bytes, where: str) -> dict[str, Any]:
    """A JSON object read by the OCI reader's rule, failing as the registry client does."""
    try:
        value: dict[str, Any] = parse_json(data, where)
    except OciError as error:
        raise RegistryError(error.message, where=error.where) from error
    return value


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise RegistryError("expected a descriptor object", where=where)
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if (
        not isinstance(media_type, str)
        or not isinstance(digest, str)
        or not is_sha256_digest(digest)
        or not is_size(size)
    ):
        raise RegistryError(
            "a descriptor needs a media type, a sha256 digest and a size", where=where
        )
    return Descriptor(media_type, digest, size)
