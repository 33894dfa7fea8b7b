"""URL helpers that keep credentials out of everything mlenv records or prints."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

Credentials = tuple[str, str]
Origin = tuple[str, str, int]

_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def origin(url: str) -> Origin:
    """Scheme, host and port: credentials are only ever sent back to the origin they came with."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme, 0)


def is_file_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() == "file"


def file_url_to_path(url: str) -> Path:
    """The local path of a file: URL; on POSIX (mlenv's only platform) ``url2pathname`` is
    ``unquote``, and importing urllib.request would load http.client, email and ssl."""
    return Path(unquote(urlsplit(url).path))


def location_to_url(location: str) -> str:
    """Accept a plain path wherever a URL is expected, as pip does for find-links."""
    if "://" in location:
        return location
    return Path(location).absolute().as_uri()
