"""Projects made in code. ``make_project``: one that locks ``app`` (which requires ``lib``, a
wheel big enough to be fetched in several reads) from one index: the fetch tests and the hostile
network and secrets tests serve WHEELS from a loopback index and point make_project at it.
``build_refusal``: one that locks and builds a single (hostile) wheel from a find-links
directory, whose build must be refused. ``index_and_links``: one whose manifest names an index and
the relative find-links directory ``wheels``; ``locked_index_and_links_project``: such a one
locked, for tests that edit its lock. ``fetched_links_project``: one that locks ``app`` from a
find-links directory alone, locked and fetched."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b"x = 1\n"}),
    build_wheel("lib", "2.0", files={"lib/__init__.py": b"", "lib/blob.bin": os.urandom(600_000)}),
]


def build_refusal(root: Path, wheel: tuple[str, bytes]) -> str:
    """``root`` made a project that locks ``evil`` from a find-links directory holding
    ``wheel`` alone and builds a conda-pack archive of a venv; lock and fetch must pass (nothing
    is installed yet) and ``build --offline`` exit 1, no traceback, no dist/. Its stderr."""
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / wheel[0]).write_bytes(wheel[1])
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "ns"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
        'dependencies = ["evil"]\n[build]\noutputs = ["conda-pack"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(root.parent / "cache")}
    for command in (["lock"], ["fetch"]):
        done = run_mlenv(command, root, env)
        assert done.returncode == 0, done.stderr
    built = run_mlenv(["build", "--offline"], root, env)
    assert built.returncode == 1, built.stderr
    assert "Traceback" not in built.stderr
    assert sorted(p.name for p in root.iterdir()) == ["mlenv.lock", "mlenv.toml", "wheels"]
    return built.stderr


def make_project(tmp_path: Path, index_url: str) -> Path:
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "f"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index_url}"\ndependencies = ["app"]\n'
    )
    return root


def index_and_links(
    project: Path,
    index: str,
    links: Iterable[tuple[str, bytes]],
    dependencies: Sequence[str],
    *,
    name: str = "demo",
    more: str = "",
) -> Path:
    """``project`` made a project whose manifest takes ``dependencies`` from ``index`` and the
    relative find-links directory ``wheels`` holding ``links``; ``more``: other [pypi] keys."""
    (project / "wheels").mkdir(parents=True)
    for filename, data in links:
        (project / "wheels" / filename).write_bytes(data)
    wanted = ", ".join(json.dumps(dependency) for dependency in dependencies)
    (project / "mlenv.toml").write_text(
        f'[environment]\nname = "{name}"\npython = "3.11"\n[pypi]\n'
        f'index-url = "{index}"\nfind-links = ["wheels"]\n{more}dependencies = [{wanted}]\n'
    )
    return project


def locked_index_and_links_project(tmp_path: Path) -> tuple[Path, str]:
    """A project locked by `mlenv lock` from an index (alpha) and a relative find-links
    directory (gamma): the project directory and its lock's text."""
    index = write_simple_index(tmp_path / "index", [build_wheel("alpha", "1.0")])
    links = [build_wheel("gamma", "1.0")]
    project = index_and_links(tmp_path / "project", index, links, ["alpha", "gamma"])
    result = run_mlenv(["lock"], cwd=project)
    assert result.returncode == 0, result.stderr
    return project, (project / "mlenv.lock").read_text()


def fetched_links_project(root: Path, wheels: Iterable[tuple[str, bytes]], more: str = "") -> Path:
    """``root`` made a project taking ``app`` from the find-links directory ``wheels`` (holding
    ``wheels``) for a base's ``/usr/bin/python3.11``, locked and fetched into the cache
    ``root.parent / "cache"``; ``more``: the manifest's last lines."""
    (root / "wheels").mkdir(parents=True)
    for filename, data in wheels:
        (root / "wheels" / filename).write_bytes(data)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "links"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        '[pypi]\nindex-url = "file:///nonexistent-mlenv-index/simple"\nfind-links = ["wheels"]\n'
        f'dependencies = ["app"]\n{more}'
    )
    env = {"MLENV_CACHE_DIR": str(root.parent / "cache")}
    for command in (["lock"], ["fetch"]):
        done = run_mlenv(command, root, env)
        assert done.returncode == 0, done.stderr
    return root
