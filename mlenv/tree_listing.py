"""A tree on disk listed as layer entries: what a staging tree (or an OCI layout) is in a tar.

Nothing here comes from the host but the tree itself: entries are listed and sorted by us
(never readdir order), modes are normalised (0755 or 0644), hardlinks become regular files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mlenv.tarball import ENCODING, ERRORS, Entry, LayerError, sorted_entries


def collect(root: Path, dest: str, *, parents: int | None = None) -> list[Entry]:
    """List the staging tree ``root`` as it must appear at ``dest`` ("" = the layer's root).

    The directories above ``dest`` are emitted too (``parents``: only that many, the innermost;
    None: all), so the layer unpacks onto an empty rootfs; on a base image, those the base has
    are left out to leave its attributes alone (a directory in an upper layer replaces them,
    e.g. a 1777 ``tmp``), and those it lacks are emitted: a runtime would make them itself,
    Docker with mode 0600. The result is sorted by path components as bytes, parents first.
    """
    if not root.is_dir():
        raise LayerError("the staging directory does not exist", where=str(root))
    entries: list[Entry] = []
    if dest:
        parts = dest.split("/")
        first = 1 if parents is None else len(parts) - min(parents, len(parts) - 1)
        entries.extend(
            Entry("/".join(parts[:n]), "dir", 0o755) for n in range(first, len(parts) + 1)
        )
    staging = {os.fsencode(root), os.fsencode(root.resolve())}
    pending = [(os.fsencode(root), dest)]
    while pending:
        directory, prefix = pending.pop()
        with os.scandir(directory) as listing:
            for item in listing:
                path = f"{prefix}/{_decode(item.name)}" if prefix else _decode(item.name)
                entry = _entry(Path(os.fsdecode(item.path)), path, staging)
                entries.append(entry)
                if entry.kind == "dir":
                    pending.append((item.path, path))
    return sorted_entries(entries)


def _entry(source: Path, path: str, staging: set[bytes]) -> Entry:
    info = source.lstat()
    if stat.S_ISDIR(info.st_mode):
        return Entry(path, "dir", 0o755)
    if stat.S_ISREG(info.st_mode):
        # Hardlinked or not, every regular file is emitted with its own content (Nix's rule).
        mode = 0o755 if info.st_mode & 0o111 else 0o644
        return Entry(path, "file", mode, source=source, size=info.st_size)
    if stat.S_ISLNK(info.st_mode):
        target = os.fsencode(source.readlink())
        if any(target == root or target.startswith(root.rstrip(b"/") + b"/") for root in staging):
            raise LayerError(
                f"the symlink points into the staging directory ({os.fsdecode(target)})",
                where=str(source),
                hint="link to the final path (or a relative path) instead of the staging path",
            )
        return Entry(path, "symlink", 0o777, target=_decode(target))
    raise LayerError(
        "sockets, devices and fifos cannot go into a layer",
        where=str(source),
        hint="remove it from the staging tree",
    )


def _decode(name: bytes) -> str:
    return name.decode(ENCODING, ERRORS)
