"""What kind of thing a path the user named as a command's SUBJECT is, judged once for every
command that takes one (`verify OUTPUT`, `inspect SUBJECT`, `init --from FILE`), so a subject
of the wrong kind is one clear error naming what it looks like and what the command takes:
"this is an mlenv manifest (mlenv.toml), not a lock", never twelve "damaged lock" problems
or the parent directory's build.json.

Judging never blocks and never reads much: ``stat`` first (a FIFO, a device or a socket is
never opened), then at most the first bytes of a plain file, and for a tar archive its member
names (headers only, the data skipped), a bounded number of them. The file is opened once,
without blocking, and the tar headers are read from that same descriptor: a FIFO swapped in
after the first look cannot hold the judge (attack 68), and a header that asks for more
(a GNU long name or a pax record of gigabytes, a sparse map) is not read past ``_HEADER_BYTES``.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO, Literal

from mlenv.build_record import BUILD_RECORD
from mlenv.cache import BUNDLE_INDEX
from mlenv.errors import UsageError
from mlenv.userfiles import special_kind

Kind = Literal[
    "manifest", "lock", "pyproject", "requirements", "build-record", "image-archive",
    "docker-archive", "tar", "gzip", "zstd", "oci-layout", "layout-blobs", "dist", "bundle",
    "directory", "empty", "special", "file", "tool-lock",
]  # fmt: skip

_DESCRIBED: dict[Kind, str] = {
    "manifest": "an mlenv manifest (mlenv.toml)",
    "lock": "an mlenv lock",
    "pyproject": "a pyproject.toml",
    "requirements": "a requirements file",
    "build-record": "a build record (dist/build.json)",
    "image-archive": "an OCI image archive",
    "docker-archive": "a docker archive (`docker save`: manifest.json, no index.json)",
    "tar": "a tar archive that holds no image",
    "gzip": "a gzip file (such as a conda-pack archive)",
    "zstd": "a zstd file",
    "oci-layout": "an OCI image layout",
    "layout-blobs": "the blobs/ directory of an OCI layout",
    "dist": "a build's output directory (dist/, holding build.json)",
    "bundle": "an offline bundle (bundle.json)",
    "directory": "a directory that is not an OCI layout (no oci-layout file)",
    "empty": "an empty file",
    "special": "not a plain file or directory (a FIFO, a device or a socket)",
    "file": "a file of no kind mlenv reads here",
    "tool-lock": "another tool's lock (uv, Poetry, pixi, PDM or Pipenv)",
}
# Other tools' locks by name (``.lock`` alone made uv.lock "an mlenv lock", attack 99), with
# the file `init --from` reads in their place
TOOL_LOCKS = {
    "uv.lock": "import the pyproject.toml beside it; for its exact pins, `uv export --format "
    "pylock.toml -o pylock.toml` and import that",
    "poetry.lock": "import the pyproject.toml beside it; for its exact pins, `poetry export "
    "-o requirements.txt` and import that",
    "pixi.lock": "import the pixi.toml (or pyproject.toml) beside it",
    "pdm.lock": "import the pyproject.toml beside it, or `pdm export -o requirements.txt`",
    "pipfile.lock": "`pipenv requirements > requirements.txt` and import that",
}
# What each command takes. A tampered or truncated build output may look like anything a
# file can: verify judges it against build.json (a finding), and a FIFO or a device is refused
# by its reader; a tar archive with no layout is left to inspect's reader, which says what
# it lacks.
_ARCHIVES: tuple[Kind, ...] = ("image-archive", "docker-archive", "tar", "gzip", "zstd")
OUTPUT: frozenset[Kind] = frozenset((*_ARCHIVES, "oci-layout", "empty", "file"))
OUTPUT_BESIDE_RECORD: frozenset[Kind] = OUTPUT | frozenset(("directory", "special"))
INSPECTED: frozenset[Kind] = frozenset(("image-archive", "tar", "oci-layout", "lock"))
NODE_LIST: frozenset[Kind] = frozenset(("file", "special"))  # a pipe: <(kubectl ...)
_HEAD = 512
_MAX_MEMBERS = 4096  # an image archive names its layout files long before this
_HEADER_BYTES = 8 << 20  # all tar headers judged: 4096 members with a pax record each take 6 MiB


class SubjectError(UsageError):
    """A command's subject is a thing of another kind than the command takes."""


def describe(kind: Kind) -> str:
    return _DESCRIBED[kind]


