"""HttpClient rules over an in-memory transport: offline, credentials, retries, page cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.utils import canonicalize_name

from mlenv.index import HttpCache, HttpClient, HttpError, OfflineError, SimpleIndex
from mlenv.index import http as http_module
from mlenv.index.urls import origin, split_credentials
from mlenv.limits import LimitError
from mlenv.net.origins import UnsafeUrlError
from mlenv.redaction import redact

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A transport that answers with ``handler`` and remembers every request."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self._handler = handler

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self._handler(request)

        return httpx.MockTransport(handle)


def _client(recorder: Recorder, **kwargs: Any) -> HttpClient:
    return HttpClient(transport=recorder.transport(), sleep=recorder.sleeps.append, **kwargs)


def test_split_credentials_and_origin() -> None:
    assert split_credentials("https://u%40x:p%3Aw@host.example:8443/simple") == (
        "https://host.example:8443/simple",
        ("u@x", "p:w"),
    )
    assert split_credentials("https://host.example/simple") == ("https://host.example/simple", None)
    assert origin("HTTPS://Host.Example/x") == ("https", "host.example", 443)
    assert origin("http://host.example:8080/x") == ("http", "host.example", 8080)


def test_offline_refuses_before_any_connection() -> None:
    recorder = Recorder(lambda request: httpx.Response(200))
    client = _client(recorder, offline=True)
    with pytest.raises(OfflineError) as info:
        client.get("https://user:secret@index.example/simple/demo/")
    assert recorder.requests == []
    assert info.value.where == "https://index.example/simple/demo/"
    assert info.value.hint == "run without --offline on a connected machine"
    assert "secret" not in str(info.value)


def test_url_credentials_go_only_to_their_own_origin() -> None:
    recorder = Recorder(lambda request: httpx.Response(200, content=b"ok"))
    client = _client(recorder, netrc_path=Path("/nonexistent"))
    client.get("https://alice:s3cret@index.example/simple/")
    client.get("https://index.example/files/a.whl")
    client.get("https://files.example/a.whl")
    client.get("http://index.example/plain-http")
    sent = [r.headers.get("authorization") for r in recorder.requests]
    assert sent[0] is not None and sent[0].startswith("Basic ")
    assert sent[1] == sent[0]
    assert sent[2:] == [None, None]
    assert all("s3cret" not in str(r.url) for r in recorder.requests)


def test_authorization_does_not_follow_a_redirect_to_another_host() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "index.example":
            return httpx.Response(302, headers={"Location": "https://cdn.example/a.whl"})
        return httpx.Response(200, content=b"wheel")

    recorder = Recorder(handler)
    client = _client(recorder, netrc_path=Path("/nonexistent"))
    response = client.get("https://alice:s3cret@index.example/a.whl")
    assert response.url == "https://cdn.example/a.whl"
    assert response.content == b"wheel"
    first, second = recorder.requests
    assert "authorization" in first.headers
    assert "authorization" not in second.headers


def test_netrc_credentials_apply_per_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine index.example login bob password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    recorder = Recorder(lambda request: httpx.Response(200))
    client = _client(recorder)
    client.get("https://index.example/simple/")
    client.get("https://elsewhere.example/simple/")
    assert recorder.requests[0].headers["authorization"] == "Basic Ym9iOmh1bnRlcjI="
    assert "authorization" not in recorder.requests[1].headers


def test_retries_5xx_and_429_with_backoff_then_succeeds() -> None:
    answers = iter([503, 429, 200])
    recorder = Recorder(lambda request: httpx.Response(next(answers), headers={}))
    client = _client(recorder, retries=3, backoff=0.5)
    assert client.get("https://index.example/x").status == 200
    assert len(recorder.requests) == 3
    assert recorder.sleeps == [0.5, 1.0]


def test_retry_after_is_honoured_but_bounded() -> None:
    answers = iter([429, 200])
    recorder = Recorder(lambda r: httpx.Response(next(answers), headers={"Retry-After": "3600"}))
    client = _client(recorder)
    client.get("https://index.example/x")
    assert recorder.sleeps == [30.0]


def test_retries_are_bounded_and_the_error_names_url_status_and_hint() -> None:
    recorder = Recorder(lambda request: httpx.Response(500))
    client = _client(recorder, retries=2)
    with pytest.raises(HttpError) as info:
        client.get("https://user:pw@index.example/simple/demo/")
    assert len(recorder.requests) == 3
    assert info.value.status == 500
    assert info.value.where == "https://index.example/simple/demo/"
    assert "HTTP 500" in info.value.message
    assert info.value.hint and "try again later" in info.value.hint
    assert "pw@" not in str(info.value)


def test_connect_errors_are_retried_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    recorder = Recorder(handler)
    client = _client(recorder, retries=1)
    with pytest.raises(HttpError) as info:
        client.get("https://index.example/simple/")
    assert len(recorder.requests) == 2
    assert info.value.status is None
    assert "ConnectError" in info.value.message


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "~/.netrc"), (403, "refused access"), (404, "nothing exists there")],
)
def test_client_errors_are_not_retried_and_get_a_specific_hint(status: int, hint: str) -> None:
    recorder = Recorder(lambda request: httpx.Response(status))
    with pytest.raises(HttpError) as info:
        _client(recorder).get("https://index.example/simple/")
    assert len(recorder.requests) == 1
    assert info.value.hint and hint in info.value.hint
    assert redact(info.value.hint) == info.value.hint  # shown as written: an example, no secret


def test_redirect_loops_are_bounded() -> None:
    recorder = Recorder(lambda request: httpx.Response(302, headers={"Location": "/again"}))
    with pytest.raises(HttpError, match="more than 3 redirects"):
        _client(recorder, max_redirects=3).get("https://index.example/start")
    assert len(recorder.requests) == 4


def test_unsupported_scheme_is_a_clear_error() -> None:
    with pytest.raises(HttpError, match="only http, https and file URLs"):
        HttpClient().get("ftp://index.example/simple/")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_page_cache_respects_max_age_then_revalidates_with_etag(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"ETag": '"v1"', "Cache-Control": "max-age=60", "Content-Type": "text/html"}
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, headers=headers, content=b"<a>page</a>")

    recorder = Recorder(handler)
    clock = Clock()
    client = _client(recorder, cache=HttpCache(tmp_path, clock=clock))
    url, accept = "https://index.example/simple/demo/", {"Accept": "text/html"}
    assert not client.get(url, headers=accept, use_cache=True).from_cache
    fresh = client.get(url, headers=accept, use_cache=True)
    assert fresh.from_cache and fresh.content == b"<a>page</a>"
    assert len(recorder.requests) == 1  # within max-age: no request at all
    clock.now += 61
    stale = client.get(url, headers=accept, use_cache=True)
    assert stale.from_cache and stale.content == b"<a>page</a>"
    assert stale.headers["content-type"] == "text/html"
    assert recorder.requests[-1].headers["if-none-match"] == '"v1"'
    assert client.get(url, headers=accept, use_cache=True).from_cache
    assert len(recorder.requests) == 2  # the 304 renewed freshness
    assert (tmp_path / "http-v1").is_dir()


def test_no_store_is_not_cached_and_offline_serves_what_is_cached(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        cache_control = "no-store" if request.url.path == "/secret" else "no-cache"
        return httpx.Response(200, headers={"Cache-Control": cache_control, "ETag": '"e"'})

    recorder = Recorder(handler)
    cache = HttpCache(tmp_path)
    client = _client(recorder, cache=cache)
    client.get("https://index.example/secret", use_cache=True)
    client.get("https://index.example/page", use_cache=True)
    assert cache.load("https://index.example/secret", "") is None
    assert cache.load("https://index.example/page", "") is not None
    offline = _client(recorder, cache=cache, offline=True)
    assert offline.get("https://index.example/page", use_cache=True).from_cache
    with pytest.raises(OfflineError):
        offline.get("https://index.example/secret", use_cache=True)


def test_a_damaged_cache_entry_is_a_miss(tmp_path: Path) -> None:
    recorder = Recorder(lambda request: httpx.Response(200, headers={"ETag": '"e"'}, content=b"x"))
    cache = HttpCache(tmp_path)
    client = _client(recorder, cache=cache)
    client.get("https://index.example/page", use_cache=True)
    (entry,) = (p for p in (tmp_path / "http-v1").rglob("*") if p.is_file())
    entry.write_bytes(b"garbage without a header")
    assert not client.get("https://index.example/page", use_cache=True).from_cache


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "http://127.0.0.1:8080/a.whl",
        "//localhost/a.whl",
        "ftp://index.example/a.whl",
        " javascript:alert(1)",
    ],
)
def test_a_redirect_cannot_point_a_remote_index_at_this_machine(location: str) -> None:
    """Protects invariant 3 in the http client: a Location goes through origins.follow and a
    refused one is never requested."""
    recorder = Recorder(lambda request: httpx.Response(302, headers={"Location": location}))
    with pytest.raises(UnsafeUrlError) as info:
        _client(recorder).get("https://index.example/simple/demo/")
    assert info.value.where == "https://index.example/simple/demo/"
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    "location", ["http://index.example/simple/demo/", "HTTP://mirror.example/demo/", "http:/x"]
)
def test_an_https_index_is_never_followed_to_plain_http(location: str) -> None:
    """Protects invariant 3's downgrade rule in the http client: an https index redirecting to
    plain http (where anyone on the path could rewrite the page's hashes) is refused before
    the second request, naming the index."""
    recorder = Recorder(lambda request: httpx.Response(302, headers={"Location": location}))
    with pytest.raises(UnsafeUrlError) as info:
        _client(recorder).get("https://u:s3cret@index.example/simple/demo/")
    assert info.value.where == "https://index.example/simple/demo/"
    assert len(recorder.requests) == 1
    assert "s3cret" not in str(info.value) + (info.value.hint or "")


def test_credentials_do_not_survive_a_port_or_scheme_change() -> None:
    """Protects invariant 5 across redirects: another port, and http -> https on the same host,
    are other origins, so neither hop gets the Authorization header."""
    hops = iter(["https://index.example:8443/a", "https://index.example/b"])

    def handler(request: httpx.Request) -> httpx.Response:
        nxt = next(hops, None)
        return httpx.Response(302, headers={"Location": nxt}) if nxt else httpx.Response(200)

    recorder = Recorder(handler)
    _client(recorder, netrc_path=Path("/nonexistent")).get("http://u:s3cret@index.example/x")
    assert [("authorization" in r.headers) for r in recorder.requests] == [True, False, False]


def test_netrc_credentials_never_go_out_in_clear_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects invariant 5 for netrc (which names a host, not a scheme): an http index on a
    host netrc names for https does not get them; plain http to loopback still does."""
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine index.example login bob password hunter2\n"
        "machine 127.0.0.1 login bob password hunter2\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    recorder = Recorder(lambda request: httpx.Response(200))
    _client(recorder).get("https://index.example/x")
    _client(recorder).get("http://index.example/x")
    _client(recorder).get("http://127.0.0.1:8080/x")
    assert [("authorization" in r.headers) for r in recorder.requests] == [True, False, True]


def test_a_body_past_the_limit_is_refused_while_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects invariant 7: a page body (declared or streamed, after decompression) larger
    than MAX_BODY_BYTES is refused naming the URL, not read into memory whole."""
    monkeypatch.setattr(http_module, "MAX_BODY_BYTES", 1000)
    chunks = (b"x" * 100 for _ in range(10**6))  # 100 MB if read to the end
    recorder = Recorder(lambda request: httpx.Response(200, content=chunks))
    with pytest.raises(LimitError) as info:
        _client(recorder).get("https://index.example/simple/demo/")
    assert info.value.where == "https://index.example/simple/demo/"
    assert next(chunks)  # most of the stream was never consumed
    declared = Recorder(lambda request: httpx.Response(200, headers={"Content-Length": "5000"}))
    with pytest.raises(LimitError, match="more than 1,000"):
        _client(declared).get("https://index.example/simple/other/")


@pytest.mark.parametrize(
    ("index", "page"),
    [
        ("https://index.example/simple?key=K", "https://index.example/simple/demo/?key=K"),
        ("https://index.example/simple/?key=K#top", "https://index.example/simple/demo/?key=K"),
        ("https://index.example/simple/#top", "https://index.example/simple/demo/"),
        ("https://index.example/simple", "https://index.example/simple/demo/"),
    ],
)
def test_a_project_page_is_a_path_below_the_index_whatever_its_query(index: str, page: str) -> None:
    """A query on the index URL (a private index's ``?key=``) stays the page's query, and the
    project's name a path segment: joined as text, the name went into the query and the index
    root was read as the project's page; the fragment is never part of a request."""
    page_html = b'<a href="demo-1.0-py3-none-any.whl#sha256=' + b"0" * 64 + b'">w</a>'
    recorder = Recorder(lambda request: httpx.Response(200, content=page_html))
    simple = SimpleIndex(index, http=_client(recorder))
    (found,) = simple.files(canonicalize_name("demo"))
    assert [str(r.url) for r in recorder.requests] == [page]
    assert found.url.startswith("https://index.example/simple/demo/demo-1.0-py3-none-any.whl")
