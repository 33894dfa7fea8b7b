"""Attack 82: the merged HTTP layer, proxy x deadline: ``mlenv.net.proxy``'s router over
``mlenv.net.exchange``'s deadline transports.

Hostile proxies and origins (tests/support/drip.py) drip the CONNECT answer, the TLS handshake
or the headers inside a tunnel, also inside an https:// proxy's own TLS (TLS in TLS, where
httpcore gave each socket read the whole timeout: an origin dripping its handshake held mlenv
forever); an https:// proxy signed by the site CA of ``MLENV_CA_BUNDLE`` is trusted as an index
signed by it is; a slow origin does not hold the other threads sharing the router.
"""

from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest

from mlenv.limits import DEADLINE_ENV
from mlenv.net.exchange import ExchangeTimeout
from mlenv.net.proxy import ProxyRouter
from mlenv.net.tls import certificate_hint, ssl_context
from tests.support.cli import run_mlenv
from tests.support.drip import DripServer, Script, answer, drip, read_request, tls_dripped, tunnel
from tests.support.siteca import SiteCA, make_ca

DEADLINE = 1.0  # seconds
SLACK = 1.5  # what the deadline may be overrun by on a loaded machine
HOST = "pkgs.example"  # reached only through the proxy
SECRET = "pr0xy-s3cret"


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[SiteCA, SiteCA]:
    """The site CA (trusted through MLENV_CA_BUNDLE) and a stranger's."""
    tmp = tmp_path_factory.mktemp("a82")
    return make_ca(tmp / "site", dns_names=(HOST,)), make_ca(tmp / "other", dns_names=(HOST,))


@pytest.fixture(autouse=True)
def deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEADLINE_ENV, str(DEADLINE))


def _server_context(ca: SiteCA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.certificate, ca.key)
    return context


def _serving(context: ssl.SSLContext, body: bytes = b"hello") -> Script:
    """A TLS origin answering every request of a keep-alive connection."""

    def script(sock: socket.socket) -> None:
        with context.wrap_socket(sock, server_side=True) as tls:
            while read_request(tls):
                tls.sendall(answer(body))

    return script


def _headers_dripped(context: ssl.SSLContext, raw: bool = False) -> Script:
    """A TLS origin dripping its headers a byte a record, or (``raw``) the bytes of whole TLS
    records a byte at a time: no record is ever whole until the last byte."""

    def script(sock: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        while True:  # the handshake at full speed
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536))
        sock.sendall(outgoing.read())
        while b"\r\n\r\n" not in tls_read(tls, incoming, sock):
            pass
        head = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: abcdefgh\r\n" * 5000
        if raw:
            tls.write(head)
            drip(sock, outgoing.read(), 0.05)
            return
        for index in range(len(head)):
            tls.write(head[index : index + 1])
            sock.sendall(outgoing.read())
            time.sleep(0.05)

    return script


def tls_read(tls: ssl.SSLObject, incoming: ssl.MemoryBIO, sock: socket.socket) -> bytes:
    while True:
        try:
            return tls.read(65536)
        except ssl.SSLWantReadError:
            incoming.write(sock.recv(65536))


def _client(site: SiteCA, proxy: str) -> httpx.Client:
    trust = ssl_context({"MLENV_CA_BUNDLE": str(site.ca)})  # as the CLI builds it
    router = ProxyRouter(trust, {"HTTPS_PROXY": proxy, "NO_PROXY": ""})
    return httpx.Client(transport=router, trust_env=False, timeout=httpx.Timeout(30, connect=10))


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    """How long ``call`` took and what it gave or raised; a call still running well past the
    deadline is left to its daemon thread, so a regression fails instead of hanging the suite."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as error:  # what the caller asserts on
            outcome.append(error)

    start = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(DEADLINE + SLACK + 5)
    return time.monotonic() - start, outcome[0] if outcome else "still waiting"


@pytest.fixture
def https_proxy_to(
    cas: tuple[SiteCA, SiteCA],
) -> Iterator[Callable[[Script], str]]:
    """An https:// proxy signed by the site CA, tunnelling to an origin running ``script``."""
    site = cas[0]
    servers: list[DripServer] = []

    def start(script: Script) -> str:
        origin = DripServer(script).__enter__()
        proxy = DripServer(tunnel(origin.port, tls=_server_context(site))).__enter__()
        servers.extend((origin, proxy))
        return f"https://corp:{SECRET}@127.0.0.1:{proxy.port}"

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_an_https_proxy_signed_by_the_site_ca_is_trusted(
    cas: tuple[SiteCA, SiteCA], https_proxy_to: Callable[[Script], str]
) -> None:
    """MLENV_CA_BUNDLE's CA signs the proxy: the request goes through (httpcore verified the
    proxy with certifi alone: CERTIFICATE_VERIFY_FAILED whatever the user configured)."""
    site, _ = cas
    proxy = https_proxy_to(_serving(_server_context(site)))
    with _client(site, proxy) as client:
        response = client.get(f"https://{HOST}:1/simple/")
    assert response.status_code == 200 and response.text == "hello"


