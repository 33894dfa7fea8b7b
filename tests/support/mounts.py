"""Mounts left under a temporary tree must go before the tree is deleted.

debootstrap may bind-mount the host's /dev into the rootfs, and dockerd mounts network
namespaces under its exec-root: deleting such a tree while a mount is still there would delete
the host's files through it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def mounts_below(root: Path) -> list[Path]:
    """Mount points at or under ``root``, deepest first (the order to unmount them in)."""
    prefix = os.fsencode(root.resolve())
    found = []
    with open("/proc/self/mountinfo", "rb") as info:
        for line in info:
            point = _unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + b"/"):
                found.append(Path(os.fsdecode(point)))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def remove_tree(root: Path) -> None:
    """Unmount whatever is below ``root``, then delete it; refuse while a mount remains."""
    if not root.exists():
        return
    for point in mounts_below(root):
        subprocess.run(["umount", "--lazy", str(point)], check=False, capture_output=True)
    remaining = mounts_below(root)
    assert not remaining, f"still mounted, not deleting {root}: {remaining}"
    shutil.rmtree(root)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small tmpfs at ``path`` (needs root), to fill a disk on purpose; always unmounted."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def _unescape(field: bytes) -> bytes:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in (b"\\040", b"\\011", b"\\012", b"\\134"):
        field = field.replace(code, bytes([int(code[1:], 8)]))
    return field


@contextlib.contextmanager
def other_file_system(beside: Path) -> Iterator[Path]:
    """A directory on another file system than ``beside`` (a tmpfs), where no hard link from
    it can reach: a cache on a carried disk. Removed afterwards."""
    shm = Path("/dev/shm")
    assert shm.is_dir(), "this test needs a tmpfs at /dev/shm"
    assert shm.stat().st_dev != beside.stat().st_dev
    with tempfile.TemporaryDirectory(dir=shm) as root:
        yield Path(root)
