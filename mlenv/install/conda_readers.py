"""Where Python's tar and zip readers, which vet a conda package, and rattler's, which
install it, read one archive differently: each such shape is named here, and
``conda_packages._CondaVetting`` refuses a package that holds one (security invariant 6)."""

from __future__ import annotations

import bz2
import io
import json
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from mlenv.install.safety import TAR_EXTENSIONS
from mlenv.lazy_pattern import LazyPattern
from mlenv.limits import parse_json

# tarfile's own (no stub): a header whose number field or checksum it cannot parse.
_INVALID_HEADER: type[Exception] = tarfile.InvalidHeaderError  # type: ignore[attr-defined]

# A .conda entry's name: one file name, no separator of either kind, NUL, or dot name.
_PLAIN_ENTRY = LazyPattern(r"(?!\.\.?\Z)[^/\\\x00]+")
_UNICODE_PATH = 0x7075  # Info-ZIP's Unicode Path extra field (APPNOTE 4.6.9)
_LOCAL_HEADER = struct.Struct("<4s2xHH4x4xIIHH")  # signature, flags, method, sizes, lengths


def zip_layout_problem(archive: zipfile.ZipFile) -> tuple[str, str] | None:
    """A .conda's members as rattler reads them are the ones the vetting reads. zipfile reads
    the central directory; rattler streams the local headers from the first byte, so a local
    entry the directory does not list (a ``pkg-*.tar.zst`` of other files, before or between
    the listed ones, or data prepended to the archive) was unpacked by rattler unvetted. So
    the listed entries must tile the archive up to the central directory: in order, from byte
    0, each local header naming and sizing its entry as the directory does, with no data
    descriptor (a streaming reader cannot size such an entry). Each entry's name is a plain
    file name, as conda writes ``metadata.json``, ``info-*`` and ``pkg-*.tar.zst``: rattler
    picks the tars to unpack by the name's last component after reading ``\\`` as ``/``, so
    ``x.tar.zst/``, ``x.tar.zst\\`` or ``x.tar.zst/.`` was unpacked over the vetted files
    while the vetting, asking whether the name ends in ``.tar.zst``, never read it; so was an
    entry named ``x.bin`` whose Unicode Path field, which rattler's reader reads and zipfile
    does not, says ``x.tar.zst``."""
    handle = archive.fp
    assert handle is not None  # open: the caller holds it
    expected = 0
    for info in sorted(archive.infolist(), key=lambda info: info.header_offset):
        if not _PLAIN_ENTRY.fullmatch(info.orig_filename):
            return (
                info.orig_filename,
                "is not a plain file name (rattler reads '\\' as '/' and unpacks an entry "
                "whose last path component ends in .tar.zst, 'x.tar.zst/' too)",
            )
        handle.seek(info.header_offset)
        fields = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size).ljust(_LOCAL_HEADER.size))
        signature, flags, method, compressed, size, name_length, extra_length = fields
        name, extra = handle.read(name_length), handle.read(extra_length)
        size, compressed = _zip64_sizes(size, compressed, extra)
        if _UNICODE_PATH in _extra_ids(extra) | _extra_ids(info.extra):
            return (
                info.orig_filename,
                "carries an Info-ZIP Unicode Path field, which rattler's zip reader takes as the "
                "entry's name and Python's zipfile does not (another name, another tar)",
            )
        if (
            info.header_offset != expected
            or signature != b"PK\x03\x04"
            or flags & 0x8
            or (method, compressed, size)
            != (info.compress_type, info.compress_size, info.file_size)
            or name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
        ):
            return (
                info.orig_filename,
                "has a local header that is not what the zip's central directory says (a "
                "streaming reader, as rattler is, reads entries the directory does not list)",
            )
        expected = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        expected += compressed
    if expected != archive.start_dir:
        return (
            "(zip)",
            f"holds {archive.start_dir - expected} bytes before its central directory that "
            "no listed entry accounts for (a streaming reader, as rattler is, reads them)",
        )
    return None


_ZIP64 = 0x0001  # APPNOTE 4.5.3: the zip64 extended information extra field
_ZIP64_MARK = 0xFFFFFFFF


def _zip64_sizes(size: int, compressed: int, extra: bytes) -> tuple[int, int]:
    """A local header's sizes, from its zip64 field when they are marked so: a zip64 entry of
    any size is legal (zipfile's ``force_zip64``), and one under 4 GiB, read by its marks, was
    refused as a local header the central directory contradicts. APPNOTE 4.5.3: a local
    header's zip64 field holds both sizes, the uncompressed first, and both header fields are
    marked. rattler's zip reader takes one value per marked field: with only the compressed
    size marked it read the uncompressed size as the compressed one and found entries the
    vetting never saw, so a header marking one size alone, or a field of another length, is
    left as it is and the comparison with the central directory refuses it."""
    if (size, compressed) != (_ZIP64_MARK, _ZIP64_MARK):
        return size, compressed
    fields = [data for record, data in _extra_records(extra) if record == _ZIP64]
    if len(fields) == 1 and len(fields[0]) == 16:
        found: tuple[int, int] = struct.unpack("<QQ", fields[0])
        return found
    return size, compressed


