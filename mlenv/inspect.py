"""`mlenv inspect`: why an image is as big as it is.

For an image (``dist/image.tar`` or an OCI layout) every layer is streamed once, its sha256
checked on the way, and each file is attributed to the package that installed it (a wheel's
``RECORD``, a conda package's ``conda-meta`` entry). For a lock, the download size of each
package and, when its wheel is in the cache, the size it unpacks to. Both say how much of
the total is CUDA libraries, the usual answer to "why 5 GB".
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

from isal.igzip import IGzipFile
from packaging.utils import canonicalize_name
from zstandard import ZstdDecompressor, ZstdError

from mlenv.errors import MlenvError
from mlenv.install.inflate import INFLATE_ERROR
from mlenv.limits import MAX_BODY_BYTES, MAX_INFLATE_RATIO, enforce, parse_json
from mlenv.lockfile import Lock
from mlenv.oci.model import Descriptor, OciError
from mlenv.oci.read import BaseImage, read_base
from mlenv.platforms import NAMES
from mlenv.redaction import redact
from mlenv.userfiles import open_input

LARGEST = 10
_GZIP = cast("Callable[..., BinaryIO]", IGzipFile)  # untyped in its stub
# Package metadata files are small; a bigger one is not metadata and is not read.
_METADATA_LIMIT = 16 << 20
_CHUNK = 1 << 20
# Shared libraries of the CUDA toolkit, cuDNN, NCCL and PyTorch's CUDA kernels.
_CUDA_FILE = re.compile(
    r"(^|/)lib(cuda|cudart|cublas|cublasLt|cufft|cufftw|curand|cusolver|cusolverMg|cusparse"
    r"|cusparseLt|cudnn\w*|nccl|nvrtc\w*|nvJitLink|nvToolsExt|cupti|nvperf\w*|cufile\w*"
    r"|nvblas|npp\w*|nvjpeg|torch_cuda\w*|c10_cuda|caffe2_nvrtc)\.so[.\d]*$"
)
_CUDA_PACKAGE = re.compile(
    r"^(nvidia-.*|cuda-.*|libcu(blas|fft|rand|solver|sparse|file|dnn)\w*|cudnn|nccl|libnccl"
    r"|libnv(jitlink|jpeg|npp)\w*)$"
)


class InspectError(MlenvError):
    """The file to inspect is not an image, a layout or a lock mlenv can read."""


def is_cuda_file(path: str) -> bool:
    return "/site-packages/nvidia/" in f"/{path}" or _CUDA_FILE.search(path) is not None


def is_cuda_package(name: str) -> bool:
    return _CUDA_PACKAGE.match(name.lower()) is not None


@dataclass(frozen=True)
class LayerSize:
    index: int
    digest: str
    created_by: str
    compressed: int
    installed: int
    files: int


@dataclass(frozen=True)
class PackageSize:
    name: str
    version: str
    source: str
    installed: int | None  # None: not known (a lock whose artifact is not in the cache)
    download: int | None
    cuda_library: bool


@dataclass(frozen=True)
class FileSize:
    path: str
    size: int
    layer: int | None
    package: str | None


@dataclass(frozen=True)
class Inspection:
    subject: str
    kind: Literal["image", "lock"]
    platform: str
    layers: tuple[LayerSize, ...]
    packages: tuple[PackageSize, ...]  # largest first
    largest: tuple[FileSize, ...]
    installed: int
    compressed: int | None  # the image's layers, or the lock's downloads
    cuda: int  # bytes of CUDA libraries (installed for images, download for locks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind,
            "platform": self.platform,
            "installed": self.installed,
            "compressed": self.compressed,
            "cuda-libraries": self.cuda,
            "layers": [_kebab(asdict(layer)) for layer in self.layers],
            "packages": [_kebab(asdict(p)) for p in self.packages],
            "largest-files": [asdict(f) for f in self.largest],
        }


def _kebab(data: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("_", "-"): value for key, value in data.items()}


# ---------------------------------------------------------------------------------------------
# Images


def open_image(path: Path, platform: str | None) -> tuple[str, BaseImage]:
    """The image at ``path`` for ``platform``, or for whichever platform it holds."""
    errors: list[OciError] = []
    for candidate in [platform] if platform else list(NAMES):
        try:
            return candidate, read_base(path, platform=candidate, what="image")
        except OciError as exc:
            errors.append(exc)
    raise errors[0]


class _Bounded(io.RawIOBase):
    """Exactly ``length`` bytes of ``stream``: a blob inside an image tar ends before the tar."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self.stream = stream
        self.remaining = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(min(len(buffer), self.remaining))
        self.remaining -= len(data)
        buffer[: len(data)] = data
        return len(data)