def judge(path: Path) -> Kind:
    """What ``path`` (a symlink is followed) looks like; ``FileNotFoundError`` is left to the
    caller. Only a plain file is ever opened."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return _directory(path)
    if not stat.S_ISREG(mode):
        return "special"
    # Names are compared case-folded (BUILD.JSON, MLENV.LOCK from a case-folding file system
    # or a user's shift key are the same files; attack 72), and contents decide first. Only
    # the exact name build.json is a record by its name alone: a web app's BUILD.JSON is a
    # record only if it reads as one (attack 80).
    name = path.name.casefold()
    if path.name == BUILD_RECORD:
        return "build-record"
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the stat: never read
            return "file"
        head = handle.read(_HEAD)
        if not head:
            return "empty"
        if head.startswith(b"\x1f\x8b"):
            return "gzip"
        if head.startswith(b"\x28\xb5\x2f\xfd"):
            return "zstd"
        if head[257:262] == b"ustar":
            return _tar(handle)
        return _text(name, head)


def expect(path: Path, accepted: frozenset[Kind], takes: str, command: str) -> Kind:
    """The kind of ``path`` if ``accepted``; else a ``SubjectError`` saying what it is, that
    ``command`` takes ``takes``, and how to name the right thing."""
    try:
        kind = judge(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SubjectError(
            f"cannot tell what this is: {exc.strerror or exc}", where=str(path),
            hint=f"`mlenv {command}` takes {takes}",
        ) from None  # fmt: skip
    if kind in accepted:
        return kind
    tip = _tip(kind, path, command)
    what = _said(path, kind)
    raise SubjectError(
        f"this is {what}, not {takes}", where=str(path),
        hint=f"{tip}; " * bool(tip) + f"`mlenv {command}` takes {takes}",
    )  # fmt: skip


def what_is(path: Path) -> str:
    """What ``path`` looks like, in words ("an mlenv lock", "a FIFO")."""
    return _said(path, judge(path))


def _said(path: Path, kind: Kind) -> str:
    return special_kind(path.stat().st_mode) if kind == "special" else describe(kind)


def _directory(path: Path) -> Kind:
    if (path / "oci-layout").exists() or (path / "index.json").exists():
        return "oci-layout"
    if (path / BUNDLE_INDEX).exists():
        return "bundle"
    if (path / BUILD_RECORD).exists():
        return "dist"
    if path.name == "blobs" and (path.parent / "oci-layout").exists():
        return "layout-blobs"
    return "directory"


class _Budget:
    """An open archive as ``tarfile`` reads it, at most ``_HEADER_BYTES`` in all: its member
    data is skipped by seeking, so only headers (a long name, pax records, a sparse map) are
    read, and a header claiming gigabytes is refused as an ``OSError``, not read."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._left = _HEADER_BYTES

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            raise OSError("the tar headers are larger than an image archive's")
        self._left -= size
        return self._handle.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


def _tar(handle: BinaryIO) -> Kind:
    names: set[str] = set()
    handle.seek(0)
    try:
        with tarfile.open(fileobj=_Budget(handle), mode="r:") as archive:  # type: ignore[call-overload]
            for count, member in enumerate(archive):
                names.add(member.name.removeprefix("./"))
                if count >= _MAX_MEMBERS or "oci-layout" in names or "index.json" in names:
                    break
    # ValueError: tarfile's reader of a GNU sparse map unpacks what a crafted header holds
    except (tarfile.TarError, OSError, ValueError):
        return "tar"
    if "oci-layout" in names or "index.json" in names:
        return "image-archive"
    return "docker-archive" if "manifest.json" in names else "tar"


def _text(name: str, head: bytes) -> Kind:
    if head.lstrip().startswith(b"{") and b'"lock-sha256"' in head and b'"mlenv"' in head:
        return "build-record"  # build.json under any name: its first keys are these
    if head.startswith(b"# mlenv.lock") or b"\ninputs-hash" in head:
        return "lock"
    if name in TOOL_LOCKS:
        return "tool-lock"
    if name.endswith(".lock"):
        return "lock"
    if name == "pyproject.toml":
        return "pyproject"
    if name.endswith(".toml") and (b"[environment]" in head or name == "mlenv.toml"):
        return "manifest"
    # A JSON document is no requirements file, whatever its name: `kubectl get nodes -o json >
    # nodes.txt` is a node list (attack 68); no requirement line starts with { or [.
    if name.endswith((".txt", ".in")) and not head.lstrip().startswith((b"{", b"[")):
        return "requirements"
    return "file"


def _tip(kind: Kind, path: Path, command: str) -> str:
    """How to name the right thing, when what was named tells."""
    if kind == "dist":
        return f"name {path / 'image.tar'} or {path / 'oci'} (a multi-platform build: " + (
            f"{path / '<platform>' / 'image.tar'})"
        )
    if kind == "layout-blobs":
        return f"name the layout itself: {path.parent}"
    if kind == "bundle":
        return f"check a bundle with `mlenv verify --bundle {path}`"
    if kind == "lock" and command == "verify":
        return (
            "verify judges the lock beside the manifest: run "
            "`mlenv --manifest DIR/mlenv.toml verify` in the lock's project, no OUTPUT"
        )
    if kind == "manifest":
        return "pass the mlenv.lock beside it" if command == "inspect" else ""
    if kind == "docker-archive":
        return "mlenv reads OCI archives: `skopeo copy docker-archive:X oci-archive:Y` converts"
    if kind == "build-record":
        return f"name an output it records, beside it in {path.parent}"
    return ""
