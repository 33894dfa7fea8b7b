"""Every check of a lock against its manifest, its hashes and the CUDA rules, gathered at once.

Pure: takes the lock, the manifest's inputs hash and the facts of the machine to judge (a
declared driver, or what ``host`` detected) and returns findings; ``commands.verify`` gathers
the facts and the CLI renders them.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlenv.cuda import packages as cudapkg
from mlenv.cuda.matrix import major_floor
from mlenv.cuda.minor_said import UNREPORTED_ON_WSL
from mlenv.cuda.required import package_driver, required_driver
from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, judge
from mlenv.cuda.start import start_driver
from mlenv.cuda.tags import is_cpu_variant
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.digests import is_sha256_hex
from mlenv.entry_needs import EDITED, because_holds, entry_needs
from mlenv.host_libs import no_gpu_finding
from mlenv.host_text import ARCH_UNKNOWN_HINT
from mlenv.lockfile import Lock, LockedPackage
from mlenv.platforms import NAMES, by_name
from mlenv.toml_strings import basic

if TYPE_CHECKING:
    from mlenv.host_libs import DriverMismatch

FLOOR_WHERE = "mlenv.lock [target].driver-floor"  # judged when no host or --driver is given


@dataclass(frozen=True)
class Judged:
    """The machine a verification is about: which driver and GPUs, and where that came from."""

    driver: str
    source: str
    archs: tuple[str, ...] = ()
    unchecked: str = ""  # why a GPU's architecture is unknown (verify --host), else ""
    cuda: str = ""  # the "CUDA Version" the driver reports (verify --host), else ""
    windows: bool = False  # a WSL 2 host: the driver is the Windows host's (verify --host)
    machine: str = ""  # the host's uname -m (verify --host), else ""
    mismatch: DriverMismatch | None = None  # a driver upgraded without a reboot (verify --host)
    no_gpu: str = ""  # nvidia-smi's line saying no GPU is usable (verify --host), else ""
    gpus: tuple[str, ...] = ()  # the GPUs' names (verify --host), where a probe gave them


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    judged: Judged | None
    requires_driver: str | None
    output: str | None = None  # the build output judged with the lock (verify OUTPUT)
    start_driver: str | None = None  # the image's driver>= (``start.start_driver``)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        return not self.errors


def compute_capability_arch(cap: str) -> str:
    """nvidia-smi's "8.6" as the sm_86 the CUDA rules speak."""
    major, _, minor = cap.partition(".")
    return f"sm_{major}{minor or '0'}"


def _host_platform(lock: Lock, judged: Judged | None) -> list[Finding]:
    """A host whose machine no platform of the lock is for cannot run its wheels, whatever its
    driver: an x86_64 node judged for a GH200 (linux-aarch64) lock, or the reverse."""
    if judged is None or not judged.machine:
        return []
    platforms = list(lock.target.platforms)  # a platform of no entries has no table
    if any(by_name(p).machine == judged.machine for p in platforms if p in NAMES):
        return []
    listed = ", ".join(platforms) or "none"
    return [
        Finding.error(
            "host-platform",
            "",
            f"a platform for {judged.machine}",
            listed,
            f"this host is {judged.machine}, but the lock is for {listed}: none of its "
            "wheels runs here",
            "verify on a node of the fleet the lock is for, or add the platform to "
            "[environment] platforms and re-lock",
        )
    ]


