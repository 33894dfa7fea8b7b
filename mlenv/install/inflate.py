"""A big wheel member's bytes, read from the wheel file and inflated by ISA-L.

Inflating is most of a cold build's CPU (5 GB from a torch stack's wheels). zipfile inflates
with the system zlib; ISA-L's inflate (``isal``) is about 1.8x faster and releases the GIL.
The bytes are those of any inflater (deflate is one format), so no output changes. The CRC-32
is checked as zipfile checks it (ISA-L's takes a few ms a GB): pip refuses a wheel whose
member does not match its CRC, so mlenv must not install it, whatever RECORD says.

The member is found as zipfile finds it: from the central directory's entry, through its
local header, whose name must be the entry's. Memory stays bounded whatever the ratio: each
call of ``decompress`` gives at most ``chunk`` bytes, and a member that inflates to more or
fewer bytes than the directory says is refused.
"""

from __future__ import annotations

import lzma
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from isal import isal_zlib

_LOCAL_HEADER = struct.Struct("<4s2xH18xHH")  # signature, flags, the name and extra lengths
_UTF8_NAME = 0x800
# zipfile's refusals by the directory's flags: encrypted (RuntimeError there), compressed
# patched data and strong encryption (NotImplementedError): the bytes are not the member's
_UNREADABLE_FLAGS = {0x1: "is encrypted", 0x20: "is compressed patched data (flag bit 5)",
                     0x40: "is strongly encrypted (flag bit 6)"}  # fmt: skip
_READ = 1 << 18
_RAW_DEFLATE = -15
INFLATE_ERROR = cast("type[Exception]", isal_zlib.error)  # its stub calls it an instance


def member_chunks(path: Path, info: zipfile.ZipInfo, chunk: int) -> Iterator[bytes]:
    """The bytes of ``info`` in the zip at ``path``, at most ``chunk`` at a time; a member that
    is neither stored nor deflated is read by zipfile. ``zipfile.BadZipFile`` if the local
    header or the data is not what the central directory says, or a flag says zipfile would
    not read it."""
    for flag, why in _UNREADABLE_FLAGS.items():
        if info.flag_bits & flag:
            raise zipfile.BadZipFile(f"{info.filename}: {why}: zipfile will not read it")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        yield from _by_zipfile(path, info, chunk)
        return
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield from _chunks(fd, info, _data_offset(fd, info), chunk)
    finally:
        os.close(fd)


def _by_zipfile(path: Path, info: zipfile.ZipInfo, chunk: int) -> Iterator[bytes]:
    """A bzip2 or LZMA member, read by zipfile. Their decoders' refusals of corrupt data
    (``LZMAError``; bz2's ``OSError`` with no errno, unlike a failed read's) are the wheel's
    fault, so they become ``BadZipFile``: never an internal error, nor a disk error."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(info) as stream:
            while data := stream.read(chunk):
                yield data
    except lzma.LZMAError as exc:
        raise zipfile.BadZipFile(f"{info.filename}: not an LZMA stream ({exc})") from None
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise zipfile.BadZipFile(f"{info.filename}: not a bzip2 stream ({exc})") from None


def _data_offset(fd: int, info: zipfile.ZipInfo) -> int:
    header = os.pread(fd, _LOCAL_HEADER.size, info.header_offset)
    if len(header) != _LOCAL_HEADER.size:
        raise zipfile.BadZipFile(f"{info.filename}: the local header is cut short")
    signature, flags, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    name_length, extra_length = int(name_length), int(extra_length)
    name = os.pread(fd, name_length, info.header_offset + _LOCAL_HEADER.size)
    try:  # decoded as the local header's own flag says, as zipfile decodes it
        local_name = name.decode("utf-8" if flags & _UTF8_NAME else "cp437")
    except UnicodeDecodeError:
        local_name = None
    if signature != b"PK\x03\x04" or local_name != info.orig_filename:
        raise zipfile.BadZipFile(
            f"{info.filename}: the local header is not the central directory's entry"
        )
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _chunks(fd: int, info: zipfile.ZipInfo, offset: int, chunk: int) -> Iterator[bytes]:
    """The member's bytes, held to its size: never more, and all of them."""
    given, crc, stored = 0, 0, info.compress_type == zipfile.ZIP_STORED
    pieces = _pieces(fd, info, offset, chunk if stored else _READ)
    for out in pieces if stored else _inflated(pieces, chunk, info.filename):
        given += len(out)
        if given > info.file_size:
            raise zipfile.BadZipFile(f"{info.filename}: more bytes than its size")
        crc = isal_zlib.crc32(out, crc)
        if given == info.file_size and crc != info.CRC:  # before its last bytes are written
            raise zipfile.BadZipFile(f"{info.filename}: the bytes do not match its CRC-32")
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
    input is spent comes after, and the stream must end by where the member does. Bytes
    after its end are not read (zipfile ignores them too): fed on, the inflater would keep
    them all as ``unused_data``, copied whole on every call."""
    inflater = isal_zlib.decompressobj(_RAW_DEFLATE)
    try:
        for data in pieces:
            while data and not inflater.eof:
                if out := inflater.decompress(data, chunk):
                    yield out
                data = inflater.unconsumed_tail
            if inflater.eof:
                break
        while not inflater.eof and (out := inflater.decompress(b"", chunk)):
            yield out
    except INFLATE_ERROR as exc:
        raise zipfile.BadZipFile(f"{name}: not a deflate stream ({exc})") from None
    if not inflater.eof:
        raise zipfile.BadZipFile(f"{name}: the member ends before its deflate stream does")
