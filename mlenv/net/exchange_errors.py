"""httpcore's failures as httpx names them: what ``exchange.DeadlineTransport`` raises, as
``httpx.HTTPTransport`` would, so callers catch httpx's exceptions only."""

from __future__ import annotations

import httpcore
import httpx

# httpcore's exceptions as httpx names them (what httpx.HTTPTransport raises), most specific first
MAPPED: tuple[tuple[type[Exception], type[httpx.RequestError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.ProxyError, httpx.ProxyError),
)

FAILURES = tuple(theirs for theirs, _ in MAPPED)


def as_httpx(exc: Exception, request: httpx.Request) -> Exception:
    """``exc`` as the httpx exception for its kind, or itself when httpx has none."""
    for theirs, ours in MAPPED:
        if isinstance(exc, theirs):
            return ours(str(exc), request=request)
    return exc
