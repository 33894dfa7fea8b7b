"""A wheel's METADATA read straight from its zip central directory, without zipfile.

zipfile builds a ZipInfo for every member (torch has 13,000), which cost a cold lock most of its
metadata reading. This reader answers only for a plainly built archive and leaves everything else
(``None``) to ``wheelmeta.metadata_member``'s zipfile path, so it never answers otherwise than
zipfile would.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import BinaryIO, NamedTuple

from packaging.utils import canonicalize_name

from mlenv.index.model import IndexFile

MAX_METADATA_BYTES = 16 * 1024 * 1024  # no real METADATA comes near; a zip bomb would

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory, no comment
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # one central directory record, before its name
_LENGTHS = struct.Struct("<4s2xHH18xHHH8xL")  # signature, version, flags, lengths, offset
_LOCAL = struct.Struct("<4s5H3L2H")  # a member's local header, before its name
_METADATA_SUFFIX = b".dist-info/METADATA"
_ODD_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, patch data, strong encryption: zipfile's path
_UTF8_NAME = 0x800
_EXTRA = struct.Struct("<HH")  # an extra field's kind and length
_UNICODE_PATH = 0x7075
_ZIP64 = 0x0001
_MAX_NEEDED = 63  # zipfile's MAX_EXTRACT_VERSION


class _Member(NamedTuple):
    """Where a member's bytes are and what they must be, from its central directory record."""

    flags: int
    method: int  # 0 stored, 8 deflated
    crc: int
    compressed: int
    size: int
    offset: int  # of its local header
    name: bytes  # as the local header must repeat it
    bound: int = 0  # where the next member's local header (or the directory) starts


def plain_metadata_member(handle: BinaryIO, file: IndexFile) -> bytes | None:
    """METADATA of a plain wheel without building a ZipInfo for each of its members (torch
    has 13,000; zipfile spends most of a cold lock's metadata reading on them). None, and the
    caller asks zipfile, for anything else: a comment, zip64, data before the archive, an
    odd or encrypted member, a CRC or size that does not match, a name zipfile would read
    differently, no METADATA. So this only ever answers what zipfile would answer."""
    try:
        end = handle.seek(0, io.SEEK_END)
        if end < _EOCD.size:
            return None
        handle.seek(end - _EOCD.size)
        signature, disk, cd_disk, count, total, cd_size, cd_offset, comment = _EOCD.unpack(
            handle.read(_EOCD.size)
        )
        if (signature, disk, cd_disk, comment) != (b"PK\x05\x06", 0, 0, 0) or count != total:
            return None
        if count == 0xFFFF or cd_offset + cd_size != end - _EOCD.size:
            return None  # zip64, or bytes before the archive: zipfile's business
        if end >= _EOCD.size + 20:
            handle.seek(end - _EOCD.size - 20)
            if handle.read(4) == b"PK\x06\x07":
                return None  # what zipfile would take for a zip64 locator
        handle.seek(cd_offset)
        directory = handle.read(cd_size)
        member = _choose(directory, count, file, cd_offset)
        if member is None:
            return None
        handle.seek(member.offset)
        local = _LOCAL.unpack(handle.read(_LOCAL.size))
        if local[0] != b"PK\x03\x04" or local[2] & _ODD_FLAGS or local[3] != member.method:
            return None
        if (local[2] ^ member.flags) & _UTF8_NAME:
            return None  # zipfile would decode the two names differently
        if handle.read(local[9]) != member.name:
            return None
        if handle.seek(local[10], io.SEEK_CUR) + member.compressed > member.bound:
            return None  # overlapping the next member: zipfile 3.12+ refuses it
        raw = handle.read(member.compressed)
        data = (
            raw if member.method == 0 else zlib.decompressobj(-15).decompress(raw, member.size + 1)
        )
    except (OSError, struct.error, zlib.error, ValueError, OverflowError):
        return None
    if len(data) != member.size or zlib.crc32(data) != member.crc:
        return None
    return data


