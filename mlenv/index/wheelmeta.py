"""Core metadata from inside a wheel, reading as little of it as possible.

A wheel is a zip: its central directory sits at the end, so over HTTP a suffix ``Range`` request
plus one more for the ``METADATA`` member is usually all it takes, even for a 2 GB CUDA wheel.
Servers that ignore ranges get a full streamed download into a temporary file instead.
"""

from __future__ import annotations

import io
import lzma
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, BinaryIO

from mlenv.errors import MlenvError
from mlenv.index.bodies import raw_chunks
from mlenv.index.http import HttpClient, HttpError
from mlenv.index.model import IndexFile, MetadataError
from mlenv.index.plain_zip import MAX_METADATA_BYTES, dist_info_name, plain_metadata_member
from mlenv.index.urls import file_url_to_path, is_file_url
from mlenv.lazy_pattern import LazyPattern
from mlenv.limits import MAX_WHEEL_BYTES
from mlenv.userfiles import open_input

if TYPE_CHECKING:
    import httpx
    from _typeshed import WriteableBuffer

TAIL_BYTES = 64 * 1024  # first request: enough for the central directory of most wheels
CHUNK_BYTES = 64 * 1024  # smallest later request, so zipfile's small reads do not each cost a trip
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
    fast = plain_metadata_member(handle, file)
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
            own = [i for i in candidates if dist_info_name(i.filename) == file.name]
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
