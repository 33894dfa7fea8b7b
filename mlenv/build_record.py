"""build.json, typed: what a build wrote and from what, read back by ``verify``, ``build --load``
and the output guard through one model instead of string keys.

``to_dict`` gives the very dict the record is written from (``canonical_json`` of it is the
file's bytes); ``from_dict`` reads one back and names the first key that is wrong. The JSON
schema ``schemas/build.schema.json`` describes the same shapes for other tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlenv.errors import MlenvError

BUILD_RECORD = "build.json"
MULTI_PLATFORM = "multi-platform"
IMAGE_TAR = "image.tar"
# the conda-pack archive is named after the environment, with its compression's suffix
ARCHIVE_SUFFIX = {"gzip": ".tar.gz", "zstd": ".tar.zst", "none": ".tar"}


class BuildRecordError(MlenvError):
    """A build.json that is not one mlenv wrote."""


@dataclass(frozen=True)
class LayerRecord:
    """One layer of the image: its digests, and for an environment layer its name and
    packages (a base image's layers carry neither)."""

    digest: str
    diff_id: str
    layer: str | None = None
    packages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        named = {} if self.layer is None else {"layer": self.layer, "packages": list(self.packages)}
        return {"digest": self.digest, "diff-id": self.diff_id, **named}

    @classmethod
    def from_dict(cls, data: object, where: str) -> LayerRecord:
        value = _object(data, where)
        layer = value.get("layer")
        return cls(
            _str(value, "digest", where),
            _str(value, "diff-id", where),
            None if layer is None else _str(value, "layer", where),
            tuple(_strs(value, "packages", where)) if layer is not None else (),
        )


@dataclass(frozen=True)
class FileRecord:
    """A file the build wrote beside build.json, and its sha256 (hex, no prefix)."""

    file: str
    sha256: str


@dataclass(frozen=True)
class ImageTar(FileRecord):
    size: int
    repo_tag: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "size": self.size,
                "repo-tag": self.repo_tag}  # fmt: skip

    @classmethod
    def from_dict(cls, data: object, where: str) -> ImageTar:
        value = _object(data, where)
        return cls(
            _str(value, "file", where),
            _str(value, "sha256", where),
            _int(value, "size", where),
            _str(value, "repo-tag", where),
        )


@dataclass(frozen=True)
class ImageOutput:
    """The OCI layout (directory ``layout``) and the image.tar made from it (None: the build
    wrote the layout only, ``[build] image-tar = false``, and its record has no ``image-tar``)."""

    layout: str
    ref: str
    manifest_digest: str
    config_digest: str
    layers: tuple[LayerRecord, ...]
    image_tar: ImageTar | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "ref": self.ref,
            "manifest-digest": self.manifest_digest,
            "config-digest": self.config_digest,
            "layers": [layer.to_dict() for layer in self.layers],
            **({} if self.image_tar is None else {"image-tar": self.image_tar.to_dict()}),
        }

    @classmethod
    def from_dict(cls, data: object, where: str) -> ImageOutput:
        value = _object(data, where)
        layers = value.get("layers")
        if not isinstance(layers, list):
            raise _wrong(where, "layers", "a list")
        return cls(
            _str(value, "layout", where),
            _str(value, "ref", where),
            _str(value, "manifest-digest", where),
            _str(value, "config-digest", where),
            tuple(LayerRecord.from_dict(x, f"{where}.layers[{n}]") for n, x in enumerate(layers)),
            None
            if "image-tar" not in value
            else ImageTar.from_dict(value["image-tar"], f"{where}.image-tar"),
        )


@dataclass(frozen=True)
class ArchiveOutput(FileRecord):
    """The conda-pack archive."""

    size: int
    uncompressed_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "size": self.size,
                "uncompressed-sha256": self.uncompressed_sha256}  # fmt: skip

    @classmethod
    def from_dict(cls, data: object, where: str) -> ArchiveOutput:
        value = _object(data, where)
        return cls(
            _str(value, "file", where),
            _str(value, "sha256", where),
            _int(value, "size", where),
            _str(value, "uncompressed-sha256", where),
        )


@dataclass(frozen=True)
class SbomRecord(FileRecord):
    """The CycloneDX SBOM beside the outputs (records older than it have none)."""

    format: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "format": self.format, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: object, where: str) -> SbomRecord:
        value = _object(data, where)
        return cls(
            _str(value, "file", where), _str(value, "sha256", where), _str(value, "format", where)
        )


