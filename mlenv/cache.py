"""The content-addressed artifact store: every file verified on the way in, never half there.

Layout: ``<root>/artifacts-v1/sha256/ab/abcdef…`` (the version in the name lets a future layout
live beside this one). An artifact is streamed to a temporary file in its final directory,
hashed and measured while it is written, fsynced and renamed into place only when both match
the lock, so a reader sees the whole verified file or nothing. A per-artifact file lock keeps
two processes from downloading the same file twice; readers need no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlenv.errors import MlenvError

CACHE_ENV = "MLENV_CACHE_DIR"
LAYOUT = "artifacts-v1"
PARTIAL = ".partial-"


class CacheError(MlenvError):
    """An artifact is missing from the cache or differs from what the lock says."""


class IntegrityError(CacheError):
    """Bytes that do not match the lock's sha256 or size; they never enter the cache."""


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$MLENV_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlenv``, else ``~/.cache/mlenv``."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlenv"


@dataclass(frozen=True)
class Artifact:
    """What the lock promises about one file: the cache verifies against exactly this."""

    name: str  # the package, for messages
    url: str
    sha256: str
    size: int


def relative_path(sha256: str) -> str:
    return f"{LAYOUT}/sha256/{sha256[:2]}/{sha256}"


class ArtifactCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / relative_path(sha256)

    def has(self, artifact: Artifact) -> bool:
        """Present with the right size (cheap; the sha256 is checked by ``verify``)."""
        try:
            return self.path(artifact.sha256).stat().st_size == artifact.size
        except FileNotFoundError:
            return False

    def get(self, artifact: Artifact, *, verify: bool = False) -> Path:
        """The cached file; its size is always re-checked, its sha256 when asked."""
        path = self.path(artifact.sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise CacheError(
                f"{artifact.name} is not in the cache",
                where=str(path),
                hint="run `mlenv fetch` on a connected machine",
            ) from None
        if size != artifact.size:
            raise IntegrityError(
                f"{artifact.name}: cached file has {size} bytes, the lock says {artifact.size}",
                where=str(path),
                hint="delete it and run `mlenv fetch` again",
            )
        if verify:
            actual = hash_file(path)
            if actual != artifact.sha256:
                raise IntegrityError(
                    f"{artifact.name}: cached file has sha256 {actual}, the lock says "
                    f"{artifact.sha256}",
                    where=str(path),
                    hint="the cache was tampered with or the disk is failing; delete the file "
                    "and run `mlenv fetch` again",
                )
        return path

    def add(self, artifact: Artifact, chunks: Iterable[bytes]) -> Path:
        """Store the bytes if and only if they match the lock; nothing partial ever stays."""
        final = self.path(artifact.sha256)
        with _writing(self.root):
            final.parent.mkdir(parents=True, exist_ok=True)
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

    @contextlib.contextmanager
    def locked(self, sha256: str) -> Iterator[None]:
        """Hold the artifact's lock: a second process waits, then finds the file there."""
        locks = self.root / "locks-v1"
        with _writing(self.root):
            locks.mkdir(parents=True, exist_ok=True)
            handle = (locks / f"{sha256}.lock").open("a")
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                # Whoever left a partial file of this artifact is gone: we hold its lock.
                for stale in self.path(sha256).parent.glob(f"{PARTIAL}{sha256}-*"):
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


def hash_file(path: Path) -> str:
    """sha256 of a file, streamed (hashlib releases the GIL, so threads hash in parallel)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
