"""OCI images: the config, manifest and index as canonical JSON, a base image read back with
every blob verified, the image layout, and one tar that is both an oci-archive and a
docker-archive.

Output media types are OCI throughout. A base image that uses Docker media types is accepted
and its layers are reused with their bytes untouched, described with the OCI type of the same
format (a Docker ``rootfs.diff.tar.gzip`` is byte for byte an OCI ``tar+gzip`` layer, which is
how skopeo converts too): mixing the two families in one manifest is what some registries
reject, and Docker has no zstd layer type to follow the base with.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

from mlenv.atomic import atomic_writer, replace_dir
from mlenv.errors import MlenvError
from mlenv.layer import LayerBlob, collect, write_tar
from mlenv.limits import parse_json

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
LOCK_LABEL = "dev.mlenv.lock-sha256"
# sha256 of the CycloneDX SBOM `mlenv build` writes beside the image (dist/sbom.cdx.json)
SBOM_LABEL = "dev.mlenv.sbom-sha256"
ARCHITECTURES = {"linux-64": "amd64", "linux-aarch64": "arm64"}
# The PATH a base image without one would get from Docker and containerd.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_MANIFEST_TYPES = {MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json"}
_INDEX_TYPES = {INDEX_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.list.v2+json"}
_CONFIG_TYPES = {CONFIG_MEDIA_TYPE, "application/vnd.docker.container.image.v1+json"}
_LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": (
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ),
}
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# OCI image-layout's grammar for org.opencontainers.image.ref.name.
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
# Docker's name:tag (lower-case path components, an optional registry host and port).
_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_TAG = re.compile(
    rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_NAME}(?:/{_NAME})*:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
)
# index.json, oci-layout, manifests and configs are small; a bigger one is not an image.
_JSON_LIMIT = 16 << 20
_CHUNK = 1 << 20
_T = TypeVar("_T")


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


@dataclass(frozen=True)
class BaseImage:
    """An image to append onto: its parsed config and verified layers."""

    manifest_digest: str
    architecture: str
    config: dict[str, Any]
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[str, ...]
    source: _BlobSource


@dataclass(frozen=True)
class ImageSpec:
    """What the build knows about the image beyond its layers."""

    name: str
    platform: str  # conda subdir: linux-64 | linux-aarch64
    prefix: str  # the environment's absolute path at run time; its bin/ leads PATH
    created: int  # seconds since the epoch (SOURCE_DATE_EPOCH or derived from the lock)
    lock_sha256: str
    env: Mapping[str, str] = field(default_factory=dict)  # e.g. VIRTUAL_ENV, CONDA_PREFIX
    nvidia_require_cuda: str | None = None
    sbom_sha256: str | None = None  # the sbom.cdx.json written beside the image


@dataclass(frozen=True)
class ImageResult:
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]
    diff_ids: tuple[str, ...]
    size: int  # every blob of the image: manifest, config and layers


def read_base(
    path: Path, *, platform: str, ref: str | None = None, digest: str | None = None
) -> BaseImage:
    """Read an OCI layout directory or oci-archive tar; every blob is checked on the way.
    ``digest`` pins the image: the layout's index must name it (an image index or a
    manifest), so a layout planted under a pinned digest's key serves nothing else."""
    source: _BlobSource
    if path.is_dir():
        source = _DirSource(path)
    elif path.is_file():
        source = _TarSource(path)
    else:
        raise OciError("the base image does not exist", where=str(path))
    layout = _parse(source.read_file("oci-layout"), f"{path}/oci-layout")
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
        raise OciError("not an OCI image layout 1.0.0", where=f"{path}/oci-layout")
    architecture = _architecture(platform)
    chosen = _select(source, ref, architecture, digest)
    where = _blob_where(source, chosen.digest)
    manifest = _parse(_read_blob(source, chosen), where)
    config_descriptor = _descriptor(manifest.get("config"), where, _CONFIG_TYPES)
    config = _parse(_read_blob(source, config_descriptor), where)
    if config.get("architecture") != architecture or config.get("os") != "linux":
        raise OciError(
            f"the base image is for {config.get('os')}/{config.get('architecture')}, "
            f"the environment for linux/{architecture} ({platform})",
            where=str(path),
        )
    if problem := _config_problem(config):
        raise OciError(f"the base image's config {problem}", where=where)
    layers = tuple(_layer(item, where) for item in _list(manifest.get("layers"), where))
    rootfs = config.get("rootfs")
    diff_ids = tuple(_list(rootfs.get("diff_ids") if isinstance(rootfs, dict) else None, where))
    if len(diff_ids) != len(layers) or not all(_DIGEST.fullmatch(str(d)) for d in diff_ids):
        raise OciError(
            "the config's rootfs.diff_ids do not match the manifest's layers", where=where
        )
    for layer in layers:
        _verify(source, layer, None)
    return BaseImage(chosen.digest, architecture, config, layers, diff_ids, source)


