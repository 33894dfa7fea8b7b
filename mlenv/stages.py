"""The stages a layer's bytes stream through after the tar writer: a sha256 tee and zstd."""

from __future__ import annotations

import hashlib
from typing import Protocol

import zstandard

from mlenv.parallel_gzip import Writable


class Compressor(Writable, Protocol):
    def close(self) -> None: ...


class Digest:
    """A tee stage: hashes and counts every byte on its way to the next stage."""

    def __init__(self, downstream: Writable) -> None:
        self._downstream = downstream
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self._hash.update(data)
        self._downstream.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """GzipFile may flush its file object; the bytes are already downstream."""

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
