"""On-disk caches of the index client, under a versioned directory of a root the caller picks.

``<root>/http-v1/`` holds index pages with their validators; ``<root>/metadata-v1/`` holds core
metadata by wheel sha256. Caches need atomic writes (a reader never sees a torn entry) but not
durability, so writes skip the fsync of ``mlenv.atomic``: on a cold lock it would dominate.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from mlenv.index.model import valid_sha256

# Response headers worth keeping: what parsing and revalidation need, nothing else.
KEPT_HEADERS = ("content-type", "etag", "last-modified", "cache-control", "age", "date")


def _write(path: Path, data: bytes) -> None:
    """Best effort: a cache that cannot be written costs speed, never correctness."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _directives(cache_control: str) -> dict[str, str]:
    result = {}
    for part in cache_control.split(","):
        key, _, value = part.strip().partition("=")
        if key:
            result[key.lower()] = value.strip().strip('"')
    return result


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


@dataclass(frozen=True)
class CachedPage:
    url: str  # final URL after redirects: relative links resolve against it
    headers: Mapping[str, str]
    content: bytes
    stored_at: float

    def is_fresh(self, now: float) -> bool:
        directives = _directives(self.headers.get("cache-control", ""))
        if "no-cache" in directives or "max-age" not in directives:
            return False
        lifetime = _int(directives["max-age"]) - _int(self.headers.get("age"))
        return now - self.stored_at < lifetime

    def validators(self) -> dict[str, str]:
        """Headers for a conditional request; empty when the server gave no validator."""
        headers = {}
        if etag := self.headers.get("etag"):
            headers["If-None-Match"] = etag
        if modified := self.headers.get("last-modified"):
            headers["If-Modified-Since"] = modified
        return headers


def is_storable(headers: Mapping[str, str]) -> bool:
    """Worth storing: not forbidden, and either fresh for a while or revalidatable."""
    directives = _directives(headers.get("cache-control", ""))
    if "no-store" in directives:
        return False
    return _int(directives.get("max-age")) > 0 or "etag" in headers or "last-modified" in headers


class HttpCache:
    """Index pages keyed by URL and Accept header, revalidated as HTTP caching headers say."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = root / "http-v1"
        self.clock = clock

    def _path(self, url: str, accept: str) -> Path:
        key = hashlib.sha256(f"{url}\n{accept}".encode()).hexdigest()
        return self.directory / key[:2] / key

    def load(self, url: str, accept: str) -> CachedPage | None:
        """The stored page, or None when absent or unreadable (a damaged entry is a miss)."""
        try:
            head, _, content = self._path(url, accept).read_bytes().partition(b"\n")
            record = json.loads(head)
            return CachedPage(
                url=str(record["url"]),
                headers={str(k): str(v) for k, v in record["headers"].items()},
                content=content,
                stored_at=float(record["stored_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def store(self, url: str, accept: str, page: CachedPage) -> None:
        record = {"url": page.url, "headers": dict(page.headers), "stored_at": page.stored_at}
        head = json.dumps(record, sort_keys=True).encode()
        _write(self._path(url, accept), head + b"\n" + page.content)

    def page(self, final_url: str, headers: Mapping[str, str], content: bytes) -> CachedPage:
        kept = {k: headers[k] for k in KEPT_HEADERS if k in headers}
        return CachedPage(final_url, kept, content, self.clock())

    def revalidated(self, page: CachedPage, headers: Mapping[str, str]) -> CachedPage:
        """The page after a 304: same body, fresh clock, validators the 304 updated."""
        kept = {k: v for k, v in page.headers.items() if k != "age"}
        kept.update({k: headers[k] for k in KEPT_HEADERS if k in headers and k != "content-type"})
        return replace(page, headers=kept, stored_at=self.clock())


class MetadataCache:
    """Raw METADATA by wheel sha256: immutable, so a warm re-lock reads no metadata remotely."""

    def __init__(self, root: Path) -> None:
        self.directory = root / "metadata-v1"

    def _path(self, sha256: str) -> Path | None:
        digest = valid_sha256(sha256)
        return self.directory / digest[:2] / f"{digest}.METADATA" if digest else None

    def get(self, sha256: str) -> bytes | None:
        path = self._path(sha256)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if path is not None:
            _write(path, data)
