"""URL helpers that keep credentials out of everything mlenv records or prints."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from mlenv.net.origins import Origin as Origin
from mlenv.net.origins import file_url_to_path as file_url_to_path
from mlenv.net.origins import origin as origin
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


def nearest_credentials(by_url: Mapping[str, Credentials], url: str) -> Credentials | None:
    """The credentials of the URL sharing the most leading path segments with ``url`` (an
    index's files beside its /simple page too), when one shares more than any other; None
    leaves the origin's own. Only ever asked for a request to that URL's origin."""
    segments = url.split("/")

    def shared(known: str) -> int:
        count = 0
        for mine, theirs in zip(known.rstrip("/").split("/"), segments, strict=False):
            if mine != theirs:
                break
            count += 1
        return count

    scores = sorted(((shared(known), known) for known in by_url), reverse=True)
    if not scores or scores[0][0] <= 3 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
        return None  # 3: "https:", "", host: the origin alone says nothing more
    return by_url[scores[0][1]]


def metadata_url(file_url: str) -> str:
    """A file's PEP 658 ``.metadata``: ``.metadata`` after the file's path, its query kept (a
    token a private index puts on every link), as uv sets it. Appended as text, it landed
    in the query (``x.whl?key=K.metadata``): the file itself was asked for, with a wrong key."""
    parts = urlsplit(file_url)
    return urlunsplit((parts.scheme, parts.netloc, f"{parts.path}.metadata", parts.query, ""))


def project_page(index_url: str, project: str) -> str:
    """A project's page below a simple index (PEP 503: ``<index>/<name>/``). The name is a path
    segment: a query the index URL carries (a token some private indexes take, ``?key=...``)
    stays the page's query, as uv keeps it, and a fragment, never sent, is dropped. Joined as
    text, the name landed inside the query (``/simple?key=K/torch/``): the root page read."""
    parts = urlsplit(index_url)
    path = f"{parts.path.rstrip('/')}/{project}/"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
