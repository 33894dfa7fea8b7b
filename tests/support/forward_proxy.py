"""A real loopback forward proxy, as a corporate one behaves, recording what it saw.

It forwards plain ``GET http://host:port/...`` (absolute form) and tunnels ``CONNECT
host:port``; every target host is reached at 127.0.0.1 on the target's port, so a test's index
can be named ``pkgs.example`` and reached only through the proxy. ``auth`` makes it answer 407
until a ``Proxy-Authorization: Basic`` with those credentials comes; ``mode`` makes it fail:
"407" always, "502" (CONNECT refused, or a plain request answered 502), "close" (hang up
without a word).
"""

from __future__ import annotations

import base64
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from tests.support.drip import relay


@dataclass(frozen=True)
class Seen:
    method: str
    target: str  # "host:port" of a CONNECT, the absolute URL of a plain request
    proxy_authorization: str | None
    origin_authorization: str | None  # the Authorization header, readable only in plain http


class _Handler(BaseHTTPRequestHandler):
    owner: ForwardProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _refused(self) -> bool:
        owner = self.owner
        owner.record(
            Seen(
                self.command,
                self.path,
                self.headers.get("Proxy-Authorization"),
                self.headers.get("Authorization"),
            )
        )
        if owner.mode == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        expected = None
        if owner.auth is not None:
            token = base64.b64encode(":".join(owner.auth).encode()).decode()
            expected = f"Basic {token}"
        if owner.mode == "407" or (
            expected and self.headers.get("Proxy-Authorization") != expected
        ):
            self._answer(407, {"Proxy-Authenticate": 'Basic realm="corp"'})
            return True
        if owner.mode == "502":
            self._answer(502)
            return True
        return False

    def _answer(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def do_CONNECT(self) -> None:
        if self._refused():
            return
        port = int(self.path.rpartition(":")[2])
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        with upstream:
            relay(self.connection, upstream)

    def do_GET(self) -> None:
        if self._refused():
            return
        parts = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
        headers["Connection"] = "close"
        with socket.create_connection(("127.0.0.1", parts.port or 80), timeout=10) as upstream:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            head = f"GET {path or '/'} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items()
            )
            upstream.sendall((head + "\r\n").encode("latin-1"))
            while chunk := upstream.recv(65536):
                self.connection.sendall(chunk)
        self.close_connection = True


class ForwardProxy:
    """``with ForwardProxy() as proxy:`` listens at ``proxy.url`` (``proxy.url_with(user,
    password)`` for a URL carrying credentials) and logs requests in ``proxy.seen``."""

    def __init__(self, *, auth: tuple[str, str] | None = None, mode: str = "forward") -> None:
        self.auth = auth
        self.mode = mode
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "the proxy is not running"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def targets(self) -> list[str]:
        with self._lock:
            return [s.target for s in self.seen]

    def __enter__(self) -> ForwardProxy:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
