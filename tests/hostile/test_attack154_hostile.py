"""Attack 154: a pre-release of a PyTorch release that left Volta out of its CUDA 12.8 builds.

- ``framework_archs`` rows name releases by specifier (torch ``>=2.11``), and PEP 440 keeps
  a release's own pre-releases out of ``>=2.11`` (2.11.0rc1 < 2.11). torch 2.11.0rc1+cu128
  (download.pytorch.org/whl/test/cu128, the release branch's build, Volta already dropped)
  fell through to the row for every release (floor sm_70), and a V100 fleet passed it.
- The extras rule drops extras that name two CUDA majors ("built for neither"). With a GPU
  table row that ignores the index (PyPI's onnxruntime-gpu 1.27-1.31: CUDA 13), a mirror's
  CUDA 12 build of 1.28.0 with a ``cuda`` extra naming nvidia-*-cu12 was refused (attack 152),
  but the same build with one more extra naming CUDA 13 was read as the row says: CUDA 13,
  no conflict, and a CUDA 13 fleet passed it.
"""

from __future__ import annotations

import pytest

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion

MARKERS = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.12.3",
    "python_version": "3.12",
    "sys_platform": "linux",
}
MIRROR = "https://artifactory.corp.example/api/pypi/ort-gpu/simple/onnxruntime-gpu/"


def _arch_errors(name: str, version: str, archs: tuple[str, ...]) -> set[str]:
    filename = f"{name}-{version}-cp312-cp312-manylinux_2_28_x86_64.whl"
    need = extract(name, version, filename)
    assert need is not None
    target = CudaTarget(CudaVersion.parse("12.8"), DriverVersion.parse("570.26"), archs)
    found = judge(target, [PackageNeed(name, version, need)])
    return {f.code for f in found if f.severity == "error"}


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("torch", "2.11.0rc1+cu128"),
        ("torch", "2.11.0.dev20260110+cu128"),
        ("torchvision", "0.26.0rc2+cu128"),
        ("torchaudio", "2.11.0rc1+cu128"),
        ("torch", "2.7.0rc3+cu128"),
    ],
)
def test_prerelease_of_a_release_without_volta_refuses_a_v100_fleet(
    name: str, version: str
) -> None:
    assert "arch-not-built" in _arch_errors(name, version, ("sm_70",))
    assert "arch-not-built" not in _arch_errors(name, version, ("sm_75", "sm_90"))


@pytest.mark.parametrize("version", ["2.8.0rc1+cu128", "2.10.0.dev20251201+cu128"])
def test_prerelease_of_a_release_with_volta_still_runs_on_it(version: str) -> None:
    assert "arch-not-built" not in _arch_errors("torch", version, ("sm_70",))
    assert "arch-not-built" in _arch_errors("torch", version, ("sm_61",))


def test_a_decoy_extra_of_the_rows_major_does_not_hide_a_cuda_12_build() -> None:
    requires = [
        "coloredlogs",
        'nvidia-cuda-runtime-cu12~=12.0; extra == "cuda"',
        'nvidia-cuda-runtime~=13.0; extra == "cuda13"',
    ]
    filename = "onnxruntime_gpu-1.28.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    need = extract("onnxruntime-gpu", "1.28.0", filename, requires, MIRROR, MARKERS)
    assert need is not None and need.conflicts, need
    target = CudaTarget(CudaVersion.parse("13.0"), DriverVersion.parse("580.65.06"), ())
    found = judge(target, [PackageNeed("onnxruntime-gpu", "1.28.0", need)])
    assert "cuda-contradiction" in {f.code for f in found if f.severity == "error"}


def test_extras_of_the_rows_major_alone_still_pass() -> None:
    requires = [
        'nvidia-cuda-runtime~=13.0; extra == "cuda"',
        'nvidia-cudnn-cu13~=9.0; extra == "cudnn"',
    ]
    filename = "onnxruntime_gpu-1.28.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    need = extract("onnxruntime-gpu", "1.28.0", filename, requires, MIRROR, MARKERS)
    assert need is not None and need.cuda.major == 13 and not need.conflicts, need
