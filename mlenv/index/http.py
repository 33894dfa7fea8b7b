"""The one way the index client touches the network.

Everything that must hold for every request lives here: offline refusal before any connection,
credentials sent only to the origin they belong to (redirects are followed by hand so an
``Authorization`` header never crosses to another host), bounded retries with backoff, and HTTP
errors turned into ``MlenvError``s that name the URL without its credentials.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from mlenv import __version__, watch
from mlenv.errors import printable
from mlenv.index.bodies import ACCEPT_ENCODING, ResponseReader, read_bounded
from mlenv.index.caches import HttpCache, is_storable
from mlenv.index.model import PackageIndexError
from mlenv.index.netrc_file import default_netrc_path, load_netrc, machine_login
from mlenv.index.redirects import LOCATION, REDIRECTS, hold_location, unfetchable
from mlenv.index.statuses import absent, busy, status_hint
from mlenv.index.urls import (
    Credentials,
    Origin,
    nearest_credentials,
    origin,
    split_credentials,
    strip_credentials,
)
from mlenv.limits import MAX_BODY_BYTES
from mlenv.net.hosts import is_loopback
from mlenv.net.origins import (
    NO_LOCAL_ROOTS,
    OWN_HOSTS,
    follow,
    handed_out,
    may_send_credentials,
)

if TYPE_CHECKING:
    import netrc

    import httpx

# httpx is imported where a request is really made: it costs ~0.15 s (it pulls in rich and
# pygments), which file:// and offline runs never need to pay.

OFFLINE_HINT = "run without --offline on a connected machine"
_MAX_BACKOFF = 30.0


class OfflineError(PackageIndexError):
    """A network request was attempted while offline; raised before any connection."""


class HttpError(PackageIndexError):
    """A request failed; ``status`` is None when no HTTP answer came back at all.
    ``transient``: whether asking again may answer otherwise (a network failure, ``busy``),
    as the status says unless the caller knows better: a URL no client can request, a scheme
    mlenv does not speak or a redirect loop fail the same way every time."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None,
        hint: str,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message, where=url, hint=hint)
        self.url = url
        self.status = status
        self.transient = (status is None or busy(status)) if transient is None else transient

    @property
    def absent(self) -> bool:
        """Whether the answer says nothing is there (``statuses.absent``)."""
        return absent(self.status, self.url)


@dataclass(frozen=True)
class HttpResponse:
    """A response read whole (or from the cache) after redirects, its URL without credentials."""

    url: str  # final URL after redirects, without credentials
    status: int
    headers: Mapping[str, str]  # lower-case names
    content: bytes
    from_cache: bool = False


