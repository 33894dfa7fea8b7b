"""Kubernetes GPU nodes judged from their NVIDIA GPU Feature Discovery labels, before deploy.

The labels and their values are GFD's, as documented in NVIDIA/k8s-device-plugin
``docs/gpu-feature-discovery/README.md`` ("Generated Labels") and written by its
``internal/lm/nvml.go`` (``newVersionLabeler``) and ``internal/lm/resource.go``
(``newArchitectureLabels``): the driver version split at its dots into
``nvidia.com/cuda.driver-version.{major,minor,revision}`` (plus ``.full``) and, deprecated but
still written and the only ones of older GFD releases, ``nvidia.com/cuda.driver.{major,minor,rev}``;
the revision is empty for a two-part driver version and keeps its leading zero ("03"); the
compute capability as ``nvidia.com/gpu.compute.{major,minor}`` (absent when NVML reports none);
``nvidia.com/gpu.product`` and ``nvidia.com/gpu.count``.

Each node is judged by ``verify.verify_lock`` with the node's driver and GPU architecture, so a
node check applies exactly the CUDA rules of ``mlenv verify --driver``; this module only reads
labels, adds the fleet's ``[cuda] archs`` promise, and renders the scheduling rule that keeps a
workload off the nodes those rules refuse (``node_affinity``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mlenv.cuda.matrix import supported_archs
from mlenv.cuda.rules import CudaTarget, Finding, judge, no_arch_data
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion, arch_cc
from mlenv.errors import MlenvError
from mlenv.judge import Judged, compute_capability_arch, verify_lock
from mlenv.limits import MAX_NODE_LIST, enforce
from mlenv.lockfile import Lock
from mlenv.selector import Selector

GFD_DOCS = (
    "https://github.com/NVIDIA/k8s-device-plugin/blob/main/docs/gpu-feature-discovery/"
    "README.md#generated-labels"
)

DRIVER_FULL = "nvidia.com/cuda.driver-version.full"
# Label families for the driver's (major, minor, revision), the current one first.
DRIVER_FAMILIES: tuple[tuple[str, str, str], ...] = (
    (
        "nvidia.com/cuda.driver-version.major",
        "nvidia.com/cuda.driver-version.minor",
        "nvidia.com/cuda.driver-version.revision",
    ),
    ("nvidia.com/cuda.driver.major", "nvidia.com/cuda.driver.minor", "nvidia.com/cuda.driver.rev"),
)
COMPUTE_MAJOR = "nvidia.com/gpu.compute.major"
COMPUTE_MINOR = "nvidia.com/gpu.compute.minor"
PRODUCT = "nvidia.com/gpu.product"
COUNT = "nvidia.com/gpu.count"
RUNTIME_FULL = "nvidia.com/cuda.runtime-version.full"

Status = Literal["ok", "fail", "cannot-judge"]


class NodesError(MlenvError):
    """A node list that is not what ``kubectl get nodes -o json`` prints."""


class _Unjudgeable(Exception):
    """Why one node's labels cannot be judged; the node is listed as such, the rest go on."""


@dataclass(frozen=True)
class Node:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class GpuFacts:
    """What GFD says about a node's GPUs; ``arch`` is None when it labels no compute capability."""

    driver: DriverVersion
    arch: str | None
    product: str | None
    count: str | None
    cuda: str | None


@dataclass(frozen=True)
class NodeVerdict:
    node: str
    status: Status
    facts: GpuFacts | None
    findings: tuple[Finding, ...] = ()
    reason: str = ""


