"""Fixtures shared by the functional tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.golden import golden_project


@pytest.fixture
def fetched(tmp_path: Path) -> tuple[Path, Path]:
    project = golden_project(tmp_path / "project")
    cache = tmp_path / "cache"
    result = run_mlenv(["fetch"], project, {"MLENV_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    return project, cache
