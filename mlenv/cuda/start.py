"""The driver an environment needs to *start*: what the image's NVIDIA_REQUIRE_CUDA asks as
``driver>=`` (``build_outputs.require_cuda``), and the one rule the three judges share (see
``mlenv.cuda.rules``): only what ``judge`` refuses to miss, never the warning tier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mlenv.cuda.required import required_driver
from mlenv.cuda.rules import CudaTarget, PackageNeed
from mlenv.cuda.versions import DriverVersion


def start_driver(target: CudaTarget, needs: Sequence[PackageNeed]) -> tuple[DriverVersion, str]:
    """``required_driver`` with every package read at its CUDA minor's GA release: the target's
    Table 3 value, a newer minor's GA value and a ``__cuda`` floor's, each an error to miss.
    A later update's driver (12.4.1's 550.54.15 over 12.4's 550.54.14) is left out: below it
    the package runs under minor-version compatibility, a warning, so the runtime must start
    the image there (CUDA Compatibility guide; cuda.md §2, §9 rule 3)."""
    at_ga = [replace(item, need=replace(item.need, release=None)) for item in needs]
    return required_driver(target, at_ga)
