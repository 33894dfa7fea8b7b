"""Whether anyone but this user and root could have chosen what a path holds: the one rule the
parent-manifest walk (``mlenv.discover``), a local index's root (``net.origins``) and the
cache's private entries (``cache.files``) apply (docs/security.md, "Paths only you and root
control").

The invariant. An entry is *yours* when
  1. it is owned by this user or root (its owner may chmod or replace it at will), and not by
     the uid a user namespace shows for every owner it does not map; and
  2. nobody else may write it (``others_write``): it is not world-writable, and not
     group-writable unless every member of its group is this user or root (a user private
     group under umask 002). gid 0 gets no exemption: on systems whose gid 0 (``wheel``, or
     a ``root`` group admins are added to) has other members it is a group like any other.
A path is yours when every component from ``/`` down is: each directory, each symlink met
(its own owner; what it names is then walked the same way) and the entry itself. One
exception, as ssh and sudo take it: a directory others may write but with the sticky bit
(``/tmp``) may hold a component, since others can add names there but cannot rename or remove
an entry they do not own; that entry must still be yours, and a file or link there its only
name (anyone may have made a second one, a hard link). The sticky exception never covers the
entry judged itself, nor a directory whose every name is taken (a walk's stop, a root).

``open_yours`` walks a path one component at a time on open descriptors, never following a
symlink the kernel's way (``O_NOFOLLOW``), judging each with ``fstat`` of what was opened:
what was judged is what the next step opens, and the descriptor returned is the one to read.
Standard library only (``cache.files`` runs on the no-op lock's path); ``grp`` and ``pwd``
are loaded only for a group-writable entry.
"""

from __future__ import annotations

import errno
import os
import stat

_O_PATH = getattr(os, "O_PATH", os.O_RDONLY | os.O_NONBLOCK)  # Linux: judge, never open, a name
_MAX_LINKS = 40  # as Linux's own walk: a loop is ELOOP, not a hang


class NotYours(OSError):
    """A component of a path someone other than this user and root could have chosen;
    ``strerror`` says which and why."""


def others_write(info: os.stat_result) -> str | None:
    """Why users other than the owner (and root) may write ``info``'s entry (add or rename
    names in a directory, change a file's bytes), or None when they may not."""
    if info.st_mode & stat.S_IWOTH:
        return f"is writable by everyone ({info.st_mode & 0o7777:o})"
    if info.st_mode & stat.S_IWGRP and not _closed(info.st_gid):
        return f"is writable by group {info.st_gid}, which has members other than you and root"
    return None


def not_yours(info: os.stat_result) -> str | None:
    """Why the entry ``info`` describes is not yours (rules 1 and 2), or None when it is."""
    owner = _owner(info)
    if owner is not None:
        return owner
    return None if stat.S_ISLNK(info.st_mode) else others_write(info)  # a link's mode is moot


def _owner(info: os.stat_result) -> str | None:
    if info.st_uid not in (os.geteuid(), 0):
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_uid == unmapped_id("uid"):
        return (
            f"may belong to another user: in this user namespace uid {info.st_uid} also "
            "stands for every owner it does not map"
        )
    return None


def open_yours(path: str) -> int:
    """A descriptor of the plain file at absolute ``path`` (read-only), once every component
    from ``/`` down is yours (module docstring). ``NotYours`` names the first component that
    is not; any other OSError is the walk's (ENOENT for a link to nothing, ELOOP for a loop,
    ENOTDIR for a file named with a trailing slash, EINVAL for a FIFO, socket or device:
    judged without being opened, so opening one cannot block or act)."""
    if not path.startswith("/"):
        raise OSError(errno.EINVAL, f"{path!r} is not an absolute path")
    here = os.open("/", _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)  # the one directory held
    try:
        top = os.fstat(here)
        stack: list[_Place] = [(top, "/", _judge(top, "/", walked_through=True))]  # for ".."
        pending = _parts(path)
        links = 0
        while pending:
            name = pending.pop()
            if name in ("..", "."):  # "." only as a trailing slash's: what precedes is a directory
                if name == ".." and len(stack) > 1:
                    stack.pop()
                    here = _back(here, "..", stack[-1])
                continue
            _, where, shared = stack[-1]
            shown = f"{where.rstrip('/')}/{name}"
            fd = os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=here)
            try:
                info = os.fstat(fd)
                passed = _judge(info, shown, walked_through=bool(pending))
                if shared:
                    _linked_in_shared(info, shown)
                if stat.S_ISLNK(info.st_mode):
                    target = os.readlink("", dir_fd=fd)
                elif not pending:
                    return _reopen(here, name, info, shown)
                elif not stat.S_ISDIR(info.st_mode):
                    raise OSError(errno.ENOTDIR, f"{shown} is not a directory")
                else:
                    stack.append((info, shown, passed))
                    here, fd = fd, here  # the old place is closed below
                    continue
            finally:
                os.close(fd)
            links += 1  # only a link comes here: what it names is walked the same way
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, f"{shown}: too many levels of symbolic links")
            if target.startswith("/") and len(stack) > 1:
                del stack[1:]
                here = _back(here, "/", stack[0])
            pending.extend(_parts(target))
        raise OSError(errno.EISDIR, f"{path} names a directory")  # "/" or ending in ".."
    finally:
        os.close(here)


