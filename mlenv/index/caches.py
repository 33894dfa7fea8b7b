"""On-disk caches of the index client, under a versioned directory of a root the caller picks.

``<root>/http-v1/`` holds index pages with their validators; ``<root>/metadata-v2/`` holds parsed
core metadata under ``metadata_key`` (never under a wheel hash an index merely claims). Caches
need atomic writes (a reader never sees a torn entry) but not durability, so writes skip the
fsync of ``mlenv.atomic``: on a cold lock it would dominate.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv import watch
from mlenv.cache import HTTP, METADATA
from mlenv.cache.files import open_plain, write_entry
from mlenv.index.model import CoreMetadata, valid_sha256
from mlenv.index.urls import file_url_to_path, is_file_url
from mlenv.limits import MAX_BODY_BYTES
from mlenv.net.origins import UnsafeUrlError, follow

# Response headers worth keeping: what parsing and revalidation need, nothing else.
KEPT_HEADERS = ("content-type", "etag", "last-modified", "cache-control", "age", "date")


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
    """An index page as stored, with what revalidating it needs."""

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
        return conditional(self.headers)


def conditional(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers for a conditional request from an answer's (lower-case) ones: pages and conda
    repodata alike; empty when the server gave no validator."""
    asked = {}
    if etag := headers.get("etag"):
        asked["If-None-Match"] = etag
    if modified := headers.get("last-modified"):
        asked["If-Modified-Since"] = modified
    return asked


def is_storable(headers: Mapping[str, str]) -> bool:
    """Worth storing unless forbidden: a page with neither a lifetime nor a validator (a
    mirror or proxy that sends no caching header) is never fresh online, but it is what
    ``lock --offline`` reads later, as uv keeps it for ``--offline``."""
    return "no-store" not in _directives(headers.get("cache-control", ""))


