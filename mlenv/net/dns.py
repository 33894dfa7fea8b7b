"""A host name to its addresses within a time limit: ``getaddrinfo`` blocks in C with no
timeout (a resolver that never answers holds its caller for its own retries, 5 s an attempt or
more), so it runs in a daemon thread joined for the time given. The resolver is a parameter
(``Resolver``): a test gives a slow one, no socket patched. ``mlenv.net.exchange`` resolves every
host it connects to so, under the exchange's deadline."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable

import httpcore

# How a name the resolver does not know starts its error, for ``mlenv.net.dns_said`` to tell it.
UNRESOLVED = "cannot resolve host "

# A host name and port to the addresses to connect to, in order (``system_resolver``).
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives ``host`` for TCP, in its order, each once."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class _Lookup:
    """One resolution under way: its answer (addresses or the resolver's error) once done."""

    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.answer: list[list[str] | Exception] = []
        self.done = threading.Event()


# The resolutions under way, by resolver, host and port: a caller asking what another already
# waits for waits for that one. Before, each asked anew, and a resolver that never answers
# left a thread behind per request (200 parallel fetches of one stalled host: 200 threads).
_UNDER_WAY: dict[tuple[Resolver, str, int], _Lookup] = {}
_UNDER_WAY_LOCK = threading.Lock()


def _lookup(resolve: Resolver, host: str, port: int) -> _Lookup:
    """The resolution of ``host`` under way, or a new one started in a daemon thread."""
    key = (resolve, host, port)
    with _UNDER_WAY_LOCK:
        lookup = _UNDER_WAY.get(key)
        if lookup is not None:
            return lookup
        lookup = _UNDER_WAY[key] = _Lookup()

    def run() -> None:
        try:
            lookup.answer.append(resolve(host, port))
        except Exception as error:  # raised in each caller's thread, as if resolved there
            lookup.answer.append(error)
        finally:
            with _UNDER_WAY_LOCK:  # the next caller asks anew: an answer is not kept
                _UNDER_WAY.pop(key, None)
            lookup.done.set()

    threading.Thread(target=run, name=f"mlenv-resolve {host}", daemon=True).start()
    return lookup


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
    lookup = _lookup(resolve, host, port)
    if not lookup.done.wait(seconds):  # the thread stays blocked in C until the resolver gives
        return None  # up: harmless, and one a name however many callers wait (``_lookup``)
    answer = lookup.answer
    if isinstance(answer[0], socket.gaierror):  # no such name: said so (``dns_said``)
        raise httpcore.ConnectError(f"{UNRESOLVED}{host} ({answer[0].strerror or answer[0]})")
    if isinstance(answer[0], OSError):
        raise httpcore.ConnectError(str(answer[0]))
    if isinstance(answer[0], Exception):  # a name IDNA cannot spell (UnicodeError): the caller's
        raise answer[0]
    if not answer[0]:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    return answer[0]
