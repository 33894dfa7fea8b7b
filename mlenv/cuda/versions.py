"""CUDA versions, driver versions and GPU architectures (``sm_XY``) as NVIDIA writes them,
parsed strictly: every other module compares these values, never text."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

from mlenv.echoed import shown
from mlenv.errors import MlenvError
from mlenv.lazy_pattern import LazyPattern


class CudaError(MlenvError):
    """A CUDA version, driver version or requirement that cannot be understood or judged."""


# ASCII digits, at most 9 each: int() refuses a number past 4,300 digits with a bare
# ValueError (a lock's [target].cuda reached the judge that way), and \d takes any script's.
_CUDA_RE = re.compile(r"([0-9]{1,9})\.([0-9]{1,9})")
DOTTED_RE = LazyPattern(r"[0-9]+(?:\.[0-9]+)*")
# A driver version as NVIDIA prints it: ASCII digits only (``\d`` also takes fullwidth and
# Arabic-Indic digits), no sign, no empty component, a major without a leading zero, at most
# four components.
_DRIVER_TEXT_RE = LazyPattern(r"[1-9][0-9]{0,3}(?:\.[0-9]{1,3}){0,3}")
_ASCII_SPACE = " \t\r\n"
# The blanks a shell joins lines with (``echo $(...)``); a lone CR inside a line is no
# separator but a terminal overwrite (attack 173), so it is left for the parser to refuse
BLANKS_RE = re.compile(r"[ \t]+")
# How NVIDIA names a driver branch (R535, R580 in the data-center driver documentation).
_BRANCH_RE = LazyPattern(r"[Rr]([1-9][0-9]{2})")
# Windows' own version of an NVIDIA driver (Device Manager, WMI): 32.0.15.7657 is NVIDIA's
# 576.57, the last five digits of its last two parts (NVIDIA's number is what Table 3 lists);
# dxdiag pads the parts with zeros (30.00.0014.7242 is 472.42).
_WINDOWS_FILE_RE = LazyPattern(r"[0-9]{2}\.[0-9]{1,2}\.(0{0,2}[0-9]{1,2})\.([0-9]{4})")
# A driver inside what the tools print around it, as users paste it: nvidia-smi's "Driver
# Version: 575.51.03" (R610's "KMD Version: 610.43.02") and --version's "DRIVER version : ...",
# the /proc/driver/nvidia/version line, modinfo's "version: ...", "575.51.03 (open)". Named in
# the hint, never taken.
_LABELLED_DRIVER_RE = LazyPattern(r"(?:driver|kmd) version\s*:\s*([0-9][0-9.]*)", re.IGNORECASE)
# What nvidia-smi prints when it has no driver to report: its numbers are not the running
# driver's ("NVML library version: 580.178", the line after a mismatch, is the user-space
# library's while the module is 580.173.02: zzzhouuu/truenas-nvidia-drivers#19; pasted with its
# blanks as tabs or doubled, or its words joined by ``_``/``-``, it is still that line).
_SMI_FAILED_RE = LazyPattern(
    r"Failed to initialize NVML|NVIDIA-SMI has failed|not a valid field to query"
    r"|No devices were found|NVML[\s_-]+library[\s_-]+version",
    re.IGNORECASE,
)
# The kernel's log after a driver update without a reboot: the client (user-space) version
# comes first, the loaded kernel module's second, so "one version in the text" picks the wrong one.
_VERSION_WORD = r"([0-9]{1,4}(?:\.[0-9]{1,3}){0,3})"
_API_MISMATCH_RE = LazyPattern(  # a bounded gap: a hostile paste must not scan quadratically
    rf"client has the version {_VERSION_WORD}.{{0,200}}?"
    rf"kernel module has the version {_VERSION_WORD}",
    re.IGNORECASE | re.DOTALL,
)
# Jetson Linux's /etc/nv_tegra_release: an L4T release, never a driver of NVIDIA's tables.
TEGRA_RELEASE_RE = LazyPattern(
    r"# R([0-9]{1,4}) \(release\), REVISION: ([0-9]{1,4}(?:\.[0-9]{1,4})*)"
)
# NVIDIA vGPU software releases ("vGPU 16.5", "GRID v16.5") number the host/guest driver pair.
_VGPU_RELEASE_RE = LazyPattern(r"(?:vGPU|GRID)\s{0,3}v?[0-9]{1,2}\.[0-9]{1,2}(?![0-9.])", re.I)
# The banner's tool version; on Linux NVML refuses to run unless it is the loaded driver's, so
# another number beside it is WSL 2's, whose driver is the Windows host's.
_SMI_TOOL_RE = LazyPattern(r"NVIDIA-SMI\s+([0-9][0-9.]*)")
# a whole word only: "550.54.14a" or "v550.54" is a typo, not a paste, and is not guessed at
_EMBEDDED_DRIVER_RE = LazyPattern(
    r"(?<![0-9A-Za-z.])[1-9][0-9]{2,3}(?:\.[0-9]{1,3}){1,3}(?![0-9A-Za-z.])"
)
_LEADING_NUMBERS_RE = re.compile(r"(?:\d+!)?(\d+(?:\.\d+)*)")


@dataclass(frozen=True, order=True)
class CudaVersion:
    """A CUDA major.minor: the unit in which NVIDIA states compatibility."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str, *, where: str = "CUDA version") -> CudaVersion:
        match = _CUDA_RE.fullmatch(text.strip())
        if match is None:
            raise CudaError(
                f"{text!r} is not a CUDA version", where=where, hint="write major.minor, e.g. 12.4"
            )
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def dotted(text: str, *, what: str, where: str, hint: str) -> tuple[int, ...]:
    """Numeric components without trailing zeros, so 580 == 580.0 as in libnvidia-container."""
    stripped = text.strip()
    if DOTTED_RE.fullmatch(stripped) is None:
        raise CudaError(f"{text!r} is not a {what}", where=where, hint=hint)
    parts = [int(part) for part in stripped.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True, order=True)