class _Inflated(io.RawIOBase):
    """A decompressed layer, refused once it is ``limit`` bytes: real layers inflate a few
    times, a bomb a thousand times (security invariant 7, ``limits.enforce``)."""

    def __init__(self, stream: BinaryIO, limit: int, where: str) -> None:
        self.stream = stream
        self.limit = limit
        self.read_so_far = 0
        self.where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        self.read_so_far += len(data)
        enforce(self.read_so_far, self.limit, "bytes a layer inflates to", where=self.where)
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def layer_tar(
    image: BaseImage, layer: Descriptor, tarinfo: type[tarfile.TarInfo] = tarfile.TarInfo
) -> Iterator[tarfile.TarFile]:
    """The layer as a streamed tar (read_base has checked its sha256), bounded in what it
    inflates to; its members read as ``tarinfo``."""
    with image.source.open_blob(layer.digest) as (stream, length):
        reader: BinaryIO = io.BufferedReader(_Bounded(stream, length), _CHUNK)
        if layer.media_type.endswith("+zstd"):
            reader = ZstdDecompressor().stream_reader(reader)
        elif layer.media_type.endswith("+gzip"):
            reader = _GZIP(fileobj=reader, mode="rb")  # 3x zlib's inflate
        limit = max(MAX_INFLATE_RATIO * length, MAX_BODY_BYTES)
        where = f"{image.source.where} layer {layer.digest}"
        inflated = io.BufferedReader(_Inflated(reader, limit, where), _CHUNK)
        try:
            with tarfile.open(fileobj=inflated, mode="r|", tarinfo=tarinfo) as archive:
                yield archive
        # ValueError: tarfile's parse of a crafted GNU sparse map (attack 68); the inflaters'
        # own errors: a blob whose digest is right but whose stream is not (a crafted base)
        except (tarfile.TarError, OSError, EOFError, ValueError, INFLATE_ERROR, ZstdError) as exc:
            raise InspectError(
                f"layer {layer.digest} is not a readable tar: {exc}",
                where=image.source.where,
                hint="the image is damaged; build or export it again",
            ) from None


@dataclass(frozen=True)
class _Owner:
    name: str
    version: str
    source: str
    paths: tuple[str, ...]


def _record_owner(member: str, data: bytes) -> _Owner | None:
    """A wheel's files from its RECORD, as paths in the image; None for a RECORD csv cannot
    read (a field over its 131,072 limit was an internal error: attack 223)."""
    dist_info = posixpath.dirname(member)
    site = posixpath.dirname(dist_info)
    name, _, version = posixpath.basename(dist_info).removesuffix(".dist-info").partition("-")
    rows = csv.reader(io.StringIO(data.decode("utf-8", errors="replace")))
    try:
        paths = tuple(posixpath.normpath(posixpath.join(site, row[0])) for row in rows if row)
    except csv.Error:
        return None
    return _Owner(canonicalize_name(name), version, "pypi", paths)


def _conda_owner(member: str, data: bytes) -> _Owner | None:
    try:
        record = parse_json(data, where=member)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("files"), list):
        return None
    prefix = posixpath.dirname(posixpath.dirname(member))
    paths = tuple(posixpath.join(prefix, str(f)) for f in record["files"])
    return _Owner(str(record.get("name", "?")), str(record.get("version", "?")), "conda", paths)


def _owner(member: tarfile.TarInfo, archive: tarfile.TarFile, held: int) -> _Owner | None:
    """The package a metadata member describes; ``held`` bytes of metadata are held already,
    and all of it together is bounded too (a thousand 16 MiB RECORDs are not an image)."""
    name = member.name.removeprefix("./")
    # an installed distribution's, in the site directory: not one vendored inside a package
    # (setuptools/_vendor/typing_extensions-4.12.2.dist-info is setuptools' file, no package)
    site = posixpath.basename(posixpath.dirname(posixpath.dirname(name)))
    is_record = name.endswith(".dist-info/RECORD") and site in ("site-packages", "dist-packages")
    is_conda = posixpath.basename(posixpath.dirname(name)) == "conda-meta" and name.endswith(
        ".json"
    )
    if not (is_record or is_conda) or member.size > _METADATA_LIMIT:
        return None
    enforce(held + member.size, MAX_BODY_BYTES, "bytes of package metadata", where=name)
    handle = archive.extractfile(member)
    if handle is None:
        return None
    data = handle.read()
    return _record_owner(name, data) if is_record else _conda_owner(name, data)