def _extra_ids(extra: bytes) -> set[int]:
    """The ids of a zip extra field's records."""
    return {record for record, _ in _extra_records(extra)}


def _extra_records(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """A zip extra field's records, id and data (a cut-short record ends the reading)."""
    at = 0
    while at + 4 <= len(extra):
        record, length = struct.unpack_from("<HH", extra, at)
        yield record, extra[at + 4 : at + 4 + length]
        at += 4 + length


class FirstBz2Stream(io.RawIOBase):
    """A .tar.bz2's first bzip2 stream, where rattler's decoder stops; Python's ``bz2`` reads
    on into any stream after it. A tar that went on in a second stream was vetted whole and
    installed cut short: its ``info/paths.json`` there, rattler fell back to
    ``info/has_prefix`` and rewrote files the vetting judged unrewritten. So the tar's reader
    asking past the first stream, when more follows it, is a ``ValueError``."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._stream = bz2.BZ2Decompressor()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._stream.eof:
            chunk = self._raw.read(1 << 16) if self._stream.needs_input else b""
            if self._stream.needs_input and not chunk:
                raise EOFError("the bzip2 stream is cut short")
            if data := self._stream.decompress(chunk, len(buffer)):
                buffer[: len(data)] = data
                return len(data)
        if self._stream.unused_data or self._raw.read(1):
            raise ValueError(
                "its tar goes on past the first bzip2 stream, where rattler stops reading"
            )
        return 0


def metadata_json(data: bytes, *, where: str) -> tuple[object, str | None]:
    """A package's JSON metadata (``info/paths.json``, ``index.json``, ``link.json``) and why
    rattler's reader (serde) would read it otherwise, if it would. A key given twice in one
    object: Python's reader keeps the last, serde refuses a struct's field given twice (a
    second ``_path`` failed the install after the vetting, hinting "re-run mlenv fetch") and
    drops what it flattens (a second ``file_mode``: no prefix rewrite, though the vetting
    judged one). A string escaping a lone surrogate (``"\\ud800"``) holds no UTF-8 (a binary
    placeholder of one ended the vetting in an internal error)."""
    try:
        document = parse_json(data, where=where, strict=True)
    except ValueError as exc:
        return None, f"is not well-formed JSON: {exc}"
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return None, "escapes a lone surrogate, which is no text"
    return document, None


_PAX_TYPES = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE)
# What tarfile takes from a global PAX record for every later member that changes what is
# written: the tar crate ignores global records, so a global ``size`` made tarfile measure a
# prefix of a file rattler wrote whole (tarfile still steps to the next header by the
# header's own size field).
_GLOBAL_READ = frozenset({"path", "linkpath", "size"})
# The tar crate's ustar and GNU magic (magic and version fields): it reads a PAX or GNU long
# name header as one only under these; tarfile under any magic or none.
_TAR_MAGIC = (b"ustar\x0000", b"ustar  \x00")


class TarHeaders(tarfile.TarInfo):
    """A member as tarfile reads it, with the extension headers that came before it
    (``headers``, outermost first) and any global PAX record in force.

    tarfile and rattler's tar crate resolve two extension headers for one name differently:
    tarfile takes the first of two GNU long names or two PAX records and a PAX path over a GNU
    long name that follows it, the tar crate the last one and a GNU long name over any PAX
    path. tarfile reads an extension header under any magic, the tar crate only under ustar
    or GNU magic (``known_magic``), and a Solaris 'X' header as PAX, the tar crate never.
    tarfile renames and resizes a member from GNU.sparse records and applies a global PAX
    path, link target or size (``_GLOBAL_READ``) through a later local record; the tar crate
    ignores both. What the vetting reads must be what rattler writes, so
    ``conda_packages._CondaVetting._check_member`` refuses a member any of that applies to.
    ``_proc_member`` is tarfile's hook for subclasses."""

    headers: tuple[bytes, ...] = ()
    global_keys: frozenset[str] = frozenset()
    joined_prefix = False  # a prefix field tarfile joined to the name outside ustar magic
    known_magic = True  # this header has the tar crate's ustar or GNU magic
    foreign_extension = False  # an extension header before it lacks that magic

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> TarHeaders:
        try:
            member = super().frombuf(buf, encoding, errors)
        except _INVALID_HEADER as exc:
            # Past its first header tarfile takes one it cannot parse (a number field of
            # garbage: uid, mode, mtime, devmajor) for the archive's end and stops quietly;
            # the tar crate parses a field only when it uses it, and unpacks on.
            raise tarfile.ReadError(f"a tar header tarfile cannot read ({exc})") from None
        # tarfile joins a header's prefix field (bytes 345-500) to its name whatever the
        # magic; the tar crate only under POSIX ustar magic (GNU keeps times there).
        member.joined_prefix = (
            buf[345:346] != b"\0"
            and buf[257:265] != b"ustar\x0000"
            and member.type not in tarfile.GNU_TYPES
        )
        member.known_magic = buf[257:265] in _TAR_MAGIC
        return member

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        stream, payload = archive.fileobj, b""
        if self.type in (*_PAX_TYPES, tarfile.XGLTYPE):  # tarfile reads its records first
            assert stream is not None

            def read(size: int = -1) -> bytes:
                nonlocal payload
                data: bytes = type(stream).read(stream, size)
                payload = payload or data
                return data

            stream.read = read  # type: ignore[method-assign]
        try:
            member: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        finally:
            vars(stream).pop("read", None)
        if payload and (problem := _pax_problem(payload[: self.size])):
            member.pax_problem = problem  # type: ignore[attr-defined]
        if self.type in TAR_EXTENSIONS:
            member.headers = (self.type, *getattr(member, "headers", ()))  # type: ignore[attr-defined]
            if self.type != tarfile.XGLTYPE and not self.known_magic:
                member.foreign_extension = True  # type: ignore[attr-defined]
        if self.type == tarfile.XGLTYPE:
            member.global_keys = frozenset(archive.pax_headers)  # type: ignore[attr-defined]
        return member


def _pax_problem(records: bytes) -> str | None:
    """Why a PAX extension header's records may read two ways. tarfile stops at the first
    record it cannot parse and keeps the last of two for one key; the tar crate splits them
    at line breaks and takes the first: each must be ``LENGTH KEY=VALUE\\n``, its length
    exact, every key once."""
    keys: set[bytes] = set()
    at = 0
    while at < len(records):
        digits, _, _ = records[at : at + 10].partition(b" ")
        end = at + int(digits) if digits.isdigit() and not digits.startswith(b"0") else -1
        record = records[at + len(digits) + 1 : end] if end <= len(records) else b""
        key, equals, _ = record.partition(b"=")
        if not record.endswith(b"\n") or not equals or b"\n" in record[:-1]:
            return "has a PAX extension header record that is not LENGTH KEY=VALUE"
        if key in keys:
            return f"has a PAX extension header that names {key.decode(errors='replace')} twice"
        keys.add(key)
        at = end
    return None


def ambiguity(member: tarfile.TarInfo) -> str | None:
    """Why tar readers may disagree on ``member``'s name, link target or where the next
    member starts (``TarHeaders``)."""
    headers: tuple[bytes, ...] = getattr(member, "headers", ())
    pax, count = member.pax_headers, headers.count
    if member.size and not member.isreg() and member.type in tarfile.SUPPORTED_TYPES:
        # tarfile skips the data of a regular member only, the tar crate of every member: a
        # directory or link with a size had tarfile read its data as headers (a zero block
        # there ended the archive for tarfile alone, and rattler unpacked what followed).
        return "is not a regular file but has a size: tar readers step past it differently"
    if problem := getattr(member, "pax_problem", None):
        return str(problem)
    if getattr(member, "joined_prefix", False) and "path" not in pax:
        return "has a name prefix field without POSIX ustar magic"
    if _GLOBAL_READ & getattr(member, "global_keys", frozenset()):
        return "follows a global PAX extension header that names or sizes members"
    if getattr(member, "foreign_extension", False):
        return "has an extension header without ustar or GNU magic (the tar crate skips it)"
    if tarfile.SOLARIS_XHDTYPE in headers:
        return "has a Solaris PAX extension header ('X', which the tar crate skips)"
    if member.type == tarfile.GNUTYPE_SPARSE:
        # tarfile expands any sparse map; the tar crate only one whose blocks before the last
        # are 512-byte aligned and in order, and it failed the install as a bad package cache
        return "is a sparse file (an old GNU 'S' header), which tar readers expand differently"
    if any(key.startswith("GNU.sparse.") for key in pax):
        # tarfile takes a name and size from GNU.sparse.name/size/realsize and expands a
        # sparse map; the tar crate ignores every GNU.sparse record and writes the data as is.
        return "has a GNU.sparse PAX extension header record (the tar crate ignores it)"
    if sum(count(kind) for kind in _PAX_TYPES) > 1:
        return "has more than one PAX extension header"
    long_name, long_link = count(tarfile.GNUTYPE_LONGNAME), count(tarfile.GNUTYPE_LONGLINK)
    if long_name > 1 or (long_name and "path" in pax):
        return "has its name from more than one extension header (GNU long name, PAX path)"
    if long_link > 1 or (long_link and "linkpath" in pax):
        return "has its link target from more than one extension header (GNU, PAX)"
    return None


def zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> IO[bytes]:
    """zipfile raises RuntimeError for an encrypted member and NotImplementedError for a
    compression it lacks (zstd): a package it cannot read, where any other RuntimeError
    (a RecursionError, a bug) stays an internal error, not a blamed package."""
    try:
        return archive.open(info)
    except RuntimeError as exc:
        raise zipfile.BadZipFile(str(exc)) from None
