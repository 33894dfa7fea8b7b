"""Run the real ``mlenv`` entry point in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_mlenv(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlenv", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_in_process(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """The real entry point (``mlenv.cli.main``, its error mapping included) in this process,
    in ``cwd`` with ``env`` added: exit code, stdout, stderr. For fuzzing passes that run it
    hundreds of times, where a subprocess each would take minutes."""
    from click.testing import CliRunner

    from mlenv.cli import main

    before = Path.cwd()
    os.chdir(cwd)
    try:
        with CliRunner().isolation(env={"PIP_CONFIG_FILE": "/dev/null", **(env or {})}) as (
            out,
            err,
            _,
        ):
            code = main(list(args))
            return (
                code,
                out.getvalue().decode("utf-8", "replace"),
                err.getvalue().decode("utf-8", "replace"),
            )
    finally:
        os.chdir(before)