# A directory walked through: its ``fstat`` (which one it is), its path as walked, and whether
# it was passed only as a sticky directory others may write. A tuple, not a dataclass: the
# no-op lock imports this module, and ``dataclasses`` is not loaded on that path. Only the
# directory the walk is in is held open (a walk 5,000 directories deep holds one descriptor,
# not 5,000: ``ulimit -n`` 1024 failed it), so ".." is checked to be the directory judged.
_Place = tuple[os.stat_result, str, bool]


def _back(here: int, name: str, place: _Place) -> int:
    """The directory ``place`` again, reached as ``name`` ("..", or "/" for a link to an
    absolute path) from the open directory ``here``, which is closed; refused when what is
    there now is not the directory judged (one moved while it was walked)."""
    fd = os.open(name, _O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=here)
    now = os.fstat(fd)
    info, shown, _ = place
    if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
        os.close(fd)
        raise OSError(errno.EAGAIN, f"{shown} moved while it was walked through")
    os.close(here)
    return fd


def _parts(path: str) -> list[str]:
    """The names of ``path`` in the order ``pop`` takes them ("." and empty ones dropped, but
    for one "." kept last when ``path`` ends in "/" or "/.": as for the kernel, the name before
    it must then be a directory, never the file judged)."""
    parts = [part for part in reversed(path.split("/")) if part not in ("", ".")]
    return [".", *parts] if parts and path.endswith(("/", "/.")) else parts


def _reopen(parent: int, name: str, info: os.stat_result, shown: str) -> int:
    """``name``, judged as ``info``, opened to be read: only a plain file, and only the very
    file judged (a name replaced in between is refused, never read)."""
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
        code = errno.EISDIR if stat.S_ISDIR(info.st_mode) else errno.EINVAL
        raise OSError(code, f"{shown} is {kind}, not a plain file")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, dir_fd=parent)
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
        os.close(fd)
        raise OSError(errno.EAGAIN, f"{shown} was replaced while it was opened")
    return fd


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _linked_in_shared(info: os.stat_result, shown: str) -> None:
    """Refuse a file or link with more than one name taken from a sticky directory others may
    write: its owner is yours, but who put this name there is not told (with
    fs.protected_hardlinks off, anyone may link a file of yours into /tmp under any name)."""
    if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1:
        raise NotYours(
            errno.EPERM,
            f"{shown} has {info.st_nlink} names (hard links) in a directory others may write: "
            "anyone could have linked it there",
        )


def _judge(info: os.stat_result, shown: str, *, walked_through: bool) -> bool:
    """Refuse a component that is not yours. A sticky directory others may write is passed
    through (what is taken below it must be yours, rule 1), never taken itself; True when it
    was passed only so."""
    owner = _owner(info)
    if owner is not None:
        raise NotYours(errno.EPERM, f"{shown} {owner}")
    if stat.S_ISLNK(info.st_mode):
        return False
    writers = others_write(info)
    if writers is None:
        return False
    if walked_through and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        return True
    raise NotYours(errno.EPERM, f"{shown} {writers}")


_CLOSED: dict[int, bool] = {}  # _closed's answers (not functools.cache: see cache.files)
_UNMAPPED: dict[str, int | None] = {}


def _closed(gid: int) -> bool:
    """Whether every member of group ``gid`` (listed, or by a passwd entry's primary group)
    is this user or root. A group the system cannot name, or the gid a user namespace shows
    for every group it does not map, is open. Members a directory service will not list are
    beyond any program's view; docs/security.md says so."""
    known = _CLOSED.get(gid)
    if known is None:
        known = _CLOSED[gid] = gid != unmapped_id("gid") and _members_are_us(gid)
    return known


def _members_are_us(gid: int) -> bool:
    import grp  # only for a group-writable entry: the no-op lock never pays for it
    import pwd

    ours = (os.geteuid(), 0)
    try:
        listed = grp.getgrgid(gid).gr_mem
        if any(pwd.getpwnam(name).pw_uid not in ours for name in listed):
            return False
    except KeyError:  # the group, or a member named in it, is unknown
        return False
    return all(entry.pw_uid in ours for entry in pwd.getpwall() if entry.pw_gid == gid)


def unmapped_id(kind: str) -> int | None:
    """The uid (``kind`` "uid") or gid ("gid") ``stat`` shows for an owner this process's user
    namespace does not map (a rootless container's view of other host users' files), when
    some is unmapped. Run as that very id, "mine" and "someone else's" look alike, so neither
    counts as mine."""
    if kind not in _UNMAPPED:
        _UNMAPPED[kind] = _unmapped(kind)
    return _UNMAPPED[kind]


def _unmapped(kind: str) -> int | None:
    try:
        with open(f"/proc/self/{kind}_map") as ids, open(f"/proc/sys/fs/overflow{kind}") as over:
            ranges, overflow = ids.read().split(), int(over.read())
    except OSError:  # no /proc: no user namespaces to tell apart
        return None
    return None if sum(int(count) for count in ranges[2::3]) >= (1 << 32) - 1 else overflow
