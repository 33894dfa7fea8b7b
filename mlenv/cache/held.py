"""What leaves a store: files opened without following a symlink, and the one read that
hashes them (security invariant 1 of docs/security.md).

Every store (the artifact cache, the layer cache, a bundle, the index caches) may be shared
and written by others. ``open_plain`` opens what is below a store's root without following
any symlink; ``held_copy`` puts the file it holds where a build uses it, measured by the very
read that copies it (or linked, when only this user could change it), and ``measure`` is that
read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from mlenv.cache.files import check_private

if TYPE_CHECKING:  # a protocol only: the lock path does not import the gzip writer
    from mlenv.parallel_gzip import Writable

CHUNK = 1 << 20


class Readable(Protocol):
    """What ``measure`` reads: a binary file, or a ``DirectReader``."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Measured:
    """What one read of a file found: what a bundle records and a build trusts."""

    sha256: str
    size: int


def held_copy(
    handle: BinaryIO,
    source: Path,
    dest: Path,
    *,
    limit: int,
    share: bool,
    check: Callable[[Measured], Measured],
    big: bool = False,
    later: bool = False,
) -> Measured | None:
    """The file open at ``handle`` (found at ``source``) put at ``dest`` (a new file) by the one
    read that measures it, and accepted by ``check`` (which raises otherwise): security
    invariant 1 for every store. With ``share`` it is linked instead when nobody else could
    change it (``_link_held``) and measured through the same descriptor; ``big`` files are read
    and written around the page cache. Nothing is left at ``dest`` unless ``check`` passed.

    ``later``: a linked file is not read now (None), because the caller's one read of ``dest``
    (in a directory only this user can change, so the same inode) measures and checks it
    before anything made from it is shipped."""
    from mlenv.direct import DirectReader, direct  # builds only: the lock path never copies

    fd = handle.fileno()
    made = share and _link_held(fd, source, dest)
    if made and later:
        return None
    try:
        with contextlib.ExitStack() as stack:
            reader = stack.enter_context(DirectReader(fd)) if big else handle
            out = None
            if not made:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                target = stack.enter_context(os.fdopen(os.open(dest, flags, 0o600), "wb"))
                made = True
                out = stack.enter_context(direct(target)) if big else target
                os.fchmod(target.fileno(), 0o644)
            measured = measure(reader, out, limit=limit)
        return check(measured)
    except BaseException:
        if made:
            dest.unlink(missing_ok=True)
        raise


def _link_held(fd: int, source: Path, dest: Path) -> bool:
    """Link at ``dest`` the inode open at ``fd`` (found at ``source`` when it was opened), when
    only this user could ever change its bytes: it belongs to this user and no one else may
    write it (an ACL granting that shows in the group bits). A link exists only within one
    file system, the one a copy would be written to and read back from, so a cache on another
    device (a carried disk) is still copied. The link is made by path, so it is kept only if
    it names the very inode held (``source`` swapped meanwhile: removed). False, and nothing
    left, otherwise: the caller copies."""
    try:
        held = os.fstat(fd)
        check_private(held, "the artifact")
        os.link(source, dest, follow_symlinks=False)  # EXDEV from another file system
    except OSError:
        return False
    try:
        linked = os.lstat(dest)
    except OSError:
        linked = None
    if linked is not None and (linked.st_dev, linked.st_ino) == (held.st_dev, held.st_ino):
        return True
    dest.unlink(missing_ok=True)
    return False


def measure(source: Readable, out: Writable | None = None, *, limit: int | None = None) -> Measured:
    """sha256 and size of ``source`` read to its end, copied to ``out`` on the way. With a
    ``limit``, at most ``limit`` + 1 bytes are read: a file growing while it is read is a
    mismatch, not an endless read."""
    digest = hashlib.sha256()
    size = 0
    while limit is None or size <= limit:
        chunk = source.read(CHUNK if limit is None else min(CHUNK, limit + 1 - size))
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    return Measured(digest.hexdigest(), size)


def measure_lf(source: Readable) -> Measured:
    """``measure`` of ``source`` with each CRLF read as LF: whether a text-mode transfer (FTP
    ASCII, git's autocrlf, a Windows copy tool) is all that changed a file."""
    digest = hashlib.sha256()
    size = 0
    held = b""  # a CR that ends a read: the next read may start with its LF
    while chunk := source.read(CHUNK):
        text = held + chunk
        held = text[-1:] if text.endswith(b"\r") else b""
        text = text[: len(text) - len(held)].replace(b"\r\n", b"\n")
        digest.update(text)
        size += len(text)
    digest.update(held)
    return Measured(digest.hexdigest(), size + len(held))


def hash_file(path: Path) -> str:
    """sha256 of a file, streamed (hashlib releases the GIL, so threads hash in parallel)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
