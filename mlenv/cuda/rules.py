"""The CUDA rules: whether the target runs what each artifact needs (``mlenv.cuda.tags``), by
NVIDIA's facts (``mlenv.cuda.matrix``); ``judge`` gives the verdicts, after cuda.md §2, §7, §9.

- The target toolkit's Table 3 value (its GA release) is a hard floor: the image carries
  ``NVIDIA_REQUIRE_CUDA=cuda>=X.Y`` and the container runtime refuses a driver reporting less.
- A build for a newer minor than the target is refused unless the driver reaches that minor's
  own GA Table 3 value (minor-version compatibility gives no PTX JIT); so is a ``__cuda`` floor.
- Warning tier (§9 rule 3): a package of a later *update* (cuBLAS 13.1.0.3 is 13.0 Update 2,
  driver 580.95.05) on a driver at or above the GA values runs under minor-version compat.

One rule for the three judges (`lock`, `verify` of a lock or a driver, the built image): a
driver is refused exactly when it misses an error rule above. The image's ``driver>=`` asks
``start.start_driver`` (those GA values), never the update's driver, which the lock records as
``requires-driver`` (the full feature set); so every driver lock and verify pass, warned or
not, starts the image, and every driver they refuse for its number the runtime refuses too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mlenv.cuda.driver_cuda import driver_floor_said, newer_major_floor
from mlenv.cuda.flavours import flavour_major
from mlenv.cuda.forward import forward_said
from mlenv.cuda.framework_archs import unbuilt_archs
from mlenv.cuda.matrix import (
    driver_status,
    facts,
    known_cuda_versions,
    known_hint,
    table3_driver,
)
from mlenv.cuda.minor_said import COMPAT_NEEDS, claim, read_from, unlisted_minor, unlisted_target
from mlenv.cuda.pairs import paired
from mlenv.cuda.tags import CudaNeed
from mlenv.cuda.versions import ARCH_SUFFIX_SINCE, CudaVersion, DriverVersion, arch_cc
from mlenv.platforms import wheel_machines


@dataclass(frozen=True)
class CudaTarget:
    """What the fleet promises: the CUDA toolkit, the oldest driver and the GPUs to support."""

    cuda: CudaVersion
    driver_floor: DriverVersion
    archs: tuple[str, ...] = ()
    checked: bool = False  # the driver of one machine (verify --driver/--host), not the floor
    windows: bool = False  # WSL 2: the Windows host's driver, ranked by Table 3's Windows column
    reported: CudaVersion | None = None  # the "CUDA Version" that driver prints (nvidia-smi)
    machine: str = ""  # the one machine whose GPUs ``archs`` are (verify --host); "" the fleet
    machines: tuple[str, ...] = ()  # the fleet's machines (its platforms'), any of which may hold
    gpus: tuple[str, ...] = ()  # the one machine's GPU names, as nvidia-smi prints them

    def __post_init__(self) -> None:
        for arch in self.archs:
            arch_cc(arch)

    @property
    def driver_said(self) -> str:
        """How messages name the driver: the fleet's floor, or the one machine's driver."""
        if self.windows:
            return f"Windows driver {self.driver_floor} (checked, WSL 2)"
        if self.checked:
            return f"driver {self.driver_floor} (checked)"
        return f"driver floor {self.driver_floor}"

    @property
    def driver_is(self) -> str:
        if self.windows:
            return f"the Windows driver is {self.driver_floor} (checked, WSL 2)"
        if self.checked:
            return f"the driver is {self.driver_floor} (checked)"
        return f"the driver floor is {self.driver_floor}"

    def raise_driver(self, version: DriverVersion) -> str:
        """The remedy when the driver is too old, for the floor or for the checked machine."""
        if self.checked:
            return f"upgrade the driver to {version}"
        return f"raise the driver floor to {version}"


@dataclass(frozen=True)
class PackageNeed:
    """One locked package, the CUDA it needs and the machines its build is for (a framework's
    aarch64 CUDA builds carry other GPU code than its x86_64 ones: ``framework_archs``)."""

    name: str
    version: str
    need: CudaNeed
    machines: tuple[str, ...] = ("x86_64",)

    @classmethod
    def of_wheel(cls, name: str, version: str, need: CudaNeed, filename: str) -> PackageNeed:
        """The need of a wheel file, on each machine its platform tags name (x86_64 else)."""
        return cls(name, version, need, wheel_machines(filename) or ("x86_64",))


Severity = Literal["error", "warning"]
Together = Mapping[str, Sequence[PackageNeed]]  # each platform's packages, by platform name


@dataclass(frozen=True)
class Finding:
    """One verdict: ``needs`` is what the package (or target) requires, ``promised`` what the
    target offers; ``package`` is empty for findings about the target itself."""

    severity: Severity
    code: str
    package: str
    needs: str
    promised: str
    message: str
    hint: str

    @classmethod
    def error(
        cls, code: str, package: str, needs: str, promised: str, message: str, hint: str
    ) -> Finding:
        return cls("error", code, package, needs, promised, message, hint)


def _promise(target: CudaTarget) -> str:
    return f"CUDA {target.cuda}, driver {target.driver_floor}"


def _target_findings(target: CudaTarget, needs: Sequence[PackageNeed]) -> list[Finding]:
    cuda, driver = target.cuda, target.driver_floor

    def finding(
        code: str, needs: str, message: str, hint: str, severity: Severity = "error"
    ) -> list[Finding]:
        return [Finding(severity, code, "", needs, _promise(target), message, hint)]

    if cuda not in known_cuda_versions():
        message = f"CUDA {cuda} is not a known CUDA release"
        return finding("cuda-unknown", "a known CUDA release", message, known_hint(cuda.major))
    found = table3_driver(cuda, windows=target.windows)
    if found is None and target.windows:
        return _windows_unlisted(target)
    if found is None:
        newest = max(c for c in known_cuda_versions() if table3_driver(c) is not None)
        hint = f"target CUDA {newest} or older, whose minimum drivers are known"
        if (status := driver_status(newest)) != "confirmed":  # 13.3: only quoted by others
            hint += f" ({newest}'s only from {status} sources, not NVIDIA's own page)"
        said = f"the minimum driver for CUDA {cuda} is unconfirmed, so {target.driver_said}"
        return finding(
            "driver-unconfirmed", "a known minimum driver", f"{said} cannot be checked", hint
        )
    minimum = found[0]
    if driver >= minimum:
        return []
    same = [item for item in needs if item.need.stub is None and item.need.of_major(cuda.major)]
    users = [f"{item.name} {item.version}" for item in same]
    message = f"{target.driver_said} is below {minimum}, the minimum driver for CUDA {cuda}"
    if users:
        message += f"; needed by {', '.join(users)}"
    hint = f"{target.raise_driver(minimum)} or newer"
    older = [
        candidate
        for candidate in known_cuda_versions()
        if candidate.major == cuda.major
        and candidate < cuda
        and (low := table3_driver(candidate, windows=target.windows)) is not None
        and low[0] <= driver
    ]
    if older:
        hint += f", or target CUDA {max(older)}"
    if target.windows:
        message += " (Table 3's Windows column: a WSL 2 host runs the Windows host's driver)"
        return finding("driver-below-toolkit", f"driver >= {minimum}", message, hint)
    severity, message, hint = forward_said(target, minimum, message, hint)
    code = "driver-forward-compat" if severity == "warning" else "driver-below-toolkit"
    return finding(code, f"driver >= {minimum}", message, hint, severity)


def _windows_unlisted(target: CudaTarget) -> list[Finding]:
    """WSL 2 on a CUDA whose Table 3 Windows value is N/A (13.x): ``minor_said.unlisted_target``."""
    newest = max(c for c in known_cuda_versions() if table3_driver(c, windows=True) is not None)
    if (said := unlisted_target(target, newest)) is None:
        return []
    code, needs, message, hint = said
    return [Finding.error(code, "", needs, _promise(target), message, hint)]


def no_arch_data(cuda: CudaVersion) -> tuple[str, str] | None:
    """Why no GPU architecture can be checked on this CUDA, and what to do, when mlenv holds
    no architecture list for its major (9.x and older); None when it holds one."""
    if cuda.major in facts().archs:
        return None
    return (
        f"mlenv has no GPU architecture data for CUDA {cuda.major}.x",
        f"target CUDA {min(facts().archs)}.0 or newer, whose GPU architectures are known",
    )


def arch_findings(target: CudaTarget) -> list[Finding]:
    """cuda.archs against the target CUDA: unknown, not yet added, or dropped (CUDA 13: sm_75+)."""
    cuda = target.cuda
    archs = facts().archs.get(cuda.major)
    if archs is None:
        if cuda not in known_cuda_versions():
            return []  # _target_findings reports the unknown CUDA
        why, hint = no_arch_data(cuda) or ("", "")
        return [Finding.error("arch-unchecked", "", arch, _promise(target),
                              f"{why}, so {arch} cannot be checked", hint)
                for arch in target.archs]  # fmt: skip
    findings = []
    for arch in target.archs:
        cc = arch_cc(arch)
        added = archs.added_in.get(cc)
        if cc in archs.ccs:
            since = ARCH_SUFFIX_SINCE.get(arch[-1])
            if since is not None and cuda < since:
                code = "arch-unsupported"
                message = f"{arch} (an {arch[-1]!r} target) needs CUDA {since} or newer"
                hint = f"target CUDA {since} or newer, or write {arch[:-1]}"
                findings.append(Finding("error", code, "", arch, _promise(target), message, hint))
                continue
            if added is None or added <= cuda:
                continue
            code = "arch-unsupported"
            message = f"{arch} needs CUDA {added} or newer; the target is CUDA {cuda}"
            hint = f"target CUDA {added} or newer, or drop {arch} from cuda.archs"
        elif cc < archs.ccs[0]:
            code = "arch-dropped"
            message = (
                f"CUDA {cuda.major}.x does not support {arch}; its oldest architecture is "
                f"sm_{archs.ccs[0]}"
            )
            last = [major for major, other in facts().archs.items() if cc in other.ccs]
            hint = f"drop {arch} from cuda.archs"
            if last:
                hint += f" or target CUDA {max(last)}.x, the last major that supports it"
        else:
            code = "arch-unsupported"
            message = f"CUDA {cuda.major}.x has no {arch}{archs.renamed_note(arch, cuda.major)}"
            supported = ", ".join(f"sm_{known}" for known in archs.built_by(cuda))
            hint = f"check the GPU's compute capability; CUDA {cuda} supports {supported}"
        findings.append(Finding("error", code, "", arch, _promise(target), message, hint))
    return findings


def _place(name: str, cuda: CudaVersion, hint: str, need: CudaNeed) -> str:
    """A hint followed by where the package's family publishes builds for the target CUDA."""
    from mlenv.cuda.packages import placed

    return placed(name, cuda, hint, need)


