"""Fixtures for every suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


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
