"""The stages a layer's bytes stream through after the tar writer: a sha256 tee and zstd."""

from __future__ import annotations

import hashlib
from typing import Protocol

import zstandard

from mlenv.handoff import Handoff
from mlenv.parallel_gzip import Writable


class Compressor(Writable, Protocol):
    def close(self) -> None: ...


class _Hashed:
    """What ``Digest`` does to the bytes, on whichever thread runs it: hash, pass on."""

    def __init__(self, hasher: hashlib._Hash, downstream: Writable) -> None:
        self._hasher = hasher
        self._downstream = downstream

    def write(self, data: bytes | memoryview) -> None:
        self._hasher.update(data)
        self._downstream.write(data)


class Digest:
    """A tee stage: hashes and counts every byte on its way to the next stage.

    ``threaded``: the hash and the stages after it run on a thread of its own (a ``Handoff``),
    so a writer that only copies (image.tar: the files' bytes, already hashed by their reads,
    into one file) does not wait for the sha256 of each chunk. Bytes handed over are kept, not
    copied: write ``bytes`` there, not a buffer that is reused. ``close`` waits for the thread;
    as a context manager, a failure leaves it stopped."""

    def __init__(self, downstream: Writable, *, threaded: bool = False) -> None:
        self._hash = hashlib.sha256()
        hashed = _Hashed(self._hash, downstream)
        self._handoff = Handoff(hashed) if threaded else None
        self._next: Writable = hashed if self._handoff is None else self._handoff
        self.size = 0

    def __enter__(self) -> Digest:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if error is not None and self._handoff is not None:
            self._handoff.abandon()

    def write(self, data: bytes | memoryview) -> int:
        self._next.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """GzipFile may flush its file object; the bytes are already downstream."""

    def close(self) -> None:
        """Every byte written is hashed and downstream (a threaded one's error raised here)."""
        if self._handoff is not None:
            self._handoff.close()

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class Zstd:
    """One zstd frame: pinned level, checksum on, content size never written (it is streamed)."""

    def __init__(self, downstream: Writable, level: int, threads: int) -> None:
        compressor = zstandard.ZstdCompressor(
            level=level, write_checksum=True, write_content_size=False, threads=threads
        )
        self._stream = compressor.compressobj()
        self._downstream = downstream

    def write(self, data: bytes | memoryview) -> None:
        self._downstream.write(self._stream.compress(data))

    def close(self) -> None:
        self._downstream.write(self._stream.flush())
