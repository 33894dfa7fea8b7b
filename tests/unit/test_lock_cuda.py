"""The CUDA rules inside `lock`: variant preference, refused builds, and what the lock records."""

from __future__ import annotations

import pytest

from mlenv.errors import ManifestError
from mlenv.index import MemoryIndex
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.wheels import build_wheel

TORCH_TAG = "cp311-cp311-manylinux_2_28_x86_64"
VARIANTS = MemoryIndex(
    "memory://torch",
    dict(
        [
            build_wheel("torch", "2.6.0+cpu", tag=TORCH_TAG),
            build_wheel("torch", "2.6.0+cu118", tag=TORCH_TAG),
            build_wheel("torch", "2.6.0+cu124", tag=TORCH_TAG),
            build_wheel("torch", "2.6.0+cu126", tag=TORCH_TAG),
        ]
    ),
)


def manifest(cuda: str | None, floor: str | None, deps: str = '"torch==2.6.0"') -> str:
    table = f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n' if cuda else ""
    return (
        f'[environment]\nname = "x"\npython = "3.11"\n{table}'
        f'[pypi]\nindex-url = "https://torch.invalid/simple"\ndependencies = [{deps}]\n'
    )


def lock_with(text: str, index: MemoryIndex = VARIANTS, reporter: MemoryReporter | None = None):  # type: ignore[no-untyped-def]
    sources = Sources(index, ("memory://torch",), ())
    return lock_manifest(loads(text), sources, reporter=reporter or MemoryReporter())


@pytest.mark.parametrize(
    ("cuda", "floor", "picked"),
    [
        ("12.4", "550.54.14", "2.6.0+cu124"),  # the exact variant first
        ("11.8", "520.61.05", "2.6.0+cu118"),
        ("12.6", "560.28.03", "2.6.0+cu126"),
        ("12.1", "550.54.14", "2.6.0+cu124"),  # the driver runs 12.4: newest runnable CUDA build
    ],
)
def test_cuda_variant_preference(cuda: str, floor: str, picked: str) -> None:
    lock = lock_with(manifest(cuda, floor))
    (torch,) = lock.platform("linux-64").packages
    assert torch.version == picked


def test_lock_records_cuda_and_driver_per_package_and_in_the_head() -> None:
    lock = lock_with(manifest("12.4", "550.54.14"))
    (torch,) = lock.platform("linux-64").packages
    assert (torch.cuda, torch.requires_driver) == ("12.4", "550.54.14")
    assert lock.target.requires_driver == "550.54.14"
    assert lock.target.requires_driver_because == "target CUDA 12.4"


def test_newer_minor_raises_the_driver_the_lock_needs() -> None:
    lock = lock_with(manifest("12.1", "560.28.03", '"torch==2.6.0+cu126"'))
    assert lock.target.requires_driver == "560.28.03"
    assert lock.target.requires_driver_because == "torch 2.6.0+cu126 (CUDA 12.6 GA)"


def test_only_wrong_builds_fail_with_the_cuda_hint() -> None:
    with pytest.raises(ResolutionError) as info:
        lock_with(manifest("12.4", "550.54.14", '"torch==2.6.0+cu118"'))
    assert "torch 2.6.0+cu118 is built for CUDA 11.8, but the target is CUDA 12.4" in (
        info.value.message
    )
    assert info.value.hint is not None
    assert "https://download.pytorch.org/whl/cu124" in info.value.hint


def test_dependency_metadata_reveals_cuda_of_an_untagged_wheel() -> None:
    index = MemoryIndex(
        "memory://torch",
        dict(
            [
                build_wheel("torch", "2.14.1", tag=TORCH_TAG, requires_dist=["nvidia-tool"]),
                build_wheel("nvidia-tool", "1.0"),
                build_wheel("nvidia-cublas", "13.1.1.3"),
            ]
        ),
    )
    # The untagged torch is fine by name; what it requires decides.
    text = manifest("12.4", "550.54.14", '"torch==2.14.1", "nvidia-cublas"')
    with pytest.raises(ResolutionError) as info:
        lock_with(text, index)
    assert "nvidia-cublas 13.1.1.3 is built for CUDA 13.0, but the target is CUDA 12.4" in (
        info.value.message
    )


def test_architecture_dropped_by_the_target_fails_before_resolving() -> None:
    """cuda.archs is judged when the manifest is read: no index is ever asked."""
    text = manifest("13.0", "580.65.06", '"torch==2.6.0+cpu"').replace(
        'driver-floor = "580.65.06"', 'driver-floor = "580.65.06"\narchs = ["sm_60", "sm_80"]'
    )
    with pytest.raises(ManifestError) as info:
        lock_with(text, MemoryIndex("memory://empty", {}))
    (problem,) = info.value.problems
    assert problem.where == "mlenv.toml: [cuda].archs[0]"
    assert problem.message == "CUDA 13.x does not support sm_60; its oldest architecture is sm_75"


def test_warnings_reach_the_reporter() -> None:
    index = MemoryIndex("memory://torch", dict([build_wheel("nvidia-cublas-cu12", "12.4.5.8")]))
    reporter = MemoryReporter()
    lock = lock_with(manifest("12.4", "550.54.14", '"nvidia-cublas-cu12"'), index, reporter)
    (warning,) = reporter.messages("warning")
    assert warning.startswith("nvidia-cublas-cu12 12.4.5.8 uses CUDA 12.4.1")
    assert lock.target.requires_driver == "550.54.15"


def test_cuda_builds_without_a_cuda_table_warn() -> None:
    reporter = MemoryReporter()
    lock = lock_with(manifest(None, None, '"torch==2.6.0+cu124"'), reporter=reporter)
    assert lock.target.requires_driver is None
    (warning,) = reporter.messages("warning")
    assert "torch (CUDA 12.4)" in warning and "no [cuda]" in warning