def _choose(directory: bytes, count: int, file: IndexFile, end: int) -> _Member | None:
    """The METADATA member zipfile's path would pick (our own dist-info first); None when
    the directory is not plainly what it says."""
    found: list[tuple[str, _Member]] = []
    offsets: list[int] = []
    suffixed = 0
    position = 0
    # Bound once: the loop runs for every record (torch has 13,000) and only a name ending at
    # one of the suffix's few occurrences is looked at further.
    unpack, fixed, add_offset = _LENGTHS.unpack_from, _CENTRAL.size, offsets.append
    ends = _suffix_ends(directory)
    for _ in range(count):  # only signatures and lengths
        signature, needed, flags, name_length, extra_length, comment_length, offset = unpack(
            directory, position
        )
        add_offset(offset)
        if signature != b"PK\x01\x02" or needed > _MAX_NEEDED:
            return None  # zipfile refuses the whole archive for one record it cannot extract
        name_end = position + fixed + name_length
        if flags & _UTF8_NAME and not _utf8(directory[position + fixed : name_end]):
            return None  # and for one name it cannot decode
        if extra_length and _odd_extra(directory[name_end : name_end + extra_length]):
            return None  # and for one extra field it cannot decode, or takes sizes from
        if name_end in ends and name_length >= len(_METADATA_SUFFIX):
            suffixed += 1
            record = _CENTRAL.unpack_from(directory, position)
            raw_name = directory[position + fixed : name_end]
            flags, method, crc, compressed, size = record[3], record[4], *record[7:10]
            offset = record[16]
            if b"\x00" in raw_name or flags & _ODD_FLAGS or method not in (0, 8):
                return None
            if max(compressed, size) > MAX_METADATA_BYTES or offset == 0xFFFFFFFF:
                return None  # zip64 or too big: zipfile's path refuses or reads it
            member = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
            if member.count("/") == 1:
                found.append(
                    (member, _Member(flags, method, crc, compressed, size, offset, raw_name))
                )
        position = name_end + extra_length + comment_length
    # Every occurrence of the suffix must be the end of a name: in a name cut by a NUL or in
    # an extra field zipfile could see a member this loop did not.
    if position != len(directory) or directory.count(_METADATA_SUFFIX) != suffixed:
        return None
    own = [member for name, member in found if dist_info_name(name) == file.name]
    chosen = own or [member for _, member in found]
    if not chosen or offsets.count(chosen[0].offset) > 1:
        return None  # none, or two records sharing a local header: zipfile's business
    bound = min((o for o in offsets if o > chosen[0].offset), default=end)
    return chosen[0]._replace(bound=bound)


def _suffix_ends(directory: bytes) -> set[int]:
    """Where each occurrence of ``.dist-info/METADATA`` in the directory ends."""
    ends = set()
    start = directory.find(_METADATA_SUFFIX)
    while start >= 0:
        ends.add(start + len(_METADATA_SUFFIX))
        start = directory.find(_METADATA_SUFFIX, start + 1)
    return ends


def _utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _odd_extra(extra: bytes) -> bool:
    """Whether zipfile reads anything from a record's extra field, or refuses it: Python
    3.11's zipfile raises for a malformed field list or a zip64 field (0x0001) short of a
    size it needs, on any record, so the whole archive is unreadable to it; a zip64 field
    moves a size or offset; and 3.12+ reads a Unicode Path field (0x7075) in place of the
    name, so a record named METADATA here could be another member there. Any of these is
    zipfile's business, so its path answers (or refuses) as the installer will."""
    position = 0
    while len(extra) - position >= 4:
        kind, length = _EXTRA.unpack_from(extra, position)
        if kind in (_ZIP64, _UNICODE_PATH) or position + 4 + length > len(extra):
            return True
        position += 4 + length
    return False


def dist_info_name(member: str) -> str:
    return canonicalize_name(member.split("/", 1)[0].removesuffix(".dist-info").split("-")[0])
