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
workload off the nodes those rules refuse (``mlenv.node_affinity``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mlenv.cuda.rules import Finding
from mlenv.cuda.versions import JETSON_ONLY_CCS, CudaError, DriverVersion, arch_cc, runs_on
from mlenv.errors import MlenvError
from mlenv.judge import Judged, compute_capability_arch, verify_lock
from mlenv.limits import MAX_NODE_LIST, enforce
from mlenv.lockfile import Lock
from mlenv.platforms import NAMES, PLATFORMS, by_name
from mlenv.selector import Selector

NODE_ARCH = "kubernetes.io/arch"  # kubelet's well-known label: GOARCH (amd64, arm64)
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
    if not declared or any(runs_on(a, arch_cc(arch)) for a in declared):
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


CudaFindings = Callable[[str, tuple[str, ...], str], Sequence[Finding]]


def _cuda_findings(lock: Lock) -> CudaFindings:
    """verify's findings for a driver, GPU architectures and machine, each judged once: a
    cluster has thousands of nodes but a handful of driver, GPU and machine combinations."""

    @functools.cache
    def findings(driver: str, archs: tuple[str, ...], machine: str) -> tuple[Finding, ...]:
        judged = Judged(driver, "GFD labels", archs, machine=machine)
        return verify_lock(lock, lock.inputs_hash, judged).findings

    return findings


def _machine(node: Node) -> str:
    """The node's CPU (``uname -m``) from its ``kubernetes.io/arch`` label, "" when unlabelled:
    a GPU on an arm64 node runs the lock's aarch64 wheels, whose GPU code differs."""
    goarch = node.labels.get(NODE_ARCH)
    return next((p.machine for p in PLATFORMS if p.oci_architecture == goarch), "")


def _platform(lock: Lock, node: Node) -> list[Finding]:
    """kubelet's ``kubernetes.io/arch`` label (GOARCH) against the lock's platforms: a GH200
    node (arm64) cannot run an x86_64-only lock, whatever its driver; no label, no judgement."""
    goarch = node.labels.get(NODE_ARCH)
    platforms = list(lock.target.platforms)  # a platform of no entries has no table
    known = [by_name(p).oci_architecture for p in platforms if p in NAMES]
    if goarch is None or goarch in known:
        return []
    listed = ", ".join(platforms) or "none"
    message = f"the node is {goarch} ({NODE_ARCH}), but the lock is for {listed}"
    hint = "keep the workload off it, or add its platform to [environment] platforms"
    return [Finding.error("node-platform", "", f"one of {listed}", goarch, message, hint)]


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
    if facts.arch is not None and arch_cc(facts.arch) in JETSON_ONLY_CCS:  # as verify --host
        reason = (
            f"its GPU ({facts.arch}) is a Jetson's, whose driver {facts.driver} Jetson Linux "
            "numbers apart from the CUDA release notes' driver table"
        )
        return NodeVerdict(node.name, "cannot-judge", facts, reason=reason)
    archs = () if facts.arch is None else (facts.arch,)
    judged = cuda_findings or _cuda_findings(lock)
    platform = _platform(lock, node)  # a node of no locked machine: said there, once
    machine = "" if platform else _machine(node)
    findings = [*platform, *judged(str(facts.driver), archs, machine)]
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
        if verdict.facts is not None and verdict.reason:  # a Jetson: labelled, not judged
            detail += f": {verdict.reason}"
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
