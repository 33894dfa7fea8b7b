"""A host name to its addresses within a time limit: ``getaddrinfo`` blocks in C with no
timeout (a resolver that never answers holds its caller for its own retries, 5 s an attempt or
more), so it runs in a daemon thread joined for the time given. The resolver is a parameter
(``Resolver``): a test gives a slow one, no socket patched. ``mlenv.exchange`` resolves every
host it connects to so, under the exchange's deadline."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable

import httpcore

# A host name and port to the addresses to connect to, in order (``system_resolver``).
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives ``host`` for TCP, in its order, each once."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def addresses(resolve: Resolver, host: str, port: int, seconds: float | None) -> list[str] | None:
    """``host``'s addresses by ``resolve`` within ``seconds`` (None: no limit), or None when it
    has not answered by then; an address literal is its own, no thread started. A resolver's
    failure (``socket.gaierror``: no such host) is ``httpcore.ConnectError``, as httpcore's
    own connect raises it; any other (``UnicodeError``: a label IDNA cannot spell) is raised
    as it came, as ``getaddrinfo`` called in this thread raised it."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    answer: list[list[str] | Exception] = []

    def run() -> None:
        try:
            answer.append(resolve(host, port))
        except Exception as error:  # raised in the caller's thread, as if resolved there
            answer.append(error)

    worker = threading.Thread(target=run, name=f"mlenv-resolve {host}", daemon=True)
    worker.start()
    worker.join(seconds)
    if not answer:  # the thread stays blocked in C until the resolver gives up: harmless
        return None
    if isinstance(answer[0], OSError):
        raise httpcore.ConnectError(str(answer[0]))
    if isinstance(answer[0], Exception):  # a name IDNA cannot spell (UnicodeError): the caller's
        raise answer[0]
    if not answer[0]:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    return answer[0]
