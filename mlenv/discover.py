"""The manifest found as uv and pixi find theirs: without ``-m`` or ``$MLENV_MANIFEST`` and with
no ``mlenv.toml`` in the working directory, the nearest parent directory's.

The walk reads only directories the user could have put a project in. It stops (taking
nothing there or above) at the filesystem root, at a mount point (a parent on another device,
as git stops its discovery), and at a directory others may write: anyone (``/tmp``,
``/var/tmp``, ``/dev/shm``), or a group that is neither this user's nor root's (a team's
``/srv/team``, sticky or not): a ``/tmp/mlenv.toml`` another user planted is never picked up
from ``/tmp/x/y``, nor the ``mlenv.lock`` or find-links directory a team member put beside a
root-owned manifest. A manifest found upward is refused, not used, unless it (the link and what it
names) and its directory are owned by this user or root: a project of another user's, or one
planted in a shared tree, is named with the way to take it on purpose (``-m``). The working
directory's own mlenv.toml is taken as before, whoever owns it. Standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mlenv.errors import UsageError

MANIFEST_NAME = "mlenv.toml"

# Commands that never read a project's manifest, or must not find one upward: `init` writes
# the working directory's (one found above would be "already there", or overwritten by --force).
NO_WALK = frozenset({"init", "completion", "cache"})


def find_upward(start: Path) -> Path | None:
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
        if info.st_dev != device or _others_write(info):
            return None
        candidate = here / MANIFEST_NAME
        if _there(candidate):
            _owned(candidate, info)
            return candidate
    return None  # the root was the last directory looked at


def _others_write(directory: os.stat_result) -> bool:
    """Whether users other than this one (and root) may add or rename files in ``directory``:
    it is world-writable, or group-writable by a group not this user's own (under user private
    groups, umask 002 makes a user's directories writable by that group of one)."""
    if directory.st_mode & stat.S_IWOTH:
        return True
    return bool(directory.st_mode & stat.S_IWGRP) and directory.st_gid not in {os.getegid(), 0}


def _there(path: Path) -> bool:
    """Anything at ``path``, a dangling link too (the manifest's read then says what)."""
    try:
        path.lstat()
    except OSError:
        return False
    return True


def _owned(candidate: Path, directory: os.stat_result) -> None:
    """Refuse a manifest found upward that someone else could have put there."""
    trusted = {os.geteuid(), 0}
    try:
        owners = {candidate.lstat().st_uid, candidate.stat().st_uid, directory.st_uid}
    except OSError:  # a dangling link (or a loop): nothing anyone's manifest is there
        raise UsageError(
            "found in a parent directory, but it links to nothing that can be read",
            where=str(candidate),
            hint=f"repair or remove the link, or pass -m to name a manifest ({MANIFEST_NAME})",
        ) from None
    if owners <= trusted:
        return
    raise UsageError(
        "found in a parent directory, but it (or what it links to, or its directory) is not "
        "owned by you or root: another user's file is never taken as your manifest",
        where=str(candidate),
        hint=f"pass -m {candidate} to use it on purpose, or `mlenv init` a manifest here",
    )
