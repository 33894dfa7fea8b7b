"""A survey of the layer cache's directory (``layers-v1``) that never follows a symlink:
what is a usable entry, a build's work directory, or junk no build can use, and how many bytes
each holds, so the cache's bound counts and prunes everything below it."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from mlenv.digests import is_lower_hex, is_sha256_hex

ENTRY, WORK, JUNK = "entry", "work", "junk"
Item = tuple[str, float, int, Path]  # kind, last use, bytes, path


def walk(root: Path, records: tuple[str, ...]) -> list[Item]:
    """Everything directly in ``root`` or in a shard: ``ENTRY`` a complete entry (a real
    directory named by its key, below the shard of its first two digits, holding a plain file
    of ``records``), ``WORK`` a ``.tmp-`` work directory, ``JUNK`` anything else, which no
    build can ever use. Never follows a symlink."""
    found = []
    for item in _children(root) if real_dir(root) else []:
        path = Path(item.path)
        if item.name.startswith(".tmp-"):
            found.append((WORK, _mtime(item), _size(path), path))
        elif is_lower_hex(item.name, 2) and item.is_dir(follow_symlinks=False):
            found += [_judged(entry, item.name, records) for entry in _children(path)]
        else:
            found.append((JUNK, _mtime(item), _size(path), path))
    return found


def _judged(item: os.DirEntry[str], shard: str, records: tuple[str, ...]) -> Item:
    """One item of a shard: a complete entry (its record's mtime is its last use) or junk."""
    path = Path(item.path)
    if is_sha256_hex(item.name) and item.name.startswith(shard) and real_dir(path):
        for record in records:
            with contextlib.suppress(OSError):
                info = os.lstat(path / record)
                if stat.S_ISREG(info.st_mode):
                    return ENTRY, info.st_mtime, _size(path), path
    return JUNK, _mtime(item), _size(path), path


def _mtime(item: os.DirEntry[str]) -> float:
    with contextlib.suppress(OSError):
        return item.stat(follow_symlinks=False).st_mtime
    return 0.0


def _size(path: Path) -> int:
    """Bytes of the files at or below ``path`` (directories are walked, never followed)."""
    with contextlib.suppress(OSError):
        if not real_dir(path):
            return path.lstat().st_size
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(top) / name).lstat().st_size
    return total


def _children(path: Path) -> list[os.DirEntry[str]]:
    """Everything in ``path`` (an error reading it: nothing)."""
    with contextlib.suppress(OSError), os.scandir(path) as found:
        return list(found)
    return []


def real_dir(path: Path) -> bool:
    """A directory itself, not a symlink to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def remove(cache_root: Path, bucket: str, parts: tuple[str, ...]) -> None:
    """Remove ``bucket/parts...`` below ``cache_root``, renamed out of the way first, so no
    reader sees half an entry. The rename goes through directories opened without following a
    symlink, so it moves what is inside the cache (a symlink itself, never its target); only a
    real directory is then emptied. OSError when it cannot be moved."""
    trash = f".tmp-drop-{parts[-1]}-{os.getpid()}"
    fds = [os.open(cache_root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        fds.append(os.open(bucket, _NOFOLLOW_DIR, dir_fd=fds[0]))
        for part in parts[:-1]:
            fds.append(os.open(part, _NOFOLLOW_DIR, dir_fd=fds[-1]))
        os.rename(parts[-1], trash, src_dir_fd=fds[-1], dst_dir_fd=fds[1])
        if stat.S_ISDIR(os.lstat(trash, dir_fd=fds[1]).st_mode):
            shutil.rmtree(trash, dir_fd=fds[1], ignore_errors=True)
        else:
            os.unlink(trash, dir_fd=fds[1])
    finally:
        for fd in fds:
            os.close(fd)
