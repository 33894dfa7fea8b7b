"""Run a command in a fresh network namespace: no interface is up, so no connection can be made.

This is how the tests prove `--offline`: not by trusting a flag, but by taking the network away.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def unshare() -> str:
    found = shutil.which("unshare")
    if found is None:
        raise AssertionError("unshare is missing: apt-get install -y util-linux")
    return found


def run_mlenv_offline(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``mlenv ARGS`` inside ``unshare --net``: the process has no network at all."""
    return subprocess.run(
        [unshare(), "--net", "--", sys.executable, "-m", "mlenv", *args],
        cwd=cwd,
        env={**os.environ, "PIP_CONFIG_FILE": "/dev/null", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def network_is_gone() -> bool:
    """Sanity check of the mechanism itself: inside the namespace even loopback is down."""
    probe = (
        "import socket\n"
        "s = socket.socket()\n"
        "s.settimeout(2)\n"
        "raise SystemExit(0 if s.connect_ex(('127.0.0.1', 9)) != 0 else 1)\n"
    )
    result = subprocess.run([unshare(), "--net", "--", sys.executable, "-c", probe], check=False)
    return result.returncode == 0
