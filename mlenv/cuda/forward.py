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
# GPUs by the name nvidia-smi prints, read by the guide's list. GeForce and TITAN are consumer
# GPUs ("NVIDIA GeForce RTX 4090", "NVIDIA TITAN RTX"), and a Quadro, NVS or T-series card that is
# no RTX card ("Quadro P4000", "NVIDIA T1000") is none of the three the guide names, nor is a
# laptop part ("NVIDIA RTX A2000 Laptop GPU": no Server Ready SKU is one): CUDA fails on them
# with error 804 whatever the branch.
_UNSUPPORTED_RE = re.compile(
    r"\b(?:GeForce|TITAN|NVS|Laptop|Max-Q)\b|\bQuadro\b(?!.*\bRTX\b)|^(?:NVIDIA )?T\d{3,4}\b",
    re.IGNORECASE,
)
# RTX workstation cards ("Quadro RTX 8000", "NVIDIA RTX A6000", "NVIDIA RTX 6000 Ada Generation",
# "NVIDIA RTX PRO 6000 Blackwell ..."): the guide supports "select NGC Server Ready SKUs of RTX
# cards" and names none, so mlenv cannot tell whether one is such a SKU.
_RTX_RE = re.compile(r"\bRTX\b", re.IGNORECASE)
# Data-center GPUs ("Tesla V100-SXM2-32GB", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3",
# "NVIDIA L40S", "NVIDIA GH200 480GB", "NVIDIA B200", AWS's "NVIDIA T4G") and Jetson's
# integrated GPUs ("Orin (nvgpu)"): supported, nothing to check. Any other name is left to the
# reader.
_SUPPORTED_RE = re.compile(
    r"\bTesla\b|^NVIDIA (?:[ABHL]\d{1,3}[A-Z]?|G[BH]\d{3}|B\d{3}|T4G?)\b|\(nvgpu\)$|\bJetson\b",
    re.IGNORECASE,
)
_ERROR_804 = "error 804 (CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE)"


def newer_branch(reported: CudaVersion, driver: DriverVersion) -> bool:
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
    if reported is None or not newer_branch(reported, driver):
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
    unsupported = [name for name in target.gpus if _UNSUPPORTED_RE.search(name)]
    if unsupported:
        return (
            "error",
            (
                f"{message}, and NVIDIA's forward compatibility does not support "
                f"{unsupported[0]} (not a data-center GPU, an RTX card or a Jetson board): CUDA "
                f"fails there with {_ERROR_804}"
            ),
            hint,
        )
    gpus = f" (this host's: {', '.join(dict.fromkeys(target.gpus))})" if target.gpus else ""
    return (
        "warning",
        (
            f"{message}: NVIDIA supports {package} on the {branch} branch "
            f"{FORWARD_COMPAT_GPUS}; on any other GPU CUDA fails with {_ERROR_804}{gpus}. "
            f"An image mlenv builds from this lock asks driver>={minimum} or newer in its "
            "NVIDIA_REQUIRE_CUDA, so the NVIDIA container runtime does not start it on this "
            "driver (unless NVIDIA_DISABLE_REQUIRE is set)"
        ),
        (
            f"{_gpu_check(target.gpus)}each node runs {package} with its libraries on the "
            f"loader path (the package does not set it: LD_LIBRARY_PATH or ld.so.conf), or {hint}"
        ),
    )


def _gpu_check(gpus: tuple[str, ...]) -> str:
    """What the forward-compatibility warning asks of this host's GPUs: nothing of data-center
    and Jetson ones, whether an RTX card is one of the SKUs NVIDIA's guide supports without
    naming them, and of any other (or unknown) GPU whether it is a data-center GPU."""
    names = tuple(dict.fromkeys(gpus))
    rtx = [name for name in names if _RTX_RE.search(name)]
    other = [name for name in names if name not in rtx and not _SUPPORTED_RE.search(name)]
    asks = []
    if rtx:
        asks.append(
            f"that each RTX card ({', '.join(rtx)}) is one of the select NGC Server Ready SKUs "
            "NVIDIA supports (its guide names none)"
        )
    if other or not names:
        asks.append(
            f"that every GPU is a data-center GPU (this host's: {', '.join(other)})"
            if other
            else "that every GPU is a data-center GPU"
        )
    return f"check {' and '.join(asks)}, and that " if asks else "check that "