class HttpClient:
    """An ``httpx.Client`` with mlenv's rules; thread-safe (metadata is fetched in parallel) and
    made on first use: file:// and offline runs never pay for TLS set-up."""

    def __init__(
        self,
        *,
        offline: bool = False,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_redirects: int = 10,
        cache: HttpCache | None = None,
        netrc_path: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        own_hosts: tuple[str, ...] = (),
    ) -> None:
        self.offline = offline
        self.own_hosts = own_hosts  # the user's indexes and channels: alone may be on the link
        self.retries = retries
        self.backoff = backoff
        self.max_redirects = max_redirects
        self.cache = cache
        self._timeouts = (read_timeout, connect_timeout)
        self._netrc_path = netrc_path
        self._transport = transport
        self._sleep = sleep
        self._client: httpx.Client | None = None
        # per origin: the URL the credentials came with, and the credentials
        self._credentials: dict[Origin, tuple[str, Credentials] | None] = {}
        # per URL with credentials: two indexes on one host send their own (nearest_credentials)
        self._by_prefix: dict[str, Credentials] = {}
        self._netrc: netrc.netrc | None = None
        self._netrc_loaded = False
        self._lock = threading.Lock()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def add_credentials(self, url: str) -> str:
        """Remember the URL's userinfo for its origin; return the URL without it."""
        clean, credentials = split_credentials(url)
        if credentials is not None:
            with self._lock:
                self._credentials[origin(clean)] = (clean, credentials)
                self._by_prefix[clean] = credentials
        return clean

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, use_cache: bool = False
    ) -> HttpResponse:
        """GET a whole body; with ``use_cache`` the page cache answers or revalidates first.

        Offline, a cached page is served however old it is: that is what the cache is for.
        """
        url = self.add_credentials(url)
        watch.remote(url)  # a cached answer too: the index may have changed since
        headers = dict(headers or {})
        accept = headers.get("Accept", "")
        cached = self.cache.load(url, accept) if use_cache and self.cache else None
        if cached is not None and (self.offline or cached.is_fresh(self._now())):
            return HttpResponse(cached.url, 200, cached.headers, cached.content, from_cache=True)
        headers.update(cached.validators() if cached is not None else {})
        for attempt in range(self.retries + 1):
            response, final_url = self._send(url, headers, stream=True)
            try:
                if response.status_code == 304 and cached is not None and self.cache is not None:
                    cached = self.cache.revalidated(cached, response.headers)
                    self.cache.store(url, accept, cached)
                    return HttpResponse(cached.url, 200, cached.headers, cached.content, True)
                _raise_for_status(response, final_url)
                content = read_bounded(response, final_url, MAX_BODY_BYTES)  # pages, metadata
                break
            except HttpError as exc:
                # A body that broke off (no status: ``transfer_error``) is asked for again, as
                # uv does; a status, a damaged encoding or a bound reached is the answer.
                if exc.status is not None or not exc.transient or attempt == self.retries:
                    raise
            finally:
                response.close()
            self._sleep(self._delay(attempt, None))
        else:
            raise AssertionError("unreachable: the last attempt returns or raises")
        lowered = {k.lower(): v for k, v in response.headers.items()}
        if use_cache and self.cache is not None and is_storable(lowered):
            self.cache.store(url, accept, self.cache.page(final_url, lowered, content))
        return HttpResponse(final_url, response.status_code, lowered, content)

    def _now(self) -> float:
        return self.cache.clock() if self.cache else time.time()

    @contextmanager
    def stream(
        self, url: str, *, headers: Mapping[str, str] | None = None, method: str = "GET"
    ) -> Iterator[httpx.Response]:
        """An open streaming response with a success status; closed on exit. ``method`` HEAD
        asks for the headers a GET would answer with (``sizes.stated_size``)."""
        watch.remote(url)
        response, final_url = self._send(
            self.add_credentials(url), dict(headers or {}), stream=True, method=method
        )
        try:
            _raise_for_status(response, final_url)
            yield response
        finally:
            response.close()

    @contextmanager
    def open(self, url: str) -> Iterator[BinaryIO]:
        """The body as a file object, streamed: a 2 GB wheel never sits in memory."""
        with self.stream(url, headers={"Accept-Encoding": "identity"}) as response:
            yield io.BufferedReader(ResponseReader(response, url))

    def _http(self) -> httpx.Client:
        import httpx

        from mlenv.net import proxy

        with self._lock:
            if self._client is None:
                read, connect = self._timeouts
                self._client = httpx.Client(
                    timeout=httpx.Timeout(read, connect=connect),
                    follow_redirects=False,
                    transport=proxy.transport(self._transport),  # trust: mlenv.net.tls
                    trust_env=False,
                    event_hooks={"response": [hold_location]},
                    # only what ``bodies`` inflates in bounded steps (httpx would add zstd)
                    headers={
                        "User-Agent": f"mlenv/{__version__}",
                        "Accept-Encoding": ACCEPT_ENCODING,
                    },
                )
            return self._client

    def _authorization(self, url: str) -> str | None:
        key = origin(url)
        with self._lock:
            if key not in self._credentials:
                if not self._netrc_loaded:
                    self._netrc = load_netrc(self._netrc_path or default_netrc_path())
                    self._netrc_loaded = True
                # netrc names a host, not a scheme: its secret never goes out in clear text
                # except to this machine, so an https -> http redirect cannot expose it.
                cleartext = key[0] != "https" and not is_loopback(key[1])
                entry = None if cleartext else machine_login(self._netrc, key[1])
                self._credentials[key] = (url, entry) if entry else None
            found = self._credentials[key]
            mine = nearest_credentials(self._by_prefix, url)
        if found is None or not may_send_credentials(found[0], url):  # the invariant's gate
            return None
        from base64 import b64encode

        credentials = mine or found[1]
        token = b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        return f"Basic {token}"

    def _send(
        self, url: str, headers: dict[str, str], *, stream: bool, method: str = "GET"
    ) -> tuple[httpx.Response, str]:
        """Follow redirects by hand so each hop gets only its own origin's credentials."""
        if self.offline:
            raise OfflineError(f"offline: refusing to fetch {url}", where=url, hint=OFFLINE_HINT)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise HttpError(
                f"cannot fetch {url}: only http, https and file URLs are supported",
                url=url,
                status=None,
                hint="use an http(s):// or file:// index URL",
                transient=False,
            )
        # Plain http from the first request on: anyone on the path can answer that one, so a
        # later hop back from https to http weakens nothing (``origins.follow``'s downgrade).
        plain = urlsplit(url).scheme.lower() == "http"
        hosts = handed_out(self.own_hosts)  # a remote page's link or hop's: no local vouch
        for _hop in range(self.max_redirects + 1):
            response = self._send_with_retries(url, headers, stream, method, hosts)
            location = response.extensions.get(LOCATION)
            if response.status_code not in REDIRECTS or not location:
                return response, url
            response.close()
            # A redirect is a link the server hands out: the same rule as a page's links.
            came_from, status = url, response.status_code
            url = strip_credentials(
                follow(location, base=url, local=NO_LOCAL_ROOTS, where=url, downgrade=plain)
            )
            hosts = handed_out(hosts, came_from)
            if why := unfetchable(url):  # the server's answer is at fault: no retry helps
                raise HttpError(
                    f"{came_from} answered HTTP {status} with a Location mlenv cannot fetch: "
                    f"{printable(url, 200)!r} ({why})",
                    url=came_from,
                    status=status,
                    hint="the server's redirect is malformed; report it to its operator",
                )
        raise HttpError(
            f"more than {self.max_redirects} redirects fetching {url}",
            url=url,
            status=None,
            hint="the server redirects in a loop; check the index URL",
            transient=False,
        )

    def _send_with_retries(
        self, url: str, headers: Mapping[str, str], stream: bool, method: str, own: tuple[str, ...]
    ) -> httpx.Response:
        import httpx

        from mlenv.net.proxy import UnusableProxy

        client = self._http()
        request_headers = dict(headers)
        if authorization := self._authorization(url):
            request_headers["Authorization"] = authorization
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                ask = {OWN_HOSTS: own}  # judged by the exchange (origins.connect_to)
                request = client.build_request(method, url, headers=request_headers, extensions=ask)
                response = client.send(request, stream=stream)
            except UnusableProxy as exc:  # no retry helps: the proxy variable is at fault
                message = f"cannot fetch {url}: {exc}"
                raise HttpError(
                    message, url=url, status=None, hint=exc.hint, transient=False
                ) from None
            except (httpx.InvalidURL, UnicodeError) as exc:  # a host no IDNA can spell
                raise HttpError(
                    f"invalid URL {url}: {exc}",
                    url=url,
                    status=None,
                    hint="check the URL",
                    transient=False,
                ) from None
            except httpx.RequestError as exc:
                if last:
                    from mlenv.net.dns_said import request_failure

                    message, hint = request_failure(url, exc)
                    raise HttpError(message, url=url, status=None, hint=hint) from None
                self._sleep(self._delay(attempt, None))
                continue
            status = response.status_code
            if last or not busy(status):
                return response
            retry_after = response.headers.get("retry-after")
            response.close()
            self._sleep(self._delay(attempt, retry_after))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        # ASCII digits only: "²" (the Latin-1 byte 0xB2 as httpx decodes it) passes isdigit()
        # but float() refuses it, a traceback instead of a retry.
        seconds = (retry_after or "").strip()
        if seconds.isascii() and seconds.isdigit():
            return min(float(seconds), _MAX_BACKOFF)
        return float(min(self.backoff * 2**attempt, _MAX_BACKOFF))


def transfer_error(url: str, exc: httpx.HTTPError) -> HttpError:
    message = f"download of {url} broke off: {type(exc).__name__}: {exc}"
    return HttpError(message, url=url, status=None, hint="check the network and retry")


def _raise_for_status(response: httpx.Response, url: str) -> None:
    """Only a 2xx answer is a body, or a 304 a validator asked for (``conda.repodata``); a 3xx
    here was not followed (no Location, a 300, an unasked-for 304) and its empty body is no
    page, ``.metadata`` or wheel; nor is a part of one (206) that no ``Range`` asked for."""
    status, asked = response.status_code, response.request.headers
    validated = "if-none-match" in asked or "if-modified-since" in asked
    if (status < 300 and (status != 206 or "range" in asked)) or (status == 304 and validated):
        return
    raise HttpError(
        f"GET {url} failed: HTTP {status} {printable(response.reason_phrase, 80)}".rstrip(),
        url=url,
        status=status,
        hint=status_hint(status, url),
    )
