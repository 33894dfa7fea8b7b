"""What the kernel, NVIDIA's tools and glibc print about a host, read: pure parsers over the
exact text, tested on recorded samples (``mlenv.host`` gathers the text and decides)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mlenv.cuda.versions import BLANKS_RE, CudaError, DriverVersion, arch_cc
from mlenv.errors import MlenvError

DRIVER_ENV = "MLENV_DRIVER_VERSION"
COMPUTE_CAP_ENV = "MLENV_GPU_COMPUTE_CAP"
# What tells a GPU's compute capability where no probe did: nvidia-smi of R470 and older has no
# compute_cap ('Field "compute_cap" is not a valid field to query.' on 470.182.03,
# huggingface/candle#733), so only the override or NVML (nvmlDeviceGetCudaComputeCapability)
# can say it there
ARCH_UNKNOWN_HINT = (
    f"set {COMPUTE_CAP_ENV} to each GPU's compute capability (e.g. 7.5,8.0; NVIDIA lists "
    "them by GPU name at https://developer.nvidia.com/cuda-gpus): nvidia-smi of R470 and older "
    "drivers cannot print compute_cap; on a newer driver, run with nvidia-smi on PATH; or "
    "install nvidia-ml-py, whose NVML reports it"
)

# ASCII digits only: ``\d`` would also accept digits from other scripts.
_CAP_RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")  # bounded: int() refuses 4300+ digits
_CAP_HEADER_RE = re.compile(r"compute_cap(?:[ \t]|$)")  # --format=csv's header line
_GLIBC_RE = re.compile(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?")
_PROC_RE = re.compile(
    r"^NVRM version: NVIDIA UNIX .*?Kernel Module(?: for \S+)?\s+([0-9]+(?:\.[0-9]+)+)(?:\s|$)",
    re.MULTILINE,
)
# The banner's (and `nvidia-smi -q`'s) labels, the newest first: R610 renamed "Driver Version"
# and "CUDA Version" to "KMD Version" and "CUDA UMD Version" (docs.nvidia.com/deploy/nvidia-smi,
# "to more accurately reflect the source of the version information"); older tools print the
# old ones, and a label that holds no version (a deprecation note) says nothing.
_BANNER_DRIVER_RES = (
    re.compile(r"KMD Version\s*:\s*(\S+)"),
    re.compile(r"Driver Version\s*:\s*(\S+)"),
)
_BANNER_CUDA_RES = (
    re.compile(r"CUDA UMD Version\s*:\s*(\S+)"),
    re.compile(r"CUDA Version\s*:\s*(\S+)"),
)
# the parenthesis first, then the words in it: one expression for both backtracked (quadratic)
_LDD_RE = re.compile(r"ldd \(([^)]*)\) (\S+)")
# A GPU row of the banner's table ("|   0  Orin (nvgpu)   N/A  | ..."): the name nvgpu, the
# driver of Jetson's integrated GPU, gives it (JetPack 6 prints it where the GPU query fails).
# Read above the Processes table only, whose rows also start with a GPU index and end in a
# process name anyone can choose ("/tmp/job (nvgpu)" on a desktop A100).
_BANNER_NVGPU_RE = re.compile(r"^\|\s+[0-9]+\s+(\S[^|]*?\(nvgpu\))", re.MULTILINE)
_GLIBC_WORD_RE = re.compile(r"\b(?:E?GLIBC|GNU libc)\b")
_NOT_AVAILABLE = frozenset({"N/A", "[N/A]", "[Not Supported]"})  # nvidia-smi prints both
# nvidia-smi's return value 14, "infoROM is corrupted" (its man page, RETURN VALUE; NVML's
# NVML_ERROR_CORRUPTED_INFOROM): a warning about one GPU's on-board store of ECC counts and
# configuration, printed beside a complete answer (NVIDIA's GPU Operator troubleshooting shows
# the full table under it), so the answer is read with the warning lines left out
SMI_INFOROM_STATUS = 14
_INFOROM_RE = re.compile(r"^WARNING: infoROM is corrupted at gpu [0-9A-Fa-f:.]{1,32}[ \t\r]*$",
                         re.MULTILINE)  # fmt: skip


class HostError(MlenvError):
    """A host override is malformed; guessing would make verify judge the wrong machine."""


@dataclass(frozen=True)
class Gpu:
    """One visible GPU; fields are None where the source could not say."""

    name: str | None
    compute_cap: str | None
    driver: str | None


@dataclass(frozen=True)
class SmiBanner:
    """The header of plain ``nvidia-smi``: the only CLI place that prints the driver's CUDA."""

    driver: str
    cuda: str | None
    nvgpu: str | None = None  # a GPU row's name ending "(nvgpu)": Jetson's integrated GPU


