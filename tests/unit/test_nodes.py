"""Node-by-node checks from GPU Feature Discovery labels, and the nodeAffinity that keeps a
workload off the nodes those checks refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cuda.versions import DriverVersion
from mlenv.lockfile import Lock, LockedPackage
from mlenv.node_affinity import affinity_yaml, driver_terms, node_affinity
from mlenv.nodes import Node, NodesError, exit_status, judge_node, judge_nodes, read_nodes
from mlenv.selector import parse
from tests.support.k8s import admits
from tests.support.locks import locked, make_lock

CLUSTER = Path(__file__).parents[2] / "fixtures" / "nodes" / "cluster.json"
TORCH_124 = make_lock([locked("torch", "2.6.0+cu124"), locked("numpy", "2.4.6")])
ARCHS = ("sm_80", "sm_90")
NEW = (
    "nvidia.com/cuda.driver-version.major",
    "nvidia.com/cuda.driver-version.minor",
    "nvidia.com/cuda.driver-version.revision",
)
OLD = ("nvidia.com/cuda.driver.major", "nvidia.com/cuda.driver.minor", "nvidia.com/cuda.driver.rev")


def cluster() -> tuple[Node, ...]:
    return read_nodes(CLUSTER.read_text(), where=str(CLUSTER))


def gfd(
    driver: str, cc: str | None = "8.0", families: tuple[tuple[str, ...], ...] = (NEW, OLD)
) -> dict[str, str]:
    """Labels as GFD's newVersionLabeler writes them: split at the dots, revision "" if none."""
    major, minor, *rest = driver.split(".")
    labels = {}
    for family in families:
        labels.update(dict(zip(family, (major, minor, rest[0] if rest else ""), strict=True)))
    if NEW in families:
        labels["nvidia.com/cuda.driver-version.full"] = driver
    if cc is not None:
        cmajor, cminor = cc.split(".")
        labels |= {"nvidia.com/gpu.compute.major": cmajor, "nvidia.com/gpu.compute.minor": cminor}
    return labels


def test_the_documented_cluster_is_judged_node_by_node() -> None:
    """Guards the whole check on GFD-shaped nodes: drivers below the lock's need, GPUs outside
    [cuda] archs, deprecated-only labels, a two-part driver, and unlabelled nodes."""
    verdicts = judge_nodes(TORCH_124, ARCHS, cluster(), parse(""))
    table = {v.node: (v.status, [f.code for f in v.findings]) for v in verdicts}
    assert table == {
        "cpu-0": ("cannot-judge", []),
        "gpu-a100-0": ("ok", []),
        "gpu-h100-0": ("ok", []),
        "gpu-l4-0": ("fail", ["node-arch-undeclared"]),
        "gpu-new-0": ("cannot-judge", []),
        "gpu-p100-0": ("fail", ["driver-below-toolkit", "node-arch-undeclared"]),
        "gpu-t4-0": ("fail", ["driver-below-toolkit", "node-arch-undeclared"]),
    }
    assert [v.node for v in verdicts] == sorted(table)
    facts = {v.node: v.facts for v in verdicts if v.facts}
    assert str(facts["gpu-t4-0"].driver) == "535.104.05"  # from the deprecated labels alone
    assert str(facts["gpu-l4-0"].driver) == "550.120"  # revision ""
    assert facts["gpu-a100-0"].arch == "sm_80" and facts["gpu-a100-0"].count == "8"
    assert exit_status(verdicts) == "fail"


def test_without_declared_archs_only_the_target_cudas_rules_judge_the_gpu() -> None:
    """Guards that node GPUs go through cuda.judge: sm_89 passes CUDA 12.4 when archs are free."""
    verdicts = {v.node: v.status for v in judge_nodes(TORCH_124, (), cluster(), parse(""))}
    assert verdicts["gpu-l4-0"] == "ok"
    assert verdicts["gpu-t4-0"] == "fail"


