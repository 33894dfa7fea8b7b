"""What an index's HTTP status means: worth asking again, nothing there, or what to tell the
user. One place, so the page, ``.metadata`` and download paths read a status alike."""

from __future__ import annotations

from urllib.parse import urlsplit


def busy(status: int) -> bool:
    """An answer that may differ when asked again: 408 (the server gave up waiting), 429, 5xx;
    the statuses uv's client retries."""
    return status in (408, 429) or status >= 500


def absent(status: int | None, url: str) -> bool:
    """Whether the answer says nothing is there (no page for a project, no ``.metadata`` beside
    a file): 404 or 410, and 403 from PyTorch's index, whose S3 store answers 403 for a key it
    lacks (uv's rule, there only). Anywhere else a 403 is a refusal: the lock stops rather than
    let the next index answer for a private project."""
    if status in (404, 410):
        return True
    host = (urlsplit(url).hostname or "").rstrip(".")
    return status == 403 and (host == "pytorch.org" or host.endswith(".pytorch.org"))


def status_hint(status: int, url: str) -> str:
    host = urlsplit(url).hostname or url
    if status == 401:
        return (
            f"{host} asks for credentials; put them in the index URL before its host "
            f"(user:token@{host}) or in ~/.netrc (or the file $NETRC names)"
        )
    if status == 403:
        return f"{host} refused access; check that the credentials for {host} are valid"
    if status < 400:
        return "the server answered neither a whole file nor a redirect mlenv can follow; retry"
    if status in (404, 410):
        return "check the URL; nothing exists there"
    if busy(status):
        return f"{host} is failing or rate limiting; try again later or use a mirror"
    return f"check the URL and that {host} is a package index"
