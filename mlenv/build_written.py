"""Every file an earlier build output holds that its build wrote (the write gate's view of a
``dist/``, invariant 4 of docs/security.md).

``build_record.build_files`` names what a build.json says sits beside it; a directory among
them (the OCI layout, a multi-platform build's ``<platform>/``) is not taken to cover whatever
is below it, since a user's file put there would be replaced by the next build unseen. Each is
opened up to the files a build writes there: the layout's ``index.json``, ``oci-layout`` and
``blobs/sha256/<64 hex>``; a platform's directory as its own build.json accounts for it (a
single-platform record, read from that directory, never through a symlink). Anything else
below is a stranger, and the build is refused naming it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlenv.build_record import BUILD_RECORD, MULTI_PLATFORM, build_files
from mlenv.outputs import OutputKind, read_record

LAYOUT = "oci"
_LAYOUT_FILES = ("index.json", "oci-layout")
_BLOBS = "blobs/sha256"
_HEX = frozenset("0123456789abcdef")


def build_written(record: Any, directory: Path) -> frozenset[str] | None:
    """The files (relative, "/"-separated, each a regular file) the build.json ``record`` in
    ``directory`` accounts for; None when it is not a build record."""
    names = build_files(record)
    if names is None:
        return None
    multi = isinstance(record, dict) and record.get("kind") == MULTI_PLATFORM
    found: set[str] = set()
    for name in names:
        if name == LAYOUT:
            found |= _layout(directory)
        elif multi and name != BUILD_RECORD:
            found |= {f"{name}/{path}" for path in _platform(directory / name)}
        else:
            found.add(name)
    return frozenset(found)


def _layout(directory: Path) -> set[str]:
    """An OCI layout's files as a build writes them: its two records and each blob named by
    its sha256 (whatever else is in ``blobs/sha256`` is no name a build gives a file)."""
    found = {f"{LAYOUT}/{name}" for name in _LAYOUT_FILES}
    try:
        with os.scandir(directory / LAYOUT / _BLOBS) as entries:
            found |= {
                f"{LAYOUT}/{_BLOBS}/{entry.name}"
                for entry in entries
                if len(entry.name) == 64 and set(entry.name) <= _HEX
            }
    except (OSError, ValueError):
        pass  # no blobs directory, or not one: what is there is a stranger
    return found


def _platform(directory: Path) -> frozenset[str]:
    """What one platform's build wrote in a multi-platform output's ``directory``: its own
    build.json's account, which must be a single platform's; nothing when there is none."""
    try:
        record = json.loads(read_record(directory, BUILD_RECORD))
    except (OSError, ValueError, RecursionError):
        return frozenset()
    if isinstance(record, dict) and record.get("kind") == MULTI_PLATFORM:
        return frozenset()  # a platform holds one build, never another join
    return build_written(record, directory) or frozenset()


BUILD_OUTPUT = OutputKind("build output", "--dist", BUILD_RECORD, build_written)