class DriverVersion:
    """An NVIDIA driver version; compares numerically, keeps its text for messages."""

    key: tuple[int, ...]
    text: str = field(compare=False)

    @classmethod
    def parse(
        cls, text: str, *, where: str = "driver version", trim: bool = False
    ) -> DriverVersion:
        """The one reader of driver versions (flags, variables, manifest, lock, host probes).

        ``trim`` drops surrounding ASCII whitespace, for text that comes from a file, a command
        or the shell; a value typed into a manifest or lock must be exact.
        """
        value = _one_driver(text) if trim else text
        if _DRIVER_TEXT_RE.fullmatch(value) is None:
            branch = _BRANCH_RE.fullmatch(value)
            hint = _pasted(value) or "write it as nvidia-smi prints it, e.g. 550.54.14"
            windows = _WINDOWS_FILE_RE.fullmatch(value)
            if windows is not None:
                digits = (str(int(windows[1])) + windows[2])[-5:]
                hint = (
                    f"{value} is Windows' version of NVIDIA driver {digits[:3]}.{digits[3:]}; "
                    f"write {digits[:3]}.{digits[3:]}, as nvidia-smi prints it (on WSL 2, "
                    "mlenv verify --host ranks a Windows driver by Table 3's Windows column; "
                    "one given by hand is ranked as a Linux driver)"
                )
            if branch is not None:  # NVIDIA's name for a branch, e.g. R575: many drivers
                hint = (
                    f"{value} names NVIDIA driver branch {branch[1]}, not one driver; write the "
                    f"oldest {branch[1]}.x driver the fleet runs as nvidia-smi prints it "
                    f"({branch[1]}.<minor>.<patch>)"
                )
            raise CudaError(f"{text!r} is not a driver version", where=where, hint=hint)
        parts = [int(part) for part in value.split(".")]
        while parts and parts[-1] == 0:
            parts.pop()
        return cls(tuple(parts), value)

    def __str__(self) -> str:
        return self.text