def verify_lock(lock: Lock, manifest_hash: str, judged: Judged | None) -> Verdict:
    """Freshness, integrity fields and CUDA rules; ``judged`` None means the manifest's floor."""
    findings: list[Finding] = []
    if lock.inputs_hash != manifest_hash:
        findings.append(
            Finding.error(
                "lock-stale",
                "",
                f"inputs {manifest_hash[:19]}…",
                f"lock made from {lock.inputs_hash[:19]}…",
                "the lock was made from other inputs than the manifest now holds",
                "run `mlenv lock` and commit the new lock",
            )
        )
    for platform, package in lock.packages():
        findings += _integrity(platform, package)
        findings += _marks(platform, package, cuda=lock.target.cuda)
    findings += _host_platform(lock, judged)
    if judged is not None and judged.mismatch is not None:  # CUDA cannot start: no run passes
        findings.append(judged.mismatch.finding())
    needs, extraction, unread, together = entry_needs(lock)
    findings += extraction
    target = lock.target
    if judged is not None and judged.no_gpu and (needs or target.cuda is not None):
        findings.append(no_gpu_finding(judged.driver, judged.no_gpu))
    if target.cuda is None or target.driver_floor is None:
        if needs:
            names = ", ".join(sorted({n.name for n in needs}))
            findings.append(
                Finding(
                    "warning",
                    "cuda-undeclared",
                    "",
                    "a [cuda] table",
                    "no CUDA target",
                    f"the lock holds CUDA builds ({names}) but declares no CUDA target",
                    "add [cuda] version and driver-floor to the manifest and re-lock",
                )
            )
        if judged is not None:
            findings += _below_packages(needs, judged)
        return Verdict(tuple(findings), judged, None)
    driver = judged.driver if judged else target.driver_floor
    cuda_target = CudaTarget(
        CudaVersion.parse(target.cuda, where="mlenv.lock [target].cuda"),
        DriverVersion.parse(driver, where=judged.source if judged else FLOOR_WHERE),
        tuple(dict.fromkeys(judged.archs)) if judged else (),
        checked=judged is not None,
        windows=judged is not None and judged.windows,
        reported=CudaVersion.parse(judged.cuda, where=judged.source)
        if judged is not None and judged.cuda
        else None,
        machine=judged.machine if judged else "",
        gpus=judged.gpus if judged else (),
    )
    findings += judge(cuda_target, needs, together)
    findings += _reported_cuda(cuda_target, judged, findings)
    if judged is not None and judged.unchecked:
        findings.append(
            Finding(
                "warning", "host-arch-unknown", "", "each GPU's compute capability",
                judged.unchecked, f"{judged.unchecked}, so its GPU architecture was not checked",
                ARCH_UNKNOWN_HINT,
            )
        )  # fmt: skip
    findings += [
        cudapkg.finding(name, version, what, unverified, cuda_target.cuda)
        for name, version, what, unverified in unread
    ]
    needed: str | None = None
    start: str | None = None
    with contextlib.suppress(CudaError):  # judge() reports a package whose driver is unknown
        needed = str(required_driver(cuda_target, needs)[0])
        start = str(start_driver(cuda_target, needs)[0])
    recorded = target.requires_driver
    if recorded is None and needed is not None:  # `mlenv lock` writes it for every CUDA target
        findings.append(
            Finding.error(
                "lock-driver-mismatch", "", f"driver {needed}", "none",
                f"the lock records no requires-driver, but its packages need {needed}", EDITED,
            )
        )  # fmt: skip
    if recorded is not None and needed is not None:
        where = "mlenv.lock [target].requires-driver"
        if DriverVersion.parse(recorded, where=where) != DriverVersion.parse(needed):
            findings.append(
                Finding.error(
                    "lock-driver-mismatch",
                    "",
                    f"driver {needed}",
                    f"lock says {target.requires_driver}",
                    f"the lock records requires-driver {target.requires_driver}, but its "
                    f"packages need {needed}",
                    EDITED,
                )
            )
    findings += _because(target.requires_driver_because, cuda_target, needs, recorded, needed)
    if not any(f.severity == "error" for f in findings):  # one refusal is enough to name
        findings += _wsl_image_driver(judged, start)
    return Verdict(tuple(findings), judged, needed, start_driver=start)


def _because(
    because: str | None,
    target: CudaTarget,
    needs: list[PackageNeed],
    recorded: str | None,
    needed: str | None,
) -> list[Finding]:
    """[target]'s ``requires-driver-because``, which the lock diff shows and `mlenv lock` writes
    from the same packages, re-derived as the driver is; judged once that driver agrees."""
    try:
        if recorded is None or needed is None or because_holds(because, target, needs):
            return []
        if DriverVersion.parse(recorded) != DriverVersion.parse(needed):
            return []  # the driver's own finding names the edit
        why = required_driver(target, needs)[1]
    except CudaError:
        return []
    shown = "none" if because is None else basic(because)
    return [
        Finding.error(
            "lock-driver-mismatch", "", f"requires-driver-because {why}", f"lock says {shown}",
            f"mlenv.lock [target].requires-driver-because records {shown}, but what sets "
            f"driver {needed} is {why}", EDITED,
        )
    ]  # fmt: skip


