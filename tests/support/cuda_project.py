"""A locked one-package CUDA project on a local index, for ``mlenv verify`` end to end."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index


def locked_cuda_project(tmp_path: Path, cuda: str, floor: str) -> tuple[Path, dict[str, str]]:
    """The project root and the env its commands need, already locked for ``cuda``/``floor``."""
    index = write_simple_index(tmp_path / "index", [build_wheel("numpy", "2.4.6")])
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "v"\npython = "3.11"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["numpy"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], root, env)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    return root, env
