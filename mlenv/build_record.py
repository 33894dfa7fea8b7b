"""build.json, typed: what a build wrote and from what, read back by ``verify``, ``build --load``
and the output guard through one model instead of string keys.

``to_dict`` gives the very dict the record is written from (``canonical_json`` of it is the
file's bytes); ``parse_record`` is the one reader of a build.json's bytes (``from_dict`` of
each part names the first key that is wrong). A record is read as strictly as it is written:
UTF-8 JSON with no key twice and no NaN (``limits.parse_record_json``), each object holding
exactly the keys mlenv writes (a newer format's or a user's file with the same keys is refused,
never half read), digests as ``digests`` spells them, every file name the one a build gives
that output. The JSON schema ``schemas/build.schema.json`` describes the same shapes for
other tools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlenv import build_record_fields as f
from mlenv.build_record_fields import ARCHIVE_SUFFIX as ARCHIVE_SUFFIX
from mlenv.build_record_fields import HINT, is_archive_name
from mlenv.build_record_fields import LAST_EPOCH as LAST_EPOCH
from mlenv.build_record_fields import BuildRecordError as BuildRecordError
from mlenv.errors import printable
from mlenv.limits import LimitError, parse_record_json

BUILD_RECORD = "build.json"
MULTI_PLATFORM = "multi-platform"
IMAGE_TAR = "image.tar"
LAYOUT = "oci"  # the OCI layout's directory in dist/
COMPRESSIONS = ("gzip", "zstd", "none")


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
        named = isinstance(data, dict) and ("layer" in data or "packages" in data)
        keys = ("digest", "diff-id", "layer", "packages") if named else ("digest", "diff-id")
        value = f.fields(data, where, keys)
        return cls(
            f.digest(value, "digest", where),
            f.digest(value, "diff-id", where),
            f.text(value, "layer", where) if named else None,
            tuple(f.texts(value, "packages", where)) if named else (),
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
        value = f.fields(data, where, ("file", "sha256", "size", "repo-tag"))
        return cls(
            f.name(value, "file", where, IMAGE_TAR),
            f.sha256(value, "sha256", where),
            f.number(value, "size", where),
            f.text(value, "repo-tag", where),
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
        keys = ("layout", "ref", "manifest-digest", "config-digest", "layers")
        value = f.fields(data, where, keys, ("image-tar",))
        layers = value.get("layers")
        if not isinstance(layers, list) or not layers:
            raise f.wrong(where, "layers", "a list of layers")
        return cls(
            f.name(value, "layout", where, LAYOUT),
            f.text(value, "ref", where),
            f.digest(value, "manifest-digest", where),
            f.digest(value, "config-digest", where),
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
        value = f.fields(data, where, ("file", "sha256", "size", "uncompressed-sha256"))
        file = f.text(value, "file", where)
        if not is_archive_name(file):
            raise f.wrong(where, "file", "an environment's name and an archive suffix")
        return cls(
            file,
            f.sha256(value, "sha256", where),
            f.number(value, "size", where),
            f.sha256(value, "uncompressed-sha256", where),
        )


@dataclass(frozen=True)
class SbomRecord(FileRecord):
    """The CycloneDX SBOM beside the outputs (records older than it have none)."""

    format: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "format": self.format, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: object, where: str) -> SbomRecord:
        from mlenv.sbom import FILENAME

        value = f.fields(data, where, ("file", "format", "sha256"))
        return cls(
            f.name(value, "file", where, FILENAME),
            f.sha256(value, "sha256", where),
            f.text(value, "format", where),
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
        keys = ("mlenv", "lock-sha256", "platform", "source-date-epoch", "compression")
        value = f.fields(data, where, (*keys, "compressors", "outputs"), ("sbom",))
        outputs = f.fields(value["outputs"], f"{where}: outputs", (), ("oci", "conda-pack"))
        compressors = f.mapping(value, "compressors", where)
        if not all(isinstance(v, str) for v in compressors.values()):
            raise f.wrong(where, "compressors", "names of versions")
        if value.get("compression") not in COMPRESSIONS:
            raise f.wrong(where, "compression", " or ".join(COMPRESSIONS))
        image, archive, sbom = outputs.get("oci"), outputs.get("conda-pack"), value.get("sbom")
        return cls(
            f.text(value, "mlenv", where),
            f.sha256(value, "lock-sha256", where),
            f.text(value, "platform", where),
            f.number(value, "source-date-epoch", where, LAST_EPOCH),
            value["compression"],
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
        from mlenv.platforms import NAMES

        keys = ("mlenv", "kind", "lock-sha256", "platforms", "source-date-epoch", "outputs")
        value = f.fields(data, where, keys)
        if value["kind"] != MULTI_PLATFORM:
            raise f.wrong(where, "kind", repr(MULTI_PLATFORM))
        platforms = {}
        for name, entry in f.mapping(value, "platforms", where).items():
            at = f"{where}: platforms.{name}"
            e = f.fields(entry, at, ("build", "sha256"))
            if name not in NAMES:
                raise f.wrong(where, "platforms", f"platforms mlenv builds ({', '.join(NAMES)})")
            platforms[name] = PlatformEntry(
                f.name(e, "build", at, f"{name}/{BUILD_RECORD}"), f.sha256(e, "sha256", at)
            )
        if not platforms:
            raise f.wrong(where, "platforms", "a platform's build or more")
        oci = f.fields(value["outputs"], f"{where}: outputs", (), ("oci",)).get("oci")
        index = None
        if oci is not None:
            at = f"{where}: outputs.oci"
            raw = f.fields(oci, at, ("layout", "ref", "index-digest", "manifests"))
            manifests = f.mapping(raw, "manifests", at)
            if set(manifests) - set(platforms):
                raise f.wrong(at, "manifests", "the manifests of the platforms built")
            index = IndexOutput(
                f.name(raw, "layout", at, LAYOUT),
                f.text(raw, "ref", at),
                f.digest(raw, "index-digest", at),
                {k: f.digest(manifests, k, f"{at}.manifests") for k in manifests},
            )
        return cls(
            f.text(value, "mlenv", where),
            f.sha256(value, "lock-sha256", where),
            platforms,
            f.number(value, "source-date-epoch", where, LAST_EPOCH),
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
    """A parsed build.json of either kind: a ``kind`` other than a multi-platform build's is
    a format this mlenv does not know."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == MULTI_PLATFORM:
        return MultiPlatformRecord.from_dict(data, where)
    if kind is not None:
        raise BuildRecordError(
            f"is a record of kind {printable(kind, 40)}, which this mlenv does not know",
            where=where,
            hint=f"{HINT}; a record from a newer mlenv is read by that mlenv",
        )
    return BuildRecord.from_dict(data, where)


def parse_record(data: bytes, where: str = BUILD_RECORD) -> BuildRecord | MultiPlatformRecord:
    """The one reader of a build.json's bytes (``where`` names the file): anything but a
    record mlenv writes is a ``BuildRecordError`` saying what is wrong."""
    try:
        return read_record(parse_record_json(data, where=where), where)
    except (ValueError, LimitError) as error:
        detail = error.message if isinstance(error, LimitError) else str(error)
        raise BuildRecordError(f"not a build record ({detail})", where=where, hint=HINT) from None
