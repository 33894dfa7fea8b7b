"""Facts about the machine mlenv runs on, for ``mlenv verify --host`` on a GPU node before deploy.

Parsers (``mlenv.host_text``) are pure functions over the exact text the kernel and NVIDIA tools
print, so they are tested on recorded samples. All IO goes through ``HostSystem``
(``mlenv.host_system``) so ``detect`` runs against an in-memory fake in tests; ``RealHost`` is
the only part that touches the machine.

Driver probe order (first hit wins, like uv's ``--torch-backend auto``): the
``MLENV_DRIVER_VERSION`` override, ``/sys/module/nvidia/version``, ``/proc/driver/nvidia/version``,
``nvidia-smi`` (WSL 2's in ``/usr/lib/wsl/lib`` first; the GPU query, then the banner), then
NVML through ``pynvml`` when importable. A Jetson's driver (``/etc/nv_tegra_release``, an
``(nvgpu)`` GPU or a Jetson-only compute capability) is found but never judged; on WSL 2
(``/proc/version`` names Microsoft, or ``/dev/dxg`` exists) nvidia-smi's driver is Windows'.
A kernel module version (sysfs, /proc) is held to the user-space driver's: the
``libcuda.so.1`` (else ``libnvidia-ml.so.1``) link's target the loader cache names, and what a
failing nvidia-smi printed (``mlenv.host_libs``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from mlenv.cuda.versions import TEGRA_RELEASE_RE, jetson_only
from mlenv.host_libs import (
    DriverMismatch,
    SmiMismatch,
    Unjudged,
    ldconfig_paths,
    library_version,
    mismatch,
    parse_smi_mismatch,
    parse_smi_no_gpu,
    unjudged_by_smi,
)
from mlenv.host_system import HostSystem as HostSystem
from mlenv.host_system import NvmlSnapshot as NvmlSnapshot
from mlenv.host_system import RealHost as RealHost
from mlenv.host_system import Said as Said
from mlenv.host_text import (
    COMPUTE_CAP_ENV,
    DRIVER_ENV,
    Gpu,
    SmiBanner,
    cuda_version_from_int,
    driver_or_none,
    inforom_warned,
    parse_compute_cap_override,
    parse_confstr_glibc,
    parse_driver_override,
    parse_ldd_version,
    parse_proc_driver_version,
    parse_smi_banner,
    parse_smi_query,
    parse_sys_module_version,
)

SYS_MODULE_VERSION = "/sys/module/nvidia/version"
PROC_DRIVER_VERSION = "/proc/driver/nvidia/version"
# Jetson Linux (L4T) names its release here; its drivers are numbered apart from Table 3's.
TEGRA_RELEASE = "/etc/nv_tegra_release"
# WSL 2's kernel release names Microsoft (5.15.167.4-microsoft-standard-WSL2; not a builder's
# address, host name or compiler): nvidia-smi's driver is Windows', ranked by its Table 3 column.
KERNEL_VERSION = "/proc/version"
# WSL 2's GPU device (dxgkrnl, also in its containers): a custom WSL kernel is still known.
WSL_GPU_DEVICE = "/dev/dxg"
JETSON_HINT = (
    "a Jetson runs the CUDA its JetPack release ships; judge the lock for the fleet's dGPU "
    f"nodes with --driver, or on one of them (an IGX's dGPU: set {DRIVER_ENV})"
)
_WSL_RE = re.compile(r"\s*Linux version [^\s(]*(?:microsoft|WSL)", re.IGNORECASE)
SMI_QUERY_ARGV = (
    "nvidia-smi",
    "--query-gpu=driver_version,compute_cap,name",
    "--format=csv,noheader",
)
SMI_BANNER_ARGV = ("nvidia-smi",)
# WSL 2's nvidia-smi, off the PATH of root, sudo and SSH (microsoft/WSL#8794, gpustack#1297)
WSL_NVIDIA_SMI = "/usr/lib/wsl/lib/nvidia-smi"
LDD_ARGV = ("ldd", "--version")
NVML_SOURCE = "NVML (pynvml)"
GLIBC_CONFSTR = "CS_GNU_LIBC_VERSION"
# nvidia-smi takes seconds without persistence mode and hangs on a wedged driver: bounded.
NVIDIA_SMI_TIMEOUT = 15.0
LDD_TIMEOUT = 5.0
UNAME_ARGV = ("uname", "-m")  # the machine, as wheel tags and PEP 508 platform_machine name it
UNAME_TIMEOUT = 5.0
# The driver's user-space libraries as the loader finds them: the loader cache (ldconfig is in
# /sbin, off a user's PATH on Debian), else the distributions' library directories.
LDCONFIG_ARGV = ("/sbin/ldconfig", "-p")
LDCONFIG_TIMEOUT = 5.0
DRIVER_LIBRARIES = ("libcuda.so.1", "libnvidia-ml.so.1")
LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")


@dataclass(frozen=True)
class ProbeResult:
    """One attempted source, kept so the CLI can explain why a fact is missing."""

    source: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class HostFacts:
    """What verify needs to know about this machine; None means no probe could tell."""

    driver: str | None
    driver_source: str | None
    cuda_driver_version: str | None
    gpus: tuple[Gpu, ...]
    glibc: str | None
    probes: tuple[ProbeResult, ...]
    windows_driver: bool = False  # WSL 2: nvidia-smi's driver is the Windows host's
    machine: str = ""  # uname -m: a lock for other machines cannot run here (GH200: aarch64)
    mismatch: DriverMismatch | None = None  # kernel module and user-space libraries differ
    no_gpu: str | None = None  # nvidia-smi saying no GPU is usable, beside a loaded module
    unjudged: Unjudged | None = None  # no driver, but a probe said why (Jetson, a mismatch)


def _excerpt(text: str) -> str:
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


@dataclass
class _Prober:
    """Runs each probe at most once, because nvidia-smi is slow, and records every attempt."""

    system: HostSystem
    results: list[ProbeResult] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # what failing nvidia-smi runs printed

    def record(self, source: str, ok: bool, detail: str) -> None:
        self.results.append(ProbeResult(source, ok, detail))

    def read(self, path: str, parse: Callable[[str], str | None]) -> str | None:
        text = self.system.read_text(path)
        if text is None:
            self.record(path, False, "not present")
            return None
        version = parse(text)
        if version is None:
            self.record(path, False, f"unrecognised content: {_excerpt(text)}")
        else:
            self.record(path, True, version)
        return version

    @cached_property
    def smi_programs(self) -> tuple[str, ...]:
        """WSL 2's mapped-in nvidia-smi first, then the PATH's (NixOS-WSL's wrapper, say)."""
        return (
            (WSL_NVIDIA_SMI, "nvidia-smi")
            if self.system.exists(WSL_NVIDIA_SMI)
            else ("nvidia-smi",)
        )

    def smi(self, argv: tuple[str, ...]) -> tuple[str, str | None]:
        """The first nvidia-smi's output for ``argv`` and what answered (else the first asked);
        what a failing one printed is kept (``failed``), since it says why."""
        tried = [(program, *argv[1:]) for program in self.smi_programs]
        failed = len(self.failed)
        for ran in tried:
            said = self.system.run_status(ran, NVIDIA_SMI_TIMEOUT)
            if said is not None and said.status == 0:
                return " ".join(ran), said.stdout
            warned = inforom_warned(said.status, said.stdout, said.stderr) if said else None
            if warned is not None:  # only a warning: the answer stands
                self.record(" ".join(ran), True, f"exit 14 ({warned[1]}): its answer is read")
                return " ".join(ran), warned[0]
            if said is not None and (said.stdout.strip() or said.stderr.strip()):
                self.failed.append(f"{said.stdout}\n{said.stderr}")
                detail = f"exit {said.status}: {_excerpt(said.stdout.strip() or said.stderr)}"
                self.record(" ".join(ran), False, detail)
        if len(self.failed) == failed:  # nothing said why
            self.record(" ".join(tried[0]), False, "failed, timed out or not installed")
        return " ".join(tried[0]), None

    @cached_property
    def smi_query(self) -> tuple[str, tuple[Gpu, ...]]:
        """The GPUs nvidia-smi lists; empty when it fails, so callers fall through to NVML."""
        source, output = self.smi(SMI_QUERY_ARGV)
        if output is None:  # ``smi`` said why
            return source, ()
        gpus = parse_smi_query(output)
        if gpus is None:
            self.record(source, False, f"unrecognised output: {_excerpt(output)}")
        elif not gpus:
            self.record(source, False, "no GPUs listed")
        else:
            self.record(source, True, f"{len(gpus)} GPU(s), driver {gpus[0].driver}")
        return source, gpus or ()

    @cached_property
    def smi_banner(self) -> tuple[str, SmiBanner | None]:
        source, output = self.smi(SMI_BANNER_ARGV)
        if output is None:  # ``smi`` said why
            return source, None
        banner = parse_smi_banner(output)
        if banner is None:
            self.record(source, False, f"unrecognised output: {_excerpt(output)}")
        else:
            self.record(
                source, True, f"driver {banner.driver}, CUDA Version {banner.cuda or 'N/A'}"
            )
        return source, banner

    @cached_property
    def nvml(self) -> NvmlSnapshot | None:
        """NVML's answer with its driver string validated like every other source's."""
        raw = self.system.nvml()
        if raw is None:
            self.record(NVML_SOURCE, False, "pynvml not importable or NVML failed")
            return None
        driver = driver_or_none(raw.driver) if raw.driver is not None else None
        cuda = cuda_version_from_int(raw.cuda_version) if raw.cuda_version is not None else None
        self.record(
            NVML_SOURCE,
            driver is not None,
            f"driver {driver or 'unknown'}, CUDA {cuda or 'unknown'}, {len(raw.gpus)} GPU(s)",
        )
        return NvmlSnapshot(driver, raw.cuda_version, raw.gpus)

    def driver(self) -> tuple[str | None, str | None]:
        for path, parse in (
            (SYS_MODULE_VERSION, parse_sys_module_version),
            (PROC_DRIVER_VERSION, parse_proc_driver_version),
        ):
            version = self.read(path, parse)
            if version is not None:
                return version, path
        query, gpus = self.smi_query
        if gpus:
            return gpus[0].driver, query
        said, banner = self.smi_banner
        if banner is not None:
            return banner.driver, said
        if self.nvml is not None and self.nvml.driver is not None:
            return self.nvml.driver, NVML_SOURCE
        return None, None

    def tegra(self, gpus: tuple[Gpu, ...]) -> str | None:
        """The Jetson release (``/etc/nv_tegra_release``), or an integrated GPU: ``(nvgpu)`` in its
        name (the query's or the banner's) or a compute capability only Jetson modules have
        (Thor's 11.0 ...). The file counts only on aarch64 (or where ``uname`` failed): Jetson
        Linux runs nowhere else, and one left on an x86_64 node stopped its driver's judgement."""
        text = self.system.read_text(TEGRA_RELEASE)
        if text is not None and self.machine not in ("", "aarch64"):  # left in an image or /etc
            self.record(
                TEGRA_RELEASE, False, f"ignored: Jetson Linux is aarch64's, not {self.machine}'s"
            )
            text = None
        match = TEGRA_RELEASE_RE.match(text) if text is not None else None
        if text is not None:  # the file alone says Jetson Linux, whatever its wording
            return (
                f"Jetson Linux R{match[1]}.{match[2]}"
                if match
                else f"Jetson Linux ({TEGRA_RELEASE})"
            )
        names = [
            g.name or f"compute capability {g.compute_cap}"
            for g in gpus
            if (g.name and g.name.endswith("(nvgpu)")) or jetson_only(g.compute_cap or "")
        ]
        banner = self.smi_banner[1] if not names else None  # the GPU query fails on JetPack 6
        if banner is not None and banner.nvgpu is not None:
            names = [banner.nvgpu]
        return f"a Jetson GPU ({names[0]})" if names else None

    @cached_property
    def machine(self) -> str:
        """``uname -m`` (empty when it fails), asked once: wheel tags and Jetson Linux need it."""
        return (self.system.run(UNAME_ARGV, UNAME_TIMEOUT) or "").strip()

    def wsl(self, source: str | None) -> bool:
        """Whether a driver nvidia-smi or NVML reported is a WSL 2 host's Windows driver; a
        kernel module's version (sysfs, /proc/driver) is always Linux's."""
        if source in (None, DRIVER_ENV, SYS_MODULE_VERSION, PROC_DRIVER_VERSION):
            return False
        text = self.system.read_text(KERNEL_VERSION)
        found = KERNEL_VERSION if text is not None and _WSL_RE.match(text) else None
        found = found or (WSL_GPU_DEVICE if self.system.exists(WSL_GPU_DEVICE) else None)
        if found is not None:
            self.record(found, True, "WSL 2: the driver is Windows', judged as such")
        return found is not None

    def gpus(self) -> tuple[Gpu, ...]:
        nvml = self.nvml.gpus if not self.smi_query[1] and self.nvml is not None else ()
        return self.smi_query[1] or nvml

    def cuda(self, driver: str) -> str | None:
        """The first source that reports a CUDA version decides, if it agrees on the driver."""
        source, banner = self.smi_banner
        if banner is not None and banner.cuda is not None:
            return self._same_driver(source, banner.driver, banner.cuda, driver)
        nvml = self.nvml
        if nvml is not None and nvml.cuda_version is not None:
            cuda = cuda_version_from_int(nvml.cuda_version)
            if cuda is not None:
                return self._same_driver(NVML_SOURCE, nvml.driver, cuda, driver)
        return None

    def _same_driver(self, source: str, reported: str | None, cuda: str, driver: str) -> str | None:
        """Pairing a CUDA version with another driver would let verify approve an unseen host."""
        if reported == driver:
            return cuda
        self.record(source, False, f"CUDA Version {cuda} is for driver {reported}, not {driver}")
        return None

    def smi_mismatch(self) -> SmiMismatch | None:
        """The mismatch a failing nvidia-smi printed, if one did."""
        return next(filter(None, map(parse_smi_mismatch, self.failed)), None)

    def smi_no_gpu(self) -> str | None:
        """What a failing nvidia-smi printed when it found no GPU to use, if it did."""
        return next(filter(None, map(parse_smi_no_gpu, self.failed)), None)

    def library(self) -> tuple[str, str] | None:
        """Where the loader finds the driver's user-space library, and its version: the target
        of the ``libcuda.so.1`` link (several drivers' files may lie side by side), else
        ``libnvidia-ml.so.1``'s; a plain file (WSL 2's) or a link to no version says nothing."""
        cache = self.system.run(LDCONFIG_ARGV, LDCONFIG_TIMEOUT) or ""
        for soname in DRIVER_LIBRARIES:
            cached = ldconfig_paths(cache, soname)
            for path in cached or tuple(f"{folder}/{soname}" for folder in LIBRARY_DIRS):
                target = self.system.resolve_link(path)
                version = library_version(target) if target is not None else None
                if version is not None:
                    self.record(path, True, f"-> {target}: user-space driver {version}")
                    return path, version
        return None

    def glibc(self) -> str | None:
        source = f"os.confstr({GLIBC_CONFSTR!r})"
        value = self.system.confstr(GLIBC_CONFSTR)
        version = parse_confstr_glibc(value) if value is not None else None
        if version is not None:
            self.record(source, True, version)
            return version
        self.record(source, False, "not glibc" if value is None else f"unrecognised: {value!r}")
        output = self.system.run(LDD_ARGV, LDD_TIMEOUT)
        version = parse_ldd_version(output) if output is not None else None
        self.record(" ".join(LDD_ARGV), version is not None, version or "failed or not glibc")
        return version


def detect(system: HostSystem) -> HostFacts:
    """Probe ``system`` in the documented order; raises ``HostError`` only for bad overrides.

    Overrides are validated before any probe runs so a typo fails fast, not after nvidia-smi.
    """
    env = system.env
    driver = parse_driver_override(env[DRIVER_ENV]) if DRIVER_ENV in env else None
    caps = parse_compute_cap_override(env[COMPUTE_CAP_ENV]) if COMPUTE_CAP_ENV in env else None

    prober = _Prober(system)
    if driver is not None:
        prober.record(DRIVER_ENV, True, driver)
        driver_source: str | None = DRIVER_ENV
    else:
        driver, driver_source = prober.driver()
    if caps is not None:
        prober.record(COMPUTE_CAP_ENV, True, ",".join(caps))
        gpus = tuple(Gpu(None, cap, driver) for cap in caps)
    else:
        gpus = prober.gpus()
    tegra = prober.tegra(gpus) if driver_source != DRIVER_ENV else None
    unjudged = None
    if tegra is not None:  # JetPack 5 has no probe's driver at all: still said to be Jetson's
        found = f"driver {driver} is {tegra}'s," if driver else f"{tegra}: its driver is"
        said = f"{found} not judged by NVIDIA's driver tables"
        prober.record(
            driver_source or TEGRA_RELEASE, False, f"{said} (a dGPU on IGX: set {DRIVER_ENV})"
        )
        unjudged = Unjudged(said, JETSON_HINT, fails=False)
        driver = driver_source = None
    elif driver is None:
        unjudged = unjudged_by_smi(prober.smi_mismatch())
    cuda = prober.cuda(driver) if driver is not None else None
    kernel = driver if driver_source in (SYS_MODULE_VERSION, PROC_DRIVER_VERSION) else None
    broken = None if kernel is None else mismatch(kernel, prober.library(), prober.smi_mismatch())
    # a loaded module, and neither a probe nor the user names a GPU: nvidia-smi may say none runs
    no_gpu = prober.smi_no_gpu() if kernel is not None and not gpus and broken is None else None
    windows = prober.wsl(driver_source)
    glibc = prober.glibc()
    machine = prober.machine
    results = tuple(prober.results)
    return HostFacts(
        driver, driver_source, cuda, gpus, glibc, results, windows, machine, broken, no_gpu,
        unjudged,
    )  # fmt: skip