def _pasted(value: str) -> str | None:
    """The hint for tool output pasted where a driver version goes, None if it is not that."""
    mismatch = _API_MISMATCH_RE.search(value)
    if mismatch is not None:
        return (
            f"that is the kernel's API mismatch: the loaded kernel module is driver {mismatch[2]}, "
            f"the user-space libraries are {mismatch[1]}, and CUDA starts on neither until they "
            "match (reboot or reload the nvidia module); then write the driver "
            "cat /sys/module/nvidia/version prints"
        )
    tegra = TEGRA_RELEASE_RE.search(value)
    if tegra is not None:
        return (
            f"that is Jetson Linux R{tegra[1]}.{tegra[2]} (/etc/nv_tegra_release), not a driver: "
            "Jetson drivers are numbered apart from NVIDIA's driver tables and are not judged; "
            "judge a dGPU's driver as nvidia-smi prints it"
        )
    if _SMI_FAILED_RE.search(value) is not None:  # numbers in it are not the driver's
        return (
            "that is nvidia-smi failing, not a driver version (after a "
            "Driver/library version mismatch the version it names is the library's, "
            "not the loaded driver's); read the running driver with "
            "cat /sys/module/nvidia/version, e.g. 550.54.14"
        )
    embedded = _embedded(value)
    vgpu = _VGPU_RELEASE_RE.search(value)
    if embedded is None and vgpu is not None:
        return (
            f"{vgpu[0]} names an NVIDIA vGPU software release, not a driver: write the guest "
            "driver nvidia-smi prints inside the VM (each release pairs a host and a guest "
            "driver, e.g. vGPU 18.2: host 570.148.06, Linux guest 570.148.08)"
        )
    several = _several(value) if embedded is None else []
    if several:
        return (
            f"that text names {len(several)} drivers ({', '.join(several)}), and a host loads "
            "one (a fleet's floor is its oldest): write that one alone, as nvidia-smi prints it"
        )
    if embedded is None:
        return None
    tool = _SMI_TOOL_RE.search(value)
    if tool is not None and tool[1] != embedded:  # nvidia-smi and NVML are the driver's own
        return (
            f"that is WSL 2's nvidia-smi: driver {embedded} is the Windows host's "
            f"(nvidia-smi {tool[1]} is WSL's own tool), and a driver given by hand is ranked "
            "as a Linux driver; run mlenv verify --host inside WSL 2, which ranks it by "
            "Table 3's Windows column and the CUDA Version it reports"
        )
    return (
        f"that text holds driver {embedded}: write {embedded} alone, as "
        "nvidia-smi --query-gpu=driver_version --format=csv,noheader prints it"
    )


def _embedded(text: str) -> str | None:
    """The one driver version a pasted tool line holds (its "Driver Version:" label first)."""
    labelled = _LABELLED_DRIVER_RE.search(text)
    found = {labelled[1]} if labelled else set(_EMBEDDED_DRIVER_RE.findall(text))
    driver = found.pop() if len(found) == 1 else None
    return driver if driver is not None and _DRIVER_TEXT_RE.fullmatch(driver) else None


def _several(text: str) -> list[str]:
    """The distinct drivers, oldest first, of text naming two to eight: nvidia-smi's one line
    per GPU, as several nodes printed it, pasted together."""
    found = {d for d in _EMBEDDED_DRIVER_RE.findall(text) if _DRIVER_TEXT_RE.fullmatch(d)}
    if not 1 < len(found) <= 8:
        return []
    return sorted(found, key=lambda driver: tuple(map(int, driver.split("."))))


def _one_driver(text: str) -> str:
    """``nvidia-smi --query-gpu=driver_version --format=csv[,noheader]`` prints one line per GPU
    (a ``driver_version`` header first without noheader); a host has one driver, so lines that
    all agree are that driver. The shell joins those lines with blanks (``echo $(nvidia-smi
    ...)``, an unquoted ``$(...)`` in CI), so ASCII blanks part them as newlines do. Anything
    else is left whole for the parser to refuse."""
    lines = [line.strip(_ASCII_SPACE) for line in text.split("\n")]
    lines = [word for line in lines for word in BLANKS_RE.split(line) if word]
    if lines[:1] == ["driver_version"]:
        lines = lines[1:]
    return lines[0] if len(set(lines)) == 1 else text.strip(_ASCII_SPACE)


