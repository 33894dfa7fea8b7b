"""A loopback HTTP server that sends files slowly, so a test can kill a download midway."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit


class TrickleServer:
    def __init__(self, root: Path, *, chunk: int = 32 * 1024, delay: float = 0.05) -> None:
        self.root = root
        self.chunk = chunk
        self.delay = delay
        self.bytes_sent = 0
        self.gets: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> TrickleServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = owner.root / unquote(urlsplit(self.path).path).lstrip("/")
                if path.is_dir():
                    path = path / "index.html"
                if not path.is_file():
                    self.send_error(404)
                    return
                owner.gets.append(self.path)
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                slow = path.suffix == ".whl"
                try:
                    for start in range(0, len(data), owner.chunk if slow else len(data) or 1):
                        self.wfile.write(data[start : start + owner.chunk] if slow else data)
                        owner.bytes_sent += min(owner.chunk, len(data) - start)
                        if slow:
                            time.sleep(owner.delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
