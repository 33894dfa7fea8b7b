"""No silent CPU fallback: a CUDA target never quietly locks a CPU-only build (issue 13)."""

from __future__ import annotations

import pytest

from mlenv.cuda.cpufallback import NOT_CHOSEN, CpuFallbackError
from mlenv.cuda.tags import is_cpu_variant
from mlenv.export import pylock_toml, requirements_txt
from mlenv.index import MemoryIndex
from mlenv.lockfile_fresh import inputs_hash
from mlenv.lockfile_read import loads
from mlenv.lockfile_render import render
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads as load_manifest
from mlenv.report import MemoryReporter
from tests.support.wheels import build_wheel

X86 = "cp311-cp311-manylinux_2_28_x86_64"
ARM = "cp311-cp311-manylinux_2_28_aarch64"
CUDA_DEPS = ["nvidia-cuda-runtime-cu12==12.4.127", "nvidia-cublas-cu12==12.4.5.8"]


def manifest(deps: str, cuda: str = "12.1", floor: str = "530.30.02", extra: str = "") -> str:
    return (
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n{extra}'
        f'[pypi]\nindex-url = "https://torch.invalid/simple"\ndependencies = [{deps}]\n'
    )


def lock(text: str, *wheels: tuple[str, bytes], reporter: MemoryReporter | None = None):  # type: ignore[no-untyped-def]
    index = MemoryIndex("memory://torch", dict(wheels))
    sources = Sources(index, ("memory://torch",), ())
    return lock_manifest(load_manifest(text), sources, reporter=reporter or MemoryReporter())


TORCH = [
    build_wheel("torch", "2.6.0+cpu", tag=X86),
    build_wheel("torch", "2.6.0+cu118", tag=X86),
    build_wheel("torch", "2.6.0+cu124", tag=ARM),  # listed first: the wrong file to explain
    build_wheel("torch", "2.6.0+cu124", tag=X86),
    build_wheel("torch", "2.6.0+cu126", tag=X86),
]


def test_every_cuda_variant_refused_is_an_error_listing_each_and_its_rule() -> None:
    """Was: CUDA 12.1 with driver 530 silently locked torch 2.6.0+cpu."""
    with pytest.raises(CpuFallbackError) as caught:
        lock(manifest('"torch==2.6.0"'), *TORCH)
    (problem,) = caught.value.problems
    assert problem.where == "torch"
    lines = problem.message.splitlines()
    assert lines[0] == (
        "torch 2.6.0+cpu (torch-2.6.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl) is a CPU-only "
        "+cpu build for linux-64, but the target is CUDA 12.1"
    )
    refused = {line.split(" (")[0].strip(): line.split("): ", 1)[1] for line in lines[1:]}
    assert list(refused) == ["refused 2.6.0+cu126", "refused 2.6.0+cu124", "refused 2.6.0+cu118"]
    # the x86_64 wheel's CUDA refusal, not "no wheel for the target's tags" from aarch64
    assert refused["refused 2.6.0+cu124"].startswith(
        "torch 2.6.0+cu124 is built for CUDA 12.4, newer than the target CUDA 12.1"
    )
    assert "is built for CUDA 11.8, but the target is CUDA 12.1" in refused["refused 2.6.0+cu118"]
    assert 'add "torch" to [cuda] cpu-ok' in (problem.hint or "")


def test_cpu_ok_allows_it_and_the_lock_records_it_byte_stably() -> None:
    reporter = MemoryReporter()
    text = manifest('"torch==2.6.0"', extra='cpu-ok = ["Torch"]\n')
    locked = lock(text, *TORCH, reporter=reporter)
    (torch,) = locked.platform("linux-64").packages
    assert (torch.version, torch.cpu_ok, torch.cuda) == ("2.6.0+cpu", True, None)
    assert any(w.endswith("allowed by [cuda] cpu-ok") for w in reporter.messages("warning"))
    rendered = render(locked)
    assert "\ncpu-ok = true\n" in rendered
    assert loads(rendered) == locked and render(loads(rendered)) == rendered
    assert "# torch 2.6.0+cpu is a CPU-only build ([cuda] cpu-ok)" in requirements_txt(
        locked, "linux-64"
    )
    assert "[packages.tool.mlenv]\ncpu-ok = true" in pylock_toml(locked)


def test_cpu_ok_is_an_input_only_when_used() -> None:
    """Existing manifests keep their inputs hash; naming cpu-ok makes a lock stale."""
    plain = load_manifest(manifest('"torch"'))
    opted = load_manifest(manifest('"torch"', extra='cpu-ok = ["torch"]\n'))
    assert "cpu-ok" not in str(plain.to_dict())
    assert inputs_hash(plain) != inputs_hash(opted)
    assert opted.cuda is not None and opted.cuda.cpu_ok == ("torch",)


