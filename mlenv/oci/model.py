"""The OCI image model: media types, descriptors, the canonical JSON every blob is written in,
and the checked parsing of image metadata that the reader, the writer and the registry client
share.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from mlenv import limits
from mlenv.digests import is_sha256_digest
from mlenv.errors import MlenvError, printable
from mlenv.platforms import NAMES, by_name

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
LOCK_LABEL = "dev.mlenv.lock-sha256"
# sha256 of the CycloneDX SBOM `mlenv build` writes beside the image (dist/sbom.cdx.json)
SBOM_LABEL = "dev.mlenv.sbom-sha256"
# The PATH a base image without one would get from Docker and containerd.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MANIFEST_TYPES = {MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json"}
INDEX_TYPES = {INDEX_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.list.v2+json"}
CONFIG_TYPES = {CONFIG_MEDIA_TYPE, "application/vnd.docker.container.image.v1+json"}
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": (
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ),
}
# index.json, oci-layout, manifests and configs are small; a bigger one is not an image.
JSON_LIMIT = 16 << 20


class OciError(MlenvError):
    """An image, a base image or an image reference is invalid, corrupt or unusable."""


def canonical_json(value: object) -> bytes:
    """The one JSON rendering used for every blob, so equal values give equal digests."""
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(epoch: int) -> str:
    """An integer epoch as RFC 3339 in UTC; never the clock or the local time zone."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def _reject_floats(value: object) -> None:
    """Floats render differently across JSON libraries; images carry none."""
    if isinstance(value, float):
        raise OciError(f"image JSON must not hold floats ({value!r})")
    if isinstance(value, Mapping):
        for item in value.values():
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)


def architecture_of(platform: str) -> str:
    try:
        return by_name(platform).oci_architecture
    except KeyError:
        raise OciError(
            f"no OCI architecture for platform {platform!r}",
            hint=f"use one of {', '.join(sorted(NAMES))}",
        ) from None


def hex_of(digest: str) -> str:
    """The file name of a blob; checked first so a digest can never walk out of blobs/."""
    if not is_sha256_digest(digest):
        raise OciError(f"unsupported or malformed digest {digest!r}", hint="only sha256 is used")
    return digest.removeprefix("sha256:")


def parse_json(data: bytes, where: str, *, one_spelling: bool = False) -> Any:
    """An image document (oci-layout, index, manifest, config) as an object; anything else is
    an OciError naming ``where``: not UTF-8, not JSON, or a number past CPython's digit limit
    for ``int`` (a plain ValueError, not a JSONDecodeError). ``one_spelling`` for a document
    no digest holds that other tools read after mlenv (a layout's index.json): see
    ``_one_spelling``. Read as UTF-8 without a byte-order mark, as Go's readers (skopeo,
    umoci, containerd) read it: ``json.loads`` of bytes also took a BOM, UTF-16 and UTF-32,
    so ``verify`` and ``inspect`` read layouts those tools refuse (attack 229)."""
    hook = (lambda pairs: _one_spelling(pairs, where)) if one_spelling else None
    try:
        text = data.decode("utf-8")
        if text.startswith("\ufeff"):
            raise OciError(
                "invalid JSON: a UTF-8 byte-order mark, which Go's readers (skopeo, umoci, "
                "containerd) refuse",
                where=where,
                hint="write the file as UTF-8 without a byte-order mark",
            )
        value = limits.parse_json(text, where=where, pairs=hook)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, the digit limit
        decoded = isinstance(error, json.JSONDecodeError | UnicodeDecodeError)
        detail = error if decoded else "a number past the 4,300-digit conversion limit"
        raise OciError(
            f"invalid JSON: {detail}",
            where=where,
            hint="the image is damaged or not an image; export it again",
        ) from None
    if not isinstance(value, dict):
        raise OciError("expected a JSON object", where=where)
    if (lone := _lone_surrogate(value)) is not None:
        raise OciError(
            f"invalid JSON: a string holds the escape of a lone surrogate (\\u{lone:04x}), "
            "which Go's readers (Docker, containerd) take as U+FFFD",
            where=where,
            hint="the image is damaged or not an image; export it again",
        )
    return value


def _lone_surrogate(value: object) -> int | None:
    """A lone surrogate anywhere in ``value`` (``\\udc80`` in the text): no UTF-8 spells it, so
    ``canonical_json`` of a config that inherits it (a base's label, Env or history) failed
    the build with an internal error, and Go reads another string. One encode finds it."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError as error:
        return ord(error.object[error.start])
    return None


def optional_object(value: object) -> dict[str, Any]:
    """An optional object field: one of another type counts as absent, never crashes."""
    return value if isinstance(value, dict) else {}


def as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise OciError("expected a JSON list", where=where)
    return value


def descriptor_of(value: object, where: str, media_types: set[str]) -> Descriptor:
    if not isinstance(value, dict):
        raise OciError("expected a descriptor object", where=where)
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or media_type not in media_types:
        raise OciError(f"unsupported media type {media_type!r}", where=where)
    if not isinstance(digest, str) or not is_size(size):
        raise OciError("a descriptor needs a digest and a size", where=where)
    hex_of(digest)
    return Descriptor(media_type, digest, size)


def is_size(value: object) -> TypeGuard[int]:
    """Whether a descriptor's ``size`` is one: a whole number, not negative, and no bool (an
    int to Python, ``"size": false`` an empty blob's; Go's readers, skopeo and containerd,
    refuse the manifest, which verify called OK: attack 229)."""
    return type(value) is int and value >= 0


def layer_of(value: object, where: str) -> Descriptor:
    descriptor = descriptor_of(value, where, set(LAYER_TYPES))
    return Descriptor(LAYER_TYPES[descriptor.media_type], descriptor.digest, descriptor.size)


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _one_spelling(pairs: list[tuple[str, Any]], where: str) -> dict[str, Any]:
    """An object whose keys every JSON reader takes alike: Go's encoding/json (skopeo,
    containerd, podman) matches a key to a field ignoring case, by Unicode case folding, and
    keeps the last, so ``"Manifests"`` (or the same word with a long s, U+017F) after
    ``"manifests"``, or ``"Digest"`` after a descriptor's ``"digest"``, is the image they
    deploy, one Python's exact keys never read (attack 101). Two keys that fold alike
    (``casefold``, a superset of Go's folding), an exact repeat too, are refused."""
    clash = folded_clash(key for key, _ in pairs)
    if clash is not None:
        raise OciError(
            f"the keys {printable(clash[0], 40)!r} and {printable(clash[1], 40)!r} of one object "
            "are one key to some readers (Go's JSON ignores case): they would take "
            "another image than the one checked",
            where=where,
            hint="the layout's index.json was edited; rebuild or copy dist/ whole",
        )
    return dict(pairs)


def folded_clash(keys: Iterable[str]) -> tuple[str, str] | None:
    """The first two of ``keys`` Go's encoding/json takes for one struct field (equal under
    ``casefold``, a superset of Go's Unicode folding; an exact repeat too), or None."""
    seen: dict[str, str] = {}
    for key in keys:
        folded = key.casefold()
        if folded in seen:
            return seen[folded], key
        seen[folded] = key
    return None
