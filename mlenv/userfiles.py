"""The one reader of files the user names: the manifest, the lock, the locks `diff` compares,
files `init --from` imports, node lists, images, bundles and caches (security invariant 7).

A name the user gives may be a FIFO (a read waits for a writer for ever), a device
(``/dev/zero`` never ends), a directory or a socket, directly or through a symlink. Each is
opened without blocking and judged by ``fstat`` of what was opened: only a plain file is read
(or a pipe the shell hands over as ``/dev/fd/N``: ``--nodes <(kubectl ...)``, ``diff <(git
show ...)``), and at most a bounded number of bytes, so a mistake or a planted file is a clear
error naming it, at once.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal

from mlenv import watch
from mlenv.errors import UsageError
from mlenv.limits import MAX_BODY_BYTES, LimitError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


Kind = Literal["file", "directory"]
_DESCRIPTORS = ("/dev/fd/", "/proc/self/fd/")  # how a shell names a command's output


class InputError(UsageError):
    """A file the user named cannot be read as one: not a plain file, unreadable, too big."""


def read_input(path: Path, what: str, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The bytes of the plain file at ``path`` (a symlink to one is fine), at most ``limit``.

    ``FileNotFoundError`` is left to the caller, which knows how to say what is missing;
    anything else is an ``InputError`` naming ``what`` and the path."""
    with open_input(path, what) as handle:
        return _read(handle, path, what, limit)


def open_input(path: Path, what: str) -> BinaryIO:
    """The plain file at ``path`` opened for reading (``read_input`` without reading it: an
    image archive is read in place), never blocking on a FIFO; ``FileNotFoundError`` is left
    to the caller."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    try:
        _judge(fd, path, what)
        watch.opened(path, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def input_kind(
    path: Path, what: str, *, expected: str, files: bool = True, directories: bool = True
) -> Kind:
    """Whether the user named a directory or a plain file at ``path`` (those of them allowed;
    a symlink to one is fine), judged by ``stat`` (nothing is opened, so a FIFO cannot block);
    anything else is an ``InputError`` saying what it is and what was ``expected``.
    ``FileNotFoundError`` is left to the caller."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except OSError as exc:  # a FIFO or a file where a directory is walked through
        raise InputError(
            f"cannot read the {what}: {_why(exc)}", where=str(path), hint=f"name {expected}"
        ) from None
    if stat.S_ISDIR(mode) and directories:
        return "directory"
    if stat.S_ISREG(mode) and files:
        return "file"
    kind = "a plain file" if stat.S_ISREG(mode) else special_kind(mode)
    raise InputError(
        f"the {what} is {kind}, not {expected}", where=str(path), hint=f"name {expected}"
    )


def read_handle(handle: BinaryIO, path: Path, what: str, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """``read_input`` for a file already opened (without blocking) by a stricter opener."""
    _judge(handle.fileno(), path, what)
    return _read(handle, path, what, limit)


def _judge(fd: int, path: Path, what: str) -> None:
    """Refuse what was opened unless it is a plain file or a pipe the user's shell handed
    over; then reads may block."""
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode) and not (stat.S_ISFIFO(mode) and _handed_pipe(fd, path)):
            raise _refused(path, what, f"it is {special_kind(mode)}")
        os.set_blocking(fd, True)
    except OSError as exc:
        raise _unreadable(path, what, exc) from None


def _handed_pipe(fd: int, path: Path) -> bool:
    """``path`` is spelt as one of this process's descriptors (``<(kubectl get nodes -o json)``
    gives ``/dev/fd/63``) and is an anonymous pipe: its writer is the user's own command. A
    FIFO planted under a name, or a symlink to a descriptor, is never one."""
    if str(path) != "/dev/stdin" and not str(path).startswith(_DESCRIPTORS):
        return False
    try:
        return str(Path(f"/proc/self/fd/{fd}").readlink()).startswith("pipe:")
    except OSError:
        return False


def special_kind(mode: int) -> str:
    """What a file that is not a plain one is: "a FIFO", "a socket", "a character device"..."""
    return next((name for test, name in _KINDS if test(mode)), "not a plain file")


def _read(handle: BinaryIO, path: Path, what: str, limit: int) -> bytes:
    """At most ``limit`` bytes; a file that says it is bigger is refused before any read."""
    try:
        size = os.fstat(handle.fileno()).st_size
        data = b"" if size > limit else handle.read(limit + 1)
    except OSError as exc:
        raise _unreadable(path, what, exc) from None
    if max(size, len(data)) > limit:
        raise LimitError(
            f"the {what} is over {limit:,} bytes",
            where=str(path),
            hint="no real file of this kind is near this size; is it the file you meant?",
        )
    return data


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENXIO:  # opening a socket
        return "it is a socket"
    return exc.strerror or str(exc)


def _refused(path: Path, what: str, why: str, hint: str | None = None) -> InputError:
    return InputError(
        f"cannot read the {what}: {why}",
        where=str(path),
        hint=hint or f"name the {what} as a plain file",
    )


def _unreadable(path: Path, what: str, exc: OSError) -> InputError:
    """An open or read that failed: a plain file this user may not read is told so, not to
    name a plain file (which it is)."""
    hint = None
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = f"give this user read access to the {what} (chmod u+r), or run as its owner"
    return _refused(path, what, _why(exc), hint)