def inspect_image(path: Path, platform: str | None = None, largest: int = LARGEST) -> Inspection:
    chosen, image = open_image(path, platform)
    history = [h for h in image.config.get("history") or [] if not h.get("empty_layer")]
    files: dict[str, tuple[int, int]] = {}  # path -> (size, layer), the last layer wins
    layers = []
    owners: list[_Owner] = []
    held = 0
    listed: dict[Descriptor, list[tuple[str, int]]] = {}  # a layer listed again: read once
    for index, descriptor in enumerate(image.layers):
        if descriptor not in listed:
            listed[descriptor] = []
            with layer_tar(image, descriptor) as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    listed[descriptor].append((member.name.removeprefix("./"), member.size))
                    if (owner := _owner(member, archive, held)) is not None:
                        owners.append(owner)
                        held += member.size
        files.update((name, (size, index)) for name, size in listed[descriptor])
        installed = sum(size for _, size in listed[descriptor])
        count = len(listed[descriptor])
        created = history[index].get("created_by", "") if index < len(history) else ""
        created = redact(created)  # a base image's `RUN curl https://u:TOKEN@...`, before any cut
        size = descriptor.size
        layers.append(LayerSize(index, descriptor.digest, created, size, installed, count))
    owner_of: dict[str, str] = {}
    packages = []
    for owner in owners:
        size = 0
        for owned in owner.paths:
            if owned in files and owned not in owner_of:
                owner_of[owned] = owner.name
                size += files[owned][0]
        cuda = is_cuda_package(owner.name) or any(is_cuda_file(p) for p in owner.paths)
        packages.append(PackageSize(owner.name, owner.version, owner.source, size, None, cuda))
    return Inspection(
        subject=str(path),
        kind="image",
        platform=chosen,
        layers=tuple(layers),
        packages=_by_size(packages),
        largest=_largest(
            [FileSize(p, s, layer, owner_of.get(p)) for p, (s, layer) in files.items()], largest
        ),
        installed=sum(size for size, _ in files.values()),
        compressed=sum(layer.compressed for layer in layers),
        cuda=sum(size for p, (size, _) in files.items() if is_cuda_file(p)),
    )


def _by_size(packages: Sequence[PackageSize]) -> tuple[PackageSize, ...]:
    return tuple(sorted(packages, key=lambda p: (-(p.installed or 0), -(p.download or 0), p.name)))


def _largest(files: Sequence[FileSize], count: int) -> tuple[FileSize, ...]:
    return tuple(sorted(files, key=lambda f: (-f.size, f.path))[:count])


# ---------------------------------------------------------------------------------------------
# Locks


def inspect_lock(
    lock: Lock,
    subject: str,
    path_of: Callable[[str], Path],
    platform: str | None = None,
    largest: int = LARGEST,
) -> Inspection:
    """Download sizes from the lock; installed sizes and files from cached wheels."""
    locked = lock.platform(platform or lock.target.platforms[0])
    packages = []
    files = []
    for package in locked.packages:
        members = _wheel_members(path_of(package.sha256))
        installed = None if members is None else sum(size for _, size in members)
        files += [FileSize(m, size, None, package.name) for m, size in members or ()]
        # a wheel's members are paths below site-packages
        cuda = is_cuda_package(package.name) or any(
            is_cuda_file(f"site-packages/{m}") for m, _ in members or ()
        )
        packages.append(
            PackageSize(package.name, package.version, "pypi", installed, package.size, cuda)
        )
    for conda in locked.conda:
        cuda = is_cuda_package(conda.name)
        packages.append(PackageSize(conda.name, conda.version, "conda", None, conda.size, cuda))
    return Inspection(
        subject=subject,
        kind="lock",
        platform=locked.platform,
        layers=(),
        packages=_by_size(packages),
        largest=_largest(files, largest),
        installed=sum(p.installed or 0 for p in packages),
        compressed=sum(p.download or 0 for p in packages),
        cuda=sum(p.download or 0 for p in packages if p.cuda_library),
    )


def shown_platform_note(lock: Lock, subject: str, platform: str | None) -> str | None:
    """What to say when a lock of several platforms is inspected with no ``--platform``: the
    sizes are one platform's (each platform locks its own wheels), so say which and how to
    see another, as ``uv tree --python-platform`` would need (attack 72)."""
    names = lock.target.platforms
    if platform is not None or len(names) < 2:
        return None
    others = " or ".join(f"--platform {name}" for name in names[1:])
    return (
        f"{subject} locks {len(names)} platforms ({', '.join(names)}); showing {names[0]}; "
        f"pass {others} for another"
    )


def _wheel_members(path: Path) -> list[tuple[str, int]] | None:
    try:  # a FIFO planted in the cache never blocks (userfiles.open_input)
        with open_input(path, "cached wheel") as handle, zipfile.ZipFile(handle) as archive:
            return [(i.filename, i.file_size) for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, MlenvError, ValueError, EOFError, NotImplementedError):
        # absent, not a wheel (a conda package) or damaged, however zipfile says so (a name
        # flagged UTF-8 that is not is a UnicodeDecodeError): verify's to report
        return None
