"""Response bodies read the way mlenv means them, never httpx's decoding.

httpx decodes whatever ``Content-Encoding`` a server names, whatever was asked for, and a
zstd frame of 16 KiB comes out of one ``decode`` call as a gigabyte: a bound counted after
httpx's decoding is counted too late. So a file mlenv stores or reads by byte ranges is read
raw (it asked for ``identity``: the bytes are the file's, as pip reads them), and a page or
``.metadata`` answer is inflated here, 64 KiB at a step, so the count stops a bomb early.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlenv.errors import printable
from mlenv.limits import MAX_BODY_BYTES, enforce

if TYPE_CHECKING:
    import httpx
    from _typeshed import WriteableBuffer

# What a page or .metadata request accepts: what this module can inflate in bounded steps.
ACCEPT_ENCODING = "gzip, deflate"
_STEP = 1 << 16


def raw_chunks(response: httpx.Response, url: str) -> Iterator[bytes]:
    """The body's bytes as they came over the wire, transfer errors as ``HttpError``s."""
    import httpx

    from mlenv.index.http import transfer_error

    try:
        stream = response.stream
        if response.is_stream_consumed and isinstance(stream, httpx.SyncByteStream):
            yield from stream  # built whole (a MockTransport's): still the raw bytes
        else:
            yield from response.iter_raw()
    except httpx.HTTPError as exc:
        raise transfer_error(url, exc) from None


def encoding(response: httpx.Response) -> str:
    coding: str = response.headers.get("content-encoding", "")
    return coding.strip().lower()


def read_bounded(response: httpx.Response, url: str, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole decoded body, refused past ``limit`` bytes counted while streaming and after
    each bounded inflating step: an endless answer or a compression bomb stops early."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit():
        enforce(int(declared), limit, "bytes in the answer", where=url)
    body = bytearray()
    for chunk in _decoded(response, url):
        body += chunk
        enforce(len(body), limit, "bytes in the answer", where=url)
    return bytes(body)


def _decoded(response: httpx.Response, url: str) -> Iterator[bytes]:
    coding = encoding(response)
    if coding in ("", "identity"):
        yield from raw_chunks(response, url)
        return
    if coding not in ("gzip", "x-gzip", "deflate"):
        from mlenv.index.http import HttpError

        raise HttpError(
            f"{url} answered in an encoding mlenv did not ask for: {printable(coding, 40)}",
            url=url,
            status=response.status_code,
            hint=f"mlenv asks for Accept-Encoding: {ACCEPT_ENCODING}; the server or a proxy "
            "in between ignores it",
        )
    # gzip or zlib by the header; a bare deflate stream (some servers' "deflate") otherwise
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
    head: bytes | None = (
        b""  # a "deflate" body's first two bytes say which stream it is, however it comes
    )
    try:
        for piece in raw_chunks(response, url):
            chunk = piece
            if coding == "deflate" and head is not None:
                head += piece
                if len(head) < 2:
                    continue
                if not _zlib_header(head):
                    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                chunk, head = head, None
            # at most 64 KiB out per step: a bomb meets the count early. Bytes after the
            # stream's end are not fed on: at the end zlib keeps them as the unconsumed tail
            # and gives nothing for them, forever (a second gzip member spun mlenv's CPU).
            while chunk and not inflate.eof:
                yield inflate.decompress(chunk, _STEP)
                chunk = inflate.unconsumed_tail
        if head:  # a body of one byte
            yield inflate.decompress(head, _STEP)
        yield inflate.flush()
        if not inflate.eof:  # cut short: a page missing its later links is no page
            raise zlib.error("the stream ends before its last block")
    except zlib.error as error:
        from mlenv.index.http import HttpError

        raise HttpError(
            f"{url}: the {coding} answer is damaged: {error}",
            url=url,
            status=response.status_code,
            hint="the answer broke off or a proxy mangled it; retry",
        ) from None


def _zlib_header(start: bytes) -> bool:
    """Whether a "deflate" body opens with a zlib header (RFC 1950), not a bare stream."""
    return len(start) >= 2 and start[0] & 0x0F == 8 and (start[0] << 8 | start[1]) % 31 == 0


class ResponseReader(io.RawIOBase):
    """A streaming response body as a raw file (``raw_chunks``), for code that wants ``read()``:
    a download into the cache, a registry blob."""

    def __init__(self, response: httpx.Response, url: str) -> None:
        super().__init__()
        self._chunks = raw_chunks(response, url)  # the file's bytes, never httpx's decoding
        self._url = url
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count
