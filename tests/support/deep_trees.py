"""Directory trees nested deeper than Python's recursive walkers go (``os.walk``,
``shutil.rmtree``, ``Path.mkdir(parents=True)`` recurse once a level), made and removed a
level at a time: pytest's own clean-up of an old temporary directory would die in one."""

from __future__ import annotations

import os
from pathlib import Path


def nest(top: Path, depth: int, name: str = "z") -> None:
    """``depth`` directories ``name``, one in another, below ``top``."""
    for _ in range(depth):
        top = top / name
        top.mkdir()


def unnest(top: Path) -> None:
    """Remove ``top`` and everything below it, of any depth, never following a symlink."""
    if top.is_symlink() or not top.is_dir():
        top.unlink(missing_ok=True)
        return
    pending = [top]
    while pending:
        with os.scandir(pending[-1]) as listing:
            entries = list(listing)
        below = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                Path(entry.path).unlink()
        if below:
            pending.extend(below)
        else:
            pending.pop().rmdir()
