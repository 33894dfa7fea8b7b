"""The Kubernetes ``nodeAffinity`` that keeps a workload off the GPU nodes whose GPU Feature
Discovery labels do not prove the lock runs there (``mlenv export --format k8s-affinity``): the
driver the lock requires or newer, and a GPU architecture the lock supports. The labels are
``mlenv.nodes``'s; the rules are ``cuda.judge``'s, so the stanza admits what verify admits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlenv.cuda.matrix import supported_archs
from mlenv.cuda.rules import CudaTarget, judge, no_arch_data
from mlenv.cuda.versions import CudaVersion, DriverVersion, arch_cc, runs_on
from mlenv.entry_needs import entry_needs
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock
from mlenv.nodes import (
    COMPUTE_MAJOR,
    COMPUTE_MINOR,
    DRIVER_FAMILIES,
    GFD_DOCS,
    NODE_ARCH,
    NodesError,
)
from mlenv.platforms import NAMES, PLATFORMS, by_name


def _expression(key: str, operator: str, value: int | str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": [str(value)]}


def _expression_in(key: str, values: Sequence[str]) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


def _gpu_terms(archs: Sequence[str]) -> list[list[dict[str, Any]]]:
    """One term per compute-capability major: its major and the minors allowed."""
    by_major: dict[int, list[int]] = {}
    for cc in sorted({arch_cc(arch) for arch in archs}):
        by_major.setdefault(cc // 10, []).append(cc % 10)
    return [
        [
            _expression_in(COMPUTE_MAJOR, [str(major)]),
            _expression_in(COMPUTE_MINOR, [str(m) for m in minors]),
        ]
        for major, minors in sorted(by_major.items())
    ]


def driver_terms(minimum: DriverVersion) -> list[list[dict[str, Any]]]:
    """``driver >= minimum`` with ``Gt`` on GFD's split labels, one alternative per term.

    ``Gt`` takes one integer, so the comparison of (major, minor, revision) is spelled out:
    major > M; or major >= M and minor > m; or major >= M, minor >= m and revision >= r (each
    ``>= n`` written ``Gt n-1``). A ``>=`` where ``==`` was meant admits no wrong node: a node
    above on an earlier part is admitted by an earlier term anyway. Numbers, not ``In``: GFD
    keeps leading zeros ("06", "03") and ``Gt`` parses them as integers; an empty revision
    parses as nothing and matches no ``Gt``, right because a two-part driver X.Y is below X.Y.r
    for r > 0. Trailing zero parts are dropped first (550.54.0 is 550.54), so a requirement of
    X.Y never asks for a revision. Both label families are offered, so nodes labelled by old
    and new GFD releases qualify.
    """
    numbers = minimum.key
    if len(numbers) > 3:
        raise NodesError(
            f"driver {minimum} has more than three parts; GPU Feature Discovery labels three",
            where="requires-driver",
            hint="NVIDIA drivers are numbered major.minor[.revision]",
        )
    terms = []
    for family in DRIVER_FAMILIES:
        for position, number in enumerate(numbers):
            last = position == len(numbers) - 1
            pairs = zip(family[:position], numbers[:position], strict=True)
            at_least = [_expression(key, "Gt", n - 1) for key, n in pairs]
            bound = number - 1 if last else number
            terms.append([*at_least, _expression(family[position], "Gt", bound)])
    return terms


def node_arches(lock: Lock) -> tuple[str, ...]:
    """The ``kubernetes.io/arch`` values (GOARCH: amd64, arm64) of the lock's platforms: an
    image built for linux-64 alone must not be scheduled onto an arm64 node (GH200, Grace)."""
    return tuple(sorted({by_name(p).oci_architecture for p in lock.target.platforms if p in NAMES}))


def allowed_archs(lock: Lock, declared_archs: Sequence[str], machine: str = "") -> tuple[str, ...]:
    """The GPU architectures the lock may run on (on ``machine``'s nodes: its wheels alone):
    ``[cuda] archs`` (or every architecture of the target's CUDA major) less those the target
    CUDA, or a locked package's own build (``cuda.framework_archs``), refuses by ``cuda.judge``'s
    own rules."""
    target = lock.target
    if target.cuda is None or target.driver_floor is None:
        return ()
    cuda = CudaVersion.parse(target.cuda)
    if no_arch_data(cuda) is not None:
        return ()  # no architecture can be proven (node_affinity says why)
    floor = DriverVersion.parse(target.driver_floor)
    known = supported_archs(cuda.major)
    # a family target (sm_100f) stands for each GPU of its family the CUDA major knows
    candidates = [
        member
        for arch in declared_archs or known
        for member in (
            [a for a in known if runs_on(arch, arch_cc(a))] if arch.endswith("f") else [arch]
        )
    ]
    needs = entry_needs(lock)[0]  # a package's own build may leave an arch out (torch +cu128)
    kept = []
    for arch in candidates:
        findings = judge(CudaTarget(cuda, floor, (arch,), machine=machine), needs)
        if not any(f.code.startswith("arch-") for f in findings):
            kept.append(arch)
    return tuple(kept)


# GPU architectures a group of machines' wheels allow -> those machines' GOARCHs
Groups = dict[tuple[str, ...], list[str]]


def archs_by_machine(lock: Lock, declared_archs: Sequence[str]) -> Groups:
    """The GOARCHs of the lock's platforms, grouped by the GPU architectures their wheels allow:
    an amd64 node runs the x86_64 torch (sm_75 on a T4), an arm64 one the aarch64 build, which
    starts at sm_80; one group when the machines agree."""
    groups: Groups = {}
    goarchs = node_arches(lock)
    for platform in (p for p in PLATFORMS if p.oci_architecture in goarchs):
        archs = allowed_archs(lock, declared_archs, platform.machine)
        groups.setdefault(archs, []).append(platform.oci_architecture)
    groups.pop((), None)  # a machine no GPU runs the lock on: none of its nodes admitted
    return groups


def node_affinity(lock: Lock, declared_archs: Sequence[str]) -> dict[str, Any]:
    """The ``nodeAffinity`` that admits exactly the nodes whose GFD labels prove the lock runs:
    a CPU architecture of the lock's platforms, the driver the lock requires or newer, and a GPU
    architecture the lock supports."""
    return _stanza(*_planned(lock, declared_archs))


def _planned(lock: Lock, declared_archs: Sequence[str]) -> tuple[str, Groups]:
    """The driver the lock needs and ``archs_by_machine``'s groups, or why no node can be
    shown to run the lock: what the stanza and its YAML comment both say, judged once."""
    target = lock.target
    if target.cuda is None:
        raise NodesError(
            "the lock declares no CUDA target, so no node needs to be kept off",
            where="mlenv.lock",
            hint="add [cuda] version and driver-floor to the manifest and lock again",
        )
    needed = verify_lock(lock, lock.inputs_hash, None).requires_driver
    if needed is None:
        raise NodesError(
            "the driver this lock needs is unknown",
            where="mlenv.lock",
            hint="run `mlenv verify` to see which package's CUDA has no known driver",
        )
    unknown = no_arch_data(CudaVersion.parse(target.cuda))
    if unknown is not None:
        raise NodesError(
            f"{unknown[0]}, so no node can be shown to run the lock on CUDA {target.cuda}",
            where="[cuda] version",
            hint=unknown[1],
        )
    groups = archs_by_machine(lock, declared_archs)
    if not groups:
        raise NodesError(
            f"no GPU architecture in [cuda] archs is supported by CUDA {target.cuda}",
            where="[cuda] archs",
            hint="run `mlenv verify` to see which architectures CUDA refuses",
        )
    return needed, groups


def _stanza(needed: str, groups: Groups) -> dict[str, Any]:
    terms = [
        {"matchExpressions": [_expression_in(NODE_ARCH, goarchs), *driver, *gpu]}
        for archs, goarchs in groups.items()
        for driver in driver_terms(DriverVersion.parse(needed))
        for gpu in _gpu_terms(archs)
    ]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


def affinity_yaml(lock: Lock, declared_archs: Sequence[str]) -> str:
    """``node_affinity`` as YAML to paste under a pod spec's ``affinity:``; values are quoted
    JSON strings, which YAML reads as the same strings, so the text is byte-stable."""
    needed, groups = _planned(lock, declared_archs)
    said = ";\n# or ".join(
        f"one of {', '.join(a)},\n# on {', '.join(g)}" for a, g in groups.items()
    )
    lines = [
        "# Exported by `mlenv export --format k8s-affinity` from mlenv.lock: admits only nodes",
        *f"# whose GPU Feature Discovery labels show driver >= {needed} and {said} "
        f"({NODE_ARCH}).".split("\n"),
        f"# Labels: {GFD_DOCS}",
    ]
    lines += _yaml(_stanza(needed, groups), 0)
    return "\n".join(lines) + "\n"


def _yaml(value: Any, indent: int) -> list[str]:
    """Block-style YAML of the stanza's dicts and lists of dicts; scalars and lists of scalars
    as JSON, which YAML reads as the same values."""
    pad = " " * indent
    lines: list[str] = []
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        lead = f"{pad}{key}:" if isinstance(value, dict) else f"{pad}-"
        if not isinstance(item, dict) and not any(isinstance(i, dict) for i in item):
            lines.append(f"{lead} {json.dumps(item)}")  # a scalar or a list of them, inline
        elif isinstance(value, dict):
            lines += [lead, *_yaml(item, indent + 2)]
        else:
            first, *rest = _yaml(item, indent + 2)
            lines += [f"{lead} {first.lstrip()}", *rest]
    return lines
