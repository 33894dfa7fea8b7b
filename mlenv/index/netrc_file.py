"""The user's netrc file, read as requests and pip read it: only a remote index asks for it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import netrc


def load_netrc(path: Path) -> netrc.netrc | None:
    """Like requests, an unreadable netrc means no netrc; a 401 hint then points at it.
    Imported here: only a remote index asks, and a local lock never pays for it."""
    import netrc

    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block, /dev/zero never ends
            return None
        return netrc.netrc(os.fspath(path))
    except (OSError, netrc.NetrcParseError):
        return None


def default_netrc_path() -> Path:
    return Path(os.environ.get("NETRC") or Path.home() / ".netrc")


def machine_login(entries: netrc.netrc | None, host: str) -> tuple[str, str] | None:
    """The login and password of the ``machine`` entry for ``host`` (the form ``hosts.host_form``
    gives), never the ``default`` entry, which names no host: Python's netrc files it under the
    key "default", so a link or redirect to a host of that name (a single label the search
    domain completes: a Kubernetes Service named ``default``) was sent its secret."""
    entry = entries.hosts.get(host) if entries is not None and host != "default" else None
    return (entry[0] or "", entry[2] or "") if entry else None