def _config_problem(config: dict[str, Any]) -> str | None:
    """What in a base config ``image_config`` and ``inspect`` read has the wrong type (a
    registry's config is untrusted: a string where a list goes must not crash the build)."""
    runtime = config.get("config") or {}
    if not isinstance(runtime, dict):
        return "has a config that is not an object"
    env, labels, history = (
        runtime.get("Env") or [],
        runtime.get("Labels") or {},
        config.get("history") or [],
    )
    if not isinstance(env, list) or not all(isinstance(item, str) for item in env):
        return "has an Env that is not a list of strings"
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return "has Labels that are not strings"
    if not isinstance(history, list) or not all(isinstance(item, dict) for item in history):
        return "has a history that is not a list of objects"
    return None


def image_config(
    spec: ImageSpec, layers: Sequence[tuple[LayerBlob, str]], base: BaseImage | None
) -> dict[str, Any]:
    """The image config: the base's runtime settings, our Env and labels, one history entry
    per added layer (named by the second item of each pair)."""
    architecture = _architecture(spec.platform)
    if base is not None and base.architecture != architecture:
        raise OciError(f"the base image is {base.architecture}, not {architecture}")
    created = rfc3339(spec.created)
    inherited: dict[str, Any] = dict(base.config) if base is not None else {}
    runtime = dict(inherited.get("config") or {})
    runtime["Env"] = _env(runtime.get("Env") or [], spec)
    labels = {
        key: value
        for key, value in (runtime.get("Labels") or {}).items()
        # They describe the base, which base.digest now names.
        if not key.startswith("org.opencontainers.image.")
    }
    labels.update(
        {
            "org.opencontainers.image.title": spec.name,
            "org.opencontainers.image.created": created,
            LOCK_LABEL: spec.lock_sha256,
        }
    )
    if spec.sbom_sha256 is not None:
        labels[SBOM_LABEL] = spec.sbom_sha256
    if base is not None:
        labels["org.opencontainers.image.base.digest"] = base.manifest_digest
    runtime["Labels"] = labels
    history = [
        *(inherited.get("history") or []),
        *({"created": created, "created_by": f"mlenv build: {name}"} for _, name in layers),
    ]
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": runtime,
        "rootfs": {
            "type": "layers",
            "diff_ids": [*(base.diff_ids if base else ()), *(blob.diff_id for blob, _ in layers)],
        },
        "history": history,
    }
    if "variant" in inherited:
        config["variant"] = inherited["variant"]
    return config


