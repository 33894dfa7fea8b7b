"""Why the conda dependencies have no solution: rattler's tree turned into reasons and hints
that name the manifest's tables."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mlenv.conda.records import CondaError, public_url
from mlenv.conda.virtual import LINUX_KERNEL
from mlenv.conda.worker import ChildFailure
from mlenv.cuda.versions import CudaError, spec_admits, spec_floor
from mlenv.platforms import by_name


class CondaSolveError(CondaError):
    """The conda dependencies have no solution for the target."""


@dataclass(frozen=True)
class _Fault:
    """One reason rattler gives: the chain of packages, what happened to which spec."""

    chain: tuple[str, ...]
    kind: str  # missing | unmet-constraint | needs | constrains
    spec: str
    conflict: bool = False

    @property
    def name(self) -> str:
        return self.spec.split(" ", 1)[0]


_BRANCH_RE = re.compile(r"[└├]─ ")
_PARENT_RE = re.compile(r"(?P<package>\S+ \S+) would (?P<verb>require|constrain)")
_LEAF_RE = re.compile(
    r"(?P<spec>.+?), "
    r"(?:for which no candidates were found\.?|(?P<conflict>which conflicts with .*))"
)
_OPTIONS_RE = re.compile(
    r"(?P<spec>.+?), which can be installed with any of the following options:?"
)
_MISSING_RE = re.compile(r"No candidates were found for (?P<spec>.+?)\.?")
_UNMET_CONSTRAINT_RE = re.compile(r"the constraint (?P<spec>.+) cannot be fulfilled")
_SOLVE_PREFIX = "Cannot solve the request because of: "


def _paths(tree: str) -> Iterator[list[str]]:
    """Each line of rattler's tree with the lines above it on its branch: the path from the
    root to that line (the same list, updated in place)."""
    stack: list[str] = []
    for line in tree.splitlines():
        branch = _BRANCH_RE.search(line)
        depth, text = (branch.start() // 3 + 1, line[branch.end() :]) if branch else (0, line)
        del stack[depth:]
        stack.append(text.strip())
        yield stack


def _faults(tree: str) -> list[_Fault]:
    """Walk rattler's tree: each leaf naming a missing or conflicting spec is a fault."""
    faults: list[_Fault] = []
    for stack in _paths(tree):
        if found := _MISSING_RE.fullmatch(stack[-1]):
            faults.append(_Fault((), "missing", found["spec"]))
        elif found := _UNMET_CONSTRAINT_RE.fullmatch(stack[-1]):
            faults.append(_Fault((), "unmet-constraint", found["spec"]))
        elif (leaf := _LEAF_RE.fullmatch(stack[-1])) and len(stack) > 1:
            parents = [found for item in stack[:-1] if (found := _PARENT_RE.fullmatch(item))]
            if parents and parents[-1].string == stack[-2]:
                kind = "needs" if parents[-1]["verb"] == "require" else "constrains"
                chain = tuple(parent["package"] for parent in parents)
                faults.append(_Fault(chain, kind, leaf["spec"], leaf["conflict"] is not None))
    return list(dict.fromkeys(faults))


def _requirers(tree: str) -> list[tuple[str, str]]:
    """(package, spec) for each "X would require SPEC, which can be installed with ..." in
    rattler's tree: who asks for a package a constraint then rules out."""
    found: list[tuple[str, str]] = []
    for stack in _paths(tree):
        options = _OPTIONS_RE.fullmatch(stack[-1])
        parent = _PARENT_RE.fullmatch(stack[-2]) if len(stack) > 1 else None
        if options and parent and parent["verb"] == "require":
            found.append((parent["package"], options["spec"]))
    return list(dict.fromkeys(found))


def _left_out(tree: str, name: str, cuda: str | None) -> list[tuple[str, str]]:
    """The packages whose own range for ``name`` (cuda-version) leaves the target CUDA out:
    then the build, not the channel, is what the constraint cannot meet."""
    if cuda is None:
        return []
    target = tuple(int(number) for number in cuda.split("."))
    return [
        (package, spec)
        for package, spec in _requirers(tree)
        if spec.split(" ", 1)[0] == name
        and spec_admits(spec.partition(" ")[2].strip(), target) is False
    ]


