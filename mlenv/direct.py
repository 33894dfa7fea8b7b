"""Big files written and read around the page cache (O_DIRECT), through reused aligned buffers.

A layer, its cache copy, the conda-pack archive and image.tar are gigabytes each, and so is
the bulk of the staging tree (a few big files: ``BIG``), each read once or twice more by the
writers. Written through the page cache, every 4 KiB of them takes a fresh page of memory,
and on a VM whose balloon hands free memory back to its host a fresh page costs about 10
microseconds to touch: writing 2 GB took 33 s (28 s of kernel time) on the machines mlenv's
benchmarks run on, against 1 s with O_DIRECT from a reused buffer, and reading it back 1.8 s.
The bytes written are the same either way.

Where the file system refuses O_DIRECT (tmpfs on older kernels, some network file systems),
the writer falls back to ordinary writes; the tail that is not a whole block is always
written that way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import io
import mmap
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import BinaryIO

_BLOCK = 4096  # the alignment O_DIRECT needs: any device's logical block divides it
_BUFFER = 4 << 20
# A file this big is written and read around the page cache; smaller ones, most files by
# count, are not worth an aligned buffer. Installed, the torch stack is 15,600 files and 5.4
# GB, 5.3 GB of it in the 80 files over 1 MiB.
BIG = 1 << 20
_spare = threading.local()  # buffers given back, for the next file on this thread


class DirectWriter:
    """Bytes written here reach ``fd`` in aligned blocks of ``_BUFFER`` bytes, O_DIRECT when
    the file allows it; ``finish`` writes the rest. It owns no file: the caller closes it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer, self._view = _aligned()
        self._held = True
        self._filled = 0
        self._direct = os.lseek(fd, 0, os.SEEK_CUR) % _BLOCK == 0 and _set_direct(fd, on=True)

    def write(self, data: bytes | memoryview) -> int:
        self._holding()
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
        self._holding()
        whole = self._filled - self._filled % _BLOCK
        self._write(self._view[:whole])
        if self._direct and whole < self._filled and _set_direct(self._fd, on=False):
            self._direct = False
        self._write(self._view[whole : self._filled])
        self._filled = 0

    def release(self) -> None:
        """Give the buffer back and leave the file's flags as they were, once: called again
        (after the file was closed) it never touches the descriptor, maybe another file's now,
        nor the buffer, maybe another writer's now."""
        if self._held:
            self._held = False
            _free(self._buffer, self._view)
        if self._direct:
            self._direct = False
            _set_direct(self._fd, on=False)

    def _holding(self) -> None:
        """Released, the buffer may be another writer's or reader's now: never written again."""
        if not self._held:
            raise ValueError("write to a DirectWriter after its release")

    def _write(self, view: memoryview) -> None:
        done = 0
        while done < len(view):
            try:
                done += os.write(self._fd, view[done:])
            except OSError as exc:
                # Accepted at open, refused at write (some file systems): write it plainly.
                if not _refused(exc, self._direct, self._fd):
                    raise
                self._direct = False


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
    """A file read around the page cache (O_DIRECT) through two aligned buffers: for a big file
    a build wrote that way and reads once more (a staging file into a layer, a layer into
    image.tar). The next buffer is read on a thread of its own (``_reads``) while the caller
    hashes and compresses this one: a read around the cache waits for the disk every time, and
    waited in line it was a third of a layer's time. Plain reads where the file system
    refuses; ``readinto`` and ``read`` as a binary file's."""

    def __init__(self, path: Path | int, *, hashed: bool = False) -> None:
        """``path`` opened, or a duplicate of the open descriptor ``path`` (a file that must not
        be opened again by name: the one held and checked), read from its current offset.
        ``hashed``: the sha256 of what is read (``sha256``) is computed on a thread of its own
        (``_hashes``), beside the reads and the caller's own work on the bytes, through a third
        buffer: one is read, one hashed, one used by the caller."""
        self._hash = hashlib.sha256() if hashed else None
        self._hashing: dict[int, Future[None]] = {}  # by buffer: its bytes' turn in the hash
        self._direct = True
        self._restore = isinstance(path, int)  # the flags are shared with the holder's
        if isinstance(path, int):
            self._fd = os.dup(path)
            self._direct = _set_direct(self._fd, on=True)
        else:
            try:
                self._fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._fd, self._direct = os.open(path, os.O_RDONLY | os.O_CLOEXEC), False
        self._buffers = [_aligned() for _ in range(3 if hashed else 2)]
        self._pending = self._buffers[0][1][:0]
        self._next = 0
        self._reading: Future[int] | None = _reads().submit(self._fill, self._next)

    def _fill(self, index: int) -> int:
        view = self._buffers[index][1]
        try:
            count = os.readv(self._fd, [view])
        except OSError as exc:
            if not _refused(exc, self._direct, self._fd):
                raise
            self._direct = False
            count = os.readv(self._fd, [view])
        if self._hash is not None:  # in order: the hashing thread takes them one by one
            self._hashing[index] = _hashes().submit(self._hash.update, view[:count])
        return count

    def sha256(self) -> str:
        """The hex sha256 of every byte read from the file so far (``hashed`` readers only)."""
        assert self._hash is not None
        self._settle()
        for hashing in self._hashing.values():
            hashing.result()
        return self._hash.hexdigest()

    def _settle(self) -> None:
        """Wait for the read under way and for every hash of a buffer (which it reads)."""
        if self._reading is not None:
            wait([self._reading])
        wait(self._hashing.values())

    def readinto(self, view: memoryview) -> int:
        pending = self._take(len(view))
        view[: len(pending)] = pending
        return len(pending)

    def read(self, size: int) -> bytes:
        """At most ``size`` bytes, fewer at the end of a buffer: one copy, out of the buffer."""
        return bytes(self._take(size))

    def _take(self, size: int) -> memoryview:
        if not self._pending and self._reading is not None:
            count = self._reading.result()
            self._pending = self._buffers[self._next][1][:count]
            self._next = (self._next + 1) % len(self._buffers)
            if self._next in self._hashing:  # its last bytes must be hashed before it is refilled
                self._hashing.pop(self._next).result()
            self._reading = _reads().submit(self._fill, self._next) if count else None
        taken, self._pending = self._pending[:size], self._pending[size:]
        return taken

    def __enter__(self) -> DirectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        """Once, like ``DirectWriter.release``: a second exit gives back no buffer (then two
        holders would share it) and closes no descriptor (maybe another file's by then). The
        read under way ends first, for the same reasons."""
        if self._fd < 0:
            return
        if self._reading is not None:
            self._reading.cancel()
        self._settle()
        self._reading = None
        fd, self._fd = self._fd, -1
        if self._restore and self._direct:
            _set_direct(fd, on=False)
        self._pending.release()
        for buffer, view in self._buffers:
            _free(buffer, view)
        os.close(fd)


