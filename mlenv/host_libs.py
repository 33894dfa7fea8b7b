"""A loaded kernel module CUDA cannot use. A driver upgraded without a reboot: the module and
the user-space libraries (libcuda, libnvidia-ml) differ, and CUDA and NVML refuse to start; or
no GPU behind the module at all. Pure readers of what shows it (a failing nvidia-smi's text,
the libraries' file names, ``ldconfig -p``) and the verdicts; ``mlenv.host`` gathers the text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlenv.cuda.rules import Finding
from mlenv.host_text import DRIVER_ENV, driver_or_none

# nvidia-smi's line since R3xx ("Driver/Library" in some releases); pynvml raises NVML's own
# NVML_ERROR_LIB_RM_VERSION_MISMATCH text ("RM has detected an NVML/RM version mismatch.").
_MISMATCH_RE = re.compile(
    r"^[^\n]{0,80}?(?:Driver/library version mismatch|NVML/RM version mismatch)[^\n]{0,40}",
    re.IGNORECASE | re.MULTILINE,
)
# nvidia-smi's whole answer when NVML sees no GPU (the module failed to bring one up:
# RmInitAdapter failed), cannot open the driver (/dev/nvidiactl: a container started without
# the GPUs) or lost it (NVIDIA's notice, NVIDIA/nvidia-docker#1730: a container detached from
# its GPUs by a systemd reload) or may not open it (Insufficient Permissions: this user, or a
# container under SELinux, cannot open /dev/nvidiactl, nor can CUDA: NVIDIA/nvidia-docker#284);
# one GPU's "Unable to determine the device handle" says nothing of the others
_NO_GPU_RE = re.compile(
    r"^(?:No devices were found|NVIDIA-SMI has failed because it couldn't communicate with the "
    r"NVIDIA driver|Failed to initialize NVML: (?:Unknown Error|Insufficient Permissions))",
    re.MULTILINE,
)
# the second line newer drivers print (R550 on): the user-space NVML's major.minor
_NVML_LIBRARY_RE = re.compile(r"^NVML library version: ([0-9]{1,4}(?:\.[0-9]{1,4}){1,2})\s*$",
                              re.MULTILINE)  # fmt: skip
# libcuda.so.570.148.08: the driver's version in the file name (Jetson's libcuda.so.1.1 is not
# a driver version and never matches)
_LIBRARY_FILE_RE = re.compile(
    r"lib(?:cuda|nvidia-ml)\.so\.([0-9]{3,4}\.[0-9]{1,4}(?:\.[0-9]{1,4})?)"
)
# "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1": no repetition
# beside another, so a 64 KiB hostile line is read in linear time
_LDCONFIG_RE = re.compile(r"[ \t]+(\S+) \(([^)\n]*)\) => (/[^\n]*)")
HINT = (
    "the driver was upgraded without a reboot: reboot, or reload the nvidia kernel modules "
    "(`rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia` then `modprobe nvidia`)"
)


@dataclass(frozen=True)
class SmiMismatch:
    """What a failing nvidia-smi said of the mismatch: its line, and NVML's version if given."""

    line: str
    nvml: str | None


@dataclass(frozen=True)
class DriverMismatch:
    """The loaded kernel module against the user-space driver, as far as either was seen."""

    kernel: str
    library: str | None  # the user-space version, e.g. 570.148.08 (or NVML's 570.148)
    library_source: str | None  # the file or tool that gave it
    said: str | None  # nvidia-smi's mismatch line, when it printed one

    def finding(self) -> Finding:
        seen = (
            f"the user-space driver libraries are {self.library} ({self.library_source})"
            if self.library is not None
            else "the user-space driver libraries are another version"
        )
        said = f"; nvidia-smi says {self.said!r}" if self.said is not None else ""
        return Finding.error(
            "host-driver-mismatch", "", f"libraries of driver {self.kernel}",
            f"libraries {self.library or 'of another driver'}",
            f"the loaded NVIDIA kernel module is {self.kernel} but {seen}{said}: CUDA and NVML "
            "will not start on this host", HINT,
        )  # fmt: skip


