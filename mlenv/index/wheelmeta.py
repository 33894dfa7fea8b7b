"""Core metadata from inside a wheel, reading as little of it as possible.

A wheel is a zip: its central directory sits at the end, so over HTTP a suffix ``Range`` request
plus one more for the ``METADATA`` member is usually all it takes, even for a 2 GB CUDA wheel.
Servers that ignore ranges get a full streamed download into a temporary file instead.
"""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from packaging.utils import canonicalize_name

from mlenv.errors import MlenvError
from mlenv.index.bodies import raw_chunks
from mlenv.index.http import HttpClient, HttpError
from mlenv.index.model import IndexFile, MetadataError
from mlenv.index.urls import file_url_to_path, is_file_url
from mlenv.lazy_pattern import LazyPattern
from mlenv.limits import MAX_WHEEL_BYTES
from mlenv.userfiles import open_input

if TYPE_CHECKING:
    import httpx
    from _typeshed import WriteableBuffer

TAIL_BYTES = 64 * 1024  # first request: enough for the central directory of most wheels
CHUNK_BYTES = 64 * 1024  # smallest later request, so zipfile's small reads do not each cost a trip
MAX_METADATA_BYTES = 16 * 1024 * 1024  # no real METADATA comes near; a zip bomb would
# ASCII digits, at most 20 (a file of 10**20 bytes is none): int() refuses a number of more
# than 4,300 digits with a bare ValueError, and \d takes any script's digits.
_CONTENT_RANGE = LazyPattern(r"bytes ([0-9]{1,20})-([0-9]{1,20})/([0-9]{1,20})")
_IDENTITY = {"Accept-Encoding": "identity"}  # ranges count bytes of the file, not of a gzip


def read_wheel_metadata(file: IndexFile, http: HttpClient) -> bytes:
    """The bytes of the wheel's ``*.dist-info/METADATA`` member."""
    if is_file_url(file.url):
        try:
            with open_input(file_url_to_path(file.url), "local wheel") as handle:
                return metadata_member(handle, file)
        except MlenvError as error:  # a FIFO or a device where a wheel is listed
            raise MetadataError(error.message, where=file.url, hint=error.hint) from None
        except OSError as exc:
            raise MetadataError(
                f"cannot read {file.filename}: {exc.strerror or exc}",
                where=file.url,
                hint="check that the local index or find-links directory is complete",
            ) from None
    with open_remote_zip(http, file.url, file.size) as handle:
        return metadata_member(handle, file)


# What zipfile raises for a broken or odd archive. ValueError: a name that is not the UTF-8 it
# claims, a header offset before the file; RuntimeError: an encrypted member; OSError and
# LZMAError: a bzip2 or LZMA member that does not decompress.
_UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    ValueError,
    RuntimeError,
    OSError,
    lzma.LZMAError,
)


def metadata_member(handle: BinaryIO, file: IndexFile) -> bytes:
    fast = _plain_metadata_member(handle, file)
    if fast is not None:
        return fast
    handle.seek(0)
    where = f"{file.url} ({file.name})"
    try:
        with zipfile.ZipFile(handle) as archive:
            candidates = [
                info
                for info in archive.infolist()
                if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
            ]
            # A wheel vendoring another's dist-info is broken but exists; prefer our own name.
            own = [i for i in candidates if _dist_info_name(i.filename) == file.name]
            chosen = (own or candidates)[:1]
            if not chosen:
                raise MetadataError(
                    "the wheel has no .dist-info/METADATA",
                    where=where,
                    hint="the wheel is broken; pick another version",
                )
            if chosen[0].file_size > MAX_METADATA_BYTES:
                raise MetadataError(
                    f"the wheel's METADATA claims {chosen[0].file_size} bytes",
                    where=where,
                    hint="the wheel is broken or malicious; pick another version",
                )
            return archive.read(chosen[0])
    except _UNREADABLE as exc:
        raise MetadataError(
            f"the wheel is not a readable zip archive ({exc})",
            where=where,
            hint="the wheel is broken or the download was truncated; retry or pick another version",
        ) from None


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory, no comment
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # one central directory record, before its name
_LENGTHS = struct.Struct("<4s2xHH18xHHH8xL")  # signature, version, flags, lengths, offset
_LOCAL = struct.Struct("<4s5H3L2H")  # a member's local header, before its name
_METADATA_SUFFIX = b".dist-info/METADATA"
_ODD_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, patch data, strong encryption: zipfile's path
_UTF8_NAME = 0x800
_EXTRA = struct.Struct("<HH")  # an extra field's kind and length
_UNICODE_PATH = 0x7075
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


def _plain_metadata_member(handle: BinaryIO, file: IndexFile) -> bytes | None:
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
        if name_end in ends and name_length >= len(_METADATA_SUFFIX):
            suffixed += 1
            record = _CENTRAL.unpack_from(directory, position)
            raw_name = directory[position + fixed : name_end]
            flags, method, crc, compressed, size = record[3], record[4], *record[7:10]
            offset = record[16]
            if b"\x00" in raw_name or flags & _ODD_FLAGS or method not in (0, 8):
                return None
            if _renames(directory[name_end : name_end + extra_length]):
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
    own = [member for name, member in found if _dist_info_name(name) == file.name]
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


