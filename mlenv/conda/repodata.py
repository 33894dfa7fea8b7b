"""Conda repodata as http(s) channels sent it, kept under ``<cache>/repodata-v1``.

Why: conda-forge's linux-64 ``repodata.json.zst`` is tens of MB, and a lock that fetched it
whole every time was slow and could not run ``--offline``. Each entry is one file, keyed by
the exact URL asked for (credentials stripped, so one per origin and path): a fixed-width JSON
head with the URL's sha256 (a token in its path is never written down), the validators (ETag,
Last-Modified) and the body's size and sha256, then the body as the server sent it (compressed,
when it sent a ``.zst``). A read checks size and digest while it copies, so a damaged or
truncated entry is a miss, never repodata. Written whole and renamed into place; bounded by
``$MLENV_REPODATA_CACHE_MAX``, least recently used first out.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlenv.cache import REPODATA
from mlenv.cache.files import open_plain
from mlenv.cache.layer_walk import real_dir, remove
from mlenv.index.caches import conditional

MAX_ENV = "MLENV_REPODATA_CACHE_MAX"
DEFAULT_MAX = 2 << 30  # a few channels' linux-64, aarch64 and noarch, compressed
HEAD_BYTES = 4096  # the JSON head, padded with spaces; a longer one is not stored
_KEPT = ("etag", "last-modified")


@dataclass(frozen=True)
class Stored:
    """An entry's head: what revalidating and checking the body need."""

    key: str  # the sha256 of the URL: a token in a channel's path is never written down
    headers: Mapping[str, str]  # the validators the server sent, lower-case names
    size: int  # bytes of the body; -1: the server said nothing is there
    sha256: str

    @property
    def absent(self) -> bool:
        return self.size < 0

    def validators(self) -> dict[str, str]:
        return conditional(self.headers)


def max_size(env: Mapping[str, str]) -> int:
    """``$MLENV_REPODATA_CACHE_MAX`` in bytes (as ``$MLENV_LAYER_CACHE_MAX`` is written)."""
    from mlenv.cache.layers import parse_size

    raw = env.get(MAX_ENV, "").strip()
    return DEFAULT_MAX if not raw else parse_size(raw, MAX_ENV)