def driver_or_none(text: str) -> str | None:
    """A probe's driver text through the one driver reader; line endings are the probe's."""
    try:
        return str(DriverVersion.parse(text, trim=True))
    except CudaError:
        return None


def parse_sys_module_version(text: str) -> str | None:
    """``/sys/module/nvidia/version`` holds just the version, e.g. ``550.54.14``."""
    return driver_or_none(text)


def parse_proc_driver_version(text: str) -> str | None:
    """The version after ``Kernel Module`` on the NVRM line, never the GCC line's version."""
    match = _PROC_RE.search(text)
    return driver_or_none(match.group(1)) if match else None


def parse_smi_query(text: str) -> tuple[Gpu, ...] | None:
    """Rows of ``driver_version, compute_cap, name``; None if any row is not in that shape.

    One bad row rejects the whole output so a GPU is never silently dropped, and so do rows that
    disagree on the driver: a host loads one kernel module, so which row to believe is a guess.
    A header line is skipped; ``[N/A]``/``[Not Supported]`` compute capability becomes None.
    """
    gpus: list[Gpu] = []
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[0].replace(" ", "") == "driver_version,compute_cap,name":
        lines = lines[1:]
    for line in lines:
        cells = [cell.strip(" \t\r") for cell in line.split(",", 2)]  # ASCII only
        if len(cells) != 3:
            return None
        driver, cap, name = cells
        if driver_or_none(driver) != driver or not name:
            return None
        if cap in _NOT_AVAILABLE:
            gpus.append(Gpu(name, None, driver))
        elif _CAP_RE.fullmatch(cap):
            gpus.append(Gpu(name, cap, driver))
        else:
            return None
    return tuple(gpus) if len({gpu.driver for gpu in gpus}) <= 1 else None


def _labelled(
    text: str, labels: tuple[re.Pattern[str], ...], valid: Callable[[str], bool]
) -> str | None:
    """The first valid value after one of ``labels`` (the newest name first)."""
    for label in labels:
        match = label.search(text)
        if match is not None and valid(match.group(1)):
            return match.group(1)
    return None


def inforom_warned(status: int, stdout: str, stderr: str) -> tuple[str, str] | None:
    """What an nvidia-smi run that exited 14 printed, its infoROM warnings left out, and the
    first of them (on either stream); None for another exit, or nothing but the warning."""
    if status != SMI_INFOROM_STATUS:
        return None
    warning = _INFOROM_RE.search(stdout) or _INFOROM_RE.search(stderr)
    kept = _INFOROM_RE.sub("", stdout)
    return (kept, warning[0].strip()) if warning and kept.strip() else None


def parse_smi_banner(text: str) -> SmiBanner | None:
    """Driver and CUDA version from the plain ``nvidia-smi`` header, as every release labels
    them (``N/A``, ``ERR!`` and other non-versions give None)."""
    driver = _labelled(text, _BANNER_DRIVER_RES, lambda v: driver_or_none(v) is not None)
    if driver is None:
        return None
    cuda = _labelled(text, _BANNER_CUDA_RES, lambda v: bool(_CAP_RE.fullmatch(v)))
    nvgpu = _BANNER_NVGPU_RE.search(text.partition("Processes:")[0])
    return SmiBanner(driver, cuda, nvgpu[1] if nvgpu else None)


def parse_confstr_glibc(text: str) -> str | None:
    """``os.confstr("CS_GNU_LIBC_VERSION")`` gives ``glibc 2.36``; other libcs give nothing."""
    name, _, version = text.strip().partition(" ")
    return version if name == "glibc" and _GLIBC_RE.fullmatch(version) else None


def parse_ldd_version(text: str) -> str | None:
    """The first line of glibc's ``ldd --version``; musl and others are not glibc, so None."""
    first = text.splitlines()[0].strip() if text.strip() else ""
    match = _LDD_RE.fullmatch(first)
    if match is None or _GLIBC_WORD_RE.search(match[1]) is None:
        return None
    return match[2] if _GLIBC_RE.fullmatch(match[2]) else None


