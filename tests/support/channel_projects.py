"""A project of one conda package from a local channel: the shape the channel-spelling attacks
lock, with the channel spelt as the test needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.importers.core import ImportFileError
from mlenv.importers.files import import_file
from tests.support.conda_channel import build_conda_package, write_channel


def libgomp_manifest(channel: str) -> str:
    """mlenv.toml asking for libgomp from ``channel`` alone (TOML literal string: no escapes)."""
    return (
        '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n[pypi]\n'
        f"[conda]\nchannels = ['{channel}']\ndependencies = [\"libgomp\"]\n"
    )


def libgomp_channel(directory: Path) -> None:
    """A channel at ``directory`` (made) holding libgomp 1.0."""
    directory.mkdir(parents=True)
    write_channel(directory, [build_conda_package("libgomp", "1.0", "0")])


def refused_channel_import(project: Path, channel: str) -> tuple[Path, ImportFileError]:
    """``init --from`` of an environment.yml in ``project`` naming ``channel``, which must be
    refused: the file and the refusal."""
    path = project / "environment.yml"
    path.write_text(f"channels:\n  - '{channel}'\ndependencies:\n  - libgomp\n")
    with pytest.raises(ImportFileError) as refused:
        import_file(path, project=project)
    return path, refused.value
