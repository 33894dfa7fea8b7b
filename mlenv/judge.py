"""Every check of a lock against its manifest, its hashes and the CUDA rules, gathered at once.

Pure: takes the lock, the manifest's inputs hash and the facts of the machine to judge (a
declared driver, or what ``host`` detected) and returns findings; ``commands.verify`` gathers
the facts and the CLI renders them.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from mlenv.cuda import packages as cudapkg
from mlenv.cuda.needs import conda_need
from mlenv.cuda.rules import (
    CudaTarget,
    Finding,
    PackageNeed,
    judge,
    package_driver,
    required_driver,
)
from mlenv.cuda.tags import CudaNeed, extract, is_cpu_variant
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.lockfile import Lock, LockedPackage

_SHA256 = re.compile(r"[0-9a-f]{64}")
_EDITED = "the lock was edited by hand; run `mlenv lock --upgrade` to rebuild it"


@dataclass(frozen=True)
class Judged:
    """The machine a verification is about: which driver and GPUs, and where that came from."""

    driver: str
    source: str
    archs: tuple[str, ...] = ()
    unchecked: str = ""  # why a GPU's architecture is unknown (verify --host), else ""
    cuda: str = ""  # the "CUDA Version" the driver reports (verify --host), else ""


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    judged: Judged | None
    requires_driver: str | None

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
    needs, extraction, unread = _needs(lock)
    findings += extraction
    target = lock.target
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
            findings += _below_packages(needs, DriverVersion.parse(judged.driver))
        return Verdict(tuple(findings), judged, None)
    driver = judged.driver if judged else target.driver_floor
    archs = tuple(dict.fromkeys(judged.archs)) if judged else ()
    cuda_target = CudaTarget(
        CudaVersion.parse(target.cuda),
        DriverVersion.parse(driver),
        archs,
        checked=judged is not None,
    )
    findings += judge(cuda_target, needs)
    findings += _reported_cuda(cuda_target, judged, findings)
    if judged is not None and judged.unchecked:
        findings.append(
            Finding(
                "warning", "host-arch-unknown", "", "each GPU's compute capability",
                judged.unchecked, f"{judged.unchecked}, so its GPU architecture was not checked",
                "run with nvidia-smi on PATH, or set MLENV_GPU_COMPUTE_CAP (e.g. 8.0,9.0)",
            )
        )  # fmt: skip
    findings += [
        cudapkg.finding(name, version, what, unverified, cuda_target.cuda)
        for name, version, what, unverified in unread
    ]
    needed: str | None = None
    with contextlib.suppress(CudaError):  # judge() reports a package whose driver is unknown
        needed = str(required_driver(cuda_target, needs)[0])
    recorded = target.requires_driver
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
                    _EDITED,
                )
            )
    return Verdict(tuple(findings), judged, needed)


def _reported_cuda(target: CudaTarget, judged: Judged | None, seen: list[Finding]) -> list[Finding]:
    """The "CUDA Version" the host's driver reports (nvidia-smi) below the target's: the
    container runtime refuses NVIDIA_REQUIRE_CUDA=cuda>=X.Y on it, whatever its number. On WSL 2
    that number is the Windows driver's, which Linux's Table 3 does not rank."""
    if judged is None or not judged.cuda or any(f.code == "driver-below-toolkit" for f in seen):
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


def _below_packages(needs: list[PackageNeed], driver: DriverVersion) -> list[Finding]:
    """A checked driver against each package's own need, when the lock has no CUDA target to
    judge it by: a +cu92 torch on driver 340 does not run, target or not."""
    found = []
    for item in needs:
        who = f"{item.name} {item.version}"
        try:
            needed = package_driver(item)
        except CudaError as exc:
            checked = f"driver {driver} (checked)"
            hint = exc.hint or ""
            found.append(Finding.error("driver-unconfirmed", item.name, "a known minimum driver",
                                checked, exc.message, hint))  # fmt: skip
            continue
        if needed is not None and driver < needed[0]:
            message = f"{who} needs driver {needed[0]} ({needed[1]}), but the driver is {driver}"
            found.append(Finding.error("driver-below-package", item.name, f"driver >= {needed[0]}",
                                f"driver {driver} (checked)", message + " (checked)",
                                f"upgrade the driver to {needed[0]}"))  # fmt: skip
    return found


def _integrity(platform: str, package: LockedPackage) -> list[Finding]:
    who = f"{package.name} {package.version} ({platform})"
    found = []
    if not _SHA256.fullmatch(package.sha256):
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
                "yanked", f"{who} is yanked (PEP 592); the lock takes it through an == pin",
                "pin a release that is not yanked when one fits",
            )
        )  # fmt: skip
    if cuda is None:
        return found
    if package.cpu_ok:
        found.append(
            Finding(
                "warning", "cpu-build", package.name, f"CUDA {cuda}", "a CPU-only build",
                f"{who} is a CPU-only build in a CUDA {cuda} environment ([cuda] cpu-ok)",
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


_Unread = tuple[str, str, str, tuple[str, ...]]


def _needs(lock: Lock) -> tuple[list[PackageNeed], list[Finding], list[_Unread]]:
    """What CUDA each package needs, re-derived from its name, file and index; the lock's own
    ``cuda`` field (which may come from Requires-Dist) must agree with them. GPU packages whose
    CUDA cannot be read come back apart, with the lock's ``unverified`` mark. Conda packages
    are read by ``needs.conda_need``, exactly as ``lock`` reads them."""
    needs: dict[tuple[str, str], PackageNeed] = {}
    findings: list[Finding] = []
    unread: dict[tuple[str, str], _Unread] = {}
    for _, package in lock.packages():
        key = (package.name, package.version)
        if key in needs or key in unread:
            continue
        try:
            need = extract(package.name, package.version, package.filename, index=package.index)
        except CudaError as exc:
            findings.append(
                Finding.error("cuda-unreadable", package.name, "", "", exc.message, exc.hint or "")
            )
            continue
        recorded = package.cuda
        if need is None and (
            recorded == cudapkg.UNVERIFIED
            or (recorded is None and cudapkg.undetermined(*key, package.index) is not None)
        ):
            what = cudapkg.undetermined(*key, package.index) or "the lock records it unverified"
            listed = (package.name,) if recorded == cudapkg.UNVERIFIED else ()
            unread[key] = (package.name, package.version, what, listed)
            continue
        if need is not None and recorded == cudapkg.UNVERIFIED:
            recorded = None  # readable now (a newer table): judged, the old mark is moot
        if need is not None and recorded is not None and need.label != recorded:
            findings.append(_mismatch(package.name, package.version, need, recorded))
        if need is None and recorded is not None:
            need = _recorded_need(recorded, package)
            if need is None:
                findings.append(
                    Finding.error(
                        "lock-cuda-unreadable",
                        package.name,
                        "a CUDA label like 12.4 or 12.x",
                        recorded,
                        f"{package.name} {package.version} records CUDA {recorded!r}, which is "
                        "not a CUDA version",
                        _EDITED,
                    )
                )
        if need is not None:
            needs[key] = PackageNeed(package.name, package.version, need)
            findings += _recorded_driver(needs[key], package.requires_driver)
    for _, conda in lock.conda_packages():
        conda_key = (conda.name, f"{conda.version} {conda.build}")
        if conda_key in needs:
            continue
        try:
            item = conda_need(conda)
        except CudaError as exc:
            findings.append(
                Finding.error("cuda-unreadable", conda.name, "", "", exc.message, exc.hint or "")
            )
            continue
        if item is not None and conda.cuda is not None and item.need.label != conda.cuda:
            findings.append(_mismatch(conda.name, conda.version, item.need, conda.cuda))
        if item is not None:
            needs[conda_key] = item
            findings += _recorded_driver(item, conda.requires_driver)
    return list(needs.values()), findings, list(unread.values())


def _recorded_driver(item: PackageNeed, recorded: str | None) -> list[Finding]:
    """An entry's recorded driver floor against the one its CUDA build sets, which METADATA
    (an update release) may only raise: the SBOM and the lock diff show the recorded one."""
    try:
        needed = package_driver(item) if recorded is not None else None
    except CudaError:  # judge() reports a need whose driver is unknown
        return []
    if needed is None or recorded is None:
        return []
    with contextlib.suppress(CudaError):  # no driver version at all is below it too
        if DriverVersion.parse(recorded) >= needed[0]:
            return []
    message = f"{item.name} {item.version} records requires-driver {recorded}, below {needed[0]}"
    return [Finding.error("lock-driver-mismatch", item.name, f"driver >= {needed[0]}", recorded,
                   f"{message}, which its CUDA {item.need.label} build needs", _EDITED)]  # fmt:skip


def _mismatch(name: str, version: str, need: CudaNeed, recorded: str) -> Finding:
    return Finding.error(
        "lock-cuda-mismatch",
        name,
        f"CUDA {need.label}",
        f"lock says CUDA {recorded}",
        f"{name} {version} is a CUDA {need.label} build ({need.evidence!r}), but the lock "
        f"records CUDA {recorded}",
        _EDITED,
    )


_LABEL = re.compile(r"(\d{1,2})\.(\d{1,2}|x)")


def _recorded_need(label: str, package: LockedPackage) -> CudaNeed | None:
    """A need the lock recorded from Requires-Dist, which verify cannot re-read offline."""
    match = _LABEL.fullmatch(label)
    if match is None:
        return None
    major_only = match[2] == "x"
    cuda = CudaVersion(int(match[1]), 0 if major_only else int(match[2]))
    evidence = f"mlenv.lock: {package.name} cuda = {label!r}"
    return CudaNeed(cuda, major_only, "lock", evidence, "mlenv.lock")
