"""An index whose project "dep" lists many wheels with made-up metadata, for resolver work
bounds (``tests/unit/test_limits.py``, ``tests/hostile/test_attack168_hostile.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import BinaryIO

from packaging.utils import NormalizedName, canonicalize_name

from mlenv.index import CoreMetadata, IndexFile
from mlenv.index.model import Link, make_file


def wheels_of(url: str, name: str, versions: Sequence[str]) -> tuple[IndexFile | None, ...]:
    """``name``'s py3-none-any wheels at ``url``, one per version, none of them built."""
    return tuple(
        make_file(
            Link(f"{url}/{name}-{v}-py3-none-any.whl", f"{name}-{v}-py3-none-any.whl"),
            project=canonicalize_name(name),
            index_url=url,
        )
        for v in versions
    )


class HugeProject:
    """An index whose project "dep" lists ``count`` wheels; metadata is made up per file (no
    wheel is ever opened), so the test measures the resolver, not wheel building. It counts
    what it is asked: the projects whose files were listed and the files whose metadata was
    read."""

    url = "https://index.example/simple"

    def __init__(self, count: int) -> None:
        self.listed: list[str] = []
        self.read: list[str] = []
        self._files = {
            "app": wheels_of(self.url, "app", ["0.0"]),
            "dep": wheels_of(self.url, "dep", [f"{i}.0" for i in range(count)]),
        }

    def files(self, project: NormalizedName) -> tuple[IndexFile | None, ...]:
        self.listed.append(project)
        return self._files.get(project, ())

    def metadata(self, file: IndexFile) -> CoreMetadata:
        self.read.append(file.filename)
        requires = ("dep<5",) if file.name == "app" else ()
        return CoreMetadata(file.name, file.version, requires, None, ())

    def open(self, file: IndexFile) -> AbstractContextManager[BinaryIO]:
        raise AssertionError("resolving opens no file")

    def prefetch(self, files: Sequence[IndexFile]) -> None:
        """Nothing to warm."""

    def size(self, file: IndexFile) -> int | None:
        raise AssertionError("resolving sizes no file")
