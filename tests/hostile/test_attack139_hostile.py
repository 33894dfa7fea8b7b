"""Attack 139: ARM server GPU fleets (Grace Hopper GH200, Grace Blackwell GB200: sbsa aarch64
with data-center GPUs) and mixed x86_64 + aarch64 fleets, from real PyPI requirement sets.

The wheels here copy real ones: their file names (tags) and Requires-Dist lines are those PyPI
serves (read 2026-12-06 from each file's METADATA). PyPI's torch 2.5.1 aarch64 wheel
(``torch-2.5.1-cp311-cp311-manylinux2014_aarch64.whl``) is a CPU-only build: it carries the
x86_64 wheel's CUDA library lines, each gated by ``platform_machine == "x86_64"``, so on a
GH200 node uv and pip install torch without any CUDA library and ``torch.cuda`` finds no GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlenv.cuda.cpufallback import CpuFallbackError
from mlenv.index import MemoryIndex
from mlenv.lockfile import Lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads as load_manifest
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

X86 = "cp311-cp311-manylinux1_x86_64"
ARM = "cp311-cp311-manylinux2014_aarch64"
_LINUX_X86 = 'platform_system == "Linux" and platform_machine == "x86_64"'
# torch 2.5.1's own Requires-Dist, on both of its Linux wheels (the CUDA lines shortened to three)
TORCH_251 = [
    "filelock",
    f"nvidia-cuda-runtime-cu12==12.4.127; {_LINUX_X86}",
    f"nvidia-cublas-cu12==12.4.5.8; {_LINUX_X86}",
    f"nvidia-nvjitlink-cu12==12.4.127; {_LINUX_X86}",
]
NVIDIA = [
    ("nvidia-cuda-runtime-cu12", "12.4.127"),
    ("nvidia-cublas-cu12", "12.4.5.8"),
    ("nvidia-nvjitlink-cu12", "12.4.127"),
]
WHEELS = [
    build_wheel("torch", "2.5.1", tag=X86, requires_dist=TORCH_251),
    build_wheel("torch", "2.5.1", tag=ARM, requires_dist=TORCH_251),
    *(
        build_wheel(name, version, tag=f"py3-none-manylinux2014_{machine}")
        for name, version in NVIDIA
        for machine in ("x86_64", "aarch64")
    ),
    build_wheel("filelock", "3.20.0"),
]


def manifest(platforms: str, extra: str = "") -> str:
    return (
        f'[environment]\nname = "gh200"\npython = "3.11"\nplatforms = {platforms}\n'
        f'[cuda]\nversion = "12.4"\ndriver-floor = "550.54.15"\n{extra}'
        '[pypi]\nindex-url = "https://pypi.invalid/simple"\ndependencies = ["torch==2.5.1"]\n'
    )


def lock(text: str, reporter: MemoryReporter | None = None) -> Lock:
    index = MemoryIndex("memory://pypi", dict(WHEELS))
    sources = Sources(index, ("memory://pypi",), ())
    return lock_manifest(load_manifest(text), sources, reporter=reporter or MemoryReporter())


@pytest.mark.parametrize(
    "platforms", ['["linux-aarch64"]', '["linux-64", "linux-aarch64"]'], ids=["gh200", "mixed"]
)
def test_a_cpu_only_aarch64_torch_is_no_silent_fallback_on_a_cuda_arm_fleet(
    platforms: str,
) -> None:
    """A CUDA 12.4 fleet of GH200 nodes (alone, or beside x86_64 ones) was locked PyPI's
    CPU-only aarch64 torch 2.5.1 without a word: its CUDA lines hold on x86_64 only, so the
    wheel needs no CUDA on aarch64 and is no CUDA build there. The design's rule is no silent
    CPU fallback: the lock is refused, naming the platform and the x86_64-only CUDA lines."""
    with pytest.raises(CpuFallbackError) as caught:
        lock(manifest(platforms))
    (problem,) = caught.value.problems
    assert problem.where == "torch"
    assert "torch 2.5.1 (torch-2.5.1-cp311-cp311-manylinux2014_aarch64.whl)" in problem.message
    assert "CPU-only build without CUDA for linux-aarch64" in problem.message
    assert "CUDA libraries on x86_64 only" in problem.message
    assert problem.hint is not None and "cpu-ok" in problem.hint


def test_cpu_ok_takes_the_aarch64_cpu_build_on_purpose_and_x86_64_stays_cuda() -> None:
    """With ``cpu-ok = ["torch"]`` the mixed fleet locks as uv does: the x86_64 torch is a
    CUDA 12.4 build pulling the nvidia-*-cu12 wheels, the aarch64 one a CPU build, marked."""
    reporter = MemoryReporter()
    locked = lock(manifest('["linux-64", "linux-aarch64"]', 'cpu-ok = ["torch"]\n'), reporter)
    x86 = locked.platform("linux-64").by_name()
    arm = locked.platform("linux-aarch64").by_name()
    assert (x86["torch"].cuda, x86["torch"].cpu_ok) == ("12.4", False)
    assert (arm["torch"].cuda, arm["torch"].cpu_ok) == (None, True)
    assert sorted(x86) == ["filelock", *sorted(n for n, _ in NVIDIA), "torch"]
    assert sorted(arm) == ["filelock", "torch"]
    warnings = [text for kind, text in reporter.events if kind == "warning"]
    assert any("linux-aarch64" in w and "allowed by [cuda] cpu-ok" in w for w in warnings)


def test_an_aarch64_cuda_build_from_requires_dist_is_no_fallback() -> None:
    """PyPI's torch 2.9+ aarch64 wheels are CUDA builds by unmarked Requires-Dist lines (as
    the x86_64 ones): no fallback, the same CUDA on both machines."""
    unmarked = [line.split(";")[0] for line in TORCH_251]
    wheels = [
        *(w for w in WHEELS if not w[0].startswith("torch-")),
        build_wheel("torch", "2.5.1", tag=X86, requires_dist=unmarked),
        build_wheel("torch", "2.5.1", tag=ARM, requires_dist=unmarked),
    ]
    index = MemoryIndex("memory://pypi", dict(wheels))
    sources = Sources(index, ("memory://pypi",), ())
    text = manifest('["linux-64", "linux-aarch64"]')
    locked = lock_manifest(load_manifest(text), sources, reporter=MemoryReporter())
    for platform in ("linux-64", "linux-aarch64"):
        torch = locked.platform(platform).by_name()["torch"]
        assert (torch.cuda, torch.cpu_ok) == ("12.4", False)


# onnxruntime-gpu 1.31.1's own Requires-Dist (both Linux wheels): CUDA 13 through extras
ORT_1311 = [
    "flatbuffers",
    "numpy>=1.21.6",
    'nvidia-cuda-runtime~=13.0; extra == "cuda"',
    'nvidia-cudnn-cu13~=9.0; extra == "cudnn"',
]


@pytest.mark.parametrize(
    ("floor", "tag", "glibc"),
    [
        ("2.28", "cp311-cp311-manylinux_2_34_aarch64", "2.34"),  # onnxruntime-gpu 1.29-1.31
        ("2.17", "cp311-abi3-manylinux_2_28_aarch64", "2.28"),  # an abi3 wheel, a CentOS 7 floor
    ],
)
def test_an_aarch64_wheel_above_the_glibc_floor_is_refused_for_its_glibc(
    floor: str, tag: str, glibc: str
) -> None:
    """PyPI's onnxruntime-gpu 1.29 to 1.31.1 ship aarch64 wheels tagged manylinux_2_34 only
    (uv: "wheels are available ... manylinux_2_34_aarch64"); a GH200 fleet on the default
    glibc 2.28 floor was told "no wheel for the target's tags", as for a wheel of another
    machine, hiding that the fix is ``[environment] glibc``. The refusal names the glibc."""
    wheels = [
        build_wheel("onnxruntime-gpu", "1.31.1", tag=tag, requires_dist=ORT_1311),
        build_wheel("onnxruntime-gpu", "1.31.1", tag=X86.replace("manylinux1", "manylinux_2_28")),
    ]
    index = MemoryIndex("memory://pypi", dict(wheels))
    text = (
        f'[environment]\nname = "gh200"\npython = "3.11"\nplatforms = ["linux-aarch64"]\n'
        f'glibc = "{floor}"\n[pypi]\nindex-url = "https://pypi.invalid/simple"\n'
        'dependencies = ["onnxruntime-gpu"]\n'
    )
    sources = Sources(index, ("memory://pypi",), ())
    with pytest.raises(ResolutionError) as caught:
        lock_manifest(load_manifest(text), sources, reporter=MemoryReporter())
    message = caught.value.render() if hasattr(caught.value, "render") else str(caught.value)
    assert f"refused: 1.31.1: built for glibc {glibc}, above [environment] glibc {floor}" in message


def _other_machine() -> tuple[str, str, str]:
    """This machine's ``uname -m``, and the platform (and machine) it is not."""
    here = os.uname().machine
    other = "linux-aarch64" if here == "x86_64" else "linux-64"
    return here, other, "aarch64" if other == "linux-aarch64" else "x86_64"


