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