def cuda_version_from_int(value: int) -> str | None:
    """NVML/driver API encode the CUDA version as ``1000*major + 10*minor`` (12040 is 12.4)."""
    if value <= 0:
        return None
    return f"{value // 1000}.{value % 1000 // 10}"


def parse_driver_override(value: str) -> str:
    """Validate ``MLENV_DRIVER_VERSION``; a typo must fail loudly, not verify a fictional host."""
    try:  # the one driver reader's hint names the shape (R580: a branch; Windows file version)
        return str(DriverVersion.parse(value, where=DRIVER_ENV, trim=True))
    except CudaError as exc:
        hint = f"{exc.hint}, or unset {DRIVER_ENV} to probe the host"
        raise HostError(f"not a driver version: {value!r}", where=DRIVER_ENV, hint=hint) from exc


def parse_compute_cap_override(value: str) -> tuple[str, ...]:
    """Validate ``MLENV_GPU_COMPUTE_CAP``: one ``major.minor`` per GPU, comma-separated, or one
    per line as ``nvidia-smi --query-gpu=compute_cap --format=csv[,noheader]`` prints them on a
    multi-GPU node (its ``compute_cap`` header first, never a comma-separated cell), so that
    output can be set as it is, also as the shell joins those lines with blanks (``echo
    $(nvidia-smi ...)``)."""
    lines = [line.strip(" \t\r") for line in value.split("\n")]
    lines = [line for line in lines if line]
    if lines and _CAP_HEADER_RE.match(lines[0]):
        lines[0] = lines[0].removeprefix("compute_cap").lstrip(" \t")
    cells = [cell.strip(" \t\r") for line in lines if line for cell in line.split(",")]
    caps = tuple(word for cell in cells for word in BLANKS_RE.split(cell))
    if not caps or not all(_CAP_RE.fullmatch(cap) for cap in caps):
        usage = (
            'use major.minor per GPU, e.g. "8.6" or "8.0,9.0" (or nvidia-smi '
            "--query-gpu=compute_cap --format=csv,noheader), or unset it to probe the host"
        )
        raise HostError(
            f"not a list of compute capabilities: {value!r}",  # cut where shown: echoed.shown
            where=COMPUTE_CAP_ENV,
            hint=_archs_hint(caps) or f"{_first_wrong(caps)}{usage}",
        )
    return caps


def _first_wrong(caps: tuple[str, ...]) -> str:
    """The first item that is no compute capability, named for the hint ("" when none is)."""
    wrong = next((cap for cap in caps if not _CAP_RE.fullmatch(cap)), None)
    if wrong is None:
        return ""
    return f"{wrong!r} is not a compute capability; " if wrong else "an empty value; "


# How a GPU's compute capability is spelt elsewhere: nvcc's real and virtual architectures
# (sm_90, sm_90a, compute_90), the same without the underscore, and CMake's
# CUDA_ARCHITECTURES (90, 90-real): each one capability, written without its dot
_CAP_SPELT_RE = re.compile(r"(?:sm_?|compute_)?([0-9]{2,3}[af]?)(?:-real|-virtual)?")


def _archs_hint(items: tuple[str, ...]) -> str | None:
    """The hint for GPU architectures (sm_90, compute_90, 90 as nvcc, wheel arch lists and
    CMake name them) given where compute capabilities go, beside capabilities or not: every
    item written as the capability it is, so the fix is spelt out; None if one is neither."""
    if len(items) > 64:
        return None
    said: list[str] = []
    for item in items:
        spelt = None if _CAP_RE.fullmatch(item) else _CAP_SPELT_RE.fullmatch(item)
        if spelt is None and not _CAP_RE.fullmatch(item):
            return None
        try:
            said.append(item if spelt is None else _dotted(arch_cc(f"sm_{spelt[1]}")))
        except CudaError:  # sm_75a: no GPU target
            return None
    archs = [item for item in items if not _CAP_RE.fullmatch(item)]
    if not archs:
        return None
    return f"{','.join(archs)}: GPU architectures, not compute capabilities; write {','.join(said)}"


def _dotted(cc: int) -> str:
    return f"{cc // 10}.{cc % 10}"