class RepodataCache:
    """Entries by URL below ``<cache_root>/repodata-v1``; safe against concurrent locks (each
    write is a rename, each read checks what it reads)."""

    def __init__(self, cache_root: Path) -> None:
        self.cache_root = cache_root
        self.root = cache_root / REPODATA

    @staticmethod
    def relative(url: str) -> str:
        digest = _key(url)
        return f"{REPODATA}/{digest[:2]}/{digest}"

    @contextmanager
    def open(self, url: str) -> Iterator[tuple[Stored, BinaryIO] | None]:
        """The entry's head and its body positioned at the start; None when absent, not this
        user's, not a plain file, or its head is damaged or names another URL. The body is
        still to be checked against ``Stored.size``/``sha256`` (``Checked``)."""
        try:
            handle = open_plain(self.cache_root, self.relative(url), private=1)
        except (OSError, ValueError):
            yield None
            return
        with handle:
            head = _head(handle.read(HEAD_BYTES), url)
            if head is not None:
                with suppress(OSError):
                    os.utime(handle.fileno())  # most recently used: pruned last
            yield None if head is None else (head, handle)

    def store(self, url: str, headers: Mapping[str, str], body: Path | None) -> None:
        """Keep ``body`` (a finished download, moved into the cache) as ``url``'s answer, or
        that nothing is there (``body`` None). Best effort: a cache that cannot be written
        costs speed, never correctness; ``body`` is left in place then."""
        size, digest = -1, ""
        if body is not None:
            size, digest = _digest(body)
        kept = {k: headers[k] for k in _KEPT if k in headers}
        if body is None:
            self._write(url, kept, size, digest, None)
            return
        with body.open("rb") as source:
            self._write(url, kept, size, digest, source)

    def refresh(self, url: str, headers: Mapping[str, str]) -> None:
        """A 304's validators in place of the stored ones (RFC 9111 4.3.4: a stored response
        is updated with the header fields the 304 carries): a server that sends a new ETag or
        Last-Modified with its 304 is asked with those next time, not with ones it may no
        longer match. The body is kept as it is; nothing is written when nothing changed."""
        sent = {k: headers[k] for k in _KEPT if k in headers}
        with self.open(url) as found:
            if found is None or found[0].absent:
                return
            stored, body = found
            merged = {**stored.headers, **sent}
            if merged != dict(stored.headers):
                self._write(url, merged, stored.size, stored.sha256, body)

    def _write(
        self, url: str, kept: Mapping[str, str], size: int, digest: str, body: BinaryIO | None
    ) -> None:
        """One entry, written whole beside its place and renamed into it."""
        record = {"key": _key(url), "headers": dict(kept), "size": size, "sha256": digest}
        head = json.dumps(record)
        padded = head.encode().ljust(HEAD_BYTES - 1) + b"\n"
        if len(padded) > HEAD_BYTES:
            return
        target = self.cache_root / self.relative(url)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(padded)
                if body is not None:
                    while chunk := body.read(1 << 20):
                        out.write(chunk)
            tmp.replace(target)
        except OSError:
            tmp.unlink(missing_ok=True)

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last use, size, path) of every plain file in a shard: never through a symlink."""
        return sorted((used, size, path) for used, size, path, plain in self._walk() if plain)

    def _walk(self) -> list[tuple[float, int, Path, bool]]:
        """Everything in the bucket's shards, and whether it is a plain file (anything else
        is junk no lock reads); the bucket and shards must be real directories."""
        found: list[tuple[float, int, Path, bool]] = []
        for shard in _scan(self.root) if real_dir(self.root) else []:
            if shard.is_dir(follow_symlinks=False):
                for entry in _scan(Path(shard.path)):
                    info = entry.stat(follow_symlinks=False)
                    plain = stat.S_ISREG(info.st_mode)
                    found.append((info.st_mtime, info.st_size, Path(entry.path), plain))
        return found

    def usage(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def prune(self, limit: int, keep: Collection[str] = ()) -> tuple[int, int]:
        """Drop the least recently used entries (``keep``: URLs just used, dropped last) until
        at most ``limit`` bytes stay; and whatever no lock can read (a symlink, a temporary
        file a killed lock left a day ago). Returns (entries removed, bytes freed). Removal
        renames through directories opened without following a symlink (``layer_walk``)."""
        kept = {Path(self.relative(url)).name for url in keep}
        removed = freed = 0
        day_ago = time.time() - 24 * 3600
        found = sorted(self._walk(), key=lambda e: (e[2].name in kept, e[0], e[2].name))
        total = sum(size for _, size, _, plain in found if plain)
        for used, size, path, plain in found:
            temporary = path.name.startswith(".")  # another lock's write, still to be renamed
            junk = not plain or (temporary and used < day_ago)
            if (total <= limit or temporary) and not junk:
                continue
            try:
                remove(self.cache_root, REPODATA, path.relative_to(self.root).parts)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            if plain:
                removed, freed, total = removed + (not temporary), freed + size, total - size
        return removed, freed


class Checked:
    """A body read through, its size and sha256 compared with the head's at the end."""

    def __init__(self, body: BinaryIO, head: Stored) -> None:
        self._body = body
        self._head = head
        self._hash = hashlib.sha256()
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        left = self._head.size - self._read
        chunk = self._body.read(left + 1 if size < 0 else min(size, left + 1))
        self._read += len(chunk)
        self._hash.update(chunk)
        return chunk

    def intact(self) -> bool:
        """Whether the body (read to its end here: a decompressor may stop at its frame's)
        has exactly the stored size and digest."""
        while self._read <= self._head.size and self.read(1 << 20):
            pass
        return self._read == self._head.size and self._hash.hexdigest() == self._head.sha256


def _head(data: bytes, url: str) -> Stored | None:
    if len(data) != HEAD_BYTES or not data.endswith(b"\n"):
        return None
    try:
        record = json.loads(data)
        headers = record["headers"]
        stored = Stored(str(record["key"]), dict(headers), int(record["size"]), record["sha256"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    valid = all(isinstance(v, str) for v in stored.headers.values())
    return stored if valid and stored.key == _key(url) and isinstance(stored.sha256, str) else None


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as found:
            return list(found)
    except OSError:
        return []
