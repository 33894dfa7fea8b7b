"""Registry authentication: Basic or a Bearer token from the realm the registry names
(``WWW-Authenticate``), and the request hook every registry request passes, which keeps
credentials with their origin (security invariants 3 and 5)."""

from __future__ import annotations

import base64
import re
import time
import zlib
from collections.abc import Generator, Iterator, Mapping

import httpx

from mlenv.errors import printable
from mlenv.limits import enforce, parse_json
from mlenv.net.hosts import is_link_local
from mlenv.net.origins import (
    OWN_HOSTS,
    UnsafeUrlError,
    follow,
    may_send_credentials,
    own_hosts,
)
from mlenv.oci.credentials import Credentials
from mlenv.oci.model import JSON_LIMIT
from mlenv.oci.reference import RegistryError
from mlenv.redaction import redact

# a name starts where no name character is before it: from inside a long run of them, every
# start would scan the rest of it again (quadratic in a hostile registry's header)
_CHALLENGE_PARAM = re.compile(r'(?<![A-Za-z_])([A-Za-z_]+)=(?:"([^"]*)"|([^\s,]*))')


# seconds a registry may take to send one whole answer that is not a blob (a manifest, a
# token, an error body: 16 MiB at most, JSON_LIMIT); the read timeout only bounds each pause, so
# a registry trickling a byte a minute would otherwise hold a fetch for ever
ANSWER_SECONDS = 300.0
_TOKEN_REALM = "mlenv-token-realm"  # request extension: this request fetches a Bearer token
# request extension: this request downloads a blob (kept across redirects, to storage too)
BLOB_DOWNLOAD = "mlenv-blob-download"


def guard_request(registry: str, request: httpx.Request) -> None:
    """The wall every request to or on behalf of ``registry`` (its URL) passes, installed as
    an httpx request hook so redirects, upload ``Location``s and token requests meet it too.

    The URL must be one mlenv may follow from the registry (``origins.follow``: http(s), not
    this machine unless the registry is on it, nor link-local unless it is), and an
    ``Authorization`` header is removed unless ``origins.may_send_credentials`` allows it: the
    registry's own origin, or the token realm it named for a token request.
    """
    url = str(request.url)
    try:
        follow(url, base=registry, where=url_where(request.url), downgrade=True)
        if is_link_local(request.url.host) and not is_link_local(httpx.URL(registry).host):
            raise UnsafeUrlError(  # a redirect or upload Location to cloud instance metadata
                f"refusing to follow {url_where(request.url)!r}: it is a link-local address "
                "(cloud instance metadata), and the registry is not",
                where=url_where(request.url),
                hint="a registry may send mlenv only to http(s) hosts that are not this "
                "machine's or its link's; report the redirect to the registry's operator",
            )
    except UnsafeUrlError as error:
        raise RegistryError(error.message, where=error.where, hint=error.hint) from None
    # the registry's host is the user's own: it alone may resolve to the link (the exchange
    # judges every address it connects to, ``origins.connect_to``); a redirect's host is not
    request.extensions[OWN_HOSTS] = own_hosts([registry])
    realm = bool(request.extensions.get(_TOKEN_REALM))
    if not may_send_credentials(registry, url, token_realm=realm):
        request.headers.pop("Authorization", None)


def readable_redirect(response: httpx.Response) -> None:
    """A redirect's ``Location`` is judged before httpx follows it (an httpx response hook,
    run before the next hop is built): httpx raised a bare ``UnicodeError`` or ``ValueError``
    for one it could not read (``xn--``, an empty label, a zero-width character), which ended
    a push or a pull as an internal error. It is the registry's fault, told as such."""
    location = response.headers.get("Location")
    if not response.has_redirect_location or location is None:
        return
    from mlenv.index.redirects import unfetchable

    # joined as httpx will join it for the next hop: urljoin raised a bare ValueError for an
    # unclosed or invalid IPv6 literal (``http://[::1/x``), an internal error again
    why: str | None
    try:
        target = str(response.request.url.join(location))
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        target, why = location, str(exc) or type(exc).__name__
    else:
        why = unfetchable(target)
    if why is not None:
        raise RegistryError(
            f"the registry answered HTTP {response.status_code} with a Location mlenv cannot "
            f"fetch: {printable(target, 200)!r} ({why})",
            where=url_where(response.request.url),
            hint="the registry's redirect is malformed; report it to its operator",
        )


def bound_answer(response: httpx.Response) -> None:
    """The wall every registry answer passes (an httpx response hook, so token answers, error
    bodies and upload replies meet it too): its body is decoded here and refused past
    ``JSON_LIMIT`` bytes, counted while streaming and after decompression, so a registry that
    answers an endless or decompression-bomb body is a clear error with bounded memory. Only a
    blob being downloaded is left whole: its reader streams it and checks its digest."""
    request = response.request
    if request.extensions.get(BLOB_DOWNLOAD) and response.status_code == 200:
        return
    stream = response.stream
    assert isinstance(stream, httpx.SyncByteStream)  # the registry client is synchronous
    encoding = response.headers.pop("Content-Encoding", "identity").strip().lower()
    response.stream = _BoundedStream(stream, encoding, url_where(request.url))


