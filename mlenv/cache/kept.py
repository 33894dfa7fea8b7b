"""A built layer kept in the layer cache by the writes that build it, not by a copy after.

For a cache on another file system than the build (where the image's own file cannot be
linked in: ``LayerCache.put_file``). Copying a 2.6 GB blob into the cache once it is written
reads it back and writes it into fresh memory, after the build has freed its scratch. Written
from the same stream as the image's blob, the cache's copy fills while the staging tree's
pages are being freed (see ``mlenv.spent``), and holds exactly the bytes that were hashed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType

from mlenv.cache.layer_walk import real_dir
from mlenv.direct import DirectWriter
from mlenv.parallel_gzip import Writable


class KeptBlob:
    """The cache's copy of a blob being written, in a temporary file of the cache's root.
    Keeping is best effort: a failed write (a full or read-only cache) ends the copy, never
    the build, and ``problem`` says why; leaving the context after an error discards it."""

    def __init__(self, directory: Path) -> None:
        self.path: Path | None = None
        self.problem: str | None = None
        self._fd: int | None = None
        self._sink: DirectWriter | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if not real_dir(directory):  # never written through a symlink
                raise OSError(errno.ENOTDIR, f"{directory} is not a plain directory")
            self._fd, name = tempfile.mkstemp(prefix=".tmp-blob-", dir=directory)
            self.path = Path(name)
            self._sink = DirectWriter(self._fd)  # read by the next build only: not cached now
        except OSError as exc:  # its buffer too (ENOMEM): the copy's failure, not the build's
            self._fail(exc)

    def write(self, data: bytes | memoryview) -> None:
        if self._sink is None:
            return
        try:
            self._sink.write(data)
        except OSError as exc:
            self._fail(exc)

    def __enter__(self) -> KeptBlob:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is not None:
            self._fail(OSError("the layer was not written"))
            return
        if self._sink is None or self._fd is None:
            return
        try:
            self._sink.finish()
        except OSError as exc:
            self._fail(exc)
            return
        self._sink.release()
        fd, self._sink, self._fd = self._fd, None, None  # closed once, even when close fails
        try:
            os.close(fd)
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self.problem = self.problem or exc.strerror or str(exc)
        if self._sink is not None:
            self._sink.release()
            self._sink = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
            self.path = None


class Tee:
    """Every byte to ``primary`` (whose failure is the writer's), then to ``kept``."""

    def __init__(self, primary: Writable, kept: KeptBlob) -> None:
        self._primary = primary
        self._kept = kept

    def write(self, data: bytes | memoryview) -> None:
        self._primary.write(data)
        self._kept.write(data)


def read_only(path: Path) -> None:
    """chmod 0444 through a descriptor of ``path`` itself: the kept blob comes from the shared
    root, where another user may have swapped it for a symlink or a hard link, which is refused,
    never followed to a file of this user's (a private key made readable by all)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise OSError(errno.EPERM, f"{path.name} is not a file of its own")
        os.fchmod(fd, 0o444)
    finally:
        os.close(fd)
