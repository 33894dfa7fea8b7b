"""Adversary pass 50: the HTTP answers real servers, proxies and CDNs give, from a loopback
server.

httpx decodes whatever ``Content-Encoding`` an answer names, whatever was asked for: a wheel
a proxy compressed anyway (mlenv asks for ``identity``) was stored and hashed as the decoded
bytes, not the file's; a zstd page of 16 KiB was inflated to a gigabyte in one step before the
64 MiB bound could count it (httpx asked for zstd on mlenv's behalf); and the first answer to a
range request was read whole, however long or however compressed."""

from __future__ import annotations

import gzip
import hashlib
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import zstandard
from packaging.utils import canonicalize_name

from mlenv.cache.artifacts import Artifact, ArtifactCache, IntegrityError
from mlenv.cache.download import fetch
from mlenv.errors import MlenvError
from mlenv.index.bodies import read_bounded
from mlenv.index.http import HttpClient, HttpError
from mlenv.index.model import IndexPageError
from mlenv.index.pages import parse_page
from mlenv.index.remote import SimpleIndex
from mlenv.index.wheelmeta import open_remote_zip
from mlenv.report import MemoryReporter
from tests.support.httpserver import Fault, IndexServer

WHEEL = b"PK\x03\x04" + bytes(range(256)) * 64
MiB = 1 << 20


def _serve(server: IndexServer, path: str, body: bytes, status: int = 200, **headers: str) -> str:
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    server.fault(path, Fault(status=status, body=body, headers=named, times=None))
    return server.url + path


def _peak(action: Callable[[], object]) -> tuple[BaseException | None, int]:
    """What ``action()`` raised (or None) and the peak of Python memory it took."""
    tracemalloc.start()
    try:
        try:
            action()
        except BaseException as exc:  # the caller judges it
            return exc, tracemalloc.get_traced_memory()[1]
        return None, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_wheel_compressed_against_identity_is_stored_as_the_bytes_served(
    server: IndexServer, http: HttpClient, tmp_path: Path
) -> None:
    """Invariant 1: what is stored and hashed is the bytes of the file. A server answering a
    ``.tar.gz``-style file with ``Content-Encoding: gzip`` (Apache's AddEncoding) serves the
    file's bytes; httpx inflated them, so the cache got other bytes than the index hashed."""
    served = gzip.compress(WHEEL)
    url = _serve(server, "/a-1.0-py3-none-any.whl", served, Content_Encoding="gzip")
    cache = ArtifactCache(tmp_path / "cache")
    artifact = Artifact("a", url, hashlib.sha256(served).hexdigest(), len(served))
    fetch([artifact], cache, http, reporter=MemoryReporter(), attempts=1)
    assert cache.path(artifact.sha256).read_bytes() == served
    assert server.requests_for("/a-1.0-py3-none-any.whl")[0].headers["accept-encoding"] == (
        "identity"
    )
    # The decoded bytes' hash is not the file's: a mismatch, never a quiet decode.
    decoded = Artifact("b", url, hashlib.sha256(WHEEL).hexdigest(), len(WHEEL))
    with pytest.raises(IntegrityError):
        fetch([decoded], cache, http, reporter=MemoryReporter(), attempts=1)
    assert not cache.has(decoded)


def test_pages_ask_only_for_encodings_mlenv_inflates_in_bounded_steps(
    server: IndexServer, http: HttpClient
) -> None:
    url = _serve(server, "/simple/a/", b"<html></html>", Content_Type="text/html")
    http.get(url)
    assert server.requests_for("/simple/a/")[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    "coding, pack",
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # RFC 9110's deflate: zlib
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # what some servers send: bare
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-bare"],
)
def test_a_compressed_page_is_still_read(
    server: IndexServer, http: HttpClient, coding: str, pack: Callable[[bytes], bytes]
) -> None:
    page = b'<html><a href="a-1.0.tar.gz">a</a>' + b"x" * 300_000 + b"</html>"
    url = _serve(server, "/simple/a/", pack(page), Content_Encoding=coding)
    assert http.get(url).content == page


def test_a_zstd_bomb_page_is_refused_before_it_is_inflated(
    server: IndexServer, http: HttpClient
) -> None:
    """Invariant 7: 16 KiB of zstd stood for 512 MiB, inflated whole in one httpx step (1 GiB
    of peak memory) before the 64 MiB bound saw it. An encoding mlenv did not ask for is now a
    clear error naming the URL, with nothing inflated."""
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (512 * MiB))
    url = _serve(server, "/simple/z/", bomb, Content_Encoding="zstd")
    caught, peak = _peak(lambda: http.get(url))
    assert isinstance(caught, HttpError), caught
    assert url in caught.where and "zstd" in caught.message and caught.hint
    assert peak < 16 * MiB


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_gzip_bomb_page_stops_at_the_bound_in_bounded_memory(
    server: IndexServer, http: HttpClient, coding: str
) -> None:
    pack = gzip.compress if coding == "gzip" else zlib.compress
    url = _serve(server, "/simple/g/", pack(b"\0" * (256 * MiB)), Content_Encoding=coding)
    caught, peak = _peak(lambda: http.get(url))
    assert isinstance(caught, MlenvError) and "bytes in the answer" in caught.message
    assert peak < 200 * MiB  # the 64 MiB body, grown by doubling: never the 256 MiB


