"""gzip written on every core, byte for byte the same on any machine, and deflated once for two
outputs of the same files.

The stream is cut into segments: every file of at least ``GZIP_BLOCK`` bytes is a segment of
its own, and the tar bytes between such files (headers, padding, small files) are the others.
Each segment is deflated as fixed blocks of ``GZIP_BLOCK`` input bytes, each primed with the
32 KiB of the same segment before it and ended on a byte boundary (sync flush), as pigz does.
So the bytes depend on the content only, never on the number of workers, and the deflate of a
big file does not depend on what precedes it in the tar: the OCI layer and the conda-pack
archive of one tree hold the same deflate bytes for it, and a ``GzipTwin`` lets the second
writer take them from the first instead of deflating the file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from mlenv.errors import MlenvError

# zlib's own default: the usual speed/size balance, and what `gzip` and Docker use.
GZIP_LEVEL = 6
GZIP_BLOCK = 1 << 20
_WINDOW = 1 << 15
_T = TypeVar("_T")


class Writable(Protocol):
    def write(self, data: bytes | memoryview, /) -> object: ...


def own_segment(size: int) -> bool:
    """A file this big is a segment of its own: its deflate does not depend on its place."""
    return size >= GZIP_BLOCK


def gzip_workers() -> int:
    """The CPUs this process may use: the gzip bytes do not depend on it, only the speed."""
    return max(1, len(os.sched_getaffinity(0)))


def _deflate_block(block: bytes, history: bytes, level: int, last: bool) -> bytes:
    """One raw deflate piece, ended on a byte boundary (sync flush) so pieces concatenate."""
    if history:
        stream = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=history)
    else:
        stream = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return stream.compress(block) + stream.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _digest(block: bytes) -> bytes:
    """What a shared block must be for the other writer to use its deflate."""
    return hashlib.sha256(block).digest()


class TwinAborted(MlenvError):
    """The other writer of a twin stopped first: this one stops too (the other's error is the
    one to report)."""


class Stopped(MlenvError):
    """Another writer failed, or the build was interrupted: this one stops at its next chunk
    (the cause is the error to report)."""


class _Channel:
    """The deflated blocks of one shared file, in order, from the writer that reached it first
    to the other. ``abandoned``: the giver stopped handing blocks on (too many were waiting),
    so the taker deflates the rest itself; ``closed``: the giver finished the file. Each block
    comes with the digest of its input: a file rewritten between the two reads is not the
    same file, and the taker must not write the other's deflate under its own CRC."""

    def __init__(self) -> None:
        self.blocks: deque[tuple[bytes, Future[bytes]]] = deque()
        self.abandoned = False
        self.closed = False


class GzipTwin:
    """Two writers of the same big files share each file's deflate.

    Each writer ``register``s the keys of its own segments and waits for the other's at its
    first big file; a file both list is shared. The first writer to reach it deflates it and
    hands the blocks on; the second takes them and deflates what it was not handed itself, so
    the bytes are the same in any schedule. At most ``limit`` blocks wait over all files
    (memory stays bounded): the giver then waits for the taker, which keeps two writers of
    the same order in step. A writer that ``leave``s (done or failed) releases the other, and
    after ``patience`` seconds of waiting nobody waits any more, so no schedule or order can
    hang the two.
    """

    def __init__(self, limit: int = 32, patience: float = 30.0) -> None:
        self._lock = threading.Condition()
        self._keys: list[frozenset[str]] = []
        self._channels: dict[str, _Channel] = {}
        self._held = 0
        self._left = False
        self._failed = False
        self._limit = limit
        self._patience = patience

    def register(self, keys: Sequence[str]) -> None:
        with self._lock:
            self._keys.append(frozenset(keys))
            self._lock.notify_all()  # a writer waiting in join for this one goes on

    def join(self, key: str) -> tuple[_Channel, bool] | None:
        """The channel of a shared file, and whether this writer gives (it came first)."""
        with self._lock:
            self._await(lambda: len(self._keys) == 2 or self._left)  # both start together
            if len(self._keys) != 2 or not all(key in keys for keys in self._keys):
                return None
            channel = self._channels.pop(key, None)
            if channel is not None:
                return channel, False
            if self._left:
                return None  # the other writer is done: nobody to hand the blocks to
            channel = self._channels[key] = _Channel()
            return channel, True

    def give(self, channel: _Channel, digest: bytes, block: Future[bytes]) -> None:
        with self._lock:
            if not self._await(lambda: self._held < self._limit or self._left):
                channel.abandoned = True
            if self._failed:
                raise TwinAborted("the other writer failed")
            if self._left:
                channel.abandoned = True
            if not channel.abandoned:
                channel.blocks.append((digest, block))
                self._held += 1
                self._lock.notify_all()

    def close(self, channel: _Channel) -> None:
        with self._lock:
            channel.closed = True
            self._lock.notify_all()

    def take(self, channel: _Channel) -> tuple[bytes, Future[bytes]] | None:
        """The next block and its input's digest, or None: deflate it (and the rest of the
        file) yourself."""
        with self._lock:
            while not (channel.blocks or channel.abandoned or channel.closed or self._left):
                self._lock.wait()
            if self._failed:
                raise TwinAborted("the other writer failed")
            if not channel.blocks:
                return None
            self._held -= 1
            self._lock.notify_all()
            return channel.blocks.popleft()

    def drop(self, channel: _Channel) -> None:
        """The taker wants no more of this file (its bytes differ, or it ended): release what
        waits in it, so the giver is not held back by blocks nobody will take."""
        with self._lock:
            channel.abandoned = True
            self._held -= len(channel.blocks)
            channel.blocks.clear()
            self._lock.notify_all()

    def _await(self, ready: Callable[[], bool]) -> bool:
        """Wait (the lock held) until ``ready``; False when the patience ran out first, and
        then never wait again: the other writer does not keep up."""
        deadline = time.monotonic() + self._patience
        while not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._patience = 0.0
                return False
            self._lock.wait(remaining)
        return True

    def leave(self, *, failed: bool) -> None:
        with self._lock:
            self._left = True
            self._failed = self._failed or failed
            self._lock.notify_all()


