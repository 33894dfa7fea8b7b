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
HOST_MINOR = f"{sys.version_info.major}.{sys.version_info.minor}"
_GOLDEN_PYTHON = 'python = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'


def golden_project(where: Path) -> Path:
    shutil.copytree(GOLDEN, where)
    return where


def for_host_python(project: Path) -> Path:
    """The golden manifest at ``project`` retargeted to the Python running the tests (lock it
    again after). ``--bytecode hash`` is compiled by the Python running mlenv, which must be the
    target's, so a hash-bytecode test on a 3.12 or 3.13 runner builds for that Python rather
    than failing on the fixture's 3.11 (the only one the pinned lock and digests are for)."""
    manifest = project / "mlenv.toml"
    text = manifest.read_text()
    assert _GOLDEN_PYTHON in text, text
    host = f'python = "{HOST_MINOR}"\ninterpreter = "/usr/bin/python{HOST_MINOR}"\n'
    manifest.write_text(text.replace(_GOLDEN_PYTHON, host))
    return project


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
