"""Verdicts that a lock is fresh for its manifest, kept by the exact bytes of both.

``mlenv lock --check`` runs in every CI job and ``mlenv lock`` on every change, and most of
the time the lock is fresh. The full check (``mlenv.uptodate``) needs the TOML parser, the lock
reader and packaging: more time in imports than uv takes for a whole warm compile. Once the
full check has said "fresh" for a manifest's and a lock's exact bytes, the verdict is kept
here; the next check reads both files, hashes them and finds the entry, importing nothing but
this module and ``mlenv.cache.files``.

What the verdict depends on, and so what a hit requires:

- the two files' bytes: both are in the key (a verdict says nothing about the paths, the
  full check reads nothing else);
- the code that judged them: the entry lists every source file of mlenv and packaging that
  was loaded when the verdict was given (a module the check did not load cannot have changed
  it), by size, modification time and inode, and any change to any of them is a miss; the
  Python version is in the key;
- who wrote it: like a reused layer, an entry is used only when this user wrote it and no one
  else can change it (``files.open_plain(..., private=1)``), and it names its own key, so an
  entry copied or linked to another key is a miss.

Anything unusual (a manifest that is not a plain file, an unreadable cache) is a miss, never
an error: the full check then runs and reports it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from mlenv.cache import BUNDLE_INDEX, FRESH
from mlenv.cache.files import open_plain, write_entry

_VERSION = b"mlenv-fresh-v1"
MAX_INPUT_BYTES = 8 << 20  # more than any real lock; a bigger one goes to the full CLI
_MAX_ENTRY_BYTES = 1 << 20
_JUDGES = ("mlenv", "packaging")  # the packages whose code gives the verdict


def read_plain(path: Path) -> bytes | None:
    """The bytes of the plain file at ``path``, or None for anything else (missing, a FIFO,
    a directory, too big, unreadable): the full check says what is wrong with it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_INPUT_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, MAX_INPUT_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_INPUT_BYTES:  # grew while read
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks)


def verdict_key(manifest: bytes, lock: bytes) -> str:
    hasher = hashlib.sha256(_VERSION + b"\0" + sys.version.encode() + b"\0")
    hasher.update(hashlib.sha256(manifest).digest())
    hasher.update(hashlib.sha256(lock).digest())
    return hasher.hexdigest()


def is_fresh(cache_root: Path, manifest: bytes, lock: bytes) -> bool:
    """Whether the full check already found this lock fresh for this manifest, under this code."""
    key = verdict_key(manifest, lock)
    try:
        with open_plain(cache_root, f"{FRESH}/{key}", private=1) as handle:
            text = handle.read(_MAX_ENTRY_BYTES + 1)
    except OSError:
        return False
    if len(text) > _MAX_ENTRY_BYTES:
        return False
    head, _, body = text.partition(b"\n")
    if head != key.encode():
        return False
    try:
        return all(_unchanged(line) for line in body.decode().splitlines())
    except (UnicodeDecodeError, ValueError, OSError):
        return False


def _unchanged(line: str) -> bool:
    path, size, mtime, inode = line.split("\t")
    info = Path(path).stat()
    return (info.st_size, info.st_mtime_ns, info.st_ino) == (int(size), int(mtime), int(inode))


def remember_fresh(cache_root: Path, manifest: bytes, lock: bytes) -> None:
    """Keep the full check's "fresh" for these bytes; best effort, like every cache write.
    Never in a bundle used as the cache: it holds what its index lists, nothing more."""
    if (cache_root / BUNDLE_INDEX).exists():
        return
    key = verdict_key(manifest, lock)
    lines = [key]
    try:
        for path in sorted(_judging_sources()):
            if "\t" in path or "\n" in path or "\r" in path:
                return
            info = Path(path).stat()
            lines.append(f"{path}\t{info.st_size}\t{info.st_mtime_ns}\t{info.st_ino}")
    except OSError:
        return
    write_entry(cache_root / FRESH / key, ("\n".join(lines) + "\n").encode())


def _judging_sources() -> Iterable[str]:
    """The source files of every loaded module of the packages that judge freshness, and the
    data files mlenv ships (a module may read one)."""
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in _JUDGES:
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                yield file
    data = Path(__file__).parent.parent / "data"
    yield from (str(path) for path in data.iterdir() if path.is_file())