def write_layout(
    dest: Path,
    layers: Sequence[tuple[LayerBlob, Path]],
    config: Mapping[str, Any],
    base: BaseImage | None,
    ref: str,
) -> ImageResult:
    """Write the image as an OCI layout at ``dest``, replacing an earlier layout there.

    Everything is written into a temporary directory beside ``dest`` and renamed into place,
    so a killed run never leaves a layout that looks complete. The layer files are moved in
    (a rename: no copy of gigabytes, and no link the caller could later write through); base
    layers are copied by the read that hashes them (``_export``), never linked.
    """
    base_layers = base.layers if base is not None else ()
    added = tuple(Descriptor(blob.media_type, blob.digest, blob.size) for blob, _ in layers)
    diff_ids = (*(base.diff_ids if base else ()), *(blob.diff_id for blob, _ in layers))
    if tuple(config.get("rootfs", {}).get("diff_ids", ())) != diff_ids:
        raise OciError("the config's rootfs.diff_ids do not match the image's layers")

    def fill(blobs: Path) -> tuple[dict[str, Any], tuple[Descriptor, Descriptor]]:
        if base is not None:
            for descriptor in base.layers:
                _export(base.source, descriptor, blobs / _hex(descriptor.digest))
        for blob, path in layers:
            _move_in(blob, path, blobs / _hex(blob.digest))
        config_descriptor = _write_json_blob(blobs, CONFIG_MEDIA_TYPE, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config_descriptor.to_json(),
            "layers": [d.to_json() for d in (*base_layers, *added)],
        }
        manifest_descriptor = _write_json_blob(blobs, MANIFEST_MEDIA_TYPE, manifest)
        platform = {"architecture": config["architecture"], "os": config["os"]}
        if "variant" in config:
            platform["variant"] = config["variant"]
        entry = {**manifest_descriptor.to_json(), "platform": platform}
        return entry, (manifest_descriptor, config_descriptor)

    manifest_descriptor, config_descriptor = _staged_layout(dest, ref, fill)
    all_layers = (*base_layers, *added)
    return ImageResult(
        manifest_digest=manifest_descriptor.digest,
        config_digest=config_descriptor.digest,
        layer_digests=tuple(d.digest for d in all_layers),
        diff_ids=diff_ids,
        size=manifest_descriptor.size + config_descriptor.size + sum(d.size for d in all_layers),
    )


def write_index_layout(dest: Path, images: Sequence[Path], ref: str) -> Descriptor:
    """One OCI layout holding the single-platform layouts ``images`` as a multi-platform image.

    Its index.json names, under ``ref``, one image index blob that lists each image's manifest
    with its ``platform`` (the image-index spec's shape; skopeo and registries select from it).
    Every manifest is verified on the way and its blobs hard-linked in, so the bytes are the
    per-platform builds' own. Returns the image index's descriptor.
    """

    def fill(blobs: Path) -> tuple[dict[str, Any], Descriptor]:
        entries: list[dict[str, Any]] = []
        for layout in images:
            source = _DirSource(layout)
            where = f"{layout}/index.json"
            listed = _list(_parse(source.read_file("index.json"), where).get("manifests"), where)
            if len(listed) != 1 or not isinstance(listed[0], dict):
                raise OciError("the layout must hold exactly one image", where=where)
            chosen = _descriptor(listed[0], where, _MANIFEST_TYPES)
            platform = listed[0].get("platform")
            if not isinstance(platform, dict) or platform in [e["platform"] for e in entries]:
                raise OciError("each image needs a platform of its own", where=where)
            at = _blob_where(source, chosen.digest)
            manifest = _parse(_read_blob(source, chosen), at)
            config = _descriptor(manifest.get("config"), at, _CONFIG_TYPES)
            layers = [_layer(item, at) for item in _list(manifest.get("layers"), at)]
            for blob in (chosen, config, *layers):
                _export(source, blob, blobs / _hex(blob.digest))
            entries.append({**chosen.to_json(), "platform": platform})
        index = _write_json_blob(
            blobs, INDEX_MEDIA_TYPE, {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE,
                                      "manifests": entries}
        )  # fmt: skip
        return index.to_json(), index

    return _staged_layout(dest, ref, fill)


