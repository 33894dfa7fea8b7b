"""Projects made in code. ``make_project``: one that locks ``app`` (which requires ``lib``, a
wheel big enough to be fetched in several reads) from one index: the fetch tests and the hostile
network and secrets tests serve WHEELS from a loopback index and point make_project at it.
``build_refusal``: one that locks and builds a single (hostile) wheel from a find-links
directory, whose build must be refused. ``locked_index_and_links_project``: one locked from an
index and a relative find-links directory, for tests that edit its lock."""

from __future__ import annotations

import os
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


def locked_index_and_links_project(tmp_path: Path) -> tuple[Path, str]:
    """A project locked by `mlenv lock` from an index (alpha) and a relative find-links
    directory (gamma): the project directory and its lock's text."""
    head = '[environment]\nname = "demo"\npython = "3.11"\n[pypi]\n'
    index = write_simple_index(tmp_path / "index", [build_wheel("alpha", "1.0")])
    project = tmp_path / "project"
    (project / "wheels").mkdir(parents=True)
    filename, data = build_wheel("gamma", "1.0")
    (project / "wheels" / filename).write_bytes(data)
    (project / "mlenv.toml").write_text(
        f'{head}index-url = "{index}"\nfind-links = ["wheels"]\ndependencies = ["alpha", "gamma"]\n'
    )
    result = run_mlenv(["lock"], cwd=project)
    assert result.returncode == 0, result.stderr
    return project, (project / "mlenv.lock").read_text()
