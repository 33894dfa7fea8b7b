"""A survey of the layer cache's directory (``layers-v1``) that never follows a symlink:
what is a usable entry, a build's work directory, or junk no build can use, and how many bytes
each holds, so the cache's bound counts and prunes everything below it."""

from __future__ import annotations

import contextlib
import itertools
import os
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
    """Bytes of the files at or below ``path`` (directories are walked, never followed, from a
    list: ``os.walk`` recursed once a level, and a tree nested a thousand deep in the cache, or
    in a bundle used as one, ended every build's prune in a RecursionError; attack 221)."""
    with contextlib.suppress(OSError):
        if not real_dir(path):
            return path.lstat().st_size
    total, pending = 0, [path]
    while pending:
        for item in _children(pending.pop()):
            with contextlib.suppress(OSError):
                if item.is_dir(follow_symlinks=False):
                    pending.append(Path(item.path))
                else:
                    total += item.stat(follow_symlinks=False).st_size
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
        if not stat.S_ISDIR(os.lstat(trash, dir_fd=fds[1]).st_mode):
            os.unlink(trash, dir_fd=fds[1])
            return
        with contextlib.suppress(OSError):  # emptied as far as it can be, as rmtree's ignore_errors
            fds.append(os.open(trash, _NOFOLLOW_DIR, dir_fd=fds[1]))
            _empty(fds[-1])
            os.rmdir(trash, dir_fd=fds[1])
    finally:
        for fd in fds:
            os.close(fd)


def _empty(top: int) -> None:
    """Remove what the directory open at ``top`` holds, nested to any depth, best effort.
    ``shutil.rmtree`` recurses (and holds a descriptor) once a level, so a tree nested a
    thousand deep died in a RecursionError its ``ignore_errors`` does not catch: here each
    directory's own directories are moved up into ``top`` before it is removed, with two
    descriptors at most, never following a symlink. What cannot be removed stays."""
    stuck: set[str] = set()
    moved = itertools.count()
    while names := [name for name in os.listdir(top) if name not in stuck]:
        for name in names:
            try:
                if not stat.S_ISDIR(os.lstat(name, dir_fd=top).st_mode):
                    os.unlink(name, dir_fd=top)
                    continue
                inner = os.open(name, _NOFOLLOW_DIR, dir_fd=top)
                try:
                    for child in os.listdir(inner):  # noqa: PTH208 - a descriptor
                        if stat.S_ISDIR(os.lstat(child, dir_fd=inner).st_mode):
                            os.rename(child, f".up-{next(moved)}", src_dir_fd=inner,
                                      dst_dir_fd=top)  # fmt: skip
                        else:
                            os.unlink(child, dir_fd=inner)
                finally:
                    os.close(inner)
                os.rmdir(name, dir_fd=top)
            except OSError:
                stuck.add(name)