def leading_numbers(version: str, *, where: str) -> tuple[int, ...]:
    """The numeric release part of a package version ("13.0.48.post1" -> (13, 0, 48))."""
    match = _LEADING_NUMBERS_RE.match(version.strip())
    if match is None:
        raise CudaError(
            f"version {version!r} has no numeric release",
            where=where,
            hint="CUDA components are versioned like 12.4.127",
        )
    return tuple(int(part) for part in match[1].split("."))


def component_numbers(version: str, evidence: str, *, exact: bool, where: str) -> tuple[int, ...]:
    """``leading_numbers`` of an NVIDIA toolkit component's own version. Every component is
    versioned from its CUDA release (12.4.127, cuBLAS 12.4.5.8, cuFFT 11.2.1.3), never 0.x: an
    exact 0.x version (0.0.1, 0.0.1.dev5) is a placeholder published under the name."""
    numbers = leading_numbers(version, where=where)
    if exact and numbers[0] == 0:
        raise CudaError(
            f"{evidence!r} is a placeholder, not a CUDA component: NVIDIA versions its toolkit "
            "components from their CUDA release (e.g. 12.4.127), never 0.x",
            where=where,
            hint="depend on a real release of the component (pip index versions NAME lists them)",
        )
    return numbers


def refuse_placeholder(version: str, evidence: str, prefix: tuple[int, ...], *, where: str) -> None:
    """Refuse a library's name placeholder: NVIDIA (and JAX) reserve a name with an empty
    0.0.x upload ("Zero version placeholder for nvidia-cudnn-cu13", 0.0.1.dev5 NGC redirects)
    below every real release (cuDNN 8.5, NCCL 2.13, cuSPARSELt 0.6.2, jax plugins 0.4.22)."""
    if leading_numbers(version, where=where)[: len(prefix)] == prefix:
        reserved = ".".join(map(str, prefix))
        raise CudaError(
            f"{evidence!r} is a placeholder, not a CUDA library: the name's {reserved}.x uploads "
            "reserve it and hold no library",
            where=where,
            hint="depend on a real release of the library (pip index versions NAME lists them)",
        )


_SPEC_BOUND_RE = LazyPattern(  # ASCII digits, at most 9 a part: int() refuses 4,301 digits
    r"(?:[>~=]?=|>)?\s*([0-9]{1,9}(?:\.[0-9]{1,9})*)(?:[a-z]+\d*)?(?:\.?\*)?"
)


def spec_floor(spec: str, *, where: str) -> tuple[int, ...] | None:
    """The lowest version a conda version spec admits ('>=12.6,<13' -> (12, 6)): the one
    reader of a conda record's cuda-version, __cuda ... floors."""
    floors: list[tuple[int, ...]] = []
    for alternative in spec.split("|"):
        lows: list[tuple[int, ...]] = []
        for part in alternative.split(","):
            part = part.strip()
            if not part or part.startswith(("<", "!=")):
                continue
            match = _SPEC_BOUND_RE.fullmatch(part)
            if match is None:  # a hostile spec may be huge: its head says enough
                raise CudaError(
                    f"conda version spec {shown(repr(spec))} cannot be read",
                    where=where,
                    hint="expected a spec like '>=12.4,<13' or '12.4.*'",
                )
            lows.append(tuple(int(number) for number in match[1].split(".")))
        if not lows:
            return None
        floors.append(max(lows))
    return min(floors)


def spec_open_above(spec: str) -> bool:
    """Whether a conda version spec admits every version above its floor: an alternative of
    ``>=``/``>``/``!=`` bounds only (numba's ``cudatoolkit >=11.2`` admits a 12.x toolkit,
    ``>=11.2,<12`` and ``11.8.*`` do not)."""
    for alternative in spec.split("|"):
        parts = [part.strip() for part in alternative.split(",") if part.strip()]
        if parts and all(part.startswith((">", "!=")) for part in parts):
            return True
    return False


