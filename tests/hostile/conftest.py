"""Fixtures the hostile passes share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlenv.index.http import HttpClient
from mlenv.tarball import Entry
from tests.support.httpserver import IndexServer
from tests.support.images import write_image


@pytest.fixture(scope="module")
def small_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout of one small layer (a directory and a file), for passes that alter its
    documents or blobs."""
    root = tmp_path_factory.mktemp("image")
    (root / "f.txt").write_bytes(b"hello")
    entries = [Entry("opt", "dir", 0o755), Entry("opt/x.txt", "file", 0o644, root / "f.txt", 5)]
    write_image(root / "layout", [("base", entries)], ref="latest", cmd=["sh"])
    return root / "layout"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IndexServer]:
    """A loopback server of an empty directory, for passes that script its answers (``fault``);
    a pass serving an index of its own defines ``server`` itself."""
    root = tmp_path / "root"
    root.mkdir()
    with IndexServer(root) as running:
        yield running


@pytest.fixture
def http() -> Iterator[HttpClient]:
    """The index client asking once, with no netrc: what a server answers is what it sees."""
    with HttpClient(retries=0, netrc_path=Path("/nonexistent")) as client:
        yield client
