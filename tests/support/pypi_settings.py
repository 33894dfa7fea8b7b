"""A small project over a file:// index for the `[pypi]` settings that steer a resolution
(prerelease, constraints, overrides), and the pins its lock holds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlenv.lockfile import loads as load_lock
from tests.support.wheels import build_wheel, write_simple_index


def settings_project(
    root: Path, wheels: Sequence[tuple[str, str, Sequence[str]]], pypi: str
) -> Path:
    """``root`` holding an index of ``wheels`` (name, version, Requires-Dist) and a CPython
    3.12 manifest whose [pypi] table is the index and the lines ``pypi``."""
    url = write_simple_index(
        root / "index",
        [build_wheel(name, version, requires_dist=needs) for name, version, needs in wheels],
    )
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "p"\npython = "3.12"\n[pypi]\nindex-url = "{url}"\n{pypi}'
    )
    return root


def locked_pins(project: Path) -> dict[str, str]:
    lock = load_lock((project / "mlenv.lock").read_text())
    return {package.name: package.version for _, package in lock.packages()}