def test_a_gpu_the_target_cuda_dropped_fails_the_node() -> None:
    """Guards the dropped-architecture rule per node: CUDA 13 has no sm_70 (Volta)."""
    lock = make_lock([locked("torch", "2.9.0+cu130")], cuda="13.0", floor="580.65.06")
    verdict = judge_node(lock, (), Node("v100", gfd("580.95.05", "7.0")))
    assert verdict.status == "fail"
    assert [f.code for f in verdict.findings] == ["arch-dropped"]


def test_the_selector_chooses_the_nodes_and_nothing_judged_is_cannot_judge() -> None:
    """Guards --selector and the exit-3 rule when no selected node can be judged."""
    nodes = cluster()
    chosen = judge_nodes(
        TORCH_124, ARCHS, nodes, parse("pool in (a100,h100),nvidia.com/gpu.present")
    )
    assert [v.node for v in chosen] == ["gpu-a100-0", "gpu-h100-0"]
    assert exit_status(chosen) == "ok"
    unlabelled = judge_nodes(TORCH_124, ARCHS, nodes, parse("!nvidia.com/gpu.count"))
    assert [v.status for v in unlabelled] == ["cannot-judge", "cannot-judge"]
    assert exit_status(unlabelled) == "cannot-judge"
    assert exit_status(()) == "cannot-judge"


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({}, "no GPU Feature Discovery driver labels"),
        ({**gfd("550.90.07"), "nvidia.com/cuda.driver.minor": "54"}, "driver labels disagree"),
        ({**gfd("550.90.07"), "nvidia.com/cuda.driver-version.full": "550.90.08"}, "disagree"),
        ({NEW[0]: "550"}, "do not hold a driver version"),
        ({**gfd("550.90.07", families=(NEW,)), NEW[1]: "9O"}, "do not hold a driver version"),
        ({**gfd("550.90.07", families=(OLD,)), OLD[2]: "07.1"}, "do not hold a driver version"),
        ({**gfd("550.90.07"), "nvidia.com/gpu.compute.minor": "x"}, "not a compute capability"),
        ({**gfd("550.90.07", cc=None), "nvidia.com/gpu.compute.major": "8"}, "not a compute"),
        (
            {**gfd("550.90.07", families=(NEW,)), "nvidia.com/cuda.driver-version.full": "r550"},
            "full does not hold",
        ),
    ],
)
def test_labels_that_prove_nothing_are_not_guessed_at(labels: dict[str, str], reason: str) -> None:
    """Guards against judging a node on contradictory or malformed labels: it cannot be judged."""
    verdict = judge_node(TORCH_124, ARCHS, Node("n", labels))
    assert verdict.status == "cannot-judge"
    assert reason in verdict.reason


def test_a_node_without_compute_labels_passes_on_its_driver_with_a_warning() -> None:
    """Guards that an unknown GPU is said, not silently passed (GFD omits compute labels then)."""
    verdict = judge_node(TORCH_124, ARCHS, Node("n", gfd("550.90.07", cc=None)))
    assert verdict.status == "ok"
    assert [(f.severity, f.code) for f in verdict.findings] == [("warning", "node-arch-unknown")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not a node list"),
        ('{"kind": "List", "items": [{"metadata": {}}]}', "without metadata.name"),
        ('{"items": [{"metadata": {"name": "a", "labels": {"x": 1}}}]}', "not a map of strings"),
        ('{"items": [7]}', "without metadata.name"),
    ],
)
def test_a_file_that_is_not_kubectls_node_list_is_an_error(text: str, message: str) -> None:
    """Guards the input edge: anything but kubectl's JSON is refused with where it went wrong."""
    with pytest.raises(NodesError) as caught:
        read_nodes(text, where="nodes.json")
    assert message in caught.value.message
    assert caught.value.where.startswith("nodes.json")


