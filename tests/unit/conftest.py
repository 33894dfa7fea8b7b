"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.oci.write import ImageResult
from mlenv.tarball import collect
from tests.support.images import write_image


@pytest.fixture
def image(tmp_path: Path) -> tuple[Path, ImageResult]:
    """A two-layer uncompressed OCI layout to push; its 10 KiB layer spans several chunks when
    a test lowers the registry client's CHUNK_SIZE."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "data.bin").write_bytes(bytes(range(256)) * 40)
    (tree / "small.txt").write_text("small")
    layers = [("data", collect(tree, "opt/data")), ("more", collect(tree, "opt/more"))]
    layout = tmp_path / "layout"
    return layout, write_image(layout, layers, ref="t", cmd=["sh"], compression="none")