def _wsl_image_driver(judged: Judged | None, needed: str | None) -> list[Finding]:
    """The image carries ``driver>=<needed>`` (``start_driver``), Linux's Table 3 number, and on
    WSL 2 the NVIDIA runtime compares it with the Windows driver's own (NVML's): Windows 520.06,
    Table 3's own value for CUDA 11.8, is below Linux's 520.61.05, so the image does not start
    (attack 131)."""
    if judged is None or not judged.windows or needed is None:
        return []
    if DriverVersion.parse(judged.driver) >= DriverVersion.parse(needed):
        return []
    said = f"Windows driver {judged.driver} (checked, WSL 2)"
    message = (
        f"the image's NVIDIA_REQUIRE_CUDA asks driver>={needed} (Linux's number), and on WSL 2 "
        f"the NVIDIA container runtime compares it with the Windows driver's own number, "
        f"{judged.driver}: it will not start the image"
    )
    hint = f"upgrade the Windows driver to {needed} or newer (by its number)"
    return [Finding.error("driver-below-image", "", f"driver >= {needed}", said, message, hint)]


# The target findings that already say the driver is below the target (``rules``: by number,
# or by the reported CUDA Version where Table 3's Windows column is N/A): said once.
_SAID_BELOW = frozenset({"driver-below-toolkit", "driver-cuda-below-target"})


def _reported_cuda(target: CudaTarget, judged: Judged | None, seen: list[Finding]) -> list[Finding]:
    """The "CUDA Version" the host's driver reports (nvidia-smi) below the target's: the
    container runtime refuses NVIDIA_REQUIRE_CUDA=cuda>=X.Y on it, whatever its number. On WSL 2
    that number is the Windows driver's, which Linux's Table 3 does not rank."""
    if judged is None or not judged.cuda or any(f.code in _SAID_BELOW for f in seen):
        return []
    if (reported := CudaVersion.parse(judged.cuda, where=judged.source)) >= target.cuda:
        return []
    message = (
        f"driver {judged.driver} reports CUDA Version {reported}, below the target CUDA "
        f"{target.cuda}: the container runtime will not start the image on it"
    )
    hint = f"upgrade the driver to one that reports CUDA Version {target.cuda} or newer"
    checked = f"driver {judged.driver} (checked)"
    needs = f"CUDA Version >= {target.cuda}"
    return [Finding.error("driver-cuda-below-target", "", needs, checked, message, hint)]


def _below_packages(needs: list[PackageNeed], judged: Judged) -> list[Finding]:
    """A checked driver against each package's own need, when the lock has no CUDA target to
    judge it by: a +cu92 torch on driver 340 does not run, target or not; nor does a build that
    names only its major (cupy-cuda12x) below that major's floor (``matrix.major_floor``).
    A WSL 2 host's driver is the Windows host's: Table 3's and Table 2's Windows columns rank it,
    as they do a target (cuda.md §1-§2); where they say N/A (13.x) the driver's reported CUDA
    Version decides (cuda.md §4), or the need stays unconfirmed."""
    found = []
    driver, windows = DriverVersion.parse(judged.driver), judged.windows
    said = "Windows driver" if windows else "driver"
    checked = f"{said} {driver} (checked{', WSL 2' if windows else ''})"
    reported = CudaVersion.parse(judged.cuda, where=judged.source) if judged.cuda else None
    for item in needs:
        who = f"{item.name} {item.version}"
        try:
            needed = package_driver(item, windows=windows)
            if needed is None and item.need.stub is None:  # major only: no target decides
                needed = major_floor(_oldest_major(item), windows=windows)
                if needed is None:
                    raise CudaError(
                        f"the minimum driver for CUDA {item.need.label} is not known",
                        where=who,
                        hint=f"use a build of {item.name} for a CUDA release with a known driver",
                    )
        except CudaError as exc:
            if windows and reported is not None and (cuda := _linux_known(item)) is not None:
                if reported >= cuda:  # the Windows column is N/A: the reported CUDA decides
                    continue
                message = f"{who} needs CUDA {item.need.label}, but the {checked} reports "
                message += f"CUDA Version {reported}"
                hint = f"upgrade the driver to one that reports CUDA Version {cuda} or newer"
                found.append(Finding.error("driver-below-package", item.name,
                                    f"CUDA Version >= {cuda}", checked, message, hint))  # fmt: skip
                continue
            message, hint = exc.message, exc.hint or ""
            if windows and _linux_known(item) is not None:  # only the Windows column is N/A
                message = f"Table 3 gives no Windows driver for CUDA {item.need.label} (N/A)"
                hint = UNREPORTED_ON_WSL
            found.append(Finding.error("driver-unconfirmed", item.name, "a known minimum driver",
                                checked, message, hint))  # fmt: skip
            continue
        if needed is not None and driver < needed[0]:
            message = f"{who} needs {said} {needed[0]} ({needed[1]}), but the {said} is "
            message += checked.removeprefix(f"{said} ")
            hint = f"upgrade the driver to {needed[0]}"
            found.append(Finding.error("driver-below-package", item.name, f"driver >= {needed[0]}",
                                checked, message, hint))  # fmt: skip
    return found