def read_nodes(text: str, *, where: str) -> tuple[Node, ...]:
    """The nodes of ``kubectl get nodes -o json`` (a List) or ``kubectl get node X -o json``;
    ``text`` is at most ``limits.MAX_NODE_LIST`` characters, and nested no deeper than the
    parser's guard (security invariant 7)."""
    enforce(len(text), MAX_NODE_LIST, "characters in a node list", where=where)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise NodesError(
            f"not JSON: {detail}", where=where, hint="write it with `kubectl get nodes -o json`"
        ) from None
    if isinstance(document, dict) and document.get("kind") == "Node":
        items: Any = [document]
    elif isinstance(document, dict) and isinstance(document.get("items"), list):
        items = document["items"]
    else:
        raise NodesError(
            "not a node list: expected a JSON object with an 'items' list or kind 'Node'",
            where=where,
            hint="write it with `kubectl get nodes -o json`",
        )
    nodes = []
    for index, item in enumerate(items):
        at = f"{where}: items[{index}]"
        metadata = item.get("metadata") if isinstance(item, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if not isinstance(name, str) or not name:
            raise NodesError("a node without metadata.name", where=at, hint="pass kubectl's output")
        labels = metadata.get("labels") or {}  # type: ignore[union-attr]
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise NodesError(
                "metadata.labels is not a map of strings", where=f"{at} ({name})", hint=""
            )
        nodes.append(Node(name, dict(labels)))
    return tuple(nodes)


def _driver(labels: Mapping[str, str]) -> DriverVersion:
    """The driver from every GFD label that states it; labels that disagree are not guessed at."""
    seen: dict[str, DriverVersion] = {}
    for family in DRIVER_FAMILIES:
        major, minor, revision = (labels.get(key) for key in family)
        if major is None and minor is None:
            continue
        if not (_digits(major) and _digits(minor) and (not revision or _digits(revision))):
            raise _Unjudgeable(
                f"{family[0].rsplit('.', 1)[0]}.* do not hold a driver version "
                f"({major!r}, {minor!r}, {revision!r})"
            )
        text = ".".join(part for part in (major, minor, revision) if part)
        seen[f"{family[0].rsplit('.', 1)[0]}.*"] = _parse_driver(text, family[0])
    if DRIVER_FULL in labels:
        seen[DRIVER_FULL] = _parse_driver(labels[DRIVER_FULL], DRIVER_FULL)
    if not seen:
        raise _Unjudgeable(f"no GPU Feature Discovery driver labels ({DRIVER_FAMILIES[0][0]})")
    if len(set(seen.values())) > 1:
        stated = ", ".join(f"{key} says {version}" for key, version in sorted(seen.items()))
        raise _Unjudgeable(f"its driver labels disagree: {stated}")
    return next(iter(seen.values()))


def _digits(text: str | None) -> bool:
    return text is not None and re.fullmatch(r"[0-9]{1,9}", text) is not None


def _parse_driver(text: str, label: str) -> DriverVersion:
    try:
        return DriverVersion.parse(text, where=label)
    except CudaError:
        raise _Unjudgeable(f"{label} does not hold a driver version ({text!r})") from None


def _arch(labels: Mapping[str, str]) -> str | None:
    major, minor = labels.get(COMPUTE_MAJOR), labels.get(COMPUTE_MINOR)
    if major is None and minor is None:
        return None
    if not (_digits(major) and _digits(minor)):
        raise _Unjudgeable(
            f"{COMPUTE_MAJOR}/{COMPUTE_MINOR} are not a compute capability ({major!r}, {minor!r})"
        )
    return compute_capability_arch(f"{int(major)}.{int(minor)}")  # type: ignore[arg-type]


def gpu_facts(node: Node) -> GpuFacts:
    labels = node.labels
    cuda = labels.get(RUNTIME_FULL)
    return GpuFacts(_driver(labels), _arch(labels), labels.get(PRODUCT), labels.get(COUNT), cuda)


def _declared(arch: str, declared: Sequence[str]) -> Finding | None:
    """The fleet promise: a node whose GPU is not in ``[cuda] archs`` was never planned for."""
    if not declared or arch_cc(arch) in {arch_cc(a) for a in declared}:
        return None
    listed = ", ".join(declared)
    return Finding(
        "error",
        "node-arch-undeclared",
        "",
        f"one of {listed}",
        arch,
        f"the node's GPU is {arch}, which is not in [cuda] archs ({listed})",
        f"add {arch} to [cuda] archs and lock again, or keep the workload off the node "
        "(`mlenv export --format k8s-affinity`)",
    )


_ARCH_UNKNOWN = Finding(
    "warning",
    "node-arch-unknown",
    "",
    f"{COMPUTE_MAJOR} and {COMPUTE_MINOR}",
    "no compute capability labels",
    "GPU Feature Discovery labels no compute capability on the node, so its GPU "
    "architecture was not checked",
    "check the node's GPUs with `mlenv verify --host` on it",
)


CudaFindings = Callable[[str, tuple[str, ...]], Sequence[Finding]]


def _cuda_findings(lock: Lock) -> CudaFindings:
    """verify's findings for a driver and GPU architectures, each pair judged once: a cluster
    has thousands of nodes but a handful of driver and GPU combinations."""

    @functools.cache
    def findings(driver: str, archs: tuple[str, ...]) -> tuple[Finding, ...]:
        return verify_lock(lock, lock.inputs_hash, Judged(driver, "GFD labels", archs)).findings

    return findings


def judge_node(
    lock: Lock,
    declared_archs: Sequence[str],
    node: Node,
    cuda_findings: CudaFindings | None = None,
) -> NodeVerdict:
    """One node: the lock's CUDA rules for its driver and GPU, and the ``[cuda] archs`` promise."""
    try:
        facts = gpu_facts(node)
    except _Unjudgeable as exc:
        return NodeVerdict(node.name, "cannot-judge", None, reason=str(exc))
    archs = () if facts.arch is None else (facts.arch,)
    judged = cuda_findings or _cuda_findings(lock)
    findings = list(judged(str(facts.driver), archs))
    if facts.arch is None:
        findings.append(_ARCH_UNKNOWN)
    elif (undeclared := _declared(facts.arch, declared_archs)) is not None:
        findings.append(undeclared)
    status: Status = "fail" if any(f.severity == "error" for f in findings) else "ok"
    return NodeVerdict(node.name, status, facts, tuple(findings))


def judge_nodes(
    lock: Lock, declared_archs: Sequence[str], nodes: Sequence[Node], selector: Selector
) -> tuple[NodeVerdict, ...]:
    """Every node the selector selects, in name order, so reports are byte-stable."""
    chosen = sorted((n for n in nodes if selector.matches(n.labels)), key=lambda n: n.name)
    judged = _cuda_findings(lock)
    return tuple(judge_node(lock, declared_archs, node, judged) for node in chosen)


# ---------------------------------------------------------------------------------------------
# The scheduling rule


def _expression(key: str, operator: str, value: int | str) -> dict[str, Any]:
    return {"key": key, "operator": operator, "values": [str(value)]}


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


def allowed_archs(lock: Lock, declared_archs: Sequence[str]) -> tuple[str, ...]:
    """The GPU architectures the lock may run on: ``[cuda] archs`` (or every architecture of
    the target's CUDA major) less those the target CUDA refuses by ``cuda.judge``'s own rules."""
    target = lock.target
    if target.cuda is None or target.driver_floor is None:
        return ()
    cuda = CudaVersion.parse(target.cuda)
    if no_arch_data(cuda) is not None:
        return ()  # no architecture can be proven (node_affinity says why)
    floor = DriverVersion.parse(target.driver_floor)
    candidates = declared_archs or supported_archs(cuda.major)
    kept = []
    for arch in candidates:
        findings = judge(CudaTarget(cuda, floor, (arch,)), ())
        if not any(f.code.startswith("arch-") for f in findings):
            kept.append(arch)
    return tuple(kept)


def node_affinity(lock: Lock, declared_archs: Sequence[str]) -> dict[str, Any]:
    """The ``nodeAffinity`` that admits exactly the nodes whose GFD labels prove the lock runs:
    the driver the lock requires or newer, and a GPU architecture the lock supports."""
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
    archs = allowed_archs(lock, declared_archs)
    if not archs:
        raise NodesError(
            f"no GPU architecture in [cuda] archs is supported by CUDA {target.cuda}",
            where="[cuda] archs",
            hint="run `mlenv verify` to see which architectures CUDA refuses",
        )
    by_major: dict[int, list[int]] = {}
    for cc in sorted({arch_cc(arch) for arch in archs}):
        by_major.setdefault(cc // 10, []).append(cc % 10)
    gpu_terms = [
        [
            {"key": COMPUTE_MAJOR, "operator": "In", "values": [str(major)]},
            {"key": COMPUTE_MINOR, "operator": "In", "values": [str(m) for m in minors]},
        ]
        for major, minors in sorted(by_major.items())
    ]
    terms = [
        {"matchExpressions": [*driver, *gpu]}
        for driver in driver_terms(DriverVersion.parse(needed))
        for gpu in gpu_terms
    ]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


def affinity_yaml(lock: Lock, declared_archs: Sequence[str]) -> str:
    """``node_affinity`` as YAML to paste under a pod spec's ``affinity:``; values are quoted
    JSON strings, which YAML reads as the same strings, so the text is byte-stable."""
    stanza = node_affinity(lock, declared_archs)
    needed = verify_lock(lock, lock.inputs_hash, None).requires_driver
    archs = ", ".join(allowed_archs(lock, declared_archs))
    lines = [
        "# Exported by `mlenv export --format k8s-affinity` from mlenv.lock: admits only nodes",
        f"# whose GPU Feature Discovery labels show driver >= {needed} and one of {archs}.",
        f"# Labels: {GFD_DOCS}",
    ]
    lines += _yaml(stanza, 0)
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


# ---------------------------------------------------------------------------------------------
# Reports


def exit_status(verdicts: Sequence[NodeVerdict]) -> Status:
    """Fail when any node fails; cannot judge when no node could be judged; else ok."""
    if any(v.status == "fail" for v in verdicts):
        return "fail"
    return "ok" if any(v.status == "ok" for v in verdicts) else "cannot-judge"


_LABELS: dict[Status, str] = {"ok": "OK", "fail": "FAIL", "cannot-judge": "CANNOT JUDGE"}


def _gpu(facts: GpuFacts) -> str:
    product = facts.product or "GPU"
    count = f" x{facts.count}" if facts.count else ""
    arch = facts.arch or "compute capability unlabelled"
    return f"{product}{count}, driver {facts.driver}, {arch}"


def report_lines(
    verdicts: Sequence[NodeVerdict], total: int, requires_driver: str | None
) -> list[str]:
    """The human table: one line per node, its findings under it, a summary last."""
    needs = f"needs driver {requires_driver} or newer" if requires_driver else "needs no driver"
    lines = [f"the lock {needs}; {len(verdicts)} of {total} node(s) selected"]
    width = max((len(v.node) for v in verdicts), default=0)
    for verdict in verdicts:
        label = _LABELS[verdict.status]
        detail = verdict.reason if verdict.facts is None else _gpu(verdict.facts)
        lines.append(f"{label:13} {verdict.node:{width}}  {detail}")
        for finding in verdict.findings:
            lines.append(f"  {finding.severity.upper():7} {finding.code}: {finding.message}")
            lines.append(f"          hint: {finding.hint}")
    counts = {s: sum(v.status == s for v in verdicts) for s in ("ok", "fail", "cannot-judge")}
    summary = (
        f"{counts['fail']} node(s) cannot run the lock, {counts['ok']} can, "
        f"{counts['cannot-judge']} cannot be judged"
    )
    lines.append(f"{_LABELS[exit_status(verdicts)]}: {summary}")
    return lines


def report_json(verdicts: Sequence[NodeVerdict], requires_driver: str | None) -> dict[str, Any]:
    return {
        "ok": exit_status(verdicts) == "ok",
        "status": exit_status(verdicts),
        "requires-driver": requires_driver,
        "nodes": [
            {
                "name": v.node,
                "status": v.status,
                "reason": v.reason or None,
                "gpu": None
                if v.facts is None
                else {
                    "driver": str(v.facts.driver),
                    "arch": v.facts.arch,
                    "product": v.facts.product,
                    "count": v.facts.count,
                    "cuda": v.facts.cuda,
                },
                "findings": [dataclasses.asdict(f) for f in v.findings],
            }
            for v in verdicts
        ],
    }
