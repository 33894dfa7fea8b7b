"""Five artifacts (1000 to 1004 bytes) served from memory: the cache, fetch and bundle unit
tests fill caches through FakeOpener, which can also fail the first opens of each URL."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.cache.download import fetch
from mlenv.index.http import HttpError
from mlenv.report import MemoryReporter

PAYLOADS = {f"https://files.example/pkg{i}.whl": bytes([i]) * (1000 + i) for i in range(5)}


def artifact(url: str, data: bytes | None = None) -> Artifact:
    data = PAYLOADS[url] if data is None else data
    return Artifact(url.rsplit("/", 1)[1], url, hashlib.sha256(data).hexdigest(), len(data))


ARTIFACTS = [artifact(url) for url in PAYLOADS]
GOOD = ARTIFACTS[0]
EVIL = b"\x66" * GOOD.size  # same size, other bytes


class FakeOpener:
    """Serves PAYLOADS; ``failures`` makes the first N opens of a URL fail transiently."""

    def __init__(self, payloads: dict[str, bytes] | None = None, failures: int = 0) -> None:
        self.payloads = payloads or PAYLOADS
        self.failures: dict[str, int] = dict.fromkeys(self.payloads, failures)
        self.opened: list[str] = []

    @contextmanager
    def open(self, url: str) -> Iterator[BinaryIO]:
        self.opened.append(url)
        if self.failures[url] > 0:
            self.failures[url] -= 1
            raise HttpError("connection reset", url=url, status=None, hint="retry")
        yield io.BytesIO(self.payloads[url])


def filled_cache(root: Path) -> ArtifactCache:
    """A cache at ``root`` holding ARTIFACTS, fetched the way ``mlenv fetch`` stores them."""
    cache = ArtifactCache(root)
    fetch(ARTIFACTS, cache, FakeOpener(), reporter=MemoryReporter())
    return cache


@contextmanager
def swapping(path: Path, versions: Sequence[tuple[bytes, int]]) -> Iterator[None]:
    """While the block runs, ``path`` is replaced over and over (by rename, as another process
    sharing a cache would) with files of each (bytes, mode) in ``versions`` in turn."""
    stop = threading.Event()

    def swapper() -> None:
        flip = 0
        while not stop.is_set():
            data, mode = versions[flip % len(versions)]
            new = path.with_name(f"next-{flip % 2}")
            new.write_bytes(data)
            new.chmod(mode)
            new.replace(path)
            flip += 1

    thread = threading.Thread(target=swapper)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