def test_a_single_node_document_is_read() -> None:
    """Guards `kubectl get node NAME -o json`, which prints one Node, not a List."""
    item = json.loads(CLUSTER.read_text())["items"][0]
    assert [n.name for n in read_nodes(json.dumps(item), where="n.json")] == ["gpu-a100-0"]


# ---------------------------------------------------------------------------------------------
# The affinity


def _version(parts: tuple[int, ...], pad: tuple[bool, bool]) -> str:
    """A driver as nvidia-smi prints it: minors and revisions may keep a leading zero
    (GFD's README shows minor "06" for driver 455.06; 550.144.03 has revision "03")."""
    padded = [f"{p:02d}" if i and pad[i - 1] else str(p) for i, p in enumerate(parts)]
    return ".".join(padded)


@given(
    minimum=st.tuples(st.integers(400, 700), st.integers(0, 130), st.integers(0, 12)).map(
        lambda t: t[: 3 if t[2] else 2] if t[1] or t[2] else t[:1]
    ),
    deltas=st.tuples(*[st.sampled_from([-1, 0, 0, 0, 1])] * 3),
    two_part=st.booleans(),
    pad=st.tuples(st.booleans(), st.booleans()),
    families=st.sampled_from([(NEW, OLD), (NEW,), (OLD,)]),
)
def test_the_driver_terms_admit_exactly_the_drivers_at_or_above_the_need(
    minimum: tuple[int, ...],
    deltas: tuple[int, int, int],
    two_part: bool,
    pad: tuple[bool, bool],
    families: tuple[tuple[str, ...], ...],
) -> None:
    """Guards the Gt encoding of driver >= X.Y.Z over GFD's split labels, against Kubernetes'
    own matching: equal majors, equal minors, leading zeros ("06", "03"), two-part drivers
    (revision ""), requirements of one, two or three parts, old and new label families."""
    need = DriverVersion.parse(".".join(map(str, minimum)))
    # nodes near the need, where equal components decide: each part one below, equal or above
    node = tuple(max(0, p + d) for p, d in zip((*minimum, 0, 0)[:3], deltas, strict=True))
    version = _version(node[:2] if two_part else node, pad)
    labels = gfd(version, families=families)
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": t} for t in driver_terms(need)]
            }
        }
    }
    assert admits(affinity, labels) is (DriverVersion.parse(version) >= need)


LOCKS = {
    "cuda-12.4": (TORCH_124, ARCHS),
    "cuda-12.4-any-gpu": (TORCH_124, ()),
    "cuda-12.8-two-part-driver": (
        make_lock([locked("torch", "2.8.0+cu128")], "12.8", "570.26"),
        (),
    ),
    "cuda-13.0": (
        make_lock([locked("torch", "2.9.0+cu130")], "13.0", "580.65.06"),
        ("sm_75", "sm_90", "sm_100"),
    ),
    "cuda-13.0-families": (
        make_lock([locked("torch", "2.9.0+cu130")], "13.0", "580.65.06"),
        ("sm_90a", "sm_100f", "sm_120f"),
    ),
}


@pytest.mark.parametrize("name", sorted(LOCKS))
@given(
    driver=st.tuples(st.integers(520, 600), st.integers(0, 130), st.integers(0, 12)),
    cc=st.sampled_from(
        [
            "3.7",
            "5.0",
            "6.0",
            "7.0",
            "7.5",
            "8.0",
            "8.6",
            "8.9",
            "9.0",
            "10.0",
            "10.3",
            "11.0",
            "12.0",
            "12.1",
        ]
    ),
    goarch=st.sampled_from(["amd64", "arm64"]),
)
def test_the_affinity_admits_a_node_exactly_when_verify_passes_it_cleanly(
    name: str, driver: tuple[int, int, int], cc: str, goarch: str
) -> None:
    """Guards that the scheduler rule and `verify --nodes` agree: an admitted node always passes
    verify, and a node verify passes without findings is always admitted. kubelet labels every
    node's CPU architecture; the locks are linux-64, so an arm64 node is out of both."""
    lock, archs = LOCKS[name]
    labels = gfd(".".join(map(str, driver)), cc) | {"kubernetes.io/arch": goarch}
    verdict = judge_node(lock, archs, Node("n", labels))
    admitted = admits(node_affinity(lock, archs), labels)
    if admitted:
        assert verdict.status == "ok", verdict.findings
    if verdict.status == "ok" and not verdict.findings:
        assert admitted


