"""A loopback HTTP server that answers with bodies far bigger than any real one (an endless
token, an error page of gigabytes, a gzip bomb), counting what it managed to send, so a test
can assert that the client stopped early."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Flood:
    """One answer: ``status`` and ``headers``, then ``prefix`` and ``size`` bytes of filler.

    ``length`` sends a Content-Length (the declared size), else the body is chunked;
    ``gzip`` compresses it (``size`` counts the bytes after decompression)."""

    status: int = 200
    prefix: bytes = b'{"token": "'
    size: int = 10 << 30
    headers: Mapping[str, str] = field(default_factory=dict)
    length: bool = True
    gzip: bool = False

    def chunks(self) -> Iterator[bytes]:
        pack = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16) if self.gzip else None
        block = b"a" * (1 << 20)
        for piece in self._plain(block):
            yield piece if pack is None else pack.compress(piece)
        if pack is not None:
            yield pack.flush()

    def _plain(self, block: bytes) -> Iterator[bytes]:
        yield self.prefix
        left = self.size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)


class FloodServer:
    """``with FloodServer({"/v2/": Flood(...)}) as server:``; other paths answer 404."""

    def __init__(self, routes: Mapping[str, Flood]) -> None:
        self.routes = dict(routes)
        self.sent = 0  # body bytes written before the client hung up
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        return self.url.removeprefix("http://")

    def __enter__(self) -> FloodServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _answer(self) -> None:
                flood = owner.routes.get(self.path.partition("?")[0])
                if flood is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(flood.status)
                for name, value in flood.headers.items():  # "{url}": this server's address
                    self.send_header(name, value.replace("{url}", owner.url))
                if flood.gzip:
                    self.send_header("Content-Encoding", "gzip")
                if flood.length and not flood.gzip:
                    self.send_header("Content-Length", str(len(flood.prefix) + flood.size))
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if self.command == "HEAD":
                    return
                chunked = not flood.length or flood.gzip
                try:
                    for chunk in flood.chunks():
                        if not chunk:
                            continue
                        if chunked:
                            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        else:
                            self.wfile.write(chunk)
                        owner.sent += len(chunk)
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_HEAD = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
