"""A loopback HTTP server over a directory, with the knobs index tests need.

Range support (switchable, or answered from other bytes than a full download), basic auth,
the PEP 691 JSON API by content negotiation, ETag revalidation, Cache-Control, faults injected
per path (statuses, redirects, delays) and a log of every request, so tests assert on what
really went over the wire.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from tests.support.siteca import SiteCA

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class Fault:
    """What to do instead of serving a path; ``times=None`` means for every request."""

    status: int = 500
    location: str | None = None
    delay: float = 0.0
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    times: int | None = 1
    serve_after_delay: bool = False  # True: sleep ``delay`` then serve normally
    # With ``serve_after_delay``: send the whole Content-Length but only this many bytes of the
    # body, then hang up (a connection reset or a proxy's cut mid-answer)
    truncate: int | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    status: int
    body_bytes: int  # bytes of body sent


class IndexServer:
    """``with IndexServer(root) as server:`` serves ``root`` at ``server.url``."""

    def __init__(
        self,
        root: Path,
        *,
        ranges: bool = True,
        auth: tuple[str, str] | None = None,
        json_api: bool = True,
        cache_control: str | None = None,
        hostname: str = "127.0.0.1",
        tls: SiteCA | None = None,
        missing_status: int = 404,
        validators: bool = True,
        bind: str = "127.0.0.1",
    ) -> None:
        self.root = root
        # "::": every interface, IPv4 too (a service bound to all of them, not to loopback)
        self.bind = bind
        # False: no ETag, as a mirror or proxy that sends no caching header at all
        self.validators = validators
        # What a path with no file answers: 403 is S3's and CloudFront's (PyTorch's index).
        self.missing_status = missing_status
        self.tls = tls  # serve https with this CA's server certificate
        self.ranges = ranges
        self.auth = auth
        self.json_api = json_api
        self.cache_control = cache_control
        self.hostname = hostname
        self.requests: list[Request] = []
        # Bytes served to Range requests of a path in place of its file: an index that shows
        # lazy metadata reads another wheel than the one it serves whole.
        self.ranged: dict[str, bytes] = {}
        self._faults: dict[str, list[Fault]] = {}
        # path -> (released when this other path is asked for, the longest it waits)
        self._gates: dict[str, tuple[str, threading.Event, float]] = {}
        # each held path: whether the awaited request came before the wait ran out
        self.released: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the server is not running"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.hostname}:{self._server.server_address[1]}"

    def __enter__(self) -> IndexServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        server_class = EveryInterfaceServer if self.bind == "::" else QuietServer
        self._server = server_class((self.bind, 0), handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.certificate, self.tls.key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = serve(self._server)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        stop(self._server, self._thread)

    def fault(self, path: str, fault: Fault) -> None:
        with self._lock:
            self._faults.setdefault(path, []).append(fault)

    def fail(self, path: str, status: int, *, times: int | None = 1) -> None:
        self.fault(path, Fault(status=status, times=times))

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        self.fault(path, Fault(status=status, location=location, times=None))

    def slow(self, path: str, seconds: float, *, times: int | None = None) -> None:
        self.fault(path, Fault(delay=seconds, times=times, serve_after_delay=True))

    def hold(self, path: str, *, until: str, longest: float = 30.0) -> None:
        """Answer ``path`` only once a request for ``until`` has arrived, or after ``longest``
        seconds, so a client that never asks for it still finishes; ``released`` then says
        which came first, without any timed assertion."""
        with self._lock:
            self._gates[path] = (until, threading.Event(), longest)

    def _gate(self, path: str) -> None:
        with self._lock:
            gates = list(self._gates.items())
        for until, event, _ in (gate for _, gate in gates):
            if path == until:
                event.set()
        for held, (_, event, longest) in gates:
            if path == held:
                came = event.wait(longest)
                with self._lock:
                    self.released[held] = came

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def bytes_served(self, path: str) -> int:
        return sum(r.body_bytes for r in self.requests_for(path))

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path, [])
            for fault in queue:
                if fault.times is None:
                    return fault
                if fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


class QuietServer(ThreadingHTTPServer):
    """A loopback server whose clients may hang up on it: in these tests that is the point,
    not noise."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return