def _renames(extra: bytes) -> bool:
    """Whether zipfile could take a name other than the record's from its extra field: Python
    3.12+ reads a Unicode Path field (0x7075) in place of the name, so a record named METADATA
    here could be another member there, and the installer would install a different METADATA
    than the one the lock was resolved from. A malformed field list counts too."""
    position = 0
    while len(extra) - position >= 4:
        kind, length = _EXTRA.unpack_from(extra, position)
        if kind == _UNICODE_PATH or position + 4 + length > len(extra):
            return True
        position += 4 + length
    return False


def _dist_info_name(member: str) -> str:
    return canonicalize_name(member.split("/", 1)[0].removesuffix(".dist-info").split("-")[0])


@contextmanager
def open_remote_zip(http: HttpClient, url: str, size: int | None = None) -> Iterator[BinaryIO]:
    """A seekable file over HTTP ranges, or a temporary full copy when ranges are not honoured
    (at most the ``size`` the index gave, when it gave one)."""
    with ExitStack() as stack:
        try:
            tail = {"Range": f"bytes=-{TAIL_BYTES}", **_IDENTITY}
            response = stack.enter_context(http.stream(url, headers=tail))
        except HttpError as exc:
            if exc.status != 416:  # 416: an empty or odd file; a plain GET tells the truth
                raise
            response = stack.enter_context(http.stream(url, headers=_IDENTITY))
        if response.status_code == 206:
            start, end, total = _content_range(response.headers, url)
            data = _read_span(response, url, end - start + 1)
            yield io.BufferedReader(_RangeReader(http, url, total, start, data))
        else:
            import tempfile  # here: a lock of local indexes never spools

            spool = stack.enter_context(tempfile.TemporaryFile())
            _copy(response, spool, url, MAX_WHEEL_BYTES if size is None else size)
            spool.seek(0)
            yield spool


def _content_range(headers: Mapping[str, str], url: str) -> tuple[int, int, int]:
    """First and last byte and total size of a 206 answer; a server that garbles them, or
    compresses the range it was asked for as ``identity``, gets no guesswork."""
    match = _CONTENT_RANGE.fullmatch(headers.get("content-range", "").strip())
    coding = headers.get("content-encoding", "identity").strip().lower()
    if match is not None and coding in ("", "identity"):
        start, end, total = (int(g) for g in match.groups())
        if start <= end < total:
            return start, end, total
    raise _broken(url, "an unusable Content-Range or Content-Encoding")


def _broken(url: str, what: str) -> HttpError:
    return HttpError(
        f"{url} answered a range request with {what}",
        url=url,
        status=206,
        hint="the server's range support is broken; use a mirror",
    )


def _read_span(response: httpx.Response, url: str, span: int) -> bytes:
    """The raw bytes of the first range answer: exactly the ``span`` its Content-Range names,
    at most the ``TAIL_BYTES`` asked for, read no further: a longer body is refused at once."""
    expected = span
    if span > TAIL_BYTES:
        raise _broken(url, f"{span} bytes for {TAIL_BYTES}")
    body = bytearray()
    for chunk in raw_chunks(response, url):
        body += chunk
        if len(body) > expected:
            break
    if len(body) != expected:
        raise _broken(url, f"{'more' if len(body) > expected else len(body)} bytes for {expected}")
    return bytes(body)


def _copy(response: httpx.Response, target: BinaryIO, url: str, size: int) -> None:
    """The whole answer spooled, at most ``size`` bytes (what the index lists, or the bound on
    any wheel when it lists none): an endless answer would fill the disk."""
    copied = 0
    for chunk in raw_chunks(response, url):  # the file's bytes, as asked (identity)
        copied += len(chunk)
        if copied > size:
            raise HttpError(
                f"{url} sent more than the {size} bytes the index lists for it, or any wheel "
                "may have",
                url=url,
                status=response.status_code,
                hint="the index and its files disagree; retry, or report it to the index operator",
            )
        target.write(chunk)


class _RangeReader(io.RawIOBase):
    """Random access to a remote file of known size, fetching missing spans on demand."""

    def __init__(self, http: HttpClient, url: str, size: int, start: int, data: bytes) -> None:
        super().__init__()
        self._http = http
        self._url = url
        self._size = size
        self._position = 0
        self._segments: list[tuple[int, bytes]] = [(start, data)]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        position = self._position
        if position >= self._size or len(view) == 0:
            return 0
        start, data = self._segment(position, len(view))
        count = min(len(view), start + len(data) - position)
        view[:count] = data[position - start : position - start + count]
        self._position += count
        return count

    def _segment(self, position: int, wanted: int) -> tuple[int, bytes]:
        for start, data in self._segments:
            if start <= position < start + len(data):
                return start, data
        stop = min(self._size, position + max(wanted, CHUNK_BYTES))
        headers = {"Range": f"bytes={position}-{stop - 1}", **_IDENTITY}
        response = self._http.get(self._url, headers=headers)
        if response.status == 206:
            start, _end, total = _content_range(response.headers, self._url)
            if start != position or not response.content or total != self._size:
                raise _broken(self._url, "the wrong range, or one of a file of another size")
            segment = (position, response.content)
        else:  # the server stopped honouring ranges and sent the whole file
            segment = (0, response.content)
            if len(response.content) != self._size:  # another file: no mix of two is read
                raise HttpError(
                    f"{self._url} is {len(response.content)} bytes, not the {self._size} its "
                    "first answer said",
                    url=self._url,
                    status=response.status,
                    hint="the file changed while being read; retry",
                )
        self._segments.append(segment)
        return segment