@dataclass(frozen=True)
class Unjudged:
    """Why no driver is judged although a probe found one: the CLI says this, not "no driver"."""

    message: str
    hint: str
    fails: bool  # CUDA cannot start here (exit 1), rather than mlenv could not look (exit 3)


NO_DRIVER = Unjudged(
    "no NVIDIA driver found on this host",
    f"run on a GPU node, or set {DRIVER_ENV} to the node's driver",
    fails=False,
)


def unjudged_by_smi(said: SmiMismatch | None) -> Unjudged | None:
    """nvidia-smi's mismatch where no module version file is readable: a loaded driver CUDA
    cannot start, not "no driver"; its NVML version is the libraries', not the module's, so
    nothing is judged by it."""
    if said is None:
        return None
    libraries = f" ({said.nvml}, nvidia-smi's NVML)" if said.nvml is not None else ""
    message = f"nvidia-smi says {said.line!r}: the loaded NVIDIA kernel module and the user-space "
    message += f"driver libraries{libraries} differ, so CUDA and NVML will not start on this host"
    return Unjudged(message, HINT, fails=True)


def parse_smi_mismatch(text: str) -> SmiMismatch | None:
    """nvidia-smi's (or NVML's) mismatch line in a failed run's output, None if absent."""
    match = _MISMATCH_RE.search(text)
    if match is None:
        return None
    nvml = _NVML_LIBRARY_RE.search(text)
    return SmiMismatch(match[0].strip(), nvml[1] if nvml else None)


def parse_smi_no_gpu(text: str) -> str | None:
    """nvidia-smi's line saying no GPU can be used, None if it said something else."""
    match = _NO_GPU_RE.search(text)
    return match[0] if match else None


def no_gpu_finding(kernel: str, said: str) -> Finding:
    """CUDA finds no device where nvidia-smi finds none: a lock that needs one cannot run."""
    return Finding.error(
        "host-no-gpu", "", "a GPU CUDA can use", f"nvidia-smi: {said}",
        f"the NVIDIA kernel module {kernel} is loaded but nvidia-smi says {said!r}: CUDA will "
        "find no GPU here", "check `dmesg | grep NVRM` on the host (RmInitAdapter failed, a "
        "GPU off the bus); start a container with the GPUs (--gpus all, or a nvidia.com/gpu "
        "resource), and recreate one that lost them (NVML's Unknown Error); run as the job's "
        "user, who must open /dev/nvidia* (Insufficient Permissions: the devices' group, or "
        "SELinux's container_use_devices)",
    )  # fmt: skip


def library_version(target: str) -> str | None:
    """The driver version in a library's file name (a ``libcuda.so.1`` link's target); none
    for CUDA's forward-compatible libcuda (``/usr/local/cuda/compat``), newer by design."""
    if "/compat/" in target:
        return None
    match = _LIBRARY_FILE_RE.fullmatch(target.rpartition("/")[2])
    return driver_or_none(match[1]) if match else None


def ldconfig_paths(text: str, soname: str) -> tuple[str, ...]:
    """The 64-bit paths ``ldconfig -p`` lists for ``soname``, in the loader cache's order; a
    32-bit compat library (``(libc6)``, no 64 in its tag) is not what a Python process loads."""
    lines = (_LDCONFIG_RE.fullmatch(line) for line in text.splitlines())
    return tuple(m[3].rstrip() for m in lines if m and m[1] == soname and "64" in m[2])


def mismatch(
    kernel: str, library: tuple[str, str] | None, said: SmiMismatch | None
) -> DriverMismatch | None:
    """A mismatch when nvidia-smi says so or a library's version is not the module's."""
    if library is not None and library[1] != kernel:
        return DriverMismatch(kernel, library[1], library[0], said.line if said else None)
    if said is None:
        return None
    source = "nvidia-smi's NVML" if said.nvml is not None else None
    return DriverMismatch(kernel, said.nvml, source, said.line)
