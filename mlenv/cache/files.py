"""How an entry below a cache root is opened and written: no symlink followed below the root,
plain files only, what others could have planted refused, writes atomic.

Standard library only, on purpose: the no-op ``mlenv lock`` reads its verdict through this
module before anything else of mlenv is imported (``mlenv.cache.fresh``).
"""

from __future__ import annotations

import errno
import itertools
import os
import stat

from mlenv.trusted_path import not_yours

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, TypeAlias

    StrPath: TypeAlias = "str | os.PathLike[str]"


def open_plain(root: StrPath, relative: str, *, private: int = 0) -> BinaryIO:
    """``root/relative`` opened for reading, refusing a symlink at any component below
    ``root`` (never followed) and anything but a plain file (a FIFO would block, a directory
    is not an artifact). With ``private``, the last ``private`` components (the file, then the
    directories holding it) must be yours (``trusted_path.not_yours``: this user's or root's,
    and writable by no one else): what others could have planted or could change is refused.
    FileNotFoundError when absent; any other refusal is an OSError whose strerror says which
    component is what."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise OSError(errno.EINVAL, f"{relative!r} is not a normalised relative path")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                below = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                raise
            except OSError as exc:
                what = "/".join(parts[: depth + 1])
                raise OSError(exc.errno, f"{what} is {_kind(part, fd)}") from None
            os.close(fd)
            fd = below
            if depth >= len(parts) - private:
                check_private(os.fstat(fd), "/".join(parts[: depth + 1]))
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"{relative} is {describe(info)}")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle


def check_private(info: os.stat_result, what: str) -> None:
    """Refuse an entry that is not this user's alone (``trusted_path.not_yours``: another
    user's, or one others may write)."""
    reason = not_yours(info)
    if reason is not None:
        raise OSError(errno.EPERM, f"{what} {reason}")


def _kind(name: str, dir_fd: int) -> str:
    try:
        info = os.lstat(name, dir_fd=dir_fd)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    return describe(info)


def describe(info: os.stat_result) -> str:
    """What kind of file-system entry ``info`` is, for messages."""
    for test, name in (
        (stat.S_ISLNK, "a symlink (never followed)"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISREG, "a plain file"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(info.st_mode):
            return name
    return "a special file"


_TEMP_NAMES = itertools.count()


def write_entry(path: StrPath, data: bytes) -> None:
    """Best effort: a cache that cannot be written costs speed, never correctness.

    The temporary name is unique per process and write (``O_EXCL`` refuses anything already
    there, a symlink included), and the directory is made only when the first open finds it
    missing: a cold lock writes a record per distribution, and mkstemp's random names and a
    mkdir per write cost it more than the writes."""
    directory, name = os.path.split(os.fspath(path))
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.{next(_TEMP_NAMES)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileNotFoundError:
            os.makedirs(directory or ".", exist_ok=True)
            fd = os.open(tmp, flags, 0o600)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            return
