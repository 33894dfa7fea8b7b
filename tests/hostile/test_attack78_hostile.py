"""Attack 78: a server that drips what comes before the body.

httpx's read timeout bounds each socket read, so an index or registry that sends its status
line, its headers or its TLS handshake a byte every few hundredths of a second was bounded by
nothing but httpcore's 100 KiB header limit: days. Every exchange mlenv makes now ends within
``$MLENV_DOWNLOAD_SECONDS`` (``mlenv.net.exchange``), whatever the pacing; a well-behaved server on
a reused connection is not hurried by it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import time
from pathlib import Path

import pytest

from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.cache.download import UrlOpener, fetch
from mlenv.index.http import HttpClient
from mlenv.limits import DEADLINE_ENV
from mlenv.net.exchange import ExchangeTimeout
from mlenv.net.origins import LocalRoots
from mlenv.oci.registry import reader
from mlenv.report import QuietReporter
from tests.support.cli import run_mlenv
from tests.support.drip import DripServer, Script, answer, drip, read_request, tls_dripped
from tests.support.siteca import make_ca

DEADLINE = 0.6  # seconds, set through the environment as a user would
PAUSE = 0.05  # seconds between bytes: each read returns long before the read timeout
ENDLESS_HEADERS = b"".join(b"X-Pad-%d: abcdefgh\r\n" % n for n in range(5000))


def status_line_dripped(sock: socket.socket) -> None:
    read_request(sock)
    drip(sock, b"HTTP/1.1 200 OK\r\n" + ENDLESS_HEADERS, PAUSE)


def headers_dripped(sock: socket.socket) -> None:
    read_request(sock)
    sock.sendall(b"HTTP/1.1 200 OK\r\n")
    drip(sock, ENDLESS_HEADERS, PAUSE)


def silent(sock: socket.socket) -> None:
    read_request(sock)
    time.sleep(30)


def silent_before_accepting_tls(sock: socket.socket) -> None:
    time.sleep(30)  # the client's hello is never answered


def tls_script(tmp_path: Path) -> Script:
    ca = make_ca(tmp_path / "ca")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca.certificate, ca.key)
    return tls_dripped(context, PAUSE)


@pytest.fixture
def short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEADLINE_ENV, str(DEADLINE))


SHAPES = {
    "status line": (status_line_dripped, "http", "the status line"),
    "headers": (headers_dripped, "http", "the headers"),
    "silence": (silent, "http", "the status line"),
    "tls handshake": (None, "https", "the TLS handshake"),
    "silent tls": (silent_before_accepting_tls, "https", "the TLS handshake"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.usefixtures("short")
def test_an_index_page_dripped_before_its_body_meets_the_deadline(
    shape: str, tmp_path: Path
) -> None:
    """Attack 78: each shape fails at the deadline (not the 30 s read timeout, not days),
    naming the URL and what stalled, and is not asked again (a stalling server)."""
    script, scheme, step = SHAPES[shape]
    with DripServer(script or tls_script(tmp_path)) as server:
        url = f"{scheme}://127.0.0.1:{server.port}/simple/pkg/"
        start = time.monotonic()
        client = HttpClient(read_timeout=30.0, connect_timeout=30.0)
        with client, pytest.raises(ExchangeTimeout) as caught:
            client.get(url)
        seconds = time.monotonic() - start
        connections = server.connections
    assert DEADLINE * 0.9 <= seconds < DEADLINE + 2, seconds
    assert caught.value.where == url
    assert step in caught.value.message and "0.6 s" in caught.value.message
    assert DEADLINE_ENV in (caught.value.hint or "")
    assert connections == 1


@pytest.mark.usefixtures("short")
def test_a_wheel_whose_headers_drip_is_not_stored(tmp_path: Path) -> None:
    """Attack 78: the download's own deadline began only with the body; now the headers are
    under one too. The error names the package; nothing lands in the cache; no retry."""
    body = os.urandom(300)
    with DripServer(headers_dripped) as server:
        url = f"http://127.0.0.1:{server.port}/files/pkg-1.0-py3-none-any.whl"
        artifact = Artifact("pkg 1.0", url, hashlib.sha256(body).hexdigest(), len(body))
        cache = ArtifactCache(tmp_path / "cache")
        opener = UrlOpener(HttpClient(read_timeout=30.0), tmp_path, LocalRoots(loopback=True))
        start = time.monotonic()
        with pytest.raises(ExchangeTimeout) as caught:
            fetch([artifact], cache, opener, reporter=QuietReporter(), sleep=lambda _: None)
        seconds = time.monotonic() - start
        connections = server.connections
    assert seconds < DEADLINE + 2, seconds
    assert "pkg 1.0" in caught.value.message and "the headers" in caught.value.message
    assert not cache.has(artifact)
    assert connections == 1


@pytest.mark.usefixtures("short")
def test_a_registry_that_drips_its_headers_meets_the_deadline(tmp_path: Path) -> None:
    """Attack 78: the registry client (PatientClient) is under the same deadline."""
    with DripServer(headers_dripped) as server:
        host = f"127.0.0.1:{server.port}"
        start = time.monotonic()
        with (
            pytest.raises(ExchangeTimeout) as caught,
            reader(f"{host}/team/app:1", insecure=True) as session,
        ):
            session.manifest()
        seconds = time.monotonic() - start
    assert seconds < DEADLINE + 2, seconds
    assert f"{host}/v2/" in caught.value.where
    assert "the headers" in caught.value.message


def keep_alive(pause: float, drip_from: int | None = None) -> Script:
    """Answers every request on the connection after ``pause``; from request ``drip_from``
    on (counted from 0), drips the status line instead."""

    def script(sock: socket.socket) -> None:
        count = 0
        while read_request(sock):
            if drip_from is not None and count >= drip_from:
                drip(sock, b"HTTP/1.1 200 OK\r\n" + ENDLESS_HEADERS, PAUSE)
                return
            time.sleep(pause)
            sock.sendall(answer(b"<html>page %d</html>" % count))
            count += 1

    return script


@pytest.mark.usefixtures("short")
def test_the_deadline_is_each_exchanges_not_the_connections() -> None:
    """Attack 78: four answers of 0.3 s each on one kept-alive connection (1.2 s in all, past
    the 0.6 s deadline) all arrive: the deadline belongs to each exchange."""
    with DripServer(keep_alive(0.3)) as server:
        with HttpClient() as client:
            pages = [client.get(f"http://127.0.0.1:{server.port}/p{n}/").content for n in range(4)]
        connections = server.connections
    assert pages == [b"<html>page %d</html>" % n for n in range(4)]
    assert connections == 1


@pytest.mark.usefixtures("short")
def test_a_reused_connection_that_starts_dripping_meets_the_deadline() -> None:
    """Attack 78: the second exchange on a kept-alive connection drips: it fails at its own
    deadline, on the same connection."""
    with DripServer(keep_alive(0.0, drip_from=1)) as server:
        with HttpClient(read_timeout=30.0) as client:
            first = client.get(f"http://127.0.0.1:{server.port}/a/")
            start = time.monotonic()
            with pytest.raises(ExchangeTimeout):
                client.get(f"http://127.0.0.1:{server.port}/b/")
            seconds = time.monotonic() - start
        connections = server.connections
    assert first.content == b"<html>page 0</html>"
    assert DEADLINE * 0.9 <= seconds < DEADLINE + 2, seconds
    assert connections == 1


def test_lock_against_a_dripping_index_exits_1_without_traceback(tmp_path: Path) -> None:
    """Attack 78: as a user meets it: ``mlenv lock`` on an index that drips its status line
    stops at the deadline, exit 1, the error and the variable to raise it named."""
    with DripServer(status_line_dripped) as server:
        index = f"http://127.0.0.1:{server.port}/simple"
        (tmp_path / "mlenv.toml").write_text(
            '[environment]\nname = "drip"\npython = "3.11"\nplatforms = ["linux-64"]\n'
            f'[pypi]\nindex-url = "{index}"\ndependencies = ["pkg"]\n'
        )
        start = time.monotonic()
        done = run_mlenv(["lock"], tmp_path, env={DEADLINE_ENV: "1"}, timeout=120)
        seconds = time.monotonic() - start
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "no answer to GET within 1 s: the server stalled in the" in done.stderr, done.stderr
    assert DEADLINE_ENV in done.stderr and "Nothing was stored" in done.stderr, done.stderr
    assert f"{index}/pkg/" in done.stderr, done.stderr
    assert seconds < 20, seconds


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.usefixtures("short")
def test_a_dripping_proxy_meets_the_same_deadline(
    scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack 78 after the proxy router (attack 76): a proxy from the environment that drips
    its answer (to the forwarded GET, or to the CONNECT of an https request) is held to the
    exchange's deadline like a direct server, and the error is the same located timeout."""
    with DripServer(status_line_dripped) as proxy:
        monkeypatch.setenv(f"{scheme.upper()}_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        url = f"{scheme}://pkgs.example/simple/pkg/"  # not loopback: the router proxies it
        start = time.monotonic()
        client = HttpClient(read_timeout=30.0, connect_timeout=30.0)
        with client, pytest.raises(ExchangeTimeout) as caught:
            client.get(url)
        seconds = time.monotonic() - start
        connections = proxy.connections
    assert DEADLINE * 0.9 <= seconds < DEADLINE + 2, seconds
    assert caught.value.where == url
    assert "the status line" in caught.value.message, caught.value.message
    assert connections == 1