def _linux_known(item: PackageNeed) -> CudaVersion | None:
    """The CUDA a package needs when only Table 3's Windows column (N/A for 13.x) left its
    driver unknown: its minor, or its major's first (13.0) for a major-only build."""
    try:
        if package_driver(item) is None and major_floor(_oldest_major(item)) is None:
            return None
    except CudaError:
        return None
    return CudaVersion(_oldest_major(item), 0) if item.need.major_only else item.need.cuda


def _oldest_major(item: PackageNeed) -> int:
    """The oldest CUDA major a build runs on: its own, or the oldest one a multi-CUDA wheel
    (bitsandbytes 0.50: 11.x|12.x|13.x) ships a library for, which a driver of it loads."""
    multi = item.need.multi
    return item.need.cuda.major if multi is None else multi.majors[0]


def _integrity(platform: str, package: LockedPackage) -> list[Finding]:
    who = f"{package.name} {package.version} ({platform})"
    found = []
    if not is_sha256_hex(package.sha256):
        found.append(
            Finding.error(
                "artifact-no-sha256",
                package.name,
                "a sha256",
                package.sha256 or "none",
                f"{who} has no valid sha256",
                "run `mlenv lock --upgrade-package " + package.name + "` to hash it again",
            )
        )
    if package.size <= 0:
        found.append(
            Finding.error(
                "artifact-no-size",
                package.name,
                "a size",
                str(package.size),
                f"{who} has no size",
                "run `mlenv lock --upgrade-package " + package.name + "` to measure it again",
            )
        )
    return found


def _marks(platform: str, package: LockedPackage, *, cuda: str | None) -> list[Finding]:
    """What the lock marks (yanked, cpu-ok) is reported on every verify; a non-CUDA variant
    (``+cpu``) in a CUDA lock without the cpu-ok mark is the silent CPU fallback lock refuses."""
    who = f"{package.name} {package.version} ({platform})"
    found = []
    if package.yanked:
        found.append(
            Finding(
                "warning", "package-yanked", package.name, "a release that is not yanked",
                "yanked",
                f"{who} is yanked (PEP 592); an == pin took it, or a relock kept it",
                "pin a release that is not yanked when one fits, or move off a kept one with "
                f"`mlenv lock --upgrade-package {package.name}`",
            )
        )  # fmt: skip
    if cuda is None:
        return found
    if package.cpu_ok:
        found.append(
            Finding(
                "warning", "cpu-build", package.name, f"CUDA {cuda}", "a CPU-only build",
                f"{who} names no CUDA and is locked as a CPU build ([cuda] cpu-ok) in a CUDA "
                f"{cuda} environment: mlenv checks neither its CUDA nor its GPU code",
                f"drop {package.name} from [cuda] cpu-ok once a CUDA build of it fits",
            )
        )  # fmt: skip
    elif package.cuda is None and is_cpu_variant(package.name, package.version):
        found.append(
            Finding.error(
                "cpu-fallback", package.name, f"CUDA {cuda}", "a CPU-only build",
                f"{who} is a CPU-only build in a CUDA {cuda} environment, and the lock does "
                "not mark it cpu-ok",
                f'add "{package.name}" to [cuda] cpu-ok and re-lock, or lock a CUDA build',
            )
        )  # fmt: skip
    return found
