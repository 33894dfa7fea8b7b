"""Wheels installed at the install tests' placement, so the hostile tests share one call."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlenv.install.wheels import InstallResult, install_environment
from mlenv.report import MemoryReporter


def install_test_wheels(
    wheels: Sequence[Path], staging: Path, onto: Path | None = None
) -> InstallResult:
    """``install_environment`` for the install tests' placement: /opt/mlenv/t on
    /usr/bin/python3.11 (onto a conda tree with ``onto``)."""
    return install_environment(
        wheels,
        staging,
        prefix="/opt/mlenv/t",
        interpreter="/usr/bin/python3.11",
        python="3.11",
        reporter=MemoryReporter(),
        onto=onto,
    )
