"""Which files name the install prefix: conda-unpack rewrites exactly those where the archive
is unpacked, as text, or as a binary whose strings keep their length."""

from __future__ import annotations

from typing import Literal

PrefixKind = Literal["text", "binary"]


class PrefixScan:
    """Whether the bytes fed, in order, hold ``needle`` (also across two chunks, through the
    last ``len(needle) - 1`` bytes kept), and whether they hold a NUL byte. Fed by the
    installer as it writes a big file, and by the conda-pack writer reading any other."""

    def __init__(self, needle: bytes) -> None:
        self._needle = needle
        self._keep = max(len(needle) - 1, 0)
        self._tail = b""
        self.hit = self.binary = False

    def feed(self, data: bytes | bytearray, end: int | None = None) -> None:
        """Take ``data[:end]`` (all of it by default): only the overlap is ever copied."""
        end = len(data) if end is None else end
        if not self.hit:
            head = bytes(data[: min(self._keep, end)])
            self.hit = self._needle in self._tail + head or data.find(self._needle, 0, end) >= 0
        if not self.binary:
            self.binary = data.find(b"\0", 0, end) >= 0
        if self._keep:
            self._tail = (self._tail + bytes(data[max(end - self._keep, 0) : end]))[-self._keep :]

    @property
    def settled(self) -> bool:
        """Nothing fed later can change ``kind``."""
        return self.hit and self.binary

    @property
    def kind(self) -> PrefixKind | None:
        if not self.hit:
            return None
        return "binary" if self.binary else "text"
