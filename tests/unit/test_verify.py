"""`verify` over locks built in code: every finding, positive and negative, with exact codes."""

from __future__ import annotations

import dataclasses

import pytest

from mlenv.judge import Judged, compute_capability_arch, verify_lock
from mlenv.lockfile import Lock, LockedPlatform
from tests.support.locks import HASH, codes, locked, make_lock

Pkg = tuple[str, str] | tuple[str, str, str | None]


TORCH_13 = [
    locked("torch", "2.14.1", "13.0"),
    locked("nvidia-cublas", "13.1.1.3", "13.0"),
    locked("nvidia-cuda-runtime", "13.0.96", "13.0"),
    locked("nvidia-cudnn-cu13", "9.24.0.43", "13.x"),
    locked("filelock", "3.20.0"),
]

CASES: list[tuple[str, Lock, Judged | None, list[tuple[str, str, str]]]] = [
    ("cpu-only", make_lock([locked("numpy", "2.4.6")]), None, []),
    ("torch-cu124-matches", make_lock([locked("torch", "2.6.0+cu124")]), None, []),
    (
        "host-driver-too-old",
        make_lock([locked("torch", "2.6.0+cu124")]),
        Judged("535.104.05", "--driver"),
        [("error", "driver-below-toolkit", "")],
    ),
    (
        "torch-cu118-other-major",
        make_lock([locked("torch", "2.6.0+cu118")]),
        None,
        [("error", "cuda-major-mismatch", "torch")],
    ),
    (
        "torch-cu126-newer-minor",
        make_lock([locked("torch", "2.6.0+cu126")]),
        None,
        [("error", "cuda-newer-minor", "torch")],
    ),
    (
        "torch-cu126-driver-high-enough",
        make_lock([locked("torch", "2.6.0+cu126")]),
        Judged("560.28.03", "--driver"),
        [],
    ),
    (
        "cupy-cuda11x",
        make_lock([locked("cupy-cuda11x", "13.3.0")]),
        None,
        [("error", "cuda-major-mismatch", "cupy-cuda11x")],
    ),
    ("cupy-cuda12x", make_lock([locked("cupy-cuda12x", "13.3.0")]), None, []),
    (
        "cublas-update-1-on-ga-driver",
        make_lock([locked("nvidia-cublas-cu12", "12.4.5.8")]),
        None,
        [("warning", "driver-minor-compat", "nvidia-cublas-cu12")],
    ),
    (
        "cublas-update-1-on-update-driver",
        make_lock([locked("nvidia-cublas-cu12", "12.4.5.8")]),
        Judged("550.54.15", "--driver"),
        [],
    ),
    (
        "runtime-newer-minor",
        make_lock([locked("nvidia-cuda-runtime-cu12", "12.6.77")]),
        None,
        [("error", "cuda-newer-minor", "nvidia-cuda-runtime-cu12")],
    ),
    (
        "cudnn-cu13-under-12",
        make_lock([locked("nvidia-cudnn-cu13", "9.24.0.43")]),
        None,
        [("error", "cuda-major-mismatch", "nvidia-cudnn-cu13")],
    ),
    (
        "jax-cuda12-under-13",
        make_lock([locked("jax-cuda12-plugin", "0.8.0")], "13.0", "580.65.06"),
        None,
        [("error", "cuda-major-mismatch", "jax-cuda12-plugin")],
    ),
    ("tensorrt-cu12", make_lock([locked("tensorrt-cu12", "10.13.3.9")]), None, []),
    ("dali-cuda120-older-minor", make_lock([locked("nvidia-dali-cuda120", "1.52.0")]), None, []),
    ("paddle-post120", make_lock([locked("paddlepaddle-gpu", "2.5.2.post120")]), None, []),
    (
        "paddle-post112",
        make_lock([locked("paddlepaddle-gpu", "2.5.2.post112")]),
        None,
        [("error", "cuda-major-mismatch", "paddlepaddle-gpu")],
    ),
    (
        "stub-package",
        make_lock([locked("nvidia-cublas-cu116", "0.0.1")]),
        None,
        [("error", "cuda-stub-package", "nvidia-cublas-cu116")],
    ),
    (
        "hand-edited-cuda-field",
        make_lock([locked("torch", "2.6.0+cu124", "12.6")]),
        None,
        [("error", "lock-cuda-mismatch", "torch")],
    ),
    (
        "recorded-need-other-major",
        make_lock([locked("torch", "2.14.1", "13.0")]),
        None,
        [("error", "cuda-major-mismatch", "torch")],
    ),
    (
        "recorded-need-unreadable",
        make_lock([locked("torch", "2.14.1", "thirteen")]),
        None,
        [("error", "lock-cuda-unreadable", "torch")],
    ),
    (
        "bad-sha256",
        make_lock([locked("numpy", "2.4.6", sha256="")]),
        None,
        [("error", "artifact-no-sha256", "numpy")],
    ),
    (
        "zero-size",
        make_lock([locked("numpy", "2.4.6", size=0)]),
        None,
        [("error", "artifact-no-size", "numpy")],
    ),
    (
        "cuda-builds-without-target",
        make_lock([locked("torch", "2.6.0+cu124")], None, None),
        None,
        [("warning", "cuda-undeclared", "")],
    ),
    ("no-target-cpu-only", make_lock([locked("numpy", "2.4.6")], None, None), None, []),
    (
        "host-gpu-dropped-by-cuda-13",
        make_lock(TORCH_13, "13.0", "580.95.05"),
        Judged("580.95.05", "MLENV_DRIVER_VERSION", ("sm_60",)),
        [("error", "arch-dropped", "")],
    ),
    (
        "host-gpu-supported",
        make_lock(TORCH_13, "13.0", "580.95.05"),
        Judged("580.95.05", "nvidia-smi", ("sm_86", "sm_90")),
        [],
    ),
    (
        "torch-13-below-driver",
        make_lock(TORCH_13, "13.0", "580.65.06"),
        Judged("575.57.08", "--driver"),
        [("error", "driver-below-toolkit", "")],
    ),
    (
        "torch-13-ga-driver-warns-for-update-2-cublas-and-cudart",
        make_lock(TORCH_13, "13.0", "580.65.06"),
        None,
        [
            ("warning", "driver-minor-compat", "nvidia-cublas"),
            ("warning", "driver-minor-compat", "nvidia-cuda-runtime"),
        ],
    ),
    (
        "recorded-requires-driver-edited",
        make_lock(TORCH_13, "13.0", "580.95.05", requires_driver="580.65.06"),
        None,
        [("error", "lock-driver-mismatch", "")],
    ),
    (
        "recorded-requires-driver-right",
        make_lock(TORCH_13, "13.0", "580.95.05", requires_driver="580.95.05"),
        None,
        [],
    ),
    (
        "flash-attn-major-only-tag",
        make_lock([locked("flash-attn", "2.8.3+cu12torch2.8cxx11abiTRUE")]),
        None,
        [],
    ),
    (
        "unknown-cuda-tag",
        make_lock([locked("torch", "2.6.0+cu127")]),
        None,
        [("error", "cuda-unknown", "torch")],
    ),
    (
        "several-problems-at-once",
        make_lock([locked("torch", "2.6.0+cu118"), locked("cupy-cuda11x", "13.3.0")]),
        Judged("530.30.02", "--driver"),
        [
            ("error", "driver-below-toolkit", ""),
            ("error", "cuda-major-mismatch", "torch"),
            ("error", "cuda-major-mismatch", "cupy-cuda11x"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("lock", "judged", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_verify_case(
    lock: Lock, judged: Judged | None, expected: list[tuple[str, str, str]]
) -> None:
    verdict = verify_lock(lock, HASH, judged)
    assert codes(verdict) == expected
    assert verdict.ok is not any(severity == "error" for severity, _, _ in expected)


def test_stale_lock_is_a_finding_with_a_fix() -> None:
    verdict = verify_lock(make_lock([locked("numpy", "2.4.6")]), "sha256:" + "2" * 64, None)
    (finding,) = verdict.findings
    assert finding.code == "lock-stale"
    assert finding.hint == "run `mlenv lock` and commit the new lock"


def test_exact_messages_name_package_need_promise_and_fix() -> None:
    verdict = verify_lock(make_lock([locked("torch", "2.6.0+cu126")]), HASH, None)
    (finding,) = verdict.findings
    assert finding.message == (
        "torch 2.6.0+cu126 is built for CUDA 12.6, newer than the target CUDA 12.4; "
        "it needs driver 560.28.03 but the driver floor is 550.54.14"
    )
    assert finding.needs == "CUDA 12.6, driver >= 560.28.03"
    assert finding.promised == "CUDA 12.4, driver 550.54.14"
    assert finding.hint == (
        "use a build of torch for CUDA 12.4 or older, or raise the driver floor to 560.28.03; "
        "install torch from PyTorch's CUDA 12.4 index https://download.pytorch.org/whl/cu124 "
        "(builds tagged +cu124)"
    )


def test_major_mismatch_message() -> None:
    verdict = verify_lock(make_lock([locked("torch", "2.6.0+cu118")]), HASH, None)
    (finding,) = verdict.findings
    assert (
        finding.message == "torch 2.6.0+cu118 is built for CUDA 11.8, but the target is CUDA 12.4"
    )
    assert finding.hint == (
        "use a CUDA 12 build of torch, or target CUDA 11.x; install torch from PyTorch's CUDA "
        "12.4 index https://download.pytorch.org/whl/cu124 (builds tagged +cu124)"
    )


def test_required_driver_names_the_highest_need() -> None:
    verdict = verify_lock(make_lock(TORCH_13, "13.0", "580.65.06"), HASH, None)
    assert verdict.requires_driver == "580.95.05"


def test_judged_driver_replaces_the_floor_in_the_promise() -> None:
    lock = make_lock([locked("torch", "2.6.0+cu118")])
    verdict = verify_lock(lock, HASH, Judged("535.104.05", "--driver"))
    assert {f.promised for f in verdict.findings} == {"CUDA 12.4, driver 535.104.05"}


def test_lock_driver_mismatch_message() -> None:
    lock = make_lock(TORCH_13, "13.0", "580.95.05", requires_driver="580.65.06")
    (finding,) = verify_lock(lock, HASH, None).findings
    assert finding.message == (
        "the lock records requires-driver 580.65.06, but its packages need 580.95.05"
    )


@pytest.mark.parametrize(("cap", "arch"), [("8.6", "sm_86"), ("9.0", "sm_90"), ("12.0", "sm_120")])
def test_compute_capability_to_arch(cap: str, arch: str) -> None:
    assert compute_capability_arch(cap) == arch


def test_findings_do_not_depend_on_package_order() -> None:
    forward = make_lock(TORCH_13, "13.0", "580.65.06")
    backward = dataclasses.replace(
        forward, platforms=(LockedPlatform("linux-64", tuple(reversed(TORCH_13))),)
    )
    a = verify_lock(forward, HASH, Judged("575.57.08", "--driver"))
    b = verify_lock(backward, HASH, Judged("575.57.08", "--driver"))
    assert sorted(codes(a)) == sorted(codes(b))
    assert a.requires_driver == b.requires_driver


def test_wsl_package_without_a_reported_cuda_version_names_the_wsl_cuda_driver() -> None:
    """A lock with no CUDA target, a CUDA 13.0 build, on a WSL 2 host that reported no CUDA
    Version: Table 3's Windows column is N/A for 13.x, and the host was just probed, so the
    hint names the WSL 2 CUDA driver that did not load, not verify --host."""
    lock = make_lock([locked("torch", "2.9.0+cu130", "13.0")], cuda=None, floor=None)
    verdict = verify_lock(lock, HASH, Judged("581.57", "nvidia-smi", windows=True))
    (finding,) = [f for f in verdict.findings if f.severity == "error"]
    assert (finding.code, finding.package) == ("driver-unconfirmed", "torch")
    assert finding.hint.startswith("this WSL 2 host reported no CUDA Version")
    assert "where nvidia-smi prints" not in finding.hint
