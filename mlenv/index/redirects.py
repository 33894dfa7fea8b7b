"""A redirect's Location kept from httpx, and whether httpx can request a URL at all: the two
facts ``http.HttpClient._send`` needs to follow redirects by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

LOCATION = "mlenv.location"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def hold_location(response: httpx.Response) -> None:
    """An httpx response hook: a redirect's Location moved into ``extensions[LOCATION]``.
    httpx builds the next request from it even when told not to follow, and raised on one it
    cannot read (a protocol or IDNA error, retried as a network failure) before mlenv saw the
    answer."""
    if response.status_code in REDIRECTS and "location" in response.headers:
        response.extensions[LOCATION] = response.headers["location"]
        del response.headers["location"]


def unfetchable(url: str) -> str | None:
    """Why httpx cannot request ``url`` (which ``origins.follow`` allowed), or None: a host
    no IDNA spells (an empty label, one past 63 characters, ``xn--`` alone), a URL too long."""
    import httpx

    try:
        parsed = httpx.URL(url)
        parsed.host  # noqa: B018  (decoding an A-label httpx cannot read raises)
        # The ASCII host httpx sends, as the socket encodes it (an empty label, one past 63
        # characters): never the Unicode form through Python's IDNA 2003 codec, which refuses
        # hosts IDNA 2008 spells (a Hebrew or Arabic label ending in a digit, ``אב1.co.il``).
        host = parsed.raw_host.decode("ascii")
        if host and not host.startswith("["):
            host.encode("idna")
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None
