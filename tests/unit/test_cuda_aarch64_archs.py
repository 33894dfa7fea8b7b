"""PyTorch's aarch64 (SBSA) CUDA wheels carry other GPU code than its x86_64 ones.

The judge read every torch wheel with x86_64's arch lists, so a g5g fleet (T4G, sm_75, on
Graviton) passed an aarch64 ``torch 2.9.0+cu128`` built for 8.0;9.0;10.0;12.0, which fails at
its first kernel. The wheel's platform tag now decides the machine, and ``framework_archs`` rows
with ``machine = aarch64`` hold for those builds alone.
"""

from __future__ import annotations

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.platforms import wheel_machines

X86 = "torch-2.9.0+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"
ARM = "torch-2.9.0+cu128-cp312-cp312-manylinux_2_28_aarch64.whl"


def _need(filename: str) -> PackageNeed:
    need = extract("torch", "2.9.0+cu128", filename)
    assert need is not None
    return PackageNeed.of_wheel("torch", "2.9.0+cu128", need, filename)


def _codes(need: PackageNeed, arch: str, machine: str = "") -> list[str]:
    target = CudaTarget(CudaVersion(12, 8), DriverVersion.parse("570.26"), (arch,), machine=machine)
    return [f"{f.severity}:{f.code}" for f in judge(target, [need])]


def test_the_machine_is_read_from_the_platform_tag() -> None:
    assert wheel_machines(ARM) == ("aarch64",)
    assert wheel_machines(X86) == ("x86_64",)
    legacy = "torch-2.5.1-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    assert wheel_machines(legacy) == ("aarch64",)
    assert wheel_machines("torch-2.5.1-cp312-cp312-linux_x86_64.whl") == ("x86_64",)
    assert wheel_machines("triton-3.0.0-py3-none-any.whl") == ()
    assert wheel_machines("torch-2.9.0-cp312-none-macosx_11_0_arm64.whl") == ()
    assert _need(ARM).machines == ("aarch64",)
    assert _need(X86).machines == ("x86_64",)


def test_a_t4_runs_the_x86_64_wheel_where_the_aarch64_build_of_it_fails() -> None:
    """Same GPU (sm_75), same torch release: x86_64's cu128 list keeps 7.0 and 7.5 (2.8 to
    2.10), aarch64's starts at 8.0."""
    assert _codes(_need(X86), "sm_75") == []
    assert _codes(_need(ARM), "sm_75") == ["error:arch-not-built"]
    (finding,) = judge(
        CudaTarget(CudaVersion(12, 8), DriverVersion.parse("570.26"), ("sm_75",)), [_need(ARM)]
    )
    assert "aarch64 CUDA 12.8 builds carry no code for sm_75" in finding.message
    assert "8.0;9.0;10.0;12.0" in finding.message
    assert "none of torch's aarch64 CUDA builds in mlenv's table carries code for sm_75" in (
        finding.hint
    )
    assert "x86_64 (linux-64) hosts" in finding.hint


def test_an_sm_86_gpu_runs_the_aarch64_sm_80_cubin() -> None:
    """NVIDIA: a cubin for X.y runs on X.z, z >= y: an A10G/L40S on ARM needs no sm_86 code."""
    assert _codes(_need(ARM), "sm_86") == []
    assert _codes(_need(ARM), "sm_89") == []


def test_one_host_is_judged_by_the_wheels_of_its_own_machine() -> None:
    """verify --host on an x86_64 T4 node of a lock for both machines: the aarch64 torch never
    runs there, so its list says nothing; on an aarch64 T4G node it does."""
    assert _codes(_need(ARM), "sm_75", machine="x86_64") == []
    assert _codes(_need(ARM), "sm_75", machine="aarch64") == ["error:arch-not-built"]
    assert _codes(_need(X86), "sm_61", machine="x86_64") == ["error:arch-not-built"]


def test_a_jetson_gpu_is_not_judged_against_an_sbsa_build_it_may_run() -> None:
    """Orin (8.7) is covered only by the sm_80 cubin, through binary compatibility across
    minors, which NVIDIA gives desktop GPUs, not Tegra: a warning, never a silent pass; the
    x86_64 wheel, which no Jetson installs, keeps its verdict."""
    assert _codes(_need(ARM), "sm_87") == ["warning:arch-not-judged"]
    assert _codes(_need(X86), "sm_87") == []