_ADMIT_RE = LazyPattern(r"(==|!=|>=|<=|>|<|=)?([0-9]{1,9}(?:\.[0-9]{1,9})*)(\.?a0)?(\.\*)?")
_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def spec_admits(spec: str, version: tuple[int, ...]) -> bool | None:
    """Whether a numeric conda version spec (``>=12.6,<13``, ``12.4.*``, ``11.8|11.8.*``,
    ``<13.0a0``, ``<13.a0``) admits ``version``; None for a spec in another shape. Versions
    compare with trailing zeros ignored; ``X.0a0`` is read as just below X.0, as conda orders
    it."""

    def holds(part: str) -> bool | None:
        match = _ADMIT_RE.fullmatch(part.strip())
        if match is None or (match[3] and match[1] != "<") or (match[4] and match[1]):
            return None
        bound = tuple(int(n) for n in match[2].split("."))
        if match[4] or not match[1] or match[1] == "=":  # 12.4.*, 12.4, =12.4: the prefix
            return version[: len(bound)] + (0,) * (len(bound) - len(version)) == bound
        width = max(len(bound), len(version))
        left, right = (v + (0,) * (width - len(v)) for v in (version, bound))
        return bool(_COMPARE[match[1]](left, right))

    verdicts = [[holds(part) for part in alt.split(",")] for alt in spec.split("|")]
    if any(None in parts for parts in verdicts):
        return None
    return any(all(parts) for parts in verdicts)


_ARCH_RE = LazyPattern(r"sm_(?P<cc>[0-9]{2,3})(?P<suffix>[af]?)")
# Arch-specific "a" targets exist from Hopper (sm_90a, CUDA 12.0), family "f" targets from
# Blackwell (sm_100f) since CUDA 12.9 (release notes); sm_75a or sm_80f name no GPU target.
_SUFFIX_FROM = {"a": 90, "f": 100}
ARCH_SUFFIX_SINCE = {"a": CudaVersion(12, 0), "f": CudaVersion(12, 9)}


def arch_cc(arch: str) -> int:
    """Compute capability x10 of sm_XY (family suffixes a/f run on the base architecture)."""
    match = _ARCH_RE.fullmatch(arch)
    if match is None or int(match["cc"]) < _SUFFIX_FROM.get(match["suffix"], 0):
        raise CudaError(
            f"{arch!r} is not a GPU architecture",
            where="cuda.archs",
            hint="write sm_ and the compute capability without the dot, e.g. sm_80 (an a/f "
            "suffix only on sm_90a and newer / sm_100f and newer)",
        )
    return int(match["cc"])


def runs_on(target: str, cc: int) -> bool:
    """Whether ``[cuda] archs`` entry ``target`` covers a GPU of compute capability ``cc``
    (x10). A family target covers its family's GPUs of the same or a later minor, an
    architecture-specific or plain one its own GPU alone (CUDA C++ Programming Guide 6.1.3-6.1.4:
    code built for sm_100f "only runs on devices with compute capability 10.0 and 10.3", for
    sm_100a only on 10.0). Thor's 10.1 is a family of its own (sm_101f, renamed sm_110f in
    CUDA 13), not sm_100f's, whose two devices the guide names."""
    base = arch_cc(target)
    if target.endswith("f"):
        return cc // 10 == base // 10 and cc >= base and (cc == 101) == (base == 101)
    return cc == base


# Compute capabilities (x10) NVIDIA lists only for Jetson modules (developer.nvidia.com/cuda-gpus
# and /cuda-legacy-gpus: 5.3 Nano, 6.2 TX2, 7.2 Xavier, 8.7 Orin, 11.0 T5000/T4000; 10.1 is Thor
# before CUDA 13 renumbered sm_101 to sm_110). Such a GPU runs Jetson Linux's driver, numbered
# apart from Table 3, whatever the GPU is named ("NVIDIA Thor", "Orin (nvgpu)") and whether or
# not /etc/nv_tegra_release is there (JetPack 7 runs the SBSA containers, without it).
JETSON_ONLY_CCS = frozenset({53, 62, 72, 87, 101, 110})


def jetson_only(compute_cap: str) -> bool:
    """Whether a ``major.minor`` compute capability is one only Jetson modules have."""
    major, dot, minor = compute_cap.partition(".")
    if not (dot and major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit()):
        return False
    return int(major) * 10 + int(minor) in JETSON_ONLY_CCS
