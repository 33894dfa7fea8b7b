"""The golden fixture project (fixtures/golden) and the offline build the functional and hostile
tests run on it: a copy to work in, `mlenv build --offline` under a chosen environment and
umask, and the sha256 of every output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.cli import run_mlenv

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "fixtures" / "golden"


def golden_project(where: Path) -> Path:
    shutil.copytree(GOLDEN, where)
    return where


def fetched_golden(root: Path) -> tuple[Path, dict[str, str]]:
    """The golden project under ``root`` with its artifacts fetched into ``root/cache``, and
    the environment that names that cache (``SOURCE_DATE_EPOCH`` unset, so the lock's own
    epoch decides): what a test that builds on it runs mlenv with."""
    project = golden_project(root / "project")
    env = {"MLENV_CACHE_DIR": str(root / "cache"), "SOURCE_DATE_EPOCH": ""}
    result = run_mlenv(["fetch"], project, env)
    assert result.returncode == 0, result.stderr
    return project, env


def build(project: Path, cache: Path, *extra: str, env: dict[str, str] | None = None,
          umask: int | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    environment = {
        k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "TZ", "LANG")
    }
    environment.update({"MLENV_CACHE_DIR": str(cache), "PIP_CONFIG_FILE": "/dev/null"})
    environment.update(env or {})

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "mlenv", "build", "--offline", *extra],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=set_umask,
    )


def digests(dist: Path) -> dict[str, str]:
    from mlenv.cache.held import hash_file

    return {p.relative_to(dist).as_posix(): hash_file(p) for p in sorted(dist.rglob("*"))
            if p.is_file()}  # fmt: skip
