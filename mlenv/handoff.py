"""A stream stage on a thread of its own, so the stages of a layer writer use both cores.

The writers of layers, archives and image.tar chain stages (sha256, a compressor, the file);
each stage's work releases the GIL (hashlib, zstd, write), so a stage handed to a thread runs
beside the ones before it. The bytes and their order are unchanged: the output is the same as
without the thread, and a failure on either side reaches the writer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType

from mlenv.parallel_gzip import Writable


class Handoff:
    """A stage run by a thread of its own: bytes written here go through a bounded queue, so
    the writer is at most ``depth`` chunks ahead and memory stays flat. The downstream stage
    sees the same bytes in the same order, so the output is the same as without the thread;
    ``closing`` then ends it (a compressor's last frame) in the caller's thread. As a context
    manager, a writer that fails leaves the thread stopped (``abandon``)."""

    _END = None

    def __init__(
        self, downstream: Writable, closing: Callable[[], None] | None = None, depth: int = 8
    ) -> None:
        self._downstream = downstream
        self._closing = closing
        self._queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="mlenv-layer", daemon=True)
        self._thread.start()

    def __enter__(self) -> Handoff:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is not None:
            self.abandon()

    def write(self, data: bytes | memoryview) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(bytes(data))  # the caller reuses its buffer

    def close(self) -> None:
        """Everything written is downstream (its error raised here), then ``closing`` runs."""
        self._queue.put(self._END)
        self._thread.join()
        if self._error is not None:
            raise self._error
        if self._closing is not None:
            self._closing()

    def abandon(self) -> None:
        """The writer failed: the thread stops without waiting for more."""
        if self._thread.is_alive():
            self._error = self._error or Abandoned()
            self._queue.put(self._END)
            self._thread.join()

    def _drain(self) -> None:
        while (data := self._queue.get()) is not self._END:
            if self._error is None:
                try:
                    self._downstream.write(data)
                except BaseException as exc:  # handed to the writer at its next call
                    self._error = exc


class Abandoned(Exception):
    """The writer of a handoff failed first; its own error is the one raised."""