@functools.cache
def _reads() -> ThreadPoolExecutor:
    """The threads that read ahead for every ``DirectReader`` (two: a layer's and an
    archive's writer read side by side), started at the first read; a forked child, which
    has none of them, starts its own."""
    return ThreadPoolExecutor(2, thread_name_prefix="mlenv-read")


@functools.cache
def _hashes() -> ThreadPoolExecutor:
    """The one thread that hashes for ``hashed`` readers, so each reader's buffers are hashed
    in the order they were read."""
    return ThreadPoolExecutor(1, thread_name_prefix="mlenv-hash")


os.register_at_fork(after_in_child=_reads.cache_clear)
os.register_at_fork(after_in_child=_hashes.cache_clear)


def open_source(path: Path, size: int) -> io.BufferedReader | DirectReader:
    """``path``, of ``size`` bytes, opened for one sequential read: a ``BIG`` one around the
    page cache."""
    return DirectReader(path) if size >= BIG else path.open("rb")


def _aligned() -> tuple[mmap.mmap, memoryview]:
    """A buffer of a reader or writer: page-aligned, as O_DIRECT requires. A spare one
    of this thread's is reused: a new mapping is fresh memory, the cost this module avoids."""
    spare: list[tuple[mmap.mmap, memoryview]] = _spare.__dict__.setdefault("buffers", [])
    if spare:
        return spare.pop()
    buffer = mmap.mmap(-1, _BUFFER)
    return buffer, memoryview(buffer)


def _free(buffer: mmap.mmap, view: memoryview) -> None:
    """Keep two spares per thread (the holder gives its buffer back once: two sharing one
    would interleave their bytes)."""
    spare: list[tuple[mmap.mmap, memoryview]] = _spare.__dict__.setdefault("buffers", [])
    if len(spare) < 2 and not buffer.closed:
        spare.append((buffer, view))
        return
    view.release()
    with contextlib.suppress(BufferError):  # a failed call's traceback still holds a slice
        buffer.close()


def _set_direct(fd: int, *, on: bool) -> bool:
    """Turn O_DIRECT on or off; False when the file system refuses."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return True


def _refused(exc: OSError, direct: bool, fd: int) -> bool:
    """An O_DIRECT transfer refused at read or write time (accepted at open by some file
    systems), now turned off so the caller can go on plainly."""
    return exc.errno == errno.EINVAL and direct and _set_direct(fd, on=False)
