"""A loopback TCP server that answers each connection with a script: what a hostile server
sends, and how slowly (a status line, headers or a TLS handshake a byte at a time)."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType

Script = Callable[[socket.socket], None]


def drip(sock: socket.socket, data: bytes, pause: float) -> None:
    """``data`` one byte every ``pause`` seconds."""
    for index in range(len(data)):
        sock.sendall(data[index : index + 1])
        time.sleep(pause)


def read_request(sock: socket.socket) -> bytes:
    """One request's head (a GET: no body), or b"" when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


def answer(body: bytes, pause: float = 0.0) -> bytes:
    """A whole HTTP/1.1 answer (keep-alive) with ``body``."""
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nContent-Type: text/html\r\n\r\n"
    return head.encode() + body


def tls_dripped(context: ssl.SSLContext, pause: float) -> Script:
    """A TLS server whose every handshake byte comes ``pause`` seconds after the last."""

    def script(sock: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                drip(sock, outgoing.read(), pause)
                data = sock.recv(65536)
                if not data:
                    return
                incoming.write(data)

    return script


class DripServer:
    """Runs ``script`` on each accepted connection (in a thread of its own); counts them."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> DripServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        with sock, contextlib.suppress(OSError):  # the client gave up: what the test wants
            self.script(sock)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._listener.close()


def tunnel(port: int, tls: ssl.SSLContext | None = None, reply: bytes | None = None) -> Script:
    """A CONNECT proxy (``tls``: an https:// one) tunnelling every target to 127.0.0.1:``port``;
    ``reply`` replaces its whole answer to the CONNECT (a dripped or hostile one)."""

    def script(sock: socket.socket) -> None:
        client: socket.socket = tls.wrap_socket(sock, server_side=True) if tls else sock
        if not read_request(client).startswith(b"CONNECT "):
            return
        if reply is not None:
            drip(client, reply, 0.05)
            return
        with socket.create_connection(("127.0.0.1", port), timeout=10) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            relay(client, upstream)

    return script


def relay(client: socket.socket, upstream: socket.socket) -> None:
    """Bytes both ways between two sockets until either closes or both are idle for 10 s."""
    pending = getattr(client, "pending", lambda: 0)  # an SSLSocket holds decrypted bytes
    while True:
        ready = [client] if pending() else select.select([client, upstream], [], [], 10)[0]
        if not ready:
            return
        for source in ready:
            chunk = source.recv(65536)
            if not chunk:
                return
            (upstream if source is client else client).sendall(chunk)
