"""Big outputs written around the page cache (O_DIRECT), from one reused aligned buffer.

A layer, its cache copy, the conda-pack archive and image.tar are gigabytes each, written once
and not read again by this build (image.tar reads the layer back once). Written through the
page cache, every 4 KiB of them takes a fresh page of memory, and on a VM whose balloon hands
free memory back to its host a fresh page costs about 10 microseconds to touch: writing 2 GB
took 33 s (28 s of kernel time) on the machines mlenv's benchmarks run on, against 1 s with
O_DIRECT from a reused buffer. The bytes written are the same either way.

Where the file system refuses O_DIRECT (tmpfs on older kernels, some network file systems),
the writer falls back to ordinary writes; the tail that is not a whole block is always
written that way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_BLOCK = 4096  # the alignment O_DIRECT needs: any device's logical block divides it
_BUFFER = 4 << 20


class DirectWriter:
    """Bytes written here reach ``fd`` in aligned blocks of ``_BUFFER`` bytes, O_DIRECT when
    the file allows it; ``finish`` writes the rest. It owns no file: the caller closes it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = mmap.mmap(-1, _BUFFER)  # page-aligned, as O_DIRECT requires
        self._view = memoryview(self._buffer)
        self._filled = 0
        self._flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        self._direct = os.lseek(fd, 0, os.SEEK_CUR) % _BLOCK == 0 and self._set(direct=True)

    def write(self, data: bytes | memoryview) -> int:
        source = memoryview(data).cast("B")
        done = 0
        while done < len(source):
            take = min(len(source) - done, _BUFFER - self._filled)
            self._view[self._filled : self._filled + take] = source[done : done + take]
            self._filled += take
            done += take
            if self._filled == _BUFFER:
                self._write(self._view)
                self._filled = 0
        return done

    def finish(self) -> None:
        """Write what is buffered: its whole blocks as the rest, the tail without O_DIRECT."""
        whole = self._filled - self._filled % _BLOCK
        self._write(self._view[:whole])
        if self._direct and whole < self._filled and self._set(direct=False):
            self._direct = False
        self._write(self._view[whole : self._filled])
        self._filled = 0

    def release(self) -> None:
        """Give the buffer back and leave the file's flags as they were, once: called again
        (after the file was closed) it never touches the descriptor, maybe another file's now."""
        self._view.release()
        with contextlib.suppress(BufferError):  # a failed write's traceback still holds a slice
            self._buffer.close()
        if self._direct:
            self._direct = False
            self._set(direct=False)

    def _write(self, view: memoryview) -> None:
        done = 0
        while done < len(view):
            try:
                done += os.write(self._fd, view[done:])
            except OSError as exc:
                # Accepted at open, refused at write (some file systems): write it plainly.
                if exc.errno != errno.EINVAL or not self._direct or not self._set(direct=False):
                    raise
                self._direct = False

    def _set(self, *, direct: bool) -> bool:
        """Turn O_DIRECT on or off; False when the file system refuses."""
        flags = self._flags | os.O_DIRECT if direct else self._flags & ~os.O_DIRECT
        try:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags)
        except OSError:
            return False
        return True


@contextlib.contextmanager
def direct(handle: BinaryIO) -> Iterator[DirectWriter]:
    """Write the open ``handle``'s file through a ``DirectWriter``; what the block wrote is in
    the file once it ends without an error."""
    handle.flush()
    writer = DirectWriter(handle.fileno())
    try:
        yield writer
        writer.finish()
    finally:
        writer.release()


class DirectReader:
    """A file read around the page cache (O_DIRECT) through one aligned buffer: for a big file
    this build wrote that way and reads once more (a layer into image.tar). Plain reads where
    the file system refuses; ``readinto`` and ``read`` as a binary file's."""

    def __init__(self, path: Path) -> None:
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._buffer = mmap.mmap(-1, _BUFFER)
        self._view = memoryview(self._buffer)
        self._pending = self._view[:0]

    def readinto(self, view: memoryview) -> int:
        if not self._pending:
            try:
                count = os.readv(self._fd, [self._view])
            except OSError as exc:  # refused at read time: read it plainly from here on
                flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
                if exc.errno != errno.EINVAL or not flags & os.O_DIRECT:
                    raise
                fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
                count = os.readv(self._fd, [self._view])
            self._pending = self._view[:count]
        take = min(len(self._pending), len(view))
        view[:take] = self._pending[:take]
        self._pending = self._pending[take:]
        return take

    def read(self, size: int) -> bytes:
        data = bytearray(size)
        return bytes(data[: self.readinto(memoryview(data))])

    def __enter__(self) -> DirectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pending.release()
        self._view.release()
        with contextlib.suppress(BufferError):
            self._buffer.close()
        os.close(self._fd)


def open_source(path: Path, *, uncached: bool) -> io.BufferedReader | DirectReader:
    """``path`` opened for one sequential read; ``uncached``: around the page cache."""
    return DirectReader(path) if uncached else path.open("rb")
