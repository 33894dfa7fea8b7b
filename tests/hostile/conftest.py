"""Fixtures the hostile passes share."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.tarball import Entry
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