def test_the_fixture_cluster_is_scheduled_where_verify_says() -> None:
    """Guards the affinity on the documented cluster: A100 and H100 in, the rest out."""
    affinity = node_affinity(TORCH_124, ARCHS)
    assert sorted(n.name for n in cluster() if admits(affinity, n.labels)) == [
        "gpu-a100-0",
        "gpu-h100-0",
    ]


def test_the_yaml_is_the_stanza_and_byte_stable() -> None:
    """Guards the printed YAML: it reads back as exactly the stanza, and prints the same twice."""
    text = affinity_yaml(TORCH_124, ARCHS)
    assert yaml.safe_load(text) == node_affinity(TORCH_124, ARCHS)
    assert text == affinity_yaml(TORCH_124, ARCHS)
    assert "driver >= 550.54.14 and one of sm_80, sm_90" in text


def test_a_lock_without_cuda_has_no_affinity() -> None:
    """Guards against printing a rule that admits nothing useful for a CPU-only lock."""
    with pytest.raises(NodesError, match="no CUDA target"):
        node_affinity(make_lock([locked("numpy", "2.4.6")], cuda=None, floor=None), ())


def test_declared_archs_the_target_cuda_refuses_leave_no_affinity() -> None:
    """Guards that archs CUDA refuses are never put into In (sm_70 is gone from CUDA 13)."""
    lock: Lock = LOCKS["cuda-13.0"][0]
    assert '"7"' not in json.dumps(node_affinity(lock, ("sm_70", "sm_90")))
    with pytest.raises(NodesError, match="no GPU architecture"):
        node_affinity(lock, ("sm_70",))


@pytest.mark.parametrize("archs", [(), ("sm_60", "sm_70")])
@pytest.mark.parametrize(
    ("cuda", "floor", "package"),
    [("9.2", "396.26", ("torch", "1.7.1+cu92")), ("8.0", "375.26", ("torch", "1.0.0+cu80"))],
)
def test_a_lock_before_cuda_10_gets_no_affinity_and_is_told_why_truthfully(
    archs: tuple[str, ...], cuda: str, floor: str, package: tuple[str, str]
) -> None:
    """mlenv holds no architecture list for CUDA 9.x (shared/reference/cuda.md §6 starts at
    10.x): the export says so, as verify's arch-unchecked finding does, never that CUDA 9.2
    supports none of the declared GPUs nor a list of releases as the hint."""
    lock = make_lock([locked(*package)], cuda=cuda, floor=floor)
    with pytest.raises(NodesError) as caught:
        affinity_yaml(lock, archs)
    assert caught.value.message == (
        f"mlenv has no GPU architecture data for CUDA {cuda[0]}.x, so no node can be shown "
        f"to run the lock on CUDA {cuda}"
    )
    assert caught.value.hint == "target CUDA 10.0 or newer, whose GPU architectures are known"


