"""The manifest found as uv and pixi find theirs: without ``-m`` or ``$MLENV_MANIFEST`` and with
no ``mlenv.toml`` in the working directory, the nearest parent directory's.

The walk reads only directories the user could have put a project in. It stops (taking
nothing there or above) at the filesystem root, at a mount point (a parent on another device,
as git stops its discovery), and at a directory others may write (``trusted_path.others_write``):
anyone (``/tmp``, ``/var/tmp``, ``/dev/shm``), or a group with members other than this user and
root (a team's ``/srv/team``, sticky or not): a ``/tmp/mlenv.toml`` another user planted is
never picked up from ``/tmp/x/y``, nor the ``mlenv.lock`` or find-links directory a team member
put beside a root-owned manifest. A manifest found upward is refused, not used, unless its whole
path is yours (``trusted_path.open_yours``: from ``/`` down, every directory, link and the file
itself this user's or root's and writable by no one else, a sticky ``/tmp`` passed through only
to an entry that is yours): a project of another user's, or one planted in a shared tree, is
named with the way to take it on purpose (``-m``). It is read once, from the descriptor whose
owner and mode were judged (``Found``); the session parses those bytes, never the path again.
The working directory's own mlenv.toml is taken as before, whoever owns it. Standard library
only.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from mlenv.errors import UsageError
from mlenv.trusted_path import NotYours, open_yours, others_write

MANIFEST_NAME = "mlenv.toml"

# Commands that never read a project's manifest, or must not find one upward: `init` writes
# the working directory's (one found above would be "already there", or overwritten by --force).
NO_WALK = frozenset({"init", "completion", "cache"})


@dataclass(frozen=True)
class Found:
    """A manifest found upward: its path and the bytes read from the very descriptor whose
    owner and mode were judged (``info``, its ``fstat``), so a later read cannot meet a file
    swapped in since."""

    path: Path
    data: bytes
    info: os.stat_result


def find_upward(start: Path) -> Found | None:
    """The manifest of the nearest parent of ``start`` (an absolute, physical path) that holds
    one, or None when ``start`` holds one itself or the walk stops first (module docstring)."""
    if _there(start / MANIFEST_NAME):
        return None
    try:
        device = start.stat().st_dev
    except OSError:
        return None
    for here in start.parents:
        try:
            info = here.stat()
        except OSError:
            return None
        if info.st_dev != device or others_write(info) is not None:
            return None
        candidate = here / MANIFEST_NAME
        if _there(candidate):
            return _read_yours(candidate)
    return None  # the root was the last directory looked at


def _there(path: Path) -> bool:
    """Anything at ``path``, a dangling link too (the manifest's read then says what)."""
    try:
        path.lstat()
    except OSError:
        return False
    return True


def _read_yours(candidate: Path) -> Found:
    """The manifest at ``candidate``, opened once (``trusted_path.open_yours``: no component
    from ``/`` down, link or file, another user's or writable by others) and read from that
    descriptor; refused otherwise."""
    from mlenv.userfiles import read_handle

    try:
        fd = open_yours(str(candidate))
    except NotYours as exc:
        raise UsageError(
            "found in a parent directory, but it (or what it links to, or a directory above "
            f"it) is not yours alone: {exc.strerror}; another user's file is never taken as "
            "your manifest",
            where=str(candidate),
            hint=f"pass -m {candidate} to use it on purpose, or `mlenv init` a manifest here",
        ) from None
    except OSError as exc:  # a dangling link (or a loop): nothing anyone's manifest is there
        linked = exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR)
        raise UsageError(
            "found in a parent directory, but it links to nothing that can be read"
            if linked
            else f"found in a parent directory, but it cannot be read: {exc.strerror}",
            where=str(candidate),
            hint=f"repair or remove the link, or pass -m to name a manifest ({MANIFEST_NAME})",
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        return Found(candidate, read_handle(handle, candidate, "manifest"), info)
