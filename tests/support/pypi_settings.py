"""A small project over a file:// index for the `[pypi]` settings that steer a resolution
(prerelease, constraints, overrides), and the pins its lock holds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from mlenv.lockfile_read import loads as load_lock
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
    write_manifest(root, url, pypi)
    return root


def locked_pins(project: Path) -> dict[str, str]:
    lock = load_lock((project / "mlenv.lock").read_text())
    return {package.name: package.version for _, package in lock.packages()}


def dated_index(
    root: Path,
    releases: Sequence[tuple[str, str, object]],
    yanked: Mapping[str, str] | None = None,
) -> Path:
    """A PEP 691 JSON index under ``root`` (to serve with ``IndexServer``) of releases (name,
    version, the page's ``upload-time`` value or None for none), one wheel each; ``yanked``
    as ``write_simple_index`` takes it."""
    wheels = [build_wheel(name, version) for name, version, _ in releases]
    times = {w[0]: when for w, (_, _, when) in zip(wheels, releases, strict=True) if when}
    write_simple_index(root, wheels, json=True, upload_times=times, yanked=yanked)
    return root


def write_manifest(project: Path, index_url: str, pypi: str) -> Path:
    """A CPython 3.12 manifest in ``project`` over ``index_url`` with the [pypi] lines
    ``pypi``; returns the manifest's path."""
    project.mkdir(parents=True, exist_ok=True)
    manifest = project / "mlenv.toml"
    manifest.write_text(
        f'[environment]\nname = "p"\npython = "3.12"\n[pypi]\nindex-url = "{index_url}"\n{pypi}'
    )
    return manifest
