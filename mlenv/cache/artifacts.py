"""The content-addressed artifact store: every file verified on the way in, never half there.

Layout: ``<root>/artifacts-v1/sha256/ab/abcdef…`` (the version in the name lets a future layout
live beside this one). An artifact is streamed to a temporary file in its final directory,
hashed and measured while it is written, fsynced and renamed into place only when both match
the lock, so a reader sees the whole verified file or nothing. A per-artifact file lock keeps
two processes from downloading the same file twice; readers need no lock.

The cache may be shared and written by others, so nothing in it is trusted when read: bytes
leave it only through ``ArtifactCache.copy_verified``, which hashes the very read that copies
them, and nothing below the root is followed through a symlink (``open_plain``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mlenv.cache import ARTIFACTS, CACHE_ENV, LOCKS
from mlenv.errors import MlenvError

if TYPE_CHECKING:  # a protocol only: the lock path does not import the gzip writer
    from mlenv.parallel_gzip import Writable

PARTIAL = ".partial-"
CHUNK = 1 << 20


class CacheError(MlenvError):
    """An artifact is missing from the cache or differs from what the lock says."""


class IntegrityError(CacheError):
    """Bytes that do not match the lock's sha256 or size; they never enter the cache."""


@dataclass(frozen=True)
class Artifact:
    """What the lock promises about one file: the cache verifies against exactly this."""

    name: str  # the package, for messages
    url: str
    sha256: str
    size: int


def relative_path(sha256: str) -> str:
    return f"{ARTIFACTS}/sha256/{sha256[:2]}/{sha256}"


class ArtifactCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / relative_path(sha256)

    def has(self, artifact: Artifact) -> bool:
        """Present as a plain file of the right size (cheap; the sha256 is checked when the
        bytes are used). A symlink or anything else in its place counts as absent, so
        ``fetch`` replaces it."""
        try:
            with open_plain(self.root, relative_path(artifact.sha256)) as handle:
                return os.fstat(handle.fileno()).st_size == artifact.size
        except OSError:
            return False

    def open(self, artifact: Artifact) -> BinaryIO:
        """The cached file of ``artifact``, opened without following any symlink below the
        root: a CacheError unless it is a plain file."""
        try:
            return open_plain(self.root, relative_path(artifact.sha256))
        except FileNotFoundError:
            raise CacheError(
                f"{artifact.name} is not in the cache",
                where=str(self.path(artifact.sha256)),
                hint="run `mlenv fetch` on a connected machine",
            ) from None
        except OSError as exc:
            raise IntegrityError(
                f"{artifact.name}: the cached file cannot be used: {exc.strerror or exc}",
                where=str(self.path(artifact.sha256)),
                hint="a cache holds only plain files mlenv wrote; delete the entry and run "
                "`mlenv fetch` again",
            ) from None

    def copy_verified(
        self, artifact: Artifact, dest: Path | None, *, share: bool = False
    ) -> Measured:
        """Invariant 1 of docs/security.md: the bytes that leave the cache are the bytes that
        were hashed. The file is opened once (``open_plain``: no symlink, a plain file), and
        the one read that hashes and measures it writes the copy at ``dest`` (a new file; none
        when only checking). The copy is removed unless it matches the lock, so a file
        swapped or rewritten in the cache after any earlier check can never be used.

        With ``share`` (a build's scratch, never a bundle), the opened file is linked at
        ``dest`` instead when nobody else could change it (see ``_link_held``), then hashed
        through the same descriptor: the copy would hold the same bytes, written again."""
        with self.open(artifact) as handle:
            self._check_size(artifact, os.fstat(handle.fileno()).st_size)
            made = (
                dest is not None
                and share
                and _link_held(handle.fileno(), self.path(artifact.sha256), dest)
            )
            try:
                if dest is None or made:
                    measured = measure(handle, limit=artifact.size)
                else:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                    fd = os.open(dest, flags, 0o600)
                    made = True
                    with os.fdopen(fd, "wb") as out:
                        measured = measure(handle, out, limit=artifact.size)
                        os.fchmod(out.fileno(), 0o644)
                self._check_size(artifact, measured.size)
                if measured.sha256 != artifact.sha256:
                    raise IntegrityError(
                        f"{artifact.name}: cached file has sha256 {measured.sha256}, the lock "
                        f"says {artifact.sha256}",
                        where=str(self.path(artifact.sha256)),
                        hint="the cache was tampered with or the disk is failing; delete the "
                        "file and run `mlenv fetch` again",
                    )
            except BaseException:
                if dest is not None and made:
                    dest.unlink(missing_ok=True)
                raise
        return measured

    def _check_size(self, artifact: Artifact, size: int) -> None:
        if size != artifact.size:
            raise IntegrityError(
                f"{artifact.name}: cached file has {size} bytes, the lock says {artifact.size}",
                where=str(self.path(artifact.sha256)),
                hint="delete it and run `mlenv fetch` again",
            )

    def add(self, artifact: Artifact, chunks: Iterable[bytes]) -> Path:
        """Store the bytes if and only if they match the lock; nothing partial ever stays."""
        final = self.path(artifact.sha256)
        with _writing(self.root):
            final.parent.mkdir(parents=True, exist_ok=True)
            self._refuse_links(final.parent)
            fd, tmp_name = tempfile.mkstemp(prefix=f"{PARTIAL}{artifact.sha256}-", dir=final.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > artifact.size:
                        raise _mismatch(artifact, f"more than the {artifact.size} bytes it should")
                    digest.update(chunk)
                    with _writing(self.root):
                        out.write(chunk)
                with _writing(self.root):
                    out.flush()
                    os.fsync(out.fileno())
            if size != artifact.size:
                raise _mismatch(artifact, f"{size} bytes, the lock says {artifact.size}")
            actual = digest.hexdigest()
            if actual != artifact.sha256:
                raise _mismatch(artifact, f"sha256 {actual}, the lock says {artifact.sha256}")
            with _writing(self.root):
                tmp.chmod(0o644)
                tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def _refuse_links(self, directory: Path) -> None:
        """No directory below the root may be a symlink: written through, it would put the
        artifact wherever it points."""
        for part in [directory, *directory.parents]:
            if part == self.root:
                return
            if not stat.S_ISDIR(part.lstat().st_mode):
                raise CacheError(
                    f"{part.relative_to(self.root)} in the cache is {describe(part.lstat())}",
                    where=str(self.root),
                    hint="a cache holds only directories and files mlenv wrote; remove it",
                )

    @contextlib.contextmanager
    def locked(self, sha256: str) -> Iterator[None]:
        """Hold the artifact's lock: a second process waits, then finds the file there."""
        locks = self.root / LOCKS
        with _writing(self.root):
            locks.mkdir(parents=True, exist_ok=True)
            self._refuse_links(locks)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
            handle = os.fdopen(os.open(locks / f"{sha256}.lock", flags, 0o644), "a")
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                # Whoever left a partial file of this artifact is gone: we hold its lock.
                directory = self.path(sha256).parent
                if directory.is_dir():
                    self._refuse_links(directory)
                for stale in directory.glob(f"{PARTIAL}{sha256}-*"):
                    stale.unlink(missing_ok=True)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _writing(root: Path) -> Iterator[None]:
    """The cache's own write failures (a full disk, no permission) are the user's to fix, so
    they name the cache; a failure to read the source is not wrapped and stays retryable."""
    try:
        yield
    except OSError as exc:
        raise CacheError(
            f"cannot write to the cache: {exc.strerror or exc}",
            where=str(root),
            hint="free space there, or use a cache on a bigger disk (--cache DIR or "
            f"{CACHE_ENV}); nothing partial was kept",
        ) from None


def _mismatch(artifact: Artifact, what: str) -> IntegrityError:
    return IntegrityError(
        f"the download from {artifact.url} has {what}",
        where=artifact.name,
        hint="the index serves other bytes than were locked (tampering, or a re-uploaded "
        "file); nothing was stored. Check the index, or re-lock if the change is expected",
    )


@dataclass(frozen=True)
class Measured:
    """What one read of a file found: what a bundle records and a build trusts."""

    sha256: str
    size: int


def open_plain(root: Path, relative: str, *, private: int = 0) -> BinaryIO:
    """``root/relative`` opened for reading, refusing a symlink at any component below
    ``root`` (never followed) and anything but a plain file (a FIFO would block, a directory
    is not an artifact). With ``private``, the last ``private`` components (the file, then the
    directories holding it) must belong to this user and be writable by no one else: what
    others could have planted or could change is refused. FileNotFoundError when absent; any
    other refusal is an OSError whose strerror says which component is what."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise OSError(errno.EINVAL, f"{relative!r} is not a normalised relative path")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                below = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                raise
            except OSError as exc:
                what = "/".join(parts[: depth + 1])
                raise OSError(exc.errno, f"{what} is {_kind(part, fd)}") from None
            os.close(fd)
            fd = below
            if depth >= len(parts) - private:
                _check_private(os.fstat(fd), "/".join(parts[: depth + 1]))
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"{relative} is {describe(info)}")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle


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
        _check_private(held, "the artifact")
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


def _check_private(info: os.stat_result, what: str) -> None:
    if info.st_uid != os.geteuid():
        raise OSError(errno.EPERM, f"{what} belongs to another user (uid {info.st_uid})")
    if info.st_uid == _unmapped_uid():
        raise OSError(
            errno.EPERM,
            f"{what} may belong to another user: in this user namespace uid {info.st_uid} also "
            "stands for every owner it does not map",
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise OSError(errno.EPERM, f"{what} is writable by others ({info.st_mode & 0o777:o})")


@functools.cache
def _unmapped_uid() -> int | None:
    """The uid ``stat`` shows for an owner this process's user namespace does not map (a
    rootless container's view of other host users' files), when some owner is unmapped. Run
    as that very uid, "mine" and "someone else's" look alike, so neither counts as mine."""
    try:
        ranges = Path("/proc/self/uid_map").read_text().split()
        overflow = int(Path("/proc/sys/fs/overflowuid").read_text())
    except OSError:  # no /proc: no user namespaces to tell apart
        return None
    return None if sum(int(count) for count in ranges[2::3]) >= (1 << 32) - 1 else overflow


def _kind(name: str, dir_fd: int) -> str:
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    return describe(info)


def describe(info: os.stat_result) -> str:
    """What kind of file-system entry ``info`` is, for messages."""
    for test, name in (
        (stat.S_ISLNK, "a symlink (never followed)"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISREG, "a plain file"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(info.st_mode):
            return name
    return "a special file"


def measure(source: BinaryIO, out: Writable | None = None, *, limit: int | None = None) -> Measured:
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


def hash_file(path: Path) -> str:
    """sha256 of a file, streamed (hashlib releases the GIL, so threads hash in parallel)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
