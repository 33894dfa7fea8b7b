"""Fixtures for every suite."""

from __future__ import annotations

import os
import sys

# The source tree must not change while the suite runs: a kept "fresh" verdict vouches for the
# code files by their stamps, and a __pycache__ written into mlenv/ mid-run (by this process, or
# a child) voids every verdict after it, whatever the runner's environment says. Set before
# mlenv is imported.
sys.dont_write_bytecode = True
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from mlenv.oci.write import ImageResult  # noqa: E402
from mlenv.tree_listing import collect  # noqa: E402
from tests.support.images import write_image  # noqa: E402

# Speed is measured in bench/, never asserted in a test: Hypothesis's per-example deadline
# (200 ms) fails a correct example on a loaded or slow runner (CI shares its 2 cores).
# A run is derandomized, so the same commit passes or fails the same way on every runner;
# MLENV_HYPOTHESIS=explore draws new examples (each seed's failures are then fixed and kept
# as explicit cases, as tests/hostile does).
settings.register_profile("mlenv", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None)
settings.load_profile("explore" if os.environ.get("MLENV_HYPOTHESIS") == "explore" else "mlenv")


@pytest.fixture(autouse=True, scope="session")
def _private_default_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """mlenv's default cache (``$XDG_CACHE_HOME/mlenv``) for the session, not the user's: a
    command run without ``--cache`` (a no-op ``lock`` keeps its verdict there) writes nothing
    in the home directory."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


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
