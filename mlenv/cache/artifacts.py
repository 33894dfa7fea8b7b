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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlenv.cache import ARTIFACTS, CACHE_ENV, LOCKS, is_bundle
from mlenv.cache.files import describe, open_plain
from mlenv.cache.held import Measured, held_copy, measure
from mlenv.digests import is_sha256_hex
from mlenv.errors import MlenvError

PARTIAL = ".partial-"
RECARRY = (  # how a bundle damaged in the carry is mended: no fetch in the air gap can
    "carry it again whole and in binary mode (cp -a, rsync -a, tar), or write it again with "
    "`mlenv fetch --bundle DIR` where it was fetched"
)
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

    @property
    def missing(self) -> str:
        """What a report says of it when no copy is at hand."""
        return f"missing ({self.size} bytes from {self.url})"


def relative_path(sha256: str) -> str:
    return f"{ARTIFACTS}/sha256/{sha256[:2]}/{sha256}"


HELD_SIZE_LIMIT = 64 << 20  # hashed in ~40 ms, less than a HEAD; a bigger copy: the HEAD


def held_size(root: Path, sha256: str) -> int | None:
    """The length of the copy of ``sha256`` this user keeps in the cache at ``root``, or None.
    A server's HEAD only states a size, where this copy's bytes are hashed to ``sha256``
    first: a copy truncated or carried in from elsewhere (a restored CI cache) is no proof
    of its length. Nor is one others could have planted or changed, or one in a bucket
    others may write: they could have renamed this user's own copy of other bytes to this
    name (``private=2``: the file and its bucket)."""
    if not is_sha256_hex(sha256):
        return None
    try:
        with open_plain(root, relative_path(sha256), private=2) as handle:
            if os.fstat(handle.fileno()).st_size > HELD_SIZE_LIMIT:
                return None
            measured = measure(handle, limit=HELD_SIZE_LIMIT)
    except OSError:
        return None
    return measured.size if measured.sha256 == sha256 else None


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

    def absent(self, artifact: Artifact) -> str:
        """Why ``has`` says no, for a message: a file cut short or grown on its way (a
        truncated copy, CRLF line ends from a text-mode transfer) is not "missing"."""
        try:
            with open_plain(self.root, relative_path(artifact.sha256)) as handle:
                size = os.fstat(handle.fileno()).st_size
        except FileNotFoundError:
            return artifact.missing
        except OSError as exc:
            return f"unusable: {exc.strerror or exc} (from {artifact.url})"
        return (
            f"{size} bytes, the lock says {artifact.size} (changed on its way; from {artifact.url})"
        )

    def repair_hint(self, usual: str) -> str:
        """How to mend a lost or damaged entry: ``usual`` for a cache; a bundle used as the
        cache was damaged in the carry, which no fetch in the air gap can mend."""
        if not is_bundle(self.root):
            return usual
        return f"`mlenv verify --bundle {self.root}` lists every problem of the bundle; {RECARRY}"

    def open(self, artifact: Artifact) -> BinaryIO:
        """The cached file of ``artifact``, opened without following any symlink below the
        root: a CacheError unless it is a plain file."""
        try:
            return open_plain(self.root, relative_path(artifact.sha256))
        except FileNotFoundError:
            raise CacheError(
                f"{artifact.name} is not in the cache",
                where=str(self.path(artifact.sha256)),
                hint=self.repair_hint("run `mlenv fetch` on a connected machine"),
            ) from None
        except OSError as exc:
            raise IntegrityError(
                f"{artifact.name}: the cached file cannot be used: {exc.strerror or exc}",
                where=str(self.path(artifact.sha256)),
                hint=self.repair_hint(
                    "a cache holds only plain files mlenv wrote; delete the entry and run "
                    "`mlenv fetch` again"
                ),
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
            if dest is None:
                return self._checked(artifact, measure(handle, limit=artifact.size))
            measured = held_copy(
                handle,
                self.path(artifact.sha256),
                dest,
                limit=artifact.size,
                share=share,
                check=functools.partial(self._checked, artifact),
            )
            assert measured is not None  # measured now: nothing later reads it for us
            return measured

    @contextlib.contextmanager
    def locked_bytes(self, artifact: Artifact) -> Iterator[BinaryIO]:
        """The cached file of ``artifact``, to read as the locked bytes (a wheel's METADATA):
        in place, unhashed, only when no one but this user could have put it at its name or
        changed it since (``open_plain(private=2)``: the file and its bucket, as ``held_size``
        trusts a copy); a file only this user can change in a bucket others may write (where
        another of this user's files could be renamed in) is hashed through the descriptor
        that is then read; anything else is read from the copy ``copy_verified`` makes. So
        bytes another user planted or could rewrite never vouch for the lock (invariant 1)."""
        relative = relative_path(artifact.sha256)
        for private in (2, 1):
            try:
                handle = open_plain(self.root, relative, private=private)
            except OSError:
                continue
            with handle:
                if private == 1:
                    self._checked(artifact, measure(handle, limit=artifact.size))
                    handle.seek(0)
                yield handle
            return
        import tempfile  # here: only a cache others write comes this far

        with tempfile.TemporaryDirectory(prefix="mlenv-held-") as scratch:
            copy = Path(scratch, artifact.sha256)
            self.copy_verified(artifact, copy)
            with copy.open("rb") as handle:
                yield handle

    def _checked(self, artifact: Artifact, measured: Measured) -> Measured:
        self._check_size(artifact, measured.size)
        if measured.sha256 != artifact.sha256:
            raise IntegrityError(
                f"{artifact.name}: cached file has sha256 {measured.sha256}, the lock "
                f"says {artifact.sha256}",
                where=str(self.path(artifact.sha256)),
                hint=self.repair_hint(
                    "the cache was tampered with or the disk is failing; delete the "
                    "file and run `mlenv fetch` again"
                ),
            )
        return measured

    def _check_size(self, artifact: Artifact, size: int) -> None:
        if size != artifact.size:
            raise IntegrityError(
                f"{artifact.name}: cached file has {size} bytes, the lock says {artifact.size}",
                where=str(self.path(artifact.sha256)),
                hint=self.repair_hint("delete it and run `mlenv fetch` again"),
            )

    def add(self, artifact: Artifact, chunks: Iterable[bytes]) -> Path:
        """Store the bytes if and only if they match the lock; nothing partial ever stays."""
        import tempfile  # here: a lock imports this module, and only a fetch writes

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
            hint=f"{write_hint(exc.errno)}; nothing partial was kept",
        ) from None


_MISSING = (errno.ENOENT, errno.ENOTDIR)
_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


def write_hint(code: int | None) -> str:
    """What to do about a cache write that failed with ``code``: a full disk, a cache not
    writable here, and a directory that cannot be made ask for different things."""
    use = f"(--cache DIR or {CACHE_ENV})"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free space there, or use a cache on a bigger disk {use}"
    if code in _REFUSED:
        return f"the cache is read-only or not yours to write: use one you can write {use}"
    if code in _MISSING:
        return (
            "a directory it needs cannot be made there (a parent is missing or is not a "
            f"directory, as under a $HOME that does not exist): use a cache you can make {use}"
        )
    return f"use another cache {use}"


def _mismatch(artifact: Artifact, what: str) -> IntegrityError:
    return IntegrityError(
        f"the download from {artifact.url} has {what}",
        where=artifact.name,
        hint="the index serves other bytes than were locked (tampering, or a re-uploaded "
        "file); nothing was stored. Check the index, or re-lock if the change is expected",
    )