def test_an_explicit_cpu_pin_needs_cpu_ok_too() -> None:
    """A +cpu pin copied from a CPU laptop looks the same as a deliberate one."""
    wheels = [build_wheel("torch", "2.6.0+cpu", tag=X86)]
    with pytest.raises(CpuFallbackError) as caught:
        lock(manifest('"torch==2.6.0+cpu"', "12.4", "550.54.14"), *wheels)
    (problem,) = caught.value.problems
    assert problem.message.splitlines()[1] == (
        "  the indexes hold no CUDA build of it: the requirements select this build"
    )
    text = manifest('"torch==2.6.0+cpu"', "12.4", "550.54.14", 'cpu-ok = ["torch"]\n')
    assert lock(text, *wheels).platform("linux-64").packages[0].cpu_ok


def test_plain_wheel_without_nvidia_requirements_is_a_cpu_fallback() -> None:
    """A torch wheel whose Requires-Dist names no nvidia-* library is a CPU build."""
    wheels = [
        build_wheel("torch", "2.6.0", tag=X86, requires_dist=["filelock"]),
        build_wheel("torch", "2.6.0+cu124", tag=X86),
        build_wheel("filelock", "3.20.0"),
    ]
    with pytest.raises(CpuFallbackError) as caught:
        lock(manifest('"torch"'), *wheels)
    (problem,) = caught.value.problems
    assert "is a CPU-only build without CUDA for linux-64" in problem.message
    assert "refused 2.6.0+cu124 (" in problem.message


def test_plain_wheel_with_cuda_requirements_is_not_a_fallback() -> None:
    """PyPI's torch declares CUDA through nvidia-* requirements: a CUDA build, no error."""
    wheels = [
        build_wheel("torch", "2.6.0", tag=X86, requires_dist=CUDA_DEPS),
        build_wheel("torch", "2.6.0+cu118", tag=X86),
        build_wheel("nvidia-cuda-runtime-cu12", "12.4.127", tag=X86),
        build_wheel("nvidia-cublas-cu12", "12.4.5.8", tag=X86),
    ]
    locked = lock(manifest('"torch"', "12.4", "550.54.14"), *wheels)
    torch = locked.platform("linux-64").by_name()["torch"]
    assert (torch.version, torch.cuda, torch.cpu_ok) == ("2.6.0", "12.4", False)


def test_other_non_cuda_variants_are_fallbacks_too() -> None:
    wheels = [build_wheel("torch", "2.6.0+rocm6.2", tag=X86)]
    with pytest.raises(CpuFallbackError, match=r"\+rocm6\.2 build"):
        lock(manifest('"torch"', "12.4", "550.54.14"), *wheels)


def test_a_refused_newer_cuda_release_makes_an_older_plain_wheel_a_fallback() -> None:
    wheels = [
        build_wheel("torch", "2.5.1", tag=X86),
        build_wheel("torch", "2.6.0+cu126", tag=X86),
    ]
    with pytest.raises(CpuFallbackError, match=r"refused 2\.6\.0\+cu126 "):
        lock(manifest('"torch"', "12.4", "550.54.14"), *wheels)


def test_a_cuda_build_passed_over_for_a_newer_cpu_release_is_a_fallback() -> None:
    """The CUDA 2.6.0 build runs on the target, but the newest release, 2.7.0, is CPU-only."""
    wheels = [
        build_wheel("torch", "2.7.0", tag=X86),
        build_wheel("torch", "2.6.0+cu124", tag=X86),
    ]
    with pytest.raises(CpuFallbackError) as caught:
        lock(manifest('"torch"', "12.4", "550.54.14"), *wheels)
    (problem,) = caught.value.problems
    assert problem.message.splitlines()[1] == (
        "  not chosen 2.6.0+cu124 (torch-2.6.0+cu124-cp311-cp311-manylinux_2_28_x86_64.whl): "
        f"{NOT_CHOSEN}"
    )
    pinned = lock(manifest('"torch<2.7"', "12.4", "550.54.14"), *wheels)
    assert pinned.platform("linux-64").packages[0].version == "2.6.0+cu124"


def test_cpu_packages_without_cuda_variants_are_not_fallbacks() -> None:
    locked = lock(manifest('"numpy"', "12.4", "550.54.14"), build_wheel("numpy", "2.4.6"))
    assert [p.cpu_ok for p in locked.platform("linux-64").packages] == [False]


def test_without_a_cuda_target_a_cpu_build_is_just_a_build() -> None:
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[pypi]\nindex-url = "https://torch.invalid/simple"\ndependencies = ["torch"]\n'
    )
    locked = lock(text, build_wheel("torch", "2.6.0+cpu", tag=X86))
    assert locked.platform("linux-64").packages[0].cpu_ok is False


@pytest.mark.parametrize(
    ("version", "cpu"),
    [
        ("2.6.0+cpu", True),
        ("2.5.1+cpu.cxx11.abi", True),
        ("2.6.0+rocm6.2", True),
        ("2.6.0+xpu", True),
        ("2.1.2+pt25cpu", True),
        ("2.6.0+cu124", False),
        ("2.6.0", False),
        ("1.0+internal", False),  # says nothing about the device
        ("2.1.2+pt25cu124", False),
    ],
)
def test_is_cpu_variant(version: str, cpu: bool) -> None:
    assert is_cpu_variant("torch", version) is cpu