class _BoundedStream(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, encoding: str, where: str) -> None:
        self._stream = stream
        self._encoding = encoding
        self._where = where

    def __iter__(self) -> Iterator[bytes]:
        count = 0
        deadline = time.monotonic() + ANSWER_SECONDS
        for chunk in self._decoded():
            count += len(chunk)
            enforce(count, JSON_LIMIT, "bytes in the registry's answer", where=self._where)
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"the registry took more than {ANSWER_SECONDS:g} s to send one answer "
                    f"({count} bytes so far)",
                    where=self._where,
                    hint="the registry or the network is stalling; try again, or report it to "
                    "the registry's operator",
                )
            yield chunk

    def _decoded(self) -> Iterator[bytes]:
        if self._encoding in ("", "identity"):
            yield from self._stream
            return
        if self._encoding not in ("gzip", "x-gzip", "deflate"):
            raise RegistryError(
                f"the registry answered in an encoding mlenv did not ask for: "
                f"{printable(self._encoding, 40)}",
                where=self._where,
                hint="mlenv asks registries for uncompressed answers (Accept-Encoding: identity)",
            )
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by the header
        try:
            for chunk in self._stream:
                while chunk:  # at most 64 KiB out per step: a bomb is stopped by the count
                    yield inflate.decompress(chunk, 1 << 16)
                    chunk = inflate.unconsumed_tail
            yield inflate.flush()
        except zlib.error as error:
            raise RegistryError(
                f"the registry's {self._encoding} answer is damaged: {error}", where=self._where
            ) from None

    def close(self) -> None:
        self._stream.close()


class ChallengeAuth(httpx.Auth):
    """Answers a 401's WWW-Authenticate from the registry itself: Basic with the credentials,
    or Bearer by fetching a token from the realm (with the credentials, if any); the header is
    then sent up front, to the registry's origin only."""

    # False: httpx would read every answer whole, a blob download too (unbounded memory);
    # only the token answer's body is needed, and the flow reads it itself
    requires_response_body = False

    def __init__(
        self, registry: str, credentials: Credentials | None, scopes: tuple[str, ...]
    ) -> None:
        self._registry = registry
        self._credentials = credentials
        self._scopes = scopes
        self._header: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        own = may_send_credentials(self._registry, str(request.url))
        if self._header is not None and own:
            request.headers["Authorization"] = self._header
        response = yield request
        if response.status_code != 401 or not own:
            return  # another host's challenge is never answered with this registry's secrets
        scheme, _, rest = response.headers.get("WWW-Authenticate", "").partition(" ")
        params = {
            key.lower(): quoted or bare for key, quoted, bare in _CHALLENGE_PARAM.findall(rest)
        }
        if scheme.lower() == "basic" and self._credentials is not None:
            header = _basic(self._credentials)
            if header == self._header:
                return  # these credentials were refused already
        elif scheme.lower() == "bearer" and params.get("realm"):
            token_response = yield self._token_request(params)
            token_response.read()  # bounded by bound_answer, as every non-blob answer
            header = f"Bearer {_token(token_response)}"
        else:
            return
        self._header = header
        request.headers["Authorization"] = header
        yield request

    def _token_request(self, params: Mapping[str, str]) -> httpx.Request:
        realm = params["realm"]
        try:  # the registry's words: judged here, where its 401 can be named as the cause
            if is_link_local(httpx.URL(realm).host) and not is_link_local(
                httpx.URL(self._registry).host
            ):  # cloud instance metadata: fetched at all, even without credentials, it is SSRF
                raise UnsafeUrlError("it is a link-local address (cloud instance metadata)")
            withheld = self._credentials is not None and not may_send_credentials(
                self._registry, realm, token_realm=True
            )
            if not withheld:
                follow(realm, base=self._registry, where=self._registry, downgrade=True)
        except (UnsafeUrlError, httpx.InvalidURL, UnicodeError, ValueError) as error:
            why = error.message if isinstance(error, UnsafeUrlError) else str(error)
            raise RegistryError(
                f"the registry's 401 names a token realm mlenv will not fetch: "
                f"{printable(realm, 200)!r} ({printable(why, 200)})",
                where=self._registry,
                hint="a token realm must be an http(s) URL (on this machine, or link-local, only "
                "when the registry is); the registry's WWW-Authenticate is malformed or hostile, "
                "report it to its operator",
            ) from None
        if withheld:
            raise RegistryError(
                "refusing to send the registry's credentials to the token realm "
                f"{printable(realm, 200)}",
                where=self._registry,
                hint="a token realm must be https (or the registry's own scheme) and may be on "
                "this machine only when the registry is; check the registry's address",
            )
        scopes = dict.fromkeys(scope for scope in (*self._scopes, params.get("scope")) if scope)
        query: dict[str, str | list[str]] = {"scope": list(scopes)}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {} if self._credentials is None else {"Authorization": _basic(self._credentials)}
        return httpx.Request(
            "GET", realm, params=query, headers=headers, extensions={_TOKEN_REALM: True}
        )


_TOKEN = re.compile(r"[!-~]+")


def _token(response: httpx.Response) -> str:
    realm = url_where(response.request.url)
    if response.status_code != 200:
        raise RegistryError(
            f"the token service refused: HTTP {response.status_code} "
            f"{printable(response.reason_phrase, 80)}",
            where=realm,
            hint="check the credentials in the Docker config file (`docker login`)",
        )
    try:
        body = parse_json(response.content, where=realm)
    except ValueError as error:  # not UTF-8, not JSON, or past the integer-digit limit
        raise RegistryError("the token service answered no JSON", where=realm) from error
    token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        # it goes into an Authorization header: visible ASCII only, or it breaks the request
        raise RegistryError("the token service answered no usable token", where=realm)
    return token


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def url_where(url: httpx.URL) -> str:
    """A URL for messages: upload-session state in the query is noise; secrets are masked."""
    return redact(str(url.copy_with(query=None)))
