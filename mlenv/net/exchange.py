"""The transport every HTTP client of mlenv sends through: a deadline for each whole exchange.

httpx's timeouts bound each socket operation, not an exchange: a server that drips its status
line, its headers or its TLS handshake a byte a second never trips the read timeout, and
httpcore takes ~100 KiB of headers, so a hostile index or registry could hold ``lock``,
``fetch`` or ``pull`` for days. Here every exchange (connect, TLS, the request, the status line
and the headers) must end within ``limits.deadline_seconds`` of the request body's size
(``$MLENV_DOWNLOAD_SECONDS``, 600 s by default, plus the body at ``SLOWEST_RATE``): each
network operation is given at most the time left (``_Stream``), so the deadline holds however
the server paces its bytes, with no watchdog thread. A body is bounded after that by its
reader (``cache.download._chunks``, the registry's ``auth.bound_answer``).

A host name is resolved under the deadline too (``mlenv.net.dns``), then each address it gave is
connected to in turn, the next one after a refusal or a connect timeout; none when one is on the
link or cloud metadata and the user did not name the host (``origins.connect_to``); a pooled
connection is judged again for each request it carries, whose vouch may differ from its opener's.

The deadline lives in a context variable set by ``DeadlineTransport.handle_request`` for the
one request it sends in this thread; a pooled connection reused by the next request meets that
request's own deadline.
"""

from __future__ import annotations

import contextvars
import functools
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from mlenv.errors import MlenvError
from mlenv.limits import DEADLINE_HINT, deadline_seconds, shown_seconds
from mlenv.net.dns import Resolver, addresses, system_resolver
from mlenv.net.exchange_errors import FAILURES as _FAILURES
from mlenv.net.exchange_errors import as_httpx as _as_httpx
from mlenv.net.origins import OWN_HOSTS, connect_to
from mlenv.redaction import redact


class ExchangeTimeout(MlenvError):
    """A server did not answer (connect, TLS, status line, headers) by the exchange's deadline;
    never retried: the server is stalling."""


class _Exchange:
    """The one exchange this thread is waiting on: when it must end, what it is doing."""

    __slots__ = ("ends", "judged", "line_ended", "received", "request", "step")

    def __init__(self, ends: float, request: httpx.Request) -> None:
        self.ends = ends
        self.request = request
        self.received = 0
        self.line_ended = False  # the status line came whole: what is awaited is the headers
        self.step = "connecting"
        self.judged: _Stream | None = None  # the connection judged for this request


_CURRENT: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "mlenv_exchange", default=None
)


class _Overdue(httpcore.TimeoutException):
    """The exchange's deadline passed (told apart from one operation's timeout)."""


def _budget(timeout: float | None) -> tuple[_Exchange | None, float | None]:
    exchange = _CURRENT.get()
    if exchange is None:
        return None, timeout
    left = exchange.ends - time.monotonic()
    if left <= 0:
        raise _Overdue(exchange.step)
    return exchange, left if timeout is None else min(timeout, left)


def _overdue(exchange: _Exchange | None) -> bool:
    return exchange is not None and time.monotonic() >= exchange.ends


@contextmanager
def _meeting(exchange: _Exchange | None) -> Iterator[None]:
    """One network operation of ``exchange``: its own timeout, when the exchange's deadline has
    passed too, is the exchange's (``_Overdue``, naming the step it stalled in)."""
    try:
        yield
    except httpcore.TimeoutException:
        if _overdue(exchange):
            raise _Overdue(exchange.step if exchange else "") from None
        raise