@pytest.mark.parametrize(
    ("declared", "cc", "planned"),
    [
        ("sm_100f", "10.0", True),
        ("sm_100f", "10.3", True),  # the family's later minor (B300)
        ("sm_103f", "10.0", False),  # not an earlier one
        ("sm_100f", "12.0", False),  # nor another family
        ("sm_120f", "12.1", True),  # GB10
        ("sm_100a", "10.3", False),  # architecture-specific: 10.0 alone
        ("sm_100", "10.3", False),  # a plain entry names its own GPU
    ],
)
def test_a_family_target_in_archs_plans_for_its_family(
    declared: str, cc: str, planned: bool
) -> None:
    """The CUDA C++ Programming Guide (6.1.3-6.1.4): sm_100f code runs on 10.0 and 10.3 only,
    sm_100a code on 10.0 only. A 10.3 node under `archs = ["sm_100f"]` was undeclared."""
    lock = make_lock([locked("torch", "2.9.0+cu130")], "13.0", "580.65.06")
    verdict = judge_node(lock, (declared,), Node("n", gfd("580.95.05", cc)))
    assert ("node-arch-undeclared" not in [f.code for f in verdict.findings]) is planned
    if planned:
        minors = {
            minor
            for term in node_affinity(lock, (declared,))["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]["nodeSelectorTerms"]
            for e in term["matchExpressions"]
            if e["key"] == "nvidia.com/gpu.compute.minor"
            for minor in e["values"]
        }
        assert cc.split(".")[1] in minors


def _torch_29(tag: str) -> LockedPackage:
    filename = f"torch-2.9.0+cu128-cp311-cp311-{tag}.whl"
    return locked("torch", "2.9.0+cu128", "12.8", filename=filename)


# torch 2.9.0+cu128 for both machines: x86_64's build carries 7.0 to 12.0, aarch64's 8.0 on
TWO_MACHINES = make_lock(
    [_torch_29("manylinux_2_28_x86_64")],
    cuda="12.8",
    floor="570.26",
    aarch64=[_torch_29("manylinux_2_28_aarch64")],
)


def test_an_arm64_node_is_judged_by_the_locks_aarch64_torch() -> None:
    """A T4 on an amd64 node runs the x86_64 torch; a T4G on an arm64 node (g5g) gets the
    aarch64 build, which starts at sm_80: the node's kubernetes.io/arch picks the wheel its GPU
    is judged against."""
    labels = gfd("570.26", "7.5")
    x86 = judge_node(TWO_MACHINES, (), Node("t4", {**labels, "kubernetes.io/arch": "amd64"}))
    arm = judge_node(TWO_MACHINES, (), Node("t4g", {**labels, "kubernetes.io/arch": "arm64"}))
    assert (x86.status, [f.code for f in x86.findings]) == ("ok", [])
    assert (arm.status, [f.code for f in arm.findings]) == ("fail", ["arch-not-built"])


def test_the_affinity_admits_a_t4_on_amd64_but_not_on_arm64() -> None:
    """The stanza admits what verify --nodes admits, machine by machine: sm_75 on amd64 nodes
    only, sm_90 on both."""
    affinity = node_affinity(TWO_MACHINES, ("sm_75", "sm_90"))
    for cc, goarch, admitted in [
        ("7.5", "amd64", True),
        ("7.5", "arm64", False),
        ("9.0", "amd64", True),
        ("9.0", "arm64", True),
    ]:
        labels = {**gfd("570.26", cc), "kubernetes.io/arch": goarch}
        assert admits(affinity, labels) is admitted, (cc, goarch)
    text = affinity_yaml(TWO_MACHINES, ("sm_75", "sm_90"))
    assert "one of sm_75, sm_90,\n# on amd64;\n# or one of sm_90,\n# on arm64 (" in text


@pytest.mark.parametrize(
    ("declared", "cc", "runs"),
    [
        ("sm_100f", 101, False),
        ("sm_101f", 103, False),
        ("sm_101f", 101, True),
        ("sm_100f", 103, True),
    ],
)
def test_thors_10_1_is_a_family_of_its_own(declared: str, cc: int, runs: bool) -> None:
    """sm_100f code runs on 10.0 and 10.3, the devices the guide names; Thor's 10.1 (CUDA
    12.x's name for sm_110) is sm_101f's family. Before: sm_100f covered 10.1 too."""
    from mlenv.cuda.versions import runs_on

    assert runs_on(declared, cc) is runs