def twin_side(twin: GzipTwin | None, write: Callable[..., _T], *args: Any) -> _T:
    """``write(*args)``, one side of ``twin``, let go however it ends (even before it reached
    its layer), so the other writer never waits for it."""
    failed = True
    try:
        result = write(*args)
        failed = False
        return result
    finally:
        if twin is not None:
            twin.leave(failed=failed)


def raise_cause(*sides: Future[Any] | None, stop: threading.Event | None = None) -> None:
    """Wait for every side; when one fails, or the wait itself is interrupted (Ctrl-C), set
    ``stop`` so the others end at their next chunk instead of writing a whole layer; raise the
    failing side's own error rather than the stops it caused (``TwinAborted``, ``Stopped``)."""
    running = [side for side in sides if side is not None]
    try:
        done, _ = wait(running, return_when=FIRST_EXCEPTION)
        if stop is not None and any(side.exception() is not None for side in done):
            stop.set()
        errors = [side.exception() for side in running]
    except BaseException:
        if stop is not None:
            stop.set()
        raise
    stops = (TwinAborted, Stopped)
    cause = next((e for e in errors if e is not None and not isinstance(e, stops)), None)
    if cause is not None:
        raise cause


class ParallelGzip:
    """A gzip member written as deflate blocks in threads (zlib releases the GIL).

    Header: no name, mtime 0, OS "unknown", as ``gzip.GzipFile(mtime=0)`` writes it. Blocks are
    written in order; at most two per worker are in flight, so memory stays bounded.
    """

    def __init__(
        self,
        downstream: Writable,
        level: int,
        pool: ThreadPoolExecutor,
        workers: int,
        twin: GzipTwin | None = None,
    ) -> None:
        self._downstream = downstream
        self._level = level
        self._pool = pool
        self._limit = 2 * workers
        self._twin = twin
        self._pending = bytearray()
        self._history = b""
        self._in_flight: deque[Future[bytes]] = deque()
        self._channel: tuple[_Channel, bool] | None = None
        self._crc = 0
        self._size = 0
        extra = {1: 4, 9: 2}.get(level, 0)
        downstream.write(b"\x1f\x8b\x08\x00" + bytes(4) + bytes((extra, 255)))

    def register(self, keys: Sequence[str]) -> None:
        """The keys of the files that will be segments of their own (see GzipTwin)."""
        if self._twin is not None:
            self._twin.register(keys)

    @contextlib.contextmanager
    def segment(self, key: str) -> Iterator[None]:
        """The bytes written inside are a segment of their own (a file of at least a block)."""
        self._cut()
        self._channel = None if self._twin is None else self._twin.join(key)
        try:
            yield
            self._cut()
        finally:
            if self._channel is not None:
                assert self._twin is not None
                channel, gives = self._channel
                (self._twin.close if gives else self._twin.drop)(channel)
            self._channel = None

    def write(self, data: bytes | memoryview) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._pending += data
        while len(self._pending) >= GZIP_BLOCK:
            with memoryview(self._pending) as view:  # one copy of the block, not two
                block = bytes(view[:GZIP_BLOCK])
            del self._pending[:GZIP_BLOCK]
            self._submit(block, last=False)

    def close(self) -> None:
        self._submit(bytes(self._pending), last=True)
        self._pending.clear()
        while self._in_flight:
            self._downstream.write(self._in_flight.popleft().result())
        self._downstream.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))

    def _cut(self) -> None:
        """End the segment: its last (short) block, and no history carried into the next."""
        if self._pending:
            self._submit(bytes(self._pending), last=False)
            self._pending.clear()
        self._history = b""

    def _submit(self, block: bytes, *, last: bool) -> None:
        future = None
        digest = b"" if self._channel is None else _digest(block)
        if self._channel is not None and not self._channel[1]:
            assert self._twin is not None
            given = self._twin.take(self._channel[0])  # the other writer deflated it
            if given is not None and given[0] == digest:
                future = given[1]
            else:  # no more from the other writer, or other bytes: this file is ours
                self._twin.drop(self._channel[0])
                self._channel = None
        if future is None:
            future = self._pool.submit(_deflate_block, block, self._history, self._level, last)
            if self._channel is not None:
                assert self._twin is not None
                self._twin.give(self._channel[0], digest, future)
        self._in_flight.append(future)
        # The window the next block is primed with; a whole block is never copied for it.
        tail = block[-_WINDOW:]
        self._history = tail if len(tail) == _WINDOW else (self._history + tail)[-_WINDOW:]
        while len(self._in_flight) > self._limit:
            self._downstream.write(self._in_flight.popleft().result())
