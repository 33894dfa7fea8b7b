"""What is said of a build for a newer CUDA minor than the target when Table 3 gives no
driver for that minor in the column judged (``rules._package_findings``).

On WSL 2 the Windows column is N/A for every 13.x row (shared/reference/cuda.md §1), so the
driver's number cannot be ranked; the "CUDA Version" nvidia-smi reports is the newest CUDA the
driver supports (cuda.md §4: ``cuDriverGetVersion``, the number the container runtime compares)
and decides instead, as it does for the target itself (``rules._windows_unlisted``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlenv.cuda.rules import CudaTarget
    from mlenv.cuda.tags import CudaNeed
    from mlenv.cuda.versions import CudaVersion

# A WSL 2 driver is only ever judged as probed on the host (``verify --host``): without a
# reported CUDA Version the probes found none, and sending the user to run that again is no
# help. nvidia-smi prints N/A when the CUDA driver does not load, and on WSL 2 that driver is
# the Windows one, stubbed inside as libcuda.so (CUDA on WSL User Guide: install no Linux
# NVIDIA driver inside WSL 2).
UNREPORTED_ON_WSL = (
    "this WSL 2 host reported no CUDA Version (nvidia-smi printed N/A or none): the libcuda.so "
    "WSL 2 maps in from the Windows driver (/usr/lib/wsl/lib) did not load; check it is there "
    "and that no Linux NVIDIA driver was installed inside WSL 2, then run `mlenv verify --host` "
    "again"
)

# Where a driver-minor-compat message (a later update of the target's own minor) turns from
# the package to the driver it needs: ``mlenv.cuda.grouping`` splits there to say it once.
COMPAT_NEEDS = ", whose full feature set needs driver "


def claim(need: CudaNeed) -> str:
    """What a newer-minor finding says the package does with its CUDA: a build's, or
    (``__cuda`` alone) only a floor on the driver, which no build is ever "built for"."""
    return "asks for a driver that supports" if need.driver_only else "is built for"


def unlisted_minor(
    target: CudaTarget, need: CudaVersion, who: str, name: str
) -> tuple[str, str, str, str] | None:
    """(code, needs, message, hint) for the finding, or None when the reported CUDA Version
    of a WSL 2 host covers the build's minor."""
    reported = target.reported
    if target.windows and reported is not None:
        if reported >= need:
            return None
        return (
            "cuda-newer-minor",
            f"CUDA Version >= {need}",
            f"{who} is built for CUDA {need}, newer than the target CUDA {target.cuda}; "
            f"the Windows driver {target.driver_floor} reports CUDA Version {reported} "
            "(checked, WSL 2)",
            f"use a build of {name} for CUDA {target.cuda} or older, or upgrade the driver to "
            f"one that reports CUDA Version {need} or newer",
        )
    return (
        "driver-unconfirmed",
        f"CUDA {need}",
        f"{who} is built for CUDA {need}, whose minimum driver is unconfirmed",
        f"use a build of {name} for CUDA {target.cuda} or older",
    )


def unlisted_target(target: CudaTarget, newest: CudaVersion) -> tuple[str, str, str, str] | None:
    """(code, needs, message, hint) for a WSL 2 target whose CUDA has no Windows driver in
    Table 3 (13.x: N/A); None when the reported CUDA Version covers it. A reported CUDA
    Version below the target is the driver's own word that it is too old (the container
    runtime refuses it): said as such, never as a number that "cannot be checked"; without
    one the judgement is refused, never made with Linux's number. ``newest``: the newest CUDA
    with a Windows driver."""
    cuda, reported = target.cuda, target.reported
    known = f"target CUDA {newest} or older, whose Windows drivers are known"
    if reported is not None and reported >= cuda:
        return None
    if reported is not None:
        return (
            "driver-cuda-below-target",
            f"CUDA Version >= {cuda}",
            f"the {target.driver_said} reports CUDA Version {reported}, below the target CUDA "
            f"{cuda} (Table 3 gives no Windows driver for CUDA {cuda}: N/A): the container "
            "runtime will not start the image on it",
            f"upgrade the driver to one that reports CUDA Version {cuda} or newer, or target "
            f"CUDA {reported} (the newest it reports) or older",
        )
    return (
        "driver-unconfirmed",
        "a known minimum Windows driver",
        f"Table 3 gives no Windows driver for CUDA {cuda} (N/A), so the "
        f"{target.driver_said} cannot be checked by its number",
        f"{UNREPORTED_ON_WSL}, or {known}",
    )


def read_from(evidence: str) -> str:
    """Where a CUDA read from a dependency comes from: torch 2.0.1 is cu117 to PyTorch, and
    only its ``nvidia-cufft-cu11==10.9.0.58`` line makes it a CUDA 11.8 build."""
    prefix = "Requires-Dist: "
    if not evidence.startswith(prefix):
        return ""
    return f" (its Requires-Dist {evidence[len(prefix) :].partition(';')[0].strip()[:200]})"
