"""The one OCI layout reader: a layout directory or an oci-archive tar, every blob hashed on the
way (``verify_blob``); ``read_base`` reads a base image, the registry client a layout to push.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from mlenv.cache.held import measure
from mlenv.digests import is_sha256_digest
from mlenv.errors import MlenvError, printable
from mlenv.install.safety import TAR_EXTENSIONS
from mlenv.oci.base_config import config_problem
from mlenv.oci.model import (
    CONFIG_TYPES,
    INDEX_TYPES,
    JSON_LIMIT,
    MANIFEST_TYPES,
    REF_ANNOTATION,
    Descriptor,
    OciError,
    architecture_of,
    as_list,
    descriptor_of,
    hex_of,
    layer_of,
    optional_object,
    parse_json,
)
from mlenv.userfiles import input_kind, open_input, read_input


@dataclass(frozen=True)
class BaseImage:
    """An image to append onto: its parsed config and verified layers."""

    manifest_digest: str
    architecture: str
    config: dict[str, Any]
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[str, ...]
    source: BlobSource


# overlayfs stacks at most 500 lower layers (Docker's overlay2 refuses past 128): a manifest
# listing more is no image, and each listing may cost a read of its layer (attack 221)
MAX_LAYERS = 1_000


def read_base(
    path: Path,
    *,
    platform: str,
    ref: str | None = None,
    digest: str | None = None,
    what: str = "base image",
) -> BaseImage:
    """Read an OCI layout directory or oci-archive tar; every blob is checked on the way.
    ``digest`` pins the image: the layout's index must name it (an image index or a
    manifest), so a layout planted under a pinned digest's key serves nothing else."""
    source = open_source(path, what)
    try:
        marker = source.read_file("oci-layout")
    except OciError as error:
        raise OciError(error.message, where=error.where, hint=_DOCKER_ARCHIVE) from None
    layout = parse_json(marker, f"{path}/oci-layout")
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
        raise OciError("not an OCI image layout 1.0.0", where=f"{path}/oci-layout")
    architecture = architecture_of(platform)
    chosen = select(source, ref, architecture, digest)
    where = blob_where(source, chosen.digest)
    manifest = parse_json(read_blob(source, chosen), where)
    config_descriptor = descriptor_of(manifest.get("config"), where, CONFIG_TYPES)
    config = parse_json(read_blob(source, config_descriptor), where)
    if config.get("architecture") != architecture or config.get("os") != "linux":
        raise OciError(
            f"the base image is for {config.get('os')}/{config.get('architecture')}, "
            f"the environment for linux/{architecture} ({platform})",
            where=str(path),
        )
    if problem := config_problem(config):
        raise OciError(f"the base image's config {problem}", where=where, hint=_BASE_CONFIG)
    layers = tuple(layer_of(item, where) for item in as_list(manifest.get("layers"), where))
    rootfs = config.get("rootfs")
    diff_ids = tuple(as_list(rootfs.get("diff_ids") if isinstance(rootfs, dict) else None, where))
    if len(diff_ids) != len(layers) or not all(is_sha256_digest(d) for d in diff_ids):
        raise OciError(
            "the config's rootfs.diff_ids do not match the manifest's layers", where=where
        )
    if len(layers) > MAX_LAYERS:
        raise OciError(
            f"the manifest lists {len(layers):,} layers, over the {MAX_LAYERS:,} of any image "
            "a runtime can stack",
            where=where,
        )
    for layer in dict.fromkeys(layers):  # each blob once, however often it is listed
        verify_blob(source, layer, None)
    return BaseImage(chosen.digest, architecture, config, layers, diff_ids, source)


_BASE_CONFIG = (
    "fix it where the base is built (each Env entry NAME=VALUE: `ENV FOO=` for an empty value), "
    "or build on another base"
)
_DOCKER_ARCHIVE = (
    "give an OCI image layout or oci-archive; a docker-archive from `docker save` before "
    "Docker 25 has none: convert it with `skopeo copy docker-archive:IMAGE.tar oci:DIR:latest`"
)


def open_source(path: Path, what: str) -> BlobSource:
    """The image the user named: a layout directory or an archive (a plain file), judged
    before anything is opened (``userfiles.input_kind``): a FIFO, a socket or a device is an
    error saying what it is, never "missing", and never blocks."""
    try:
        kind = input_kind(path, what, expected="an OCI layout directory or an image archive")
    except FileNotFoundError:
        raise OciError(f"the {what} does not exist", where=str(path)) from None
    except MlenvError as error:
        raise OciError(error.message, where=error.where, hint=error.hint) from None
    return DirSource(path) if kind == "directory" else TarSource(path)


class BlobSource(Protocol):
    where: str

    def read_file(self, name: str) -> bytes: ...
    def open_blob(self, digest: str) -> contextlib.AbstractContextManager[tuple[BinaryIO, int]]: ...


