"""What a checked host's driver below the target says when the CUDA Version it reports is one
no driver of its branch ships: a forward-compatible libcuda, NVIDIA's ``cuda-compat-X-Y``, is on
the loader path (CUDA Compatibility guide, "Forward Compatibility": the package carries the
user-mode driver of a newer branch, and nvidia-smi and NVML report that libcuda's CUDA). NVIDIA
supports it only for the branch pairs its matrix lists and only on data-center GPUs, select NGC
Server Ready RTX SKUs and Jetson boards; elsewhere CUDA fails with error 804,
CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (``rules._target_findings`` asks)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from mlenv.cuda.matrix import forward_compat, table3_driver

if TYPE_CHECKING:
    from mlenv.cuda.rules import CudaTarget
    from mlenv.cuda.versions import CudaVersion, DriverVersion

# The systems NVIDIA's forward compatibility applies to (the guide's warning): a Jetson or an
# NGC Server Ready RTX card is as eligible as a data-center GPU.
FORWARD_COMPAT_GPUS = (
    "only on data-center GPUs, select NGC Server Ready RTX SKUs and Jetson boards "
    "(GeForce cannot use it)"
)
# Consumer GPUs by the name nvidia-smi prints ("NVIDIA GeForce RTX 4090", "NVIDIA TITAN RTX"):
# never eligible, so CUDA fails on them with error 804 whatever the branch
_CONSUMER_RE = re.compile(r"\b(?:GeForce|TITAN)\b", re.IGNORECASE)
_ERROR_804 = "error 804 (CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE)"


def _newer_branch(reported: CudaVersion, driver: DriverVersion) -> bool:
    """Whether only a newer branch's libcuda reports ``reported``: its Table 3 driver is of a
    later branch than the kernel driver's (a 565 driver reporting 12.7, a CUDA no toolkit
    shipped, or an early 610 driver reporting 13.3, is its branch's own)."""
    found = table3_driver(reported)
    return found is not None and bool(driver.key) and found[0].key[0] > driver.key[0]


def _compat_hint(cuda: CudaVersion, driver: DriverVersion) -> str:
    """What the driver-below hint adds when NVIDIA's matrix lists ``cuda-compat`` for the target
    on this driver's branch ("" when it does not): named, never assumed."""
    compat = forward_compat(cuda, driver)
    if compat is None:
        return ""
    return (
        f"; NVIDIA's forward compatibility supports CUDA {cuda} on the {driver.key[0]} branch "
        f"with {compat} on the loader path, {FORWARD_COMPAT_GPUS}"
    )


def forward_said(
    target: CudaTarget, minimum: DriverVersion, message: str, hint: str
) -> tuple[Literal["error", "warning"], str, str]:
    """(severity, message, hint) of a checked Linux driver below ``minimum``: an error naming
    the ``cuda-compat`` NVIDIA lists for the target, unless the CUDA Version it reports is one
    only a forward-compatible libcuda gives, which NVIDIA supports there (a warning that names
    its conditions) or not (an error that says why)."""
    reported, driver, cuda = target.reported, target.driver_floor, target.cuda
    refused = hint + _compat_hint(cuda, driver)
    if reported is None or not _newer_branch(reported, driver):
        return "error", message, refused
    branch = driver.key[0]
    package = forward_compat(reported, driver)
    loaded = f"; it reports CUDA Version {reported}, which no {branch} driver ships: a "
    if package is None:
        return (
            "error",
            (
                f"{message}{loaded}forward-compatible libcuda (cuda-compat-{reported.major}-"
                f"{reported.minor}) is on the loader path, which NVIDIA's forward compatibility "
                f"does not support on the {branch} branch"
            ),
            refused,
        )
    message += f"{loaded}forward-compatible libcuda ({package}) is on the loader path"
    if reported < cuda:
        return "error", f"{message}, still below CUDA {cuda}", refused
    consumer = [name for name in target.gpus if _CONSUMER_RE.search(name)]
    if consumer:
        return (
            "error",
            (
                f"{message}, and NVIDIA's forward compatibility does not support {consumer[0]}: "
                f"CUDA fails there with {_ERROR_804}"
            ),
            hint,
        )
    gpus = f" (this host's: {', '.join(dict.fromkeys(target.gpus))})" if target.gpus else ""
    return (
        "warning",
        (
            f"{message}: NVIDIA supports {package} on the {branch} branch "
            f"{FORWARD_COMPAT_GPUS}; on any other GPU CUDA fails with {_ERROR_804}"
        ),
        (
            f"check that every GPU is a data-center GPU{gpus} and that each node runs {package} "
            f"with its libraries on the loader path (the package does not set it: LD_LIBRARY_PATH "
            f"or ld.so.conf), or {hint}"
        ),
    )
