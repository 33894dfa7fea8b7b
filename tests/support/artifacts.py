"""Five artifacts (1000 to 1004 bytes) served from memory: the cache, fetch and bundle unit
tests fill caches through FakeOpener, which can also fail the first opens of each URL."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from mlenv.cache.artifacts import Artifact
from mlenv.index.http import HttpError

PAYLOADS = {f"https://files.example/pkg{i}.whl": bytes([i]) * (1000 + i) for i in range(5)}


def artifact(url: str, data: bytes | None = None) -> Artifact:
    data = PAYLOADS[url] if data is None else data
    return Artifact(url.rsplit("/", 1)[1], url, hashlib.sha256(data).hexdigest(), len(data))


ARTIFACTS = [artifact(url) for url in PAYLOADS]


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