def test_an_untrusted_https_proxy_is_refused_with_the_ca_hint(
    cas: tuple[SiteCA, SiteCA], https_proxy_to: Callable[[Script], str]
) -> None:
    site, other = cas
    proxy = https_proxy_to(_serving(_server_context(site)))
    with _client(other, proxy) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(f"https://{HOST}:1/simple/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) and certificate_hint(caught.value)
    assert "via proxy https://***@127.0.0.1:" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_tls_inside_an_https_proxy_still_verifies_the_origin_by_its_name(
    cas: tuple[SiteCA, SiteCA], https_proxy_to: Callable[[Script], str]
) -> None:
    site, other = cas
    stranger = https_proxy_to(_serving(_server_context(other)))  # origin not signed by site
    with _client(site, stranger) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get(f"https://{HOST}:1/simple/")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) and certificate_hint(caught.value)
    proxy = https_proxy_to(_serving(_server_context(site)))
    with _client(site, proxy) as client, pytest.raises(httpx.ConnectError) as caught:
        client.get("https://wrong.example:1/simple/")  # the name checked is the origin's
    assert "wrong.example" in str(caught.value)


def test_several_requests_share_one_tunnel_inside_an_https_proxy(
    cas: tuple[SiteCA, SiteCA],
) -> None:
    site, _ = cas
    with DripServer(_serving(_server_context(site), b"x" * 70000)) as origin:
        script = tunnel(origin.port, tls=_server_context(site))
        with DripServer(script) as proxy, _client(site, f"https://127.0.0.1:{proxy.port}") as c:
            bodies = [c.get(f"https://{HOST}:1/{n}").content for n in range(5)]
    assert bodies == [b"x" * 70000] * 5
    assert (proxy.connections, origin.connections) == (1, 1)


@pytest.mark.parametrize("stall", ["handshake", "headers", "records"])
def test_an_origin_dripping_inside_an_https_proxy_meets_the_deadline(
    cas: tuple[SiteCA, SiteCA], https_proxy_to: Callable[[Script], str], stall: str
) -> None:
    """The origin drips its TLS handshake or its headers through the https:// proxy's TLS:
    httpcore's TLS in TLS gave every read the whole timeout, so this never ended."""
    site, _ = cas
    context = _server_context(site)
    script = (
        tls_dripped(context, 0.05)
        if stall == "handshake"
        else _headers_dripped(context, raw=stall == "records")
    )
    proxy = https_proxy_to(script)
    with _client(site, proxy) as client:
        took, error = _timed(lambda: client.get(f"https://{HOST}:1/simple/"))
    assert isinstance(error, ExchangeTimeout), error
    assert DEADLINE <= took < DEADLINE + SLACK, took
    steps = {"handshake": "TLS handshake", "headers": "headers", "records": "status line"}
    assert f"stalled in the {steps[stall]}" in error.message
    assert error.where == f"https://{HOST}:1/simple/" and SECRET not in str(error)