@dataclass(frozen=True)
class BuildRecord:
    """The build.json of one platform's build."""

    mlenv: str
    lock_sha256: str
    platform: str
    source_date_epoch: int
    compression: str
    compressors: Mapping[str, str]
    image: ImageOutput | None
    archive: ArchiveOutput | None
    sbom: SbomRecord | None

    def platform_names(self) -> tuple[str, ...]:
        return (self.platform,)

    def files(self) -> frozenset[str]:
        """The names the build wrote beside build.json."""
        names = {BUILD_RECORD}
        if self.image is not None:
            names.add(self.image.layout)
            if self.image.image_tar is not None:
                names.add(self.image.image_tar.file)
        names |= {f.file for f in (self.archive, self.sbom) if f is not None}
        return frozenset(names)

    def digests(self) -> dict[str, str]:
        """sha256 of each output file (image.tar, the archive) by its name."""
        entries = (self.archive, None if self.image is None else self.image.image_tar)
        return {entry.file: entry.sha256 for entry in entries if entry is not None}

    def to_dict(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        if self.image is not None:
            outputs["oci"] = self.image.to_dict()
        if self.archive is not None:
            outputs["conda-pack"] = self.archive.to_dict()
        return {
            "mlenv": self.mlenv,
            "lock-sha256": self.lock_sha256,
            "platform": self.platform,
            "source-date-epoch": self.source_date_epoch,
            "compression": self.compression,
            "compressors": dict(self.compressors),
            "outputs": outputs,
            **({} if self.sbom is None else {"sbom": self.sbom.to_dict()}),
        }

    @classmethod
    def from_dict(cls, data: object, where: str = BUILD_RECORD) -> BuildRecord:
        value = _object(data, where)
        outputs = _object(value.get("outputs"), f"{where}: outputs")
        unknown = sorted(set(outputs) - {"oci", "conda-pack"})
        if unknown:
            raise _wrong(where, "outputs", f"oci or conda-pack, not {', '.join(unknown)}")
        compressors = _object(value.get("compressors"), f"{where}: compressors")
        if not all(isinstance(v, str) for v in compressors.values()):
            raise _wrong(where, "compressors", "names of versions")
        image, archive, sbom = outputs.get("oci"), outputs.get("conda-pack"), value.get("sbom")
        return cls(
            _str(value, "mlenv", where),
            _str(value, "lock-sha256", where),
            _str(value, "platform", where),
            _int(value, "source-date-epoch", where),
            _str(value, "compression", where),
            compressors,
            None if image is None else ImageOutput.from_dict(image, f"{where}: outputs.oci"),
            None
            if archive is None
            else ArchiveOutput.from_dict(archive, f"{where}: outputs.conda-pack"),
            None if sbom is None else SbomRecord.from_dict(sbom, f"{where}: sbom"),
        )


@dataclass(frozen=True)
class PlatformEntry:
    """One platform's build inside a multi-platform dist/: its record and that record's sha256."""

    build: str
    sha256: str


@dataclass(frozen=True)
class IndexOutput:
    """The multi-platform OCI layout: its image index and each platform's manifest."""

    layout: str
    ref: str
    index_digest: str
    manifests: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"layout": self.layout, "ref": self.ref, "index-digest": self.index_digest,
                "manifests": dict(self.manifests)}  # fmt: skip


@dataclass(frozen=True)
class MultiPlatformRecord:
    """The build.json at the top of a multi-platform dist/."""

    mlenv: str
    lock_sha256: str
    platforms: Mapping[str, PlatformEntry]
    source_date_epoch: int
    index: IndexOutput | None

    def platform_names(self) -> tuple[str, ...]:
        return tuple(self.platforms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mlenv": self.mlenv,
            "kind": MULTI_PLATFORM,
            "lock-sha256": self.lock_sha256,
            "platforms": {
                name: {"build": entry.build, "sha256": entry.sha256}
                for name, entry in self.platforms.items()
            },
            "source-date-epoch": self.source_date_epoch,
            "outputs": {} if self.index is None else {"oci": self.index.to_dict()},
        }

    @classmethod
    def from_dict(cls, data: object, where: str = BUILD_RECORD) -> MultiPlatformRecord:
        value = _object(data, where)
        if value.get("kind") != MULTI_PLATFORM:
            raise _wrong(where, "kind", repr(MULTI_PLATFORM))
        platforms = {
            name: PlatformEntry(_str(e, "build", f"{where}: {name}"), _str(e, "sha256", where))
            for name, entry in _object(value.get("platforms"), f"{where}: platforms").items()
            for e in [_object(entry, f"{where}: platforms.{name}")]
        }
        oci = _object(value.get("outputs"), f"{where}: outputs").get("oci")
        index = None
        if oci is not None:
            raw = _object(oci, f"{where}: outputs.oci")
            manifests = _object(raw.get("manifests"), f"{where}: outputs.oci.manifests")
            index = IndexOutput(
                _str(raw, "layout", where),
                _str(raw, "ref", where),
                _str(raw, "index-digest", where),
                {str(k): str(v) for k, v in manifests.items()},
            )
        return cls(
            _str(value, "mlenv", where),
            _str(value, "lock-sha256", where),
            platforms,
            _int(value, "source-date-epoch", where),
            index,
        )


def layout_image(record: BuildRecord | MultiPlatformRecord) -> tuple[str, str] | None:
    """The OCI layout a record names and the digest of the image it holds (the manifest, or a
    multi-platform build's image index): what `verify` checks a layout against and `push`
    sends. None when the build wrote no image."""
    if isinstance(record, MultiPlatformRecord):
        index = record.index
        return None if index is None else (index.layout, index.index_digest)
    image = record.image
    return None if image is None else (image.layout, image.manifest_digest)


def read_record(data: object, where: str = BUILD_RECORD) -> BuildRecord | MultiPlatformRecord:
    """A parsed build.json of either kind."""
    if isinstance(data, dict) and data.get("kind") == MULTI_PLATFORM:
        return MultiPlatformRecord.from_dict(data, where)
    return BuildRecord.from_dict(data, where)


def _object(data: object, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BuildRecordError(
            "not a JSON object", where=where, hint="use the build.json `mlenv build` wrote"
        )
    return data


def _wrong(where: str, key: str, expected: str) -> BuildRecordError:
    return BuildRecordError(
        f"{key} is not {expected}", where=where, hint="use the build.json `mlenv build` wrote"
    )


def _str(value: Mapping[str, Any], key: str, where: str) -> str:
    found = value.get(key)
    if not isinstance(found, str):
        raise _wrong(where, key, "a string")
    return found


def _int(value: Mapping[str, Any], key: str, where: str) -> int:
    found = value.get(key)
    if not isinstance(found, int) or isinstance(found, bool):
        raise _wrong(where, key, "an integer")
    return found


def _strs(value: Mapping[str, Any], key: str, where: str) -> list[str]:
    found = value.get(key)
    if not isinstance(found, list) or not all(isinstance(x, str) for x in found):
        raise _wrong(where, key, "a list of strings")
    return found
