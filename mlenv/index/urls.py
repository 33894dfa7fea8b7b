"""URL helpers that keep credentials out of everything mlenv records or prints."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from mlenv.origins import Origin as Origin
from mlenv.origins import file_url_to_path as file_url_to_path
from mlenv.origins import origin as origin
from mlenv.redaction import redact_urls

Credentials = tuple[str, str]


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """The URL without its userinfo, and the ``(user, password)`` it carried, if any."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, (unquote(user), unquote(password))


def strip_credentials(url: str) -> str:
    return split_credentials(url)[0]


def recordable(url: str) -> str:
    """The URL as a lock or an export records it (security invariant 5): no userinfo, and
    every secret ``redaction.redact`` knows (``?token=``, signed-URL signatures, ``/t/<token>``)
    as ``***``. A lock is committed and shared; a secret in it has left its origin."""
    return redact_urls(strip_credentials(url))


def is_file_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() == "file"


def location_to_url(location: str) -> str:
    """Accept a plain path wherever a URL is expected, as pip does for find-links."""
    if "://" in location:
        return location
    return Path(location).absolute().as_uri()