class EveryInterfaceServer(QuietServer):
    """Bound to ``::`` with IPv4 mapped in: it answers on every address of the machine, as a
    service listening on all interfaces does."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve(server: ThreadingHTTPServer) -> threading.Thread:
    """``server`` answering on a thread of its own until ``stop``."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    return thread


def stop(server: ThreadingHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join()


class _Handler(BaseHTTPRequestHandler):
    owner: IndexServer
    protocol_version = "HTTP/1.1"
    _cut: int | None = None

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request log is the record."""

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def _handle(self, *, send_body: bool) -> None:
        path = urlsplit(self.path).path
        self.owner._gate(path)
        status, headers, body = self._respond(path)
        sent = body if send_body and status != 304 else b""
        cut = self._cut
        if cut is not None:
            sent = sent[:cut]
            self.close_connection = True
        # Logged before answering: once a client has its answer, the log must already show it.
        lowered = {k.lower(): v for k, v in self.headers.items()}
        self.owner._log(Request(self.command, path, lowered, status, len(sent)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(sent)

    def _respond(self, path: str) -> tuple[int, dict[str, str], bytes]:
        owner = self.owner
        fault = owner._take_fault(path)
        self._cut = fault.truncate if fault is not None else None
        if fault is not None:
            time.sleep(fault.delay)
            if not fault.serve_after_delay:
                headers = dict(fault.headers)
                if fault.location:
                    headers["Location"] = fault.location
                return fault.status, headers, fault.body
        if owner.auth is not None and not self._authorized(owner.auth):
            return 401, {"WWW-Authenticate": 'Basic realm="index"'}, b"unauthorized"
        target = self._resolve(path)
        if target is None:
            return owner.missing_status, {"Content-Type": "text/plain"}, b"not found"
        if target.is_dir():
            return 301, {"Location": path + "/"}, b""
        return self._serve_file(target, path)

    def _authorized(self, auth: tuple[str, str]) -> bool:
        expected = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def _resolve(self, path: str) -> Path | None:
        """The file for a URL path; directories answer with their index page, like PyPI."""
        root = self.owner.root.resolve()
        target = (root / unquote(path).lstrip("/")).resolve()
        if not target.is_relative_to(root) or not target.exists():
            return None
        if not target.is_dir():
            return target
        if not path.endswith("/"):
            return target
        accept = self.headers.get("Accept", "")
        names = ["index.html"]
        if self.owner.json_api:
            names.insert(0 if JSON_TYPE in accept else 1, "index.json")
        for name in names:
            if (target / name).is_file():
                return target / name
        return None

    def _serve_file(self, target: Path, path: str) -> tuple[int, dict[str, str], bytes]:
        body = target.read_bytes()
        if self.headers.get("Range") is not None and path in self.owner.ranged:
            body = self.owner.ranged[path]
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if target.name == "index.json":
            content_type = JSON_TYPE
        elif target.suffix == ".html":
            content_type = "text/html; charset=utf-8"
        else:
            content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        headers = {"Content-Type": content_type, "ETag": etag}
        if not self.owner.validators:
            del headers["ETag"]
        if self.owner.cache_control is not None:
            headers["Cache-Control"] = self.owner.cache_control
        if self.headers.get("If-None-Match") == etag:
            return 304, headers, b""
        if not self.owner.ranges:
            return 200, headers, body
        headers["Accept-Ranges"] = "bytes"
        wanted = self.headers.get("Range")
        if wanted is None:
            return 200, headers, body
        span = _span(wanted, len(body))
        if span is None:
            headers["Content-Range"] = f"bytes */{len(body)}"
            return 416, headers, b""
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
        return 206, headers, body[start : end + 1]


def _span(header: str, size: int) -> tuple[int, int] | None:
    """First and last byte of a single ``bytes=`` range, or None when unsatisfiable."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(size - 1, int(last)) if last else size - 1
    return (start, end) if start <= end and start < size else None