def _staged_layout(dest: Path, ref: str, fill: Callable[[Path], tuple[dict[str, Any], _T]]) -> _T:
    """Write an OCI layout at ``dest`` whose index.json names one entry under ``ref``.

    ``fill`` puts the blobs into the ``blobs/sha256`` directory it is given and returns the
    entry's descriptor JSON (and what the caller wants back). Everything is written into a
    temporary directory beside ``dest`` and renamed into place, so a killed run never leaves
    a layout that looks complete; only an earlier layout (or an empty directory) is replaced.
    """
    if not _REF.fullmatch(ref):
        raise OciError(f"{ref!r} is not a valid OCI reference name", hint="e.g. 'latest' or '1.0'")
    _check_replaceable(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        blobs = staging / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        entry, result = fill(blobs)
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [{**entry, "annotations": {REF_ANNOTATION: ref}}],
        }
        (staging / "index.json").write_bytes(canonical_json(index))
        (staging / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
        staging.chmod(0o755)  # mkdtemp made it private; a published layout is readable
        replace_dir(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def write_image_tar(layout: Path, out: Path, repo_tag: str) -> tuple[str, int]:
    """Write one tar that is both an oci-archive and a docker-archive; returns its digest, size.

    It holds the layout plus Docker's ``manifest.json`` naming the same blobs, written with
    the layer rules (sorted, mtime 0, uid 0) so it is as reproducible as the layers.
    """
    if not _REPO_TAG.fullmatch(repo_tag):
        raise OciError(f"{repo_tag!r} is not a docker name:tag", hint="e.g. 'detector:1.0'")
    source = _DirSource(layout)
    index = _parse(source.read_file("index.json"), f"{layout}/index.json")
    manifests = _list(index.get("manifests"), f"{layout}/index.json")
    if len(manifests) != 1:
        raise OciError("the layout must hold exactly one image", where=f"{layout}/index.json")
    chosen = _descriptor(manifests[0], f"{layout}/index.json", _MANIFEST_TYPES)
    where = _blob_where(source, chosen.digest)
    manifest = _parse(_read_blob(source, chosen), where)
    config = _descriptor(manifest.get("config"), where, _CONFIG_TYPES)
    layers = [_layer(item, where) for item in _list(manifest.get("layers"), where)]
    blob_paths = [f"blobs/sha256/{_hex(d.digest)}" for d in (chosen, config, *layers)]
    wanted = {"oci-layout", "index.json", "blobs", "blobs/sha256", *blob_paths}
    entries = [e for e in collect(layout, "") if e.path in wanted]
    missing = wanted - {e.path for e in entries}
    if missing:
        raise OciError(f"the layout lacks {', '.join(sorted(missing))}", where=str(layout))
    docker = [{"Config": blob_paths[1], "RepoTags": [repo_tag], "Layers": blob_paths[2:]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        manifest_json = Path(scratch) / "manifest.json"
        manifest_json.write_bytes(canonical_json(docker))
        entries.extend(collect(Path(scratch), ""))
        with atomic_writer(out) as stream:
            return write_tar(entries, stream, mtime=0)


class _BlobSource(Protocol):
    where: str

    def read_file(self, name: str) -> bytes: ...
    def open_blob(self, digest: str) -> contextlib.AbstractContextManager[tuple[BinaryIO, int]]: ...


class _DirSource:
    """An OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def read_file(self, name: str) -> bytes:
        path = self.root / name
        if not path.is_file():
            raise OciError(f"the image layout has no {name}", where=self.where)
        if path.stat().st_size > _JSON_LIMIT:
            raise OciError("the file is too big to be image metadata", where=str(path))
        return path.read_bytes()

    @contextlib.contextmanager
    def open_blob(self, digest: str) -> Iterator[tuple[BinaryIO, int]]:
        path = self._path(digest)
        with open(path, "rb") as stream:
            yield stream, os.fstat(stream.fileno()).st_size

    def _path(self, digest: str) -> Path:
        path = self.root / "blobs" / "sha256" / _hex(digest)
        if not path.is_file():
            raise OciError(f"the blob {digest} is missing", where=str(path))
        return path


class _TarSource:
    """An oci-archive: the layout inside one tar, read in place at each member's offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        try:
            with tarfile.open(path, "r:") as archive:
                self._members = {
                    member.name.removeprefix("./"): (member.offset_data, member.size)
                    for member in archive
                    if member.isfile()
                }
        except tarfile.TarError as error:
            raise OciError(f"not an image archive: {error}", where=self.where) from error

    def read_file(self, name: str) -> bytes:
        with self._open(name) as (stream, length):
            if length > _JSON_LIMIT:
                raise OciError(
                    "the file is too big to be image metadata", where=f"{self.where}:{name}"
                )
            return stream.read(length)

    def open_blob(self, digest: str) -> contextlib.AbstractContextManager[tuple[BinaryIO, int]]:
        return self._open(f"blobs/sha256/{_hex(digest)}")

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[tuple[BinaryIO, int]]:
        if name not in self._members:
            raise OciError(f"the image archive has no {name}", where=self.where)
        offset, length = self._members[name]
        with open(self.path, "rb") as stream:
            stream.seek(offset)
            yield stream, length


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


def _architecture(platform: str) -> str:
    if platform not in ARCHITECTURES:
        raise OciError(
            f"no OCI architecture for platform {platform!r}",
            hint=f"use one of {', '.join(sorted(ARCHITECTURES))}",
        )
    return ARCHITECTURES[platform]


def _env(base_env: Sequence[str], spec: ImageSpec) -> list[str]:
    """Base variables, then ours; PATH starts with the environment's bin; sorted by name."""
    if not spec.prefix.startswith("/"):
        raise OciError(f"the environment prefix {spec.prefix!r} must be an absolute path")
    variables = {}
    for item in base_env:
        key, _, value = item.partition("=")
        variables[key] = value
    for key in spec.env:
        if not key or "=" in key or key == "PATH":
            raise OciError(f"{key!r} cannot be set as an image variable (PATH is computed)")
    variables.update(spec.env)
    if spec.nvidia_require_cuda is not None:
        variables["NVIDIA_REQUIRE_CUDA"] = spec.nvidia_require_cuda
    bin_dir = spec.prefix.rstrip("/") + "/bin"
    rest = [p for p in variables.get("PATH", DEFAULT_PATH).split(":") if p and p != bin_dir]
    variables["PATH"] = ":".join([bin_dir, *rest])
    return [f"{key}={variables[key]}" for key in sorted(variables)]


def _hex(digest: str) -> str:
    """The file name of a blob; checked first so a digest can never walk out of blobs/."""
    if not _DIGEST.fullmatch(digest):
        raise OciError(f"unsupported or malformed digest {digest!r}", hint="only sha256 is used")
    return digest.removeprefix("sha256:")


def _blob_where(source: _BlobSource, digest: str) -> str:
    return f"{source.where}/blobs/sha256/{_hex(digest)}"


def _parse(data: bytes, where: str) -> Any:
    try:
        value = parse_json(data, where=where)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OciError(f"invalid JSON: {error}", where=where) from error
    if not isinstance(value, dict):
        raise OciError("expected a JSON object", where=where)
    return value


def _object(value: object) -> dict[str, Any]:
    """An optional object field: one of another type counts as absent, never crashes."""
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise OciError("expected a JSON list", where=where)
    return value


def _descriptor(value: object, where: str, media_types: set[str]) -> Descriptor:
    if not isinstance(value, dict):
        raise OciError("expected a descriptor object", where=where)
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or media_type not in media_types:
        raise OciError(f"unsupported media type {media_type!r}", where=where)
    if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
        raise OciError("a descriptor needs a digest and a size", where=where)
    _hex(digest)
    return Descriptor(media_type, digest, size)


def _layer(value: object, where: str) -> Descriptor:
    descriptor = _descriptor(value, where, set(_LAYER_TYPES))
    return Descriptor(_LAYER_TYPES[descriptor.media_type], descriptor.digest, descriptor.size)


def _select(
    source: _BlobSource, ref: str | None, architecture: str, digest: str | None = None
) -> Descriptor:
    """The one image manifest named by ``ref`` (if given) and ``digest`` (if given, the top
    entry's) for ``architecture``; nested indexes (multi-platform images) are opened one
    level deep, each checked against its digest."""
    index = _parse(source.read_file("index.json"), f"{source.where}/index.json")
    candidates = _list(index.get("manifests"), f"{source.where}/index.json")
    if digest is not None:
        candidates = [c for c in candidates if isinstance(c, dict) and c.get("digest") == digest]
        if not candidates:
            raise OciError(
                f"the base image layout does not hold the pinned {digest}",
                where=f"{source.where}/index.json",
                hint="the cache was tampered with; delete this layout and run `mlenv fetch`",
            )
    if ref is not None:
        candidates = [
            item
            for item in candidates
            if isinstance(item, dict)
            and _object(item.get("annotations")).get(REF_ANNOTATION) == ref
        ]
        if not candidates:
            raise OciError(f"the base image has no reference {ref!r}", where=source.where)
    expanded: list[Any] = []
    for item in candidates:
        if isinstance(item, dict) and _str(item.get("mediaType")) in _INDEX_TYPES:
            nested = _descriptor(item, f"{source.where}/index.json", _INDEX_TYPES)
            where = _blob_where(source, nested.digest)
            expanded.extend(
                _list(_parse(_read_blob(source, nested), where).get("manifests"), where)
            )
        else:
            expanded.append(item)
    matching = [
        item
        for item in expanded
        if isinstance(item, dict)
        and _str(item.get("mediaType")) in _MANIFEST_TYPES
        and _object(item.get("platform")).get("architecture", architecture) == architecture
    ]
    if len(matching) != 1:
        raise OciError(
            f"the base image has {len(matching)} images for {architecture}, expected one",
            where=source.where,
            hint="name one with its org.opencontainers.image.ref.name",
        )
    return _descriptor(matching[0], f"{source.where}/index.json", _MANIFEST_TYPES)


def _read_blob(source: _BlobSource, descriptor: Descriptor) -> bytes:
    if descriptor.size > _JSON_LIMIT:
        raise OciError("the blob is too big to be image metadata", where=source.where)
    buffer = io.BytesIO()
    _verify(source, descriptor, buffer)
    return buffer.getvalue()


def _verify(source: _BlobSource, descriptor: Descriptor, copy_to: BinaryIO | None) -> None:
    """Stream the blob through sha256 (and on to ``copy_to``); any difference is an error."""
    with source.open_blob(descriptor.digest) as (stream, length):
        actual = f"{length} bytes" if length != descriptor.size else _hash(stream, length, copy_to)
    if actual != descriptor.digest:
        raise OciError(
            f"blob {descriptor.digest} is corrupt: expected {descriptor.digest} "
            f"({descriptor.size} bytes), got {actual}",
            where=_blob_where(source, descriptor.digest),
            hint="the image was modified or truncated; export it again",
        )


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hash(stream: BinaryIO, length: int, copy_to: BinaryIO | None) -> str:
    """Hash exactly ``length`` bytes of ``stream`` in chunks, copying them on if asked."""
    digest = hashlib.sha256()
    remaining = length
    while remaining:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            break
        digest.update(chunk)
        if copy_to is not None:
            copy_to.write(chunk)
        remaining -= len(chunk)
    return "sha256:" + digest.hexdigest()


def _write_json_blob(blobs: Path, media_type: str, value: object) -> Descriptor:
    data = canonical_json(value)
    descriptor = Descriptor(media_type, _sha256(data), len(data))
    (blobs / _hex(descriptor.digest)).write_bytes(data)
    return descriptor


def _move_in(blob: LayerBlob, source: Path, dest: Path) -> None:
    if dest.exists():  # the same layer twice
        return
    if source.stat().st_size != blob.size:
        raise OciError(f"the layer file is not the blob {blob.digest}", where=str(source))
    shutil.move(source, dest)
    dest.chmod(0o644)


def _export(source: _BlobSource, descriptor: Descriptor, dest: Path) -> None:
    """A base layer into the new image, copied by the read that hashes it (security invariant
    1): ``read_base`` checked it earlier, but a base layout in the shared cache can be swapped
    or rewritten since, and a hard link would let a later write to the cache change the image.
    A blob appearing twice (the same layer twice) is already in place."""
    if dest.exists():
        return
    try:
        with open(dest, "xb") as target:
            _verify(source, descriptor, target)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _check_replaceable(dest: Path) -> None:
    """Only an earlier image layout (or an empty directory) may be replaced, never user data."""
    if dest.exists() and not (
        dest.is_dir() and ((dest / "oci-layout").is_file() or not any(dest.iterdir()))
    ):
        raise OciError(
            "the destination exists and is not an OCI image layout",
            where=str(dest),
            hint="choose another directory or remove it",
        )