class DirSource:
    """An OCI layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def read_file(self, name: str) -> bytes:
        path = self.root / name
        try:
            return read_input(path, "image metadata", limit=JSON_LIMIT)
        except FileNotFoundError:
            raise OciError(f"the image layout has no {name}", where=self.where) from None
        except MlenvError as error:  # a FIFO, a device, a directory, or too big
            raise OciError(error.message, where=error.where, hint=error.hint) from None

    @contextlib.contextmanager
    def open_blob(self, digest: str) -> Iterator[tuple[BinaryIO, int]]:
        path = self.root / "blobs" / "sha256" / hex_of(digest)
        with _opened(path, "image blob", f"the blob {digest} is missing") as stream:
            yield stream, os.fstat(stream.fileno()).st_size


# An extension header (PAX record, GNU long name or link) holds a name and a few fields: a
# bigger one is no image, and tarfile reads it whole into memory before the member it
# describes (a sparse archive of a few KiB could claim gigabytes).
_MAX_EXTENSION = 1 << 20


class _Headers(tarfile.TarInfo):
    """A member of an image archive; an extension header over ``_MAX_EXTENSION`` bytes is
    refused before it is read (``_proc_member`` is tarfile's hook for subclasses), and so is a
    sparse member: no image archive holds one, and tarfile reads a sparse map block by block
    for as long as the archive goes on (GNU's old format and pax 1.0), crashing with a
    ValueError on a map without its newline (attack 68)."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in TAR_EXTENSIONS and self.size > _MAX_EXTENSION:
            raise tarfile.HeaderError(
                f"an extension header of {self.size} bytes, over {_MAX_EXTENSION}"
            )
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise tarfile.HeaderError(_SPARSE)
        try:
            member: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        except ValueError as error:  # tarfile's parse of what a header holds, unchecked
            raise tarfile.HeaderError(f"a malformed header ({error})") from None
        return member

    def _proc_gnusparse_10(self, *_: object) -> None:
        raise tarfile.HeaderError(_SPARSE)


_SPARSE = "a sparse member, which no image archive holds"


class TarSource:
    """An oci-archive: the layout inside one tar, read in place at each member's offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        try:
            with (
                _opened(path, "image archive", "the image archive is missing") as stream,
                tarfile.open(fileobj=stream, mode="r:", tarinfo=_Headers) as archive,
            ):
                self._members = {
                    member.name.removeprefix("./"): (member.offset_data, member.size)
                    for member in archive
                    if member.isfile()
                }
        except tarfile.TarError as error:
            raise OciError(f"not an image archive: {error}", where=self.where) from error

    def read_file(self, name: str) -> bytes:
        with self._open(name) as (stream, length):
            if length > JSON_LIMIT:
                raise OciError(
                    "the file is too big to be image metadata", where=f"{self.where}:{name}"
                )
            return stream.read(length)

    def open_blob(self, digest: str) -> contextlib.AbstractContextManager[tuple[BinaryIO, int]]:
        return self._open(f"blobs/sha256/{hex_of(digest)}")

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[tuple[BinaryIO, int]]:
        if name not in self._members:
            raise OciError(f"the image archive has no {name}", where=self.where)
        offset, length = self._members[name]
        with _opened(self.path, "image archive", "the image archive is missing") as stream:
            stream.seek(offset)
            yield io.BufferedReader(_Window(stream, length)), length


def _opened(path: Path, what: str, missing: str) -> BinaryIO:
    """A file of an image opened by ``userfiles.open_input``: plain, never blocking."""
    try:
        return open_input(path, what)
    except FileNotFoundError:
        raise OciError(missing, where=str(path)) from None
    except MlenvError as error:
        raise OciError(error.message, where=error.where, hint=error.hint) from None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def blob_where(source: BlobSource, digest: str) -> str:
    return f"{source.where}/blobs/sha256/{hex_of(digest)}"


def select(
    source: BlobSource, ref: str | None, architecture: str, digest: str | None = None
) -> Descriptor:
    """The one image manifest named by ``ref`` (if given) and ``digest`` (if given, the top
    entry's) for ``architecture``, through nested indexes (``_opened_indexes``)."""
    index = parse_json(source.read_file("index.json"), f"{source.where}/index.json")
    candidates = as_list(index.get("manifests"), f"{source.where}/index.json")
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
            and optional_object(item.get("annotations")).get(REF_ANNOTATION) == ref
        ]
        if not candidates:
            raise OciError(f"the base image has no reference {ref!r}", where=source.where)
    expanded = _opened_indexes(source, candidates, f"{source.where}/index.json")
    matching = [
        item
        for item in expanded
        if isinstance(item, dict)
        and _str(item.get("mediaType")) in MANIFEST_TYPES
        and optional_object(item.get("platform")).get("architecture", architecture) == architecture
        and optional_object(item.get("platform")).get("os", "linux") == "linux"
        # buildx's provenance and SBOM: a manifest of platform unknown/unknown, never an image
        and "vnd.docker.reference.type" not in optional_object(item.get("annotations"))
    ]
    if not matching:
        raise OciError(
            f"the base image has no image for linux/{architecture}, {_offered(expanded)}",
            where=source.where,
            hint="use a base image built for the lock's platform",
        )
    # Each a descriptor before they are compared: a digest that is a JSON list was unhashable,
    # an internal error (attack 223).
    where = f"{source.where}/index.json"
    found = [descriptor_of(item, where, MANIFEST_TYPES) for item in matching]
    # One manifest under two tags (skopeo copy to a second tag, docker save of two) is one image.
    images = {descriptor.digest for descriptor in found}
    if len(images) != 1:
        tags = (optional_object(item.get("annotations")).get(REF_ANNOTATION) or item.get("digest")
                for item in matching)  # fmt: skip
        held = ", ".join(str(tag) for tag in tags)
        transport = "oci" if isinstance(source, DirSource) else "oci-archive"
        raise OciError(
            f"the base image has {len(images)} images for {architecture} ({held}), expected one",
            where=source.where,
            hint=f"copy the one to build on into a layout of its own: skopeo copy "
            f"{transport}:{source.where}:TAG oci:DIR:TAG, and set [build] base-image = DIR",
        )
    return found[0]


def _offered(entries: list[Any]) -> str:
    """What an index holds instead of the image wanted: the platforms of its image manifests,
    and the media types it lists that are none (an entry spelled ``...MANIFEST.V1+JSON``
    was shown as "only None/None": attack 223)."""
    kinds = [(_str(i.get("mediaType")), optional_object(i.get("platform"))) for i in entries
             if isinstance(i, dict)]  # fmt: skip
    offered = sorted({f"{p.get('os')}/{p.get('architecture')}" for m, p in kinds
                      if m in MANIFEST_TYPES})  # fmt: skip
    others = sorted({printable(m or "(none)", 80) for m, _ in kinds if m not in MANIFEST_TYPES})
    said = f"only {', '.join(offered)}" if offered else "nor any image manifest"
    if others:
        said += f"; it lists entries of media type {', '.join(others[:5])}, no image manifest's"
    return said


_INDEX_DEPTH = 8  # the image spec lets an index list indexes; a few levels is all seen


def _opened_indexes(
    source: BlobSource, items: list[Any], where: str, seen: set[str] | None = None, depth: int = 0
) -> list[Any]:
    """``items`` with each image index among them replaced by its entries down to the images
    (a multi-platform index inside a layout's own), each checked and opened once."""
    seen = set() if seen is None else seen
    expanded: list[Any] = []
    for item in items:
        if not (isinstance(item, dict) and _str(item.get("mediaType")) in INDEX_TYPES):
            expanded.append(item)
            continue
        if depth == _INDEX_DEPTH:
            raise OciError(f"image indexes nested over {_INDEX_DEPTH} deep", where=where)
        nested = descriptor_of(item, where, INDEX_TYPES)
        if nested.digest not in seen:
            seen.add(nested.digest)
            at = blob_where(source, nested.digest)
            entries = as_list(parse_json(read_blob(source, nested), at).get("manifests"), at)
            expanded.extend(_opened_indexes(source, entries, at, seen, depth + 1))
    return expanded


def read_blob(source: BlobSource, descriptor: Descriptor) -> bytes:
    if descriptor.size > JSON_LIMIT:
        raise OciError("the blob is too big to be image metadata", where=source.where)
    buffer = io.BytesIO()
    verify_blob(source, descriptor, buffer)
    return buffer.getvalue()


def verify_blob(source: BlobSource, descriptor: Descriptor, copy_to: BinaryIO | None) -> None:
    """Stream the blob through sha256 (and on to ``copy_to``); any difference is an error."""
    with source.open_blob(descriptor.digest) as (stream, length):
        actual = f"{length} bytes"
        if length == descriptor.size:
            # at most one byte past the size is read: a blob growing while read is a mismatch
            measured = measure(stream, copy_to, limit=length)
            grown = measured.size != length
            actual = f"{measured.size} bytes" if grown else f"sha256:{measured.sha256}"
    if actual != descriptor.digest:
        raise OciError(
            f"blob {descriptor.digest} is corrupt: expected {descriptor.digest} "
            f"({descriptor.size} bytes), got {actual}",
            where=blob_where(source, descriptor.digest),
            hint="the image was modified or truncated; export it again",
        )


class _Window(io.RawIOBase):
    """The ``length`` bytes of a tar member in place: reads end where the member ends."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self._left]
        count = self._stream.readinto(view)  # type: ignore[attr-defined]
        self._left -= count
        return int(count)
