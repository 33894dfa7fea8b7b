"""Attack 208: what the CUDA judge and host detection told a user after an aarch64 refusal.

1. A T4G (sm_75) fleet refused PyTorch's aarch64 ``torch 2.9.0+cu128`` was told to install a
   ``+cu128`` build from PyTorch's CUDA 12.8 index: the build it had just been refused.
2. A mixed fleet (T4 on x86_64, GH200 on aarch64) locking both platforms with
   ``[cuda] archs = ["sm_75", "sm_90"]`` was given no way to keep both.
3. An untagged aarch64 torch from PyTorch's cu124 index was called a CPU-only build outright.
4. nvidia-smi exiting 14 (infoROM is corrupted: a warning) had its complete answer thrown away.
5. ``host-arch-unknown`` told an R470 node, whose nvidia-smi cannot print compute_cap, to run
   with nvidia-smi on PATH.
"""

from __future__ import annotations

import pytest

from mlenv import host
from mlenv.cuda.cpufallback import CpuFallbackError
from mlenv.host_system import Said
from mlenv.host_text import Gpu
from mlenv.index import MemoryIndex
from mlenv.judge import Judged, verify_lock
from mlenv.lockfile import Lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cuda_verdicts import aarch64_arch_hint
from tests.support.fake_host import with_glibc
from tests.support.locks import HASH, locked, make_lock
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile

TAGS = {
    "linux-64": "cp311-cp311-manylinux_2_28_x86_64",
    "linux-aarch64": "cp311-cp311-manylinux_2_28_aarch64",
}
TORCH = [build_wheel("torch", "2.9.0+cu128", tag=tag) for tag in TAGS.values()]


def _lock(platforms: list[str], archs: list[str], *wheels: tuple[str, bytes]) -> Lock:
    text = (
        f'[environment]\nname = "x"\npython = "3.11"\nplatforms = {platforms!r}\n'
        f'[cuda]\nversion = "12.8"\ndriver-floor = "570.26"\narchs = {archs!r}\n'
        '[pypi]\nindex-url = "https://torch.invalid/simple"\n'
        'dependencies = ["torch==2.9.0+cu128"]\n'
    ).replace("'", '"')
    index = MemoryIndex("memory://torch", dict(wheels or TORCH))
    sources = Sources(index, ("memory://torch",), ())
    return lock_manifest(loads(text), sources, reporter=MemoryReporter())


def test_a_t4g_fleet_is_told_what_runs_sm_75_not_to_install_the_refused_build() -> None:
    """Input: linux-aarch64, archs sm_75, torch 2.9.0+cu128. Before: the hint said "install
    torch from PyTorch's CUDA 12.8 index ... (builds tagged +cu128)". Now: the table's rows say
    no aarch64 build carries sm_75 (they start at sm_80) and x86_64's do."""
    with pytest.raises(ResolutionError) as caught:
        _lock(["linux-aarch64"], ["sm_75"])
    hint = caught.value.hint or ""
    assert "download.pytorch.org" not in hint and "+cu128" not in hint, hint
    assert "none of torch's aarch64 CUDA builds in mlenv's table carries code for sm_75" in hint
    assert "(they start at sm_80)" in hint and "x86_64 (linux-64) hosts" in hint, hint


def test_a_release_of_the_same_machine_is_named_only_where_it_carries_the_gpu() -> None:
    """torch 2.7's aarch64 row says "a 2.9 or later release": true for an A100 (sm_80), never
    for a T4G, which no aarch64 release carries. Before: both were told to take 2.9."""
    assert "a 2.9 or later release" in aarch64_arch_hint("2.7.0+cu128", "sm_80")
    t4g = aarch64_arch_hint("2.7.0+cu128", "sm_75")
    assert "2.9" not in t4g and "x86_64 (linux-64) hosts" in t4g, t4g


def test_a_mixed_fleet_is_given_the_way_out_and_that_way_locks() -> None:
    """Input: linux-64 + linux-aarch64, archs sm_75 + sm_90 (T4 on x86_64, GH200 on aarch64).
    The two-machine lock locks (attack 207: a warning, the T4 kept to x86_64 nodes); an
    aarch64-only lock's refusal names that way out: lock both platforms."""
    both = _lock(["linux-64", "linux-aarch64"], ["sm_75", "sm_90"])
    assert [p.version for p in both.platform("linux-aarch64").packages] == ["2.9.0+cu128"]
    with pytest.raises(ResolutionError) as caught:
        _lock(["linux-aarch64"], ["sm_75", "sm_90"])
    assert "a fleet of both machines locks both platforms" in (caught.value.hint or "")


CU124 = "https://download.pytorch.org/whl/cu124"
UNTAGGED = [
    build_wheel("torch", "2.5.1", tag=TAGS["linux-aarch64"], requires_dist=["filelock"]),
    build_wheel("torch", "2.5.1+cu124", tag=TAGS["linux-64"]),
    build_wheel("filelock", "3.20.0"),
]