class HttpCache:
    """Index pages keyed by URL and Accept header, revalidated as HTTP caching headers say."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.directory = root / HTTP
        self.clock = clock

    def _path(self, url: str, accept: str) -> Path:
        key = hashlib.sha256(f"{url}\n{accept}".encode()).hexdigest()
        return self.directory / key[:2] / key

    def load(self, url: str, accept: str) -> CachedPage | None:
        """The stored page, or None when absent or unreadable: a damaged entry, a FIFO or a
        symlink planted in the shared cache, or one past any page's size, is a miss. So is one
        whose final URL ``url`` may not redirect to (``origins.follow``): an older mlenv stored
        https pages redirected to plain http, whose links would stay plain http for ever."""
        try:
            path = self._path(url, accept)
            with open_plain(self.root, path.relative_to(self.root).as_posix()) as handle:
                data = handle.read(MAX_BODY_BYTES + (1 << 20))
            if len(data) == MAX_BODY_BYTES + (1 << 20):
                return None
            head, _, content = data.partition(b"\n")
            record = json.loads(head)
            page = CachedPage(
                url=str(record["url"]),
                headers={str(k): str(v) for k, v in record["headers"].items()},
                content=content,
                stored_at=float(record["stored_at"]),
            )
            follow(page.url, base=url, where=url)
            return page
        except (
            OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError,
            UnsafeUrlError,
        ):  # fmt: skip
            return None

    def store(self, url: str, accept: str, page: CachedPage) -> None:
        record = {"url": page.url, "headers": dict(page.headers), "stored_at": page.stored_at}
        head = json.dumps(record, sort_keys=True).encode()
        write_entry(self._path(url, accept), head + b"\n" + page.content)

    def page(self, final_url: str, headers: Mapping[str, str], content: bytes) -> CachedPage:
        kept = {k: headers[k] for k in KEPT_HEADERS if k in headers}
        return CachedPage(final_url, kept, content, self.clock())

    def revalidated(self, page: CachedPage, headers: Mapping[str, str]) -> CachedPage:
        """The page after a 304: same body, fresh clock, validators the 304 updated."""
        kept = {k: v for k, v in page.headers.items() if k != "age"}
        kept.update({k: headers[k] for k in KEPT_HEADERS if k in headers and k != "content-type"})
        return replace(page, headers=kept, stored_at=self.clock())


@dataclass(frozen=True)
class MetadataOrigin:
    """Where a distribution's metadata bytes are read, and what vouches for them.

    ``sha256`` is the hash of the metadata bytes themselves, checked at the read that stores
    them (the PEP 658/714 hash); ``stamp`` says what must be unchanged at an unverified origin
    (a local file's size, mtime and inode; a remote wheel's claimed sha256). Neither alone is
    ever a wheel hash an index merely claims.
    """

    url: str
    sha256: str | None = None
    stamp: str | None = None


def metadata_key(origin: MetadataOrigin) -> str | None:
    """The one key metadata is cached under (docs/security.md, invariant 2); None: do not cache.

    Verified bytes are keyed by their own sha256: any index that publishes the same hash has
    the same bytes, so sharing is safe. Unverified bytes are keyed by the exact URL they were
    read from plus its stamp, so no other index, and no changed file, can ever be served them.
    """
    digest = valid_sha256(origin.sha256)
    if digest is not None:
        return f"sha256:{digest}"
    if origin.stamp is None:
        return None
    return "origin:" + json.dumps([origin.url, origin.stamp])


def origin_stamp(url: str, claimed_sha256: str | None) -> str | None:
    """What identifies the current bytes at an unverified origin; None when nothing does."""
    if is_file_url(url):
        watch.probed(file_url_to_path(url))  # the metadata read is of these bytes
        try:
            stat = file_url_to_path(url).stat()
        except OSError:
            return None
        # the change time too: a rewrite in place that keeps size and restores the mtime
        # is another file, whose metadata (and every lock remembered from it) must be read again
        size, ino, dev = stat.st_size, stat.st_ino, stat.st_dev
        return f"stat:{size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{ino}:{dev}"
    claimed = valid_sha256(claimed_sha256)
    return f"claimed-sha256:{claimed}" if claimed else None


MAX_RECORD_BYTES = 4 * 1024 * 1024  # a parsed record is a few KB; a bigger file is not ours


class MetadataCache:
    """Parsed core metadata (what the resolver needs), one small JSON record per key.

    The key comes from ``metadata_key`` only and is stored in the record, so a record filed
    under another key is a miss. A damaged or foreign record is a miss, never an error.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.directory = root / METADATA

    @staticmethod
    def _relative(key: str) -> str:
        """Where the record of ``key`` lives below the root, as ``open_plain`` takes it."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{METADATA}/{digest[:2]}/{digest}.json"

    def _path(self, key: str) -> Path:
        return self.root / self._relative(key)

    def get(self, key: str) -> CoreMetadata | None:
        try:
            with open_plain(self.root, self._relative(key)) as handle:  # a FIFO must not block
                record = json.loads(handle.read(MAX_RECORD_BYTES + 1))
            if record.get("key") != key or not isinstance(record.get("version"), str):
                return None
            requires_dist, extras = record["requires-dist"], record["provides-extra"]
            requires_python = record["requires-python"]
            if not (
                isinstance(record["name"], str)
                and _strings(requires_dist)
                and _strings(extras)
                and (requires_python is None or isinstance(requires_python, str))
            ):
                return None
            return CoreMetadata(
                name=canonicalize_name(record["name"]),
                version=Version(record["version"]),
                requires_dist=tuple(requires_dist),
                requires_python=requires_python,
                provides_extra=tuple(extras),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, InvalidVersion):
            return None
        except RecursionError:  # a record nested past the JSON parser's guard
            return None

    def put(self, key: str, meta: CoreMetadata) -> None:
        record = {
            "key": key,
            "name": meta.name,
            "version": str(meta.version),
            "requires-dist": list(meta.requires_dist),
            "requires-python": meta.requires_python,
            "provides-extra": list(meta.provides_extra),
        }
        write_entry(self._path(key), json.dumps(record, separators=(",", ":")).encode())


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
