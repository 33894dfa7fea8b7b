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