def _fallback(index_url: str, extra: str = "") -> str:
    text = (
        '[environment]\nname = "x"\npython = "3.11"\nplatforms = ["linux-aarch64"]\n'
        f'[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n{extra}'
        f'[pypi]\nindex-url = "{index_url}"\ndependencies = ["torch==2.5.1"]\n'
    )
    sources = Sources(MemoryIndex(index_url, dict(UNTAGGED)), (index_url,), ())
    with pytest.raises(CpuFallbackError) as caught:
        lock_manifest(loads(text), sources, reporter=MemoryReporter())
    (problem,) = caught.value.problems
    return f"{problem.message}\nhint: {problem.hint}"


def test_an_untagged_torch_from_a_cuda_index_is_not_called_cpu_only() -> None:
    """Input: aarch64 torch 2.5.1 (no +cu124) served by PyTorch's cu124 index. Before: "is a
    CPU-only build without CUDA". Now: it names no CUDA, came from the index mlenv names for
    CUDA 12.4 builds, and cpu-ok is the way to lock it as it is."""
    said = _fallback(CU124)
    assert "is a CPU-only" not in said, said
    assert "names no CUDA (no local version tag, no CUDA library in its Requires-Dist)" in said
    assert f"it came from {CU124}, the index mlenv names for CUDA 12.4 builds of torch" in said
    assert 'if it is the CUDA build you want, add "torch" to [cuda] cpu-ok' in said, said


def test_the_same_wheel_from_another_index_is_still_a_cpu_build() -> None:
    """The index names no CUDA: nothing says the untagged wheel is anything but a CPU build."""
    said = _fallback("https://mirror.invalid/simple")
    assert "is a CPU-only build without CUDA for linux-aarch64" in said, said
    assert "the index mlenv names" not in said, said


def test_cpu_ok_on_an_untagged_build_is_verified_without_calling_it_cpu_only() -> None:
    """The same wheel locked with cpu-ok: verify says what mlenv knows of it, not "CPU-only"."""
    lock = make_lock([locked("torch", "2.5.1", cpu_ok=True)], "12.4", "550.54.14")
    (finding,) = [f for f in verify_lock(lock, HASH, None).findings if f.code == "cpu-build"]
    assert "names no CUDA and is locked as a CPU build" in finding.message, finding.message
    assert "checks neither its CUDA nor its GPU code" in finding.message


# NVIDIA's GPU Operator troubleshooting, "infoROM is corrupted (nvidia-smi return code 14)":
# nvidia-smi prints its whole table and this warning; the query answers alike (a V100 here, on
# a driver whose nvidia-smi has compute_cap)
WARNING = "WARNING: infoROM is corrupted at gpu 0000:0B:00.0\n"
QUERY = "535.183.01, 7.0, Tesla V100-PCIE-16GB\n" + WARNING
BANNER = (
    "| NVIDIA-SMI 535.183.01   Driver Version: 535.183.01   CUDA Version: 12.2     |\n"
    "|   0  Tesla V100-PCIE...  On   | 00000000:0B:00.0 Off |                    0 |\n" + WARNING
)


def test_an_inforom_warning_keeps_nvidia_smis_answer() -> None:
    """Input: no module file, nvidia-smi exiting 14 with its answer and the warning. Before:
    no driver, no GPU, no CUDA (verify cannot judge). Now: all three, and the warning said."""
    machine = with_glibc()
    machine.failures[host.SMI_QUERY_ARGV] = Said(14, QUERY, "")
    machine.failures[host.SMI_BANNER_ARGV] = Said(14, BANNER, "")
    facts = host.detect(machine)
    assert facts.driver == "535.183.01"
    assert facts.gpus == (Gpu("Tesla V100-PCIE-16GB", "7.0", "535.183.01"),)
    assert facts.cuda_driver_version == "12.2"
    assert any("infoROM is corrupted" in p.detail and p.ok for p in facts.probes), facts.probes


def test_another_failing_exit_still_throws_its_output_away() -> None:
    """Exit 15 (the GPU fell off the bus) is no warning: its text is not read as an answer."""
    machine = with_glibc()
    machine.failures[host.SMI_QUERY_ARGV] = Said(15, QUERY, "")
    machine.failures[host.SMI_BANNER_ARGV] = Said(15, BANNER, "")
    facts = host.detect(machine)
    assert (facts.driver, facts.gpus) == (None, ())


def test_exit_14_with_nothing_but_the_warning_is_no_answer() -> None:
    machine = with_glibc()
    machine.failures[host.SMI_QUERY_ARGV] = Said(14, WARNING, "")
    assert host.detect(machine).gpus == ()


def test_host_arch_unknown_names_what_works_on_r470() -> None:
    """Input: a host whose GPUs report no compute capability (nvidia-smi of R470 has no
    compute_cap). Before: "run with nvidia-smi on PATH". Now: the override first, why
    nvidia-smi cannot say it there, and where NVIDIA lists each GPU's value."""
    lock = make_lock([locked("torch", "2.6.0+cu124", cuda="12.4")], "12.4", "550.54.14")
    judged = Judged("550.54.14", "host", (), "no probe listed the host's GPUs")
    (finding,) = [
        f for f in verify_lock(lock, HASH, judged).findings if f.code == "host-arch-unknown"
    ]
    assert finding.hint.startswith("set MLENV_GPU_COMPUTE_CAP to each GPU's compute capability")
    assert "R470 and older" in finding.hint and "developer.nvidia.com/cuda-gpus" in finding.hint