def test_a_damaged_gzip_page_is_a_clear_error(server: IndexServer, http: HttpClient) -> None:
    url = _serve(server, "/simple/d/", b"\x1f\x8b\x08garbage", Content_Encoding="gzip")
    with pytest.raises(HttpError, match="damaged"):
        http.get(url)


def test_a_compressed_range_answer_is_refused_not_read_whole(
    server: IndexServer, http: HttpClient
) -> None:
    """The first range answer was ``response.read()``: httpx inflated a 256 KiB gzip to 256
    MiB in memory. A range of an ``identity`` file that comes compressed is refused."""
    bomb = gzip.compress(b"\0" * (256 * MiB))
    url = _serve(
        server, "/r.whl", bomb, status=206, Content_Encoding="gzip", Content_Range="bytes 0-99/100"
    )
    caught, peak = _peak(lambda: open_remote_zip(http, url).__enter__())
    assert isinstance(caught, HttpError) and "Content-Encoding" in caught.message, caught
    assert peak < 16 * MiB


@pytest.mark.parametrize(
    "content_range, body",
    [
        ("bytes 0-99/100", b"a" * (64 * MiB)),  # a body far past the range it names
        ("bytes 0-99999999/100000000", b"a" * (64 * MiB)),  # a range far past the one asked
        ("bytes 0-99/100", b"a" * 50),  # shorter than it names
    ],
    ids=["longer-body", "longer-range", "shorter-body"],
)
def test_a_range_answer_of_the_wrong_length_is_refused_in_bounded_memory(
    server: IndexServer, http: HttpClient, content_range: str, body: bytes
) -> None:
    url = _serve(server, "/r.whl", body, status=206, Content_Range=content_range)
    caught, peak = _peak(lambda: open_remote_zip(http, url).__enter__())
    assert isinstance(caught, HttpError) and caught.status == 206, caught
    assert url in caught.where
    assert peak < 16 * MiB


@pytest.mark.parametrize(
    "status, location",
    [(302, None), (301, ""), (300, "/elsewhere"), (304, None)],
    ids=["302-no-location", "301-empty-location", "300-multiple-choices", "304-unasked"],
)
def test_a_3xx_that_cannot_be_followed_is_no_page_metadata_or_wheel(
    server: IndexServer, http: HttpClient, status: int, location: str | None
) -> None:
    """A redirect without a usable Location (or a 300, or a 304 to a request that sent no
    validators) passed the status check as a success: its empty body was a page with no files,
    an empty ``.metadata`` (a distribution without dependencies) or a wheel of 0 bytes. It is
    an error naming the URL and the status."""
    headers = {} if location is None else {"Location": location}
    for path in ("/simple/a/", "/a-1.0-py3-none-any.whl.metadata"):
        server.fault(path, Fault(status=status, headers=headers, times=None))
        with pytest.raises(HttpError) as caught:
            http.get(server.url + path)
        assert caught.value.status == status and server.url + path in caught.value.where
        assert caught.value.hint
    server.fault("/a.whl", Fault(status=status, headers=headers, times=None))
    with pytest.raises(HttpError) as opened, http.open(server.url + "/a.whl") as stream:
        stream.read()
    assert opened.value.status == status


