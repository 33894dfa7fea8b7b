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
        host = httpx.URL(url).host
        if host and not host.startswith("["):
            host.encode("idna")
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None
