"""Rules of `mlenv init --from` that real projects' files (tests/support/data/realworld_imports)
showed wrong, each at the one place it lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.importers.core import import_file


@pytest.mark.parametrize(
    ("spec", "minor"),
    [("3.12*", "3.12"), ("3.12.*", "3.12"), ("3.12", "3.12"), ("=3.10", "3.10"),
     ("3.11.4", "3.11"), (">=3.8", None), ("<=3.10", None)],
)  # fmt: skip
def test_pixi_python_glob_names_its_minor(tmp_path: Path, spec: str, minor: str | None) -> None:
    """pixi's own example (examples/pypi-find-links) pins ``python = "3.12*"``: that is
    3.12.x to conda and rattler, so the manifest is for 3.12 (it was 3.11, the default, which
    the file's python pin excludes). A range names no one minor."""
    (tmp_path / "pixi.toml").write_text(
        '[workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        f'[dependencies]\npython = "{spec}"\n'
    )
    assert import_file(tmp_path / "pixi.toml").python == minor


def test_environment_yml_python_glob_names_its_minor(tmp_path: Path) -> None:
    """The same conda spec in an environment.yml (``python=3.12*``) is read by the same rule."""
    (tmp_path / "environment.yml").write_text(
        "channels: [conda-forge]\ndependencies:\n  - python=3.12*\n"
    )
    assert import_file(tmp_path / "environment.yml").python == "3.12"