@pytest.mark.parametrize("charset", ["undefined", "punycode", "unicode-escape", "UTF7", "idna"])
def test_a_page_in_a_python_only_charset_is_a_clear_error_at_once(
    server: IndexServer, http: HttpClient, charset: str
) -> None:
    """``charset=undefined`` (or punycode on a page that is not punycode) let a bare
    UnicodeError out of the page parser: an internal error, not one naming the page. And
    punycode decodes in quadratic time: 320 KB took ~8 s, a few MB minutes."""
    page = b'<html><a href="a-1.0.tar.gz">' + b"a" * 160_000 + b"-" + b"b" * 160_000 + b"</a>"
    _serve(server, "/simple/a/", page, Content_Type=f"text/html; charset={charset}")
    index = SimpleIndex(server.url + "/simple", http=http)
    started = time.monotonic()
    with pytest.raises(IndexPageError) as caught:
        index.files(canonicalize_name("a"))
    assert time.monotonic() - started < 3
    assert "/simple/a/" in caught.value.where and charset in caught.value.message


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("text/html; charset=latin-1", b'<a href="caf\xe9-1.0.tar.gz">x</a>'),
        ('text/html; charset="ISO-8859-1"', b'<a href="caf\xe9-1.0.tar.gz">x</a>'),
        ("text/html", b'\xef\xbb\xbf<a href="caf\xc3\xa9-1.0.tar.gz">x</a>'),  # a BOM
        ("text/html", b'<base href="/files/"><a href="caf\xc3\xa9-1.0.tar.gz">x</a>'),
    ],
    ids=["latin-1", "quoted-iso-8859-1", "utf-8-bom", "base-href"],
)
def test_pages_in_real_charsets_and_with_a_base_href_are_read(
    server: IndexServer, http: HttpClient, content_type: str, body: bytes
) -> None:
    _serve(server, "/simple/cafe/", body, Content_Type=content_type)
    page = http.get(server.url + "/simple/cafe/")
    links = parse_page(page.content, page.headers.get("content-type"), page.url)
    assert [link.filename for link in links] == ["caf\u00e9-1.0.tar.gz"]
    if b"<base" in body:
        assert links[0].url.startswith(server.url + "/files/")


def test_a_server_ignoring_ranges_sends_at_most_the_size_the_index_lists(
    server: IndexServer, http: HttpClient
) -> None:
    """A server that answers the range request with 200 gets its whole answer spooled to a
    temporary file: an endless one filled the disk. Past the size the index lists (PEP 700)
    it is refused, naming the URL."""
    url = _serve(server, "/big.whl", b"PK" + b"\0" * (8 * MiB))
    with (
        pytest.raises(HttpError, match="more than the 1000 bytes") as caught,
        open_remote_zip(http, url, 1000),
    ):
        pass
    assert caught.value.where == url
    assert server.requests_for("/big.whl")[0].headers["range"] == "bytes=-65536"
    with open_remote_zip(http, url, 8 * MiB + 2) as whole:  # as large as listed: read
        assert whole.read(2) == b"PK"


def test_a_part_of_a_page_nobody_asked_for_is_no_page(
    server: IndexServer, http: HttpClient
) -> None:
    """A 206 to a request without ``Range`` (a CDN serving a cached part) passed as the page:
    a listing cut short, files missing without a word. It is an error naming the URL; a 206
    that a range request asked for is still read."""
    url = _serve(
        server, "/simple/a/", b'<a href="a-1.0.tar.gz">', status=206, Content_Range="bytes 0-22/900"
    )
    with pytest.raises(HttpError) as caught:
        http.get(url)
    assert caught.value.status == 206 and caught.value.where == url and caught.value.hint
    assert http.get(url, headers={"Range": "bytes=0-22"}).status == 206


class _Dribble(httpx.SyncByteStream):
    """A body that arrives a byte at a time, as a slow server or proxy may send it."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        for index in range(len(self._data)):
            yield self._data[index : index + 1]


@pytest.mark.parametrize(
    "deflate", [zlib.compress, lambda data: zlib.compress(data)[2:-4]], ids=["zlib", "bare"]
)
def test_a_deflate_body_that_comes_a_byte_at_a_time_is_read_whole(
    deflate: Callable[[bytes], bytes],
) -> None:
    """Which deflate stream a body is (zlib or bare) is judged on its first two bytes, not on
    its first chunk: a one-byte first chunk was taken for a bare stream."""
    page = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    response = httpx.Response(
        200, headers={"content-encoding": "deflate"}, stream=_Dribble(deflate(page))
    )
    assert read_bounded(response, "https://h/simple/a/") == page


@pytest.mark.parametrize(
    "encode",
    [gzip.compress, zlib.compress, lambda data: zlib.compress(data)[2:-4]],
    ids=["gzip", "deflate-zlib", "deflate-bare"],
)
def test_a_compressed_page_cut_short_is_refused_not_read_as_a_shorter_page(
    encode: Callable[[bytes], bytes],
) -> None:
    """Inflated without a check of the stream's end, a page cut mid-body (a connection a
    proxy closed) was read as a shorter listing, its later links gone without a word."""
    page = b"<html><body>" + bytes(range(256)) * 400 + b"</body></html>"
    cut = encode(page)[: len(encode(page)) // 2]
    coding = "gzip" if encode is gzip.compress else "deflate"
    response = httpx.Response(200, headers={"content-encoding": coding}, stream=_Dribble(cut))
    with pytest.raises(HttpError, match="damaged"):
        read_bounded(response, "https://h/simple/a/")
