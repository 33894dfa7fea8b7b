"""A loopback registry that speaks enough of the distribution API for ``mlenv fetch --bundle
oci://`` and ``--from oci://`` (the real CLI over real sockets), honest until a test scripts
it otherwise: ``override`` sees every request first and may answer it itself, with any status,
headers and body bytes (lying lengths, endless or slow bodies, redirects, challenges)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from itertools import count
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from tests.support.httpserver import QuietServer, serve, stop


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None


class Handler(BaseHTTPRequestHandler):
    owner: HostileRegistry
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Silent: ``owner.seen`` is the record."""

    def answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bool:
        """Send a whole answer; True, so an ``override`` can end with ``return h.answer(...)``."""
        self.send_response(status)
        fields = {"Content-Length": str(len(body)), **(headers or {})}
        for name, value in fields.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return True

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        owner = self.owner
        path = urlsplit(self.path).path
        with owner.lock:
            owner.seen.append(Seen(self.command, path, self.headers.get("Authorization")))
        if owner.override is not None and owner.override(self):
            return
        owner.honest(self)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


class HostileRegistry:
    """``with HostileRegistry() as reg:`` serves at ``reg.host`` (``127.0.0.1:PORT``)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.seen: list[Seen] = []
        self.override: Callable[[Handler], bool] | None = None
        self.lock = threading.Lock()
        self._ids = count()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileRegistry:
        self._server = QuietServer(("127.0.0.1", 0), type("H", (Handler,), {"owner": self}))
        self._thread = serve(self._server)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        stop(self._server, self._thread)

    def honest(self, h: Handler) -> None:
        """The distribution API as a well-behaved registry answers it."""
        parts = urlsplit(h.path)
        path, method = parts.path, h.command
        last = path.rsplit("/", 1)[1]
        if path == "/v2/":
            h.answer(200, b"{}")
        elif "/blobs/uploads/" in path:
            self._upload(h, path, method, parse_qs(parts.query))
        elif "/blobs/" in path and method in ("GET", "HEAD"):
            blob = self.blobs.get(last)
            h.answer(404) if blob is None else h.answer(200, blob)
        elif "/manifests/" in path and method == "PUT":
            data = h.body()
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            self.manifests[last] = self.manifests[digest] = data
            h.answer(201, headers={"Docker-Content-Digest": digest})
        elif "/manifests/" in path and method in ("GET", "HEAD"):
            stored = self.manifests.get(last)
            if stored is None:
                h.answer(404)
            else:
                media = "application/vnd.oci.image.manifest.v1+json"
                h.answer(200, stored, {"Content-Type": media})
        else:
            h.answer(405)

    def _upload(self, h: Handler, path: str, method: str, query: dict[str, list[str]]) -> None:
        if method == "POST":
            upload = str(next(self._ids))
            self.uploads[upload] = bytearray()
            h.answer(202, headers={"Location": f"{path}{upload}?_state=s"})
            return
        upload = path.rsplit("/", 1)[1]
        data = self.uploads.setdefault(upload, bytearray())
        data.extend(h.body())
        if method == "PATCH":
            h.answer(202, headers={"Location": path})
        elif method == "DELETE":
            h.answer(204)
        else:
            digest = query["digest"][0]
            if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                h.answer(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                return
            self.blobs[digest] = bytes(data)
            h.answer(201, headers={"Docker-Content-Digest": digest})
