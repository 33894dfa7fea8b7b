"""Which reader reads a file, by its name, and what may come of it: every local place the
file names must be one only you control (``places``) before a manifest is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mlenv.bare_file import as_path
from mlenv.errors import Problem
from mlenv.importers import places
from mlenv.importers.core import Imported, ImportFileError, read_requirements


def import_file(path: Path, groups: Sequence[str] = (), project: Path | None = None) -> Imported:
    """Read ``path`` by its name: requirements*.txt/.in, pyproject.toml, pylock*.toml. A ``-r``
    include may read only inside ``path``'s directory or ``project``. Every local place it
    names must be one only you control (``places``), relative ones read from ``project``."""
    imported = _by_name(path, groups, project)
    # pip and uv read -f file:/abs as /abs: judged and written as that directory
    imported = replace(imported, find_links=tuple(map(as_path, imported.find_links)))
    if refused := places.problems(imported, f"{path}: ", project or path.parent):
        raise ImportFileError(places.summary(str(path), refused), refused)
    return imported


def _by_name(path: Path, groups: Sequence[str], project: Path | None) -> Imported:
    name = path.name.lower()
    if name == "pyproject.toml":
        from mlenv.importers.pyproject import read_pyproject

        return read_pyproject(path, groups)
    if name.startswith("pylock") and name.endswith(".toml"):
        from mlenv.importers.pylock import read_pylock

        return read_pylock(path, groups)
    if name == "pixi.toml":
        from mlenv.importers.pixi import read_pixi

        return read_pixi(path, groups)
    if name.endswith(("conda-lock.yml", "conda-lock.yaml")):  # also NAME.conda-lock.yml
        from mlenv.importers.conda import read_conda_lock

        return read_conda_lock(path, groups)
    if groups and name.endswith((".txt", ".in", ".yml", ".yaml")):
        raise ImportFileError(
            f"{path}: has no groups; nothing was written",
            [Problem(f"--group {groups[0]}", f"{path.name} has no optional groups to choose",
                     "drop --group, or import the pyproject.toml, pylock.toml or conda-lock.yml "
                     "that has the group")],
        )  # fmt: skip
    if name.endswith((".txt", ".in")):
        return read_requirements(path, () if project is None else (project,))
    if name.endswith((".yml", ".yaml")):
        from mlenv.importers.conda import read_environment_yml

        return read_environment_yml(path)
    from mlenv.subjects import TOOL_LOCKS, what_is

    raise ImportFileError(
        f"{path}: unknown kind of file",
        [Problem(str(path), f"cannot tell its format from its name; it is {what_is(path)}",
                 TOOL_LOCKS.get(name, "name it requirements*.txt, pyproject.toml, pylock.toml, "
                                "pixi.toml, environment.yml or conda-lock.yml"))],
    )  # fmt: skip