def _package_findings(target: CudaTarget, item: PackageNeed) -> list[Finding]:
    need, cuda, driver = item.need, target.cuda, target.driver_floor
    who = f"{item.name} {item.version}"

    def finding(severity: Severity, code: str, needs: str, message: str, hint: str) -> Finding:
        return Finding(severity, code, item.name, needs, _promise(target), message, hint)

    if need.stub is not None:
        message = f"{who} is a placeholder package, not a CUDA library"
        return [finding("error", "cuda-stub-package", need.stub, message, f"depend on {need.stub}")]
    findings = [
        finding(
            "error",
            "cuda-contradiction",
            f"CUDA {need.label}",
            f"{who}: CUDA {need.label} from {need.evidence!r} contradicts "
            f"CUDA {other.label} from {other.evidence!r}",
            f"use a build of {item.name} whose tags and dependencies agree on one CUDA version",
        )
        for other in need.conflicts
    ]
    floor = newer_major_floor(need, cuda.major)  # __cuda >=13 beside a 12.6 build
    if floor is not None and (said := driver_floor_said(target, floor, who)):
        findings.append(finding("error", *said))
    if need.driver_only and need.cuda.major != cuda.major:  # a driver floor, met or reported
        return findings
    # a flavour of an older major waits for its sibling (cuda.flavours.unpaired); a newer one
    # is what a newer driver loads, refused here so the resolver walks back past its requirer
    flavour = flavour_major(item.name, item.version)
    older_flavour = flavour is not None and flavour < cuda.major and need.of_major(flavour)
    if not need.of_major(cuda.major) and not older_flavour:
        findings.append(
            finding(
                "error",
                "cuda-major-mismatch",
                f"CUDA {need.label}",
                f"{who} is built for CUDA {need.label}, but the target is CUDA {cuda}"
                + read_from(need.evidence),
                _place(
                    item.name,
                    cuda,
                    f"use a CUDA {cuda.major} build of {item.name}, "
                    f"or target CUDA {need.cuda.major}.x",
                    need,
                ),
            )
        )
        return findings
    findings += [finding(*said) for said in unbuilt_archs(target, item)]
    if need.major_only:  # a wheel of the whole major (jax-cuda12-plugin) still carries its GPU code
        return findings
    if need.cuda not in known_cuda_versions():
        findings.append(
            finding(
                "error",
                "cuda-unknown",
                f"CUDA {need.cuda}",
                f"{who} names CUDA {need.cuda} ({need.evidence!r}), "
                "which is not a known CUDA release",
                known_hint(need.cuda.major),
            )
        )
        return findings
    windows = target.windows
    target_minimum = table3_driver(cuda, windows=windows) if cuda in known_cuda_versions() else None
    own = table3_driver(need.cuda, windows=windows)
    full = table3_driver(need.cuda, need.release, windows=windows)
    if own is None or full is None:
        if need.cuda > cuda and (said := unlisted_minor(target, need.cuda, who, item.name)):
            findings.append(finding("error", *said))
    elif need.cuda > cuda and driver < own[0]:
        findings.append(
            finding(
                "error",
                "cuda-newer-minor",
                f"CUDA {need.cuda}, driver >= {own[0]}",
                f"{who} {claim(need)} CUDA {need.cuda}, newer than the target CUDA {cuda}; "
                f"it needs driver {own[0]} but {target.driver_is}{read_from(need.evidence)}",
                _place(
                    item.name,
                    cuda,
                    f"use a build of {item.name} for CUDA {cuda} or older, "
                    f"or {target.raise_driver(own[0])}",
                    need,
                ),
            )
        )
    elif target_minimum is not None and max(target_minimum[0], own[0]) <= driver < full[0]:
        findings.append(
            finding(
                "warning",
                "driver-minor-compat",
                f"driver >= {full[0]}",
                f"{who} uses CUDA {need.release} ({need.evidence!r}){COMPAT_NEEDS}{full[0]} "
                f"({full[1]}); {target.driver_said} runs it only under minor-version "
                "compatibility (no PTX JIT, newer-driver features fail at run time)",
                target.raise_driver(full[0]),
            )
        )
    return findings


def judge(
    target: CudaTarget,
    needs: Sequence[PackageNeed],
    together: Together | None = None,
    *,
    pairs: bool = True,
) -> tuple[Finding, ...]:
    """Every CUDA finding for the target and the packages at once, target findings first;
    ``together``: each platform's packages (default: ``needs``) for what a package needs beside
    it, unless ``pairs`` is off (the resolver's verdict on one file)."""
    findings = _target_findings(target, needs) + arch_findings(target)
    for item in needs:
        findings += _package_findings(target, item)
    said = paired(target.cuda.major, together or {"": needs}) if pairs else []
    return tuple(findings + [Finding.error(*s[:3], _promise(target), *s[3:]) for s in said])
