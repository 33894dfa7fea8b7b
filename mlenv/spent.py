"""A scratch tree whose files go as soon as every writer of the tree has read them.

A build installs into a staging tree (gigabytes), then its layer and archive writers read
each file once. Removing a file as soon as the last of them has read it hands its page-cache
pages back while they are still hot, so the layer, its cache copy and image.tar are written
into them instead of into fresh memory. On a VM whose balloon reports free memory to the host
(as on the machines mlenv's benchmarks run on), a page left free for two seconds costs about
10 microseconds to touch again: 8 to 13 s of kernel time per GB. A removed file's dirty
pages are also never written back to the disk.

Invariant: a file is removed only after ``readers`` reads of it were reported, so a writer
always finds every file of the tree it listed; a file some writer does not read stays, and
goes with the tree.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path


class Spent:
    """Counts the reads of each file of a scratch tree; the last one removes the file."""

    def __init__(self, readers: int) -> None:
        if readers < 1:
            raise ValueError("a scratch tree has at least one reader")
        self._readers = readers
        self._reads: dict[Path, int] = {}
        self._lock = threading.Lock()

    def read(self, source: Path) -> None:
        """``source`` was read whole by one writer (each writer reports a file once)."""
        with self._lock:
            count = self._reads.pop(source, 0) + 1
            if count < self._readers:
                self._reads[source] = count
                return
        # Scratch: a file that cannot be removed now goes with the tree.
        with contextlib.suppress(OSError):
            source.unlink()