@pytest.mark.parametrize("tls", [False, True])
def test_a_proxy_dripping_its_connect_answer_meets_the_deadline(
    cas: tuple[SiteCA, SiteCA], tls: bool
) -> None:
    site, _ = cas
    reply = b"HTTP/1.1 200 Connection established\r\n" + b"X-Pad: y\r\n" * 5000
    script = tunnel(1, tls=_server_context(site) if tls else None, reply=reply)
    with DripServer(script) as proxy:
        scheme, port = "https" if tls else "http", proxy.port
        url = f"{scheme}://corp:{SECRET}@127.0.0.1:{port}"
        with _client(site, url) as client:
            took, error = _timed(lambda: client.get(f"https://{HOST}:1/simple/"))
    assert isinstance(error, ExchangeTimeout), error
    assert DEADLINE <= took < DEADLINE + SLACK, took
    assert f"via proxy {scheme}://***@127.0.0.1:{port}" in error.message
    assert SECRET not in str(error) and base64.b64encode(SECRET.encode()).decode() not in str(error)


def test_a_slow_origin_does_not_hold_the_threads_sharing_the_router(
    cas: tuple[SiteCA, SiteCA],
) -> None:
    """fetch's threads share one router: one origin stalling inside its tunnel ends at its own
    deadline while the others' requests, begun later, finish at once."""
    site, _ = cas
    context = _server_context(site)
    with DripServer(_serving(context)) as fast, DripServer(_headers_dripped(context)) as slow:
        ports = {"fast": fast.port, "slow": slow.port}

        def route(sock: socket.socket) -> None:  # the proxy tunnels by the CONNECT's port
            head = read_request(sock)
            target = head.split(b" ")[1].decode().rpartition(":")[2]
            port = ports["slow"] if target == "2" else ports["fast"]
            with socket.create_connection(("127.0.0.1", port)) as upstream:
                sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pipe(sock, upstream)

        with (
            DripServer(route) as proxy,
            _client(site, f"http://127.0.0.1:{proxy.port}") as c,
            ThreadPoolExecutor(4) as pool,
        ):
            stalled = pool.submit(_timed, lambda: c.get(f"https://{HOST}:2/slow"))
            time.sleep(DEADLINE / 2)  # the slow one's deadline is half gone
            quick = [pool.submit(_timed, partial(c.get, f"https://{HOST}:1/{n}")) for n in range(6)]
            answers = [future.result() for future in quick]
            slow_took, slow_error = stalled.result()
    assert all(isinstance(r, httpx.Response) and r.text == "hello" for _, r in answers)
    assert max(took for took, _ in answers) < DEADLINE / 2, answers
    assert isinstance(slow_error, ExchangeTimeout), slow_error
    assert DEADLINE <= slow_took < DEADLINE + SLACK, slow_took


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    done = threading.Event()

    def copy(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        done.set()

    threading.Thread(target=copy, args=(upstream, client), daemon=True).start()
    copy(client, upstream)
    done.wait(10)


def test_a_socks_proxy_is_an_error_naming_it_never_an_internal_error(tmp_path: Path) -> None:
    """ALL_PROXY=socks5://...: without socksio httpcore raises RuntimeError, which escaped as
    "internal error" (exit 2); with it, nobody listens at port 9. Either way a located error."""
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "p"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "https://{HOST}/simple"\ndependencies = ["lib"]\n'
    )
    env = {
        "ALL_PROXY": f"socks5://corp:{SECRET}@127.0.0.1:9",
        **dict.fromkeys(("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "all_proxy"), ""),
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "NETRC": str(tmp_path / "no-netrc"),
    }
    result = run_mlenv(["lock"], tmp_path, env)
    assert result.returncode == 1, result.stderr
    assert "via proxy socks5://***@127.0.0.1:9" in result.stderr, result.stderr
    assert "internal error" not in result.stderr and SECRET not in result.stderr


def test_an_origin_closing_inside_an_https_proxy_is_a_disconnect(
    cas: tuple[SiteCA, SiteCA], https_proxy_to: Callable[[Script], str]
) -> None:
    """The origin hangs up (no close_notify) before any answer: the end of the stream, as over
    a direct TLS socket: "Server disconnected" (RemoteProtocolError, retried as a drop)."""
    site, _ = cas

    def closes(sock: socket.socket) -> None:
        with _server_context(site).wrap_socket(sock, server_side=True) as tls:
            read_request(tls)  # and the socket closes

    with (
        _client(site, https_proxy_to(closes)) as client,
        pytest.raises(httpx.RemoteProtocolError, match="disconnected"),
    ):
        client.get(f"https://{HOST}:1/simple/")
