"""A big wheel member's bytes, read from the wheel file and inflated by ISA-L.

Inflating is most of a cold build's CPU (5 GB from a torch stack's wheels). zipfile inflates
with the system zlib and takes a CRC-32 of every byte; ISA-L's inflate (``isal``) is about
1.8x faster and releases the GIL, and the CRC adds nothing here: the wheel's sha256 is the
lock's, and every member's sha256 and size are checked against RECORD as they are written.
The bytes are those of any inflater (deflate is one format), so no output changes.

The member is found as zipfile finds it: from the central directory's entry, through its
local header, whose name must be the entry's. Memory stays bounded whatever the ratio: each
call of ``decompress`` gives at most ``chunk`` bytes, and a member that inflates to more or
fewer bytes than the directory says is refused.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

from isal import isal_zlib

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then the name and extra lengths
_READ = 1 << 18
_RAW_DEFLATE = -15
# The class isal raises (its stub declares an instance, not a class).
_INFLATE_ERROR: type[Exception] = isal_zlib.error  # type: ignore[assignment]


def member_chunks(path: Path, info: zipfile.ZipInfo, chunk: int) -> Iterator[bytes]:
    """The bytes of ``info`` in the zip at ``path``, at most ``chunk`` at a time; a member that
    is neither stored nor deflated is read by zipfile. ``zipfile.BadZipFile`` if the local
    header or the data is not what the central directory says."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with zipfile.ZipFile(path) as archive, archive.open(info) as stream:
            while data := stream.read(chunk):
                yield data
        return
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield from _chunks(fd, info, _data_offset(fd, info), chunk)
    finally:
        os.close(fd)


def _data_offset(fd: int, info: zipfile.ZipInfo) -> int:
    header = os.pread(fd, _LOCAL_HEADER.size, info.header_offset)
    if len(header) != _LOCAL_HEADER.size:
        raise zipfile.BadZipFile(f"{info.filename}: the local header is cut short")
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = int(name_length), int(extra_length)
    name = os.pread(fd, name_length, info.header_offset + _LOCAL_HEADER.size)
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    if signature != b"PK\x03\x04" or name != info.orig_filename.encode(encoding):
        raise zipfile.BadZipFile(
            f"{info.filename}: the local header is not the central directory's entry"
        )
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _chunks(fd: int, info: zipfile.ZipInfo, offset: int, chunk: int) -> Iterator[bytes]:
    """The member's bytes, held to its size: never more, and all of them."""
    given, stored = 0, info.compress_type == zipfile.ZIP_STORED
    pieces = _pieces(fd, info, offset, chunk if stored else _READ)
    for out in pieces if stored else _inflated(pieces, chunk, info.filename):
        given += len(out)
        if given > info.file_size:
            raise zipfile.BadZipFile(f"{info.filename}: more bytes than its size")
        yield out
    if given != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename}: {given} bytes, not its {info.file_size}")


def _pieces(fd: int, info: zipfile.ZipInfo, offset: int, size: int) -> Iterator[bytes]:
    end = offset + info.compress_size
    while offset < end:
        data = os.pread(fd, min(end - offset, size), offset)
        if not data:
            raise zipfile.BadZipFile(f"{info.filename}: the archive ends inside the member")
        offset += len(data)
        yield data


def _inflated(pieces: Iterator[bytes], chunk: int, name: str) -> Iterator[bytes]:
    """Raw deflate, at most ``chunk`` bytes a call; what the inflater still holds once the
    input is spent comes after, and the stream must end where the member does."""
    inflater = isal_zlib.decompressobj(_RAW_DEFLATE)
    try:
        for data in pieces:
            while data:
                if out := inflater.decompress(data, chunk):
                    yield out
                data = inflater.unconsumed_tail
        while not inflater.eof and (out := inflater.decompress(b"", chunk)):
            yield out
    except _INFLATE_ERROR as exc:
        raise zipfile.BadZipFile(f"{name}: not a deflate stream ({exc})") from None
    if not inflater.eof:
        raise zipfile.BadZipFile(f"{name}: the member ends before its deflate stream does")