def test_verify_host_refuses_a_node_whose_machine_the_lock_has_no_build_for(
    tmp_path: Path,
) -> None:
    """`verify --host`, "the check on a GPU node before deploy", said OK on an x86_64 node for
    a lock made for GH200 nodes only (and on a GH200 node for an x86_64-only lock): the driver
    and CUDA were judged, but none of the lock's wheels can run on the node's machine. Real
    `uname -m` of this machine, a lock for the other one: the verdict is an error."""
    here, other, other_machine = _other_machine()
    wheels = [
        build_wheel("fastmath", "1.0", tag=f"cp311-cp311-manylinux_2_17_{other_machine}"),
        build_wheel("nvidia-cuda-runtime-cu12", "12.4.127", tag="py3-none-any"),
    ]
    url = write_simple_index(tmp_path / "www", wheels)
    (tmp_path / "mlenv.toml").write_text(
        f'[environment]\nname = "gh"\npython = "3.11"\nplatforms = ["{other}"]\n'
        '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.15"\n'
        f'[pypi]\nindex-url = "{url}"\n'
        'dependencies = ["fastmath", "nvidia-cuda-runtime-cu12==12.4.127"]\n'
    )
    env = {
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "MLENV_DRIVER_VERSION": "570.124.06",
        "MLENV_GPU_COMPUTE_CAP": "9.0",
    }
    locked = run_mlenv(["lock"], tmp_path, env)
    assert locked.returncode == 0, locked.stderr
    floor = run_mlenv(["verify"], tmp_path, env)
    assert floor.returncode == 0, floor.stderr  # no host: the lock itself is sound
    done = run_mlenv(["verify", "--host"], tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "host-platform" in out
    assert f"this host is {here}" in out and other in out


def test_verify_nodes_fails_a_gh200_node_for_an_x86_64_only_lock() -> None:
    """A mixed Kubernetes cluster: kubelet labels each node ``kubernetes.io/arch`` (GOARCH:
    amd64, arm64). A GH200 node (arm64, an H100-class GPU, CC 9.0, a new enough driver) was
    judged "ok" for a linux-64 lock, whose wheels cannot run on it; it fails now, and the x86_64
    node beside it, or one without the label, is judged as before."""
    from mlenv.nodes import Node, judge_nodes
    from mlenv.selector import parse
    from tests.support.locks import locked, make_lock

    lock = make_lock([locked("nvidia-cuda-runtime-cu12", "12.4.127", "12.4")])
    gpu = {
        "nvidia.com/cuda.driver-version.major": "570",
        "nvidia.com/cuda.driver-version.minor": "124",
        "nvidia.com/cuda.driver-version.revision": "06",
        "nvidia.com/cuda.driver-version.full": "570.124.06",
        "nvidia.com/gpu.compute.major": "9",
        "nvidia.com/gpu.compute.minor": "0",
    }
    nodes = [
        Node("gh200-0", {**gpu, "kubernetes.io/arch": "arm64"}),
        Node("h100-0", {**gpu, "kubernetes.io/arch": "amd64"}),
        Node("unlabelled-0", gpu),
    ]
    verdicts = {v.node: v for v in judge_nodes(lock, (), nodes, parse(""))}
    assert verdicts["h100-0"].status == "ok" and verdicts["unlabelled-0"].status == "ok"
    arm = verdicts["gh200-0"]
    assert arm.status == "fail"
    (finding,) = arm.findings
    assert finding.code == "node-platform"
    assert "arm64" in finding.message and "linux-64" in finding.message