class _Stream(httpcore.NetworkStream):
    """A network stream whose every operation gets at most the exchange's time left."""

    def __init__(self, inner: httpcore.NetworkStream, address: str | None = None) -> None:
        self._inner = inner
        self._address = address  # where a direct connection leads: judged for every request

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        exchange, budget = _budget(timeout)
        if exchange is not None:
            exchange.step = "the headers" if exchange.line_ended else "the status line"
        with _meeting(exchange):
            data = self._inner.read(max_bytes, budget)
        if exchange is not None:
            exchange.received += len(data)
            exchange.line_ended = exchange.line_ended or b"\n" in data
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        exchange, budget = _budget(timeout)
        if exchange is not None:
            exchange.step = "sending the request"
            if self._address is not None and exchange.judged is not self:  # a pooled one too:
                exchange.judged = self  # what vouched for its opener may not for this request
                _judge(exchange.request, [self._address])
        with _meeting(exchange):
            self._inner.write(buffer, budget)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # CPython's SSLSocket.do_handshake holds the socket's timeout for the whole handshake
        # (a deadline, not a pause), so the time left bounds a dripped handshake as a whole.
        exchange, budget = _budget(timeout)
        if exchange is not None:  # a proxy's CONNECT answer came before: the origin's is awaited
            exchange.step, exchange.line_ended, exchange.received = "the TLS handshake", False, 0
        with _meeting(exchange):
            if self._inner.get_extra_info("ssl_object") is not None:  # via an https:// proxy
                return _Stream(_TlsInTls(self._inner, ssl_context, server_hostname, timeout))
            tls = self._inner.start_tls(ssl_context, server_hostname, budget)
            return _Stream(tls, self._address)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _TlsInTls(httpcore.NetworkStream):
    """TLS to the origin inside the TLS to an https:// proxy. httpcore's own TLSinTLSStream gives
    each socket read the whole timeout, so an origin dripping its handshake or a TLS record a
    byte at a time held it forever; here each read of the proxy's stream gets the time left."""

    _RECORD = 16384

    def __init__(
        self,
        outer: httpcore.NetworkStream,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None,
        timeout: float | None,
    ) -> None:
        self._outer = outer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = ssl_context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        self._io(self._tls.do_handshake, timeout, httpcore.ConnectError)

    def _io(self, step: Any, timeout: float | None, failure: type[Exception]) -> Any:
        while True:
            try:
                result = step()
                wants_more = False
            except ssl.SSLWantReadError:
                wants_more = True
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError) as exc:
                if failure is httpcore.ReadError:  # the origin closed: b"", as a socket's read
                    return b""
                raise failure(str(exc)) from exc
            except ssl.SSLError as exc:
                raise failure(str(exc)) from exc
            if pending := self._outgoing.read():
                self._send(pending, timeout)
            if not wants_more:
                return result
            exchange, budget = _budget(timeout)
            with _meeting(exchange):
                data = self._outer.read(self._RECORD, budget)
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()

    def _send(self, data: bytes, timeout: float | None) -> None:
        exchange, budget = _budget(timeout)
        with _meeting(exchange):
            self._outer.write(data, budget)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return bytes(
            self._io(functools.partial(self._tls.read, max_bytes), timeout, httpcore.ReadError)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        while view:
            sent = self._io(functools.partial(self._tls.write, view), timeout, httpcore.WriteError)
            view = view[sent:]

    def close(self) -> None:
        self._outer.close()

    def get_extra_info(self, info: str) -> Any:
        return self._tls if info == "ssl_object" else self._outer.get_extra_info(info)


def _resolved(resolve: Resolver, host: str, port: int, timeout: float | None) -> list[str]:
    """``host``'s addresses (``dns.addresses``) within the exchange's time left (``_Overdue``)
    or the connect timeout (``httpcore.ConnectTimeout``)."""
    exchange, budget = _budget(timeout)
    if exchange is not None:
        exchange.step = f"resolving {host}"
    found = addresses(resolve, host, port, budget)
    if found is None:
        if exchange is not None and _overdue(exchange):
            raise _Overdue(exchange.step)
        raise httpcore.ConnectTimeout(f"resolving {host} took over {budget} s")
    return found


def _judge(request: httpx.Request, found: list[str]) -> None:
    own = request.extensions.get(OWN_HOSTS, ())  # ``origins.connect_to``, for ``request``
    connect_to(request.url.host, found, own=own, where=_shown(request.url))


class _Backend(httpcore.NetworkBackend):
    def __init__(self, resolve: Resolver = system_resolver, *, direct: bool = True) -> None:
        self._inner = httpcore.SyncBackend()
        self._resolve = resolve
        self._direct = direct  # else to a proxy the user named; the origin is judged by name

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        found = _resolved(self._resolve, host, port, timeout)
        if self._direct:  # each address, before any is connected to
            under_way = _CURRENT.get()
            if under_way is None:  # no request names a host of its own: judged as no one's
                connect_to(host, found, own=(), where=host)
            else:
                _judge(under_way.request, found)
        for address in found:
            exchange, budget = _budget(timeout)
            if exchange is not None:
                exchange.step = "connecting"
            try:
                with _meeting(exchange):
                    inner = self._inner.connect_tcp(
                        address, port, budget, local_address, socket_options
                    )
            # the next address may answer: one that refuses, and one that never answers (IPv6
            # first where IPv6 is dropped on the way); the exchange's deadline ends the walk
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
                continue
            return _Stream(inner, address if self._direct else None)
        assert failure is not None  # _resolved gives an address or raises
        raise failure

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Any, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._inner
        except _FAILURES as exc:
            raise _as_httpx(exc, self._request) from exc

    def close(self) -> None:
        self._inner.close()


def _core_url(url: httpx.URL) -> httpcore.URL:
    return httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )


class DeadlineTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool whose streams meet each exchange's deadline
    (httpx's own defaults otherwise: HTTP/1.1, keep-alive, the pool's limits)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        proxy: httpx.Proxy | None = None,
        resolve: Resolver = system_resolver,
    ) -> None:
        limits: dict[str, Any] = {
            "ssl_context": ssl_context,
            "max_connections": 100,
            "max_keepalive_connections": 20,
            "keepalive_expiry": 5.0,
            "network_backend": _Backend(resolve, direct=proxy is None),
        }
        self._proxied = proxy is not None
        self._pool: httpcore.ConnectionPool
        if proxy is None:
            self._pool = httpcore.ConnectionPool(**limits)
        elif proxy.url.scheme in ("http", "https"):  # the proxy's own exchange meets it too
            self._pool = httpcore.HTTPProxy(
                proxy_url=_core_url(proxy.url),
                proxy_auth=proxy.raw_auth,
                proxy_headers=proxy.headers.raw,
                # an https:// proxy is verified with the trust the origins are (MLENV_CA_BUNDLE's
                # site CA signs a corporate proxy as often as an index), not certifi alone
                proxy_ssl_context=proxy.ssl_context
                or (ssl_context if proxy.url.scheme == "https" else None),
                **limits,
            )
        elif proxy.url.scheme in ("socks5", "socks5h"):  # RuntimeError without socksio
            self._pool = httpcore.SOCKSProxy(
                proxy_url=_core_url(proxy.url),
                proxy_auth=proxy.raw_auth,
                **limits,
            )
        else:
            raise ValueError(f"unsupported proxy scheme {proxy.url.scheme!r}")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        limit = deadline_seconds(int(request.headers.get("Content-Length", "0") or 0))
        exchange = _Exchange(time.monotonic() + limit, request)
        if self._proxied:  # the proxy resolves the origin: its name is all mlenv sees
            _judge(request, [request.url.host])
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=_core_url(request.url),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        token = _CURRENT.set(exchange)
        try:
            answer = self._pool.handle_request(core)
        except _Overdue:
            raise _timeout(request, limit, exchange) from None
        except _FAILURES as exc:
            raise _as_httpx(exc, request) from exc
        finally:
            _CURRENT.reset(token)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(answer.stream, request),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _shown(url: httpx.URL) -> str:
    return redact(str(url.copy_with(username=None, password=None)))


def _timeout(request: httpx.Request, limit: float, exchange: _Exchange) -> ExchangeTimeout:
    url = _shown(request.url)
    came = f" ({exchange.received} bytes came)" if exchange.received else ""
    return ExchangeTimeout(
        f"no answer to {request.method} within {shown_seconds(limit)} s: the server stalled "
        f"in {exchange.step}{came}",
        where=url,
        hint=DEADLINE_HINT,
    )