def solve_error(
    failure: ChildFailure,
    channels: Sequence[str],
    platform: str,
    *,
    cuda: str | None,
    glibc: str,
    driver_floor: str = "",
) -> CondaError:
    if failure.kind == "spec":
        return CondaError(
            failure.message,
            where="conda.dependencies",
            hint="write conda MatchSpecs such as 'numpy >=1.26', 'python 3.11.*' or 'zlib ==1.3'",
        )
    if failure.kind != "SolverError":
        return CondaError(
            f"cannot read the conda channels: {failure.message}",
            where="conda.channels",
            hint="check the channel names or URLs and the network",
        )
    tree = failure.message.removeprefix(_SOLVE_PREFIX).strip()
    searched = f"{', '.join(map(public_url, channels))} ({platform}, noarch)"  # no secret
    offers = {
        "__cuda": _cuda_offer(cuda, driver_floor),
        "__glibc": f"the manifest targets glibc {glibc}",
        "__linux": f"mlenv assumes Linux kernel {LINUX_KERNEL}",
        "__archspec": f"mlenv assumes the baseline {by_name(platform).archspec} CPU",
    }
    reasons: list[str] = []
    hints: list[str] = []
    for fault in _faults(tree):
        who = " -> ".join(fault.chain)
        if fault.kind == "missing":
            reasons.append(f"no package matches {fault.spec} in {searched}")
            hints.append("check the package name and the [conda] channels")
        elif fault.kind == "unmet-constraint" and (out := _left_out(tree, fault.name, cuda)):
            for package, spec in out:
                reasons.append(f"{package} requires {spec}, leaving out the target CUDA {cuda}")
                hints.append(
                    f"require a build of {package.split(' ')[0]} made for CUDA {cuda}, or change "
                    f"[cuda] version to one {spec} admits (and the driver floor with it)"
                )
        elif fault.kind == "unmet-constraint":
            reasons.append(f"no {fault.name} package in the channels matches CUDA {cuda}")
            hints.append(f"use channels that publish cuda-version {cuda}, or change [cuda] version")
        elif fault.name.startswith("__"):
            offer = offers.get(fault.name, f"{fault.name} does not exist on {platform}")
            reasons.append(f"{who} {fault.kind} {fault.spec}, {offer}")
            hints.append(_virtual_hint(fault, cuda, platform, driver_floor))
        elif fault.conflict:
            reasons.append(f"{who} {fault.kind} {fault.spec}, which conflicts with another need")
        else:
            reasons.append(f"{who} {fault.kind} {fault.spec}, which no channel provides")
            hints.append(f"channels searched: {searched}")
    summary = "; ".join(reasons) or "the conda dependencies have no solution"
    indented = "\n".join(f"  {line}" for line in tree.splitlines())
    return CondaSolveError(
        f"{summary}\n{indented}",
        where=f"conda.dependencies ({platform})",
        hint="; ".join(dict.fromkeys(hints)) or None,
    )


def _cuda_offer(cuda: str | None, driver_floor: str) -> str:
    """What the solver was offered as ``__cuda`` (``driver_cuda.offered_cuda``: the driver's
    CUDA), said as the manifest sets it."""
    if cuda is None:
        return "the manifest names no CUDA target"
    offered = _offered(cuda, driver_floor)
    if offered == cuda:
        return f"the manifest targets CUDA {cuda}"
    return f"the driver floor {driver_floor} supports CUDA {offered}"


def _offered(cuda: str, driver_floor: str) -> str:
    from mlenv.cuda.driver_cuda import offered_cuda

    return offered_cuda(cuda, driver_floor)


def _above_range(spec: str, cuda: str | None, driver_floor: str) -> str | None:
    """The CUDA the solver offered as ``__cuda`` when it is above the range of a ``__cuda``
    spec that has an upper bound (``__cuda >=11.8,<13.a0`` under a CUDA 13 driver), else
    None: raising the target or the driver cannot meet such a spec."""
    if cuda is None:
        return None
    offered = _offered(cuda, driver_floor)
    version = spec.partition(" ")[2].strip()
    number = tuple(int(part) for part in offered.split("."))
    try:
        floor = spec_floor(version, where=spec) if version else None
    except CudaError:  # an unreadable spec: the plain hint
        return None
    low = floor is None or number >= floor
    return offered if low and spec_admits(version, number) is False else None


def _virtual_hint(fault: _Fault, cuda: str | None, platform: str, driver_floor: str) -> str:
    package = fault.chain[-1].split(" ")[0]
    if fault.name == "__cuda" and cuda is None:
        return f"add a [cuda] table for the GPU target, or require a CPU build of {package}"
    change = "raise" if fault.kind == "needs" else "change"
    if fault.name == "__cuda" and (above := _above_range(fault.spec, cuda, driver_floor)):
        return (
            f"{fault.spec} admits no driver that supports CUDA {above} ({package} caps the "
            f"driver's CUDA, and newer drivers report more), so no [cuda] version or driver "
            f"floor at or above this one meets it: require another build of {package}"
        )
    # the floor's CUDA above the target: the driver floor, not the build, is what to change
    if fault.name == "__cuda" and cuda is not None and _offered(cuda, driver_floor) != cuda:
        return (
            f"{change} [cuda] driver-floor to a driver that supports {fault.spec} (release notes "
            f"Table 3), and [cuda] version too if {package} is built for that CUDA, or "
            f"require another build of {package}"
        )
    if fault.name == "__cuda":
        return (
            f"{change} [cuda] version to satisfy {fault.spec} (and the driver floor with it), "
            f"or require a build of {package} made for CUDA {cuda}"
        )
    if fault.name == "__glibc":
        return (
            f"raise [environment] glibc if every target host has {fault.spec}, "
            f"or require an older build of {package}"
        )
    return f"require another build of {package} for {platform}"
