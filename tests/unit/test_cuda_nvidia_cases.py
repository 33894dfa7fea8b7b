"""CUDA judgments checked against NVIDIA's published facts, one case per fact.

Each test names the NVIDIA source the expected value comes from; a change of mlenv's data or
rules that disagrees with NVIDIA fails here.
"""

from __future__ import annotations

import pytest

from mlenv.cuda.matrix import known_cuda_versions, min_driver, table3_driver
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion

# CUDA Toolkit Release Notes, Table 3 "CUDA Toolkit and Corresponding Driver Versions", rows
# for 9.2 back to 7.0 (Linux x86_64): the GA row of each minor.
PRE_10_GA = [
    ("7.0", "346.46"),
    ("7.5", "352.31"),
    ("8.0", "367.48"),
    ("9.0", "384.81"),
    ("9.1", "390.46"),
    ("9.2", "396.26"),
]


@pytest.mark.parametrize(("cuda", "driver"), PRE_10_GA)
def test_pre_10_toolkits_have_their_table_3_driver(cuda: str, driver: str) -> None:
    """NVIDIA CUDA Toolkit Release Notes, Table 3 (rows 9.2 back to 7.0, as quoted by the
    copies named in mlenv/data/cuda.json and by uv's LINUX_CUDA_DRIVERS): protects against
    calling CUDA 9.2 (torch+cu92, cupy-cuda92) "not a known CUDA release"."""
    assert min_driver(CudaVersion.parse(cuda)) == DriverVersion.parse(driver)
    assert CudaVersion.parse(cuda) in known_cuda_versions()


def test_cuda_9_2_update_1_needs_its_own_driver() -> None:
    """Table 3: CUDA 9.2 (9.2.148 Update 1) >= 396.37, CUDA 9.2 (9.2.88) >= 396.26; protects
    the update-level lookup for releases before CUDA 10."""
    cuda = CudaVersion(9, 2)
    assert table3_driver(cuda) == (DriverVersion.parse("396.26"), "CUDA 9.2 (9.2.88)")
    assert table3_driver(cuda, "9.2.148") == (
        DriverVersion.parse("396.37"),
        "CUDA 9.2 (9.2.148 Update 1)",
    )


def test_cuda_8_0_ga2_needs_its_own_driver() -> None:
    """Table 3: CUDA 8.0 (8.0.61 GA2) >= 375.26 and CUDA 8.0 (8.0.44) >= 367.48."""
    assert table3_driver(CudaVersion(8, 0), "8.0.61") == (
        DriverVersion.parse("375.26"),
        "CUDA 8.0 (8.0.61 GA2)",
    )


def _codes(cuda: str, driver: str, packages: tuple[tuple[str, str], ...]) -> list[str]:
    needs = []
    for name, version in packages:
        need = extract(name, version)
        assert need is not None
        needs.append(PackageNeed(name, version, need))
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver))
    return [f"{finding.severity}:{finding.code}" for finding in judge(target, needs)]


def test_a_cu92_wheel_on_a_cuda_9_2_target_is_judged_by_table_3() -> None:
    """Table 3 (CUDA 9.2 >= 396.26) and PyTorch's +cu92 local tag (uv cuda_version(): cu92 is
    9.2): protects a cu92 build from the 'not a known CUDA release' error, and a driver below
    396.26 from passing."""
    torch = (("torch", "1.7.1+cu92"),)
    assert _codes("9.2", "396.26", torch) == []
    assert _codes("9.2", "390.46", torch) == ["error:driver-below-toolkit"]


def test_before_cuda_11_there_is_no_minor_version_floor() -> None:
    """CUDA Compatibility guide, minor version compatibility applies "from CUDA 11 onwards":
    a CUDA 9.2 build on a CUDA 9.0 driver is refused, never a minor-compat warning."""
    codes = _codes("9.0", "384.81", (("torch", "1.4.0+cu92"),))
    assert codes == ["error:cuda-newer-minor"]


def test_cuda_releases_nvidia_never_shipped_stay_unknown() -> None:
    """Table 3 has no CUDA 9.3 or 12.7 row (NVIDIA released neither): still unknown."""
    for cuda in ("9.3", "12.7"):
        with pytest.raises(CudaError, match=f"CUDA {cuda} is not a known CUDA release"):
            min_driver(CudaVersion.parse(cuda))


def test_archs_of_a_cuda_without_architecture_data_are_refused_not_passed() -> None:
    """Table 3 makes CUDA 9.2 a known release, but mlenv holds no sm_XX list for CUDA 9.x
    (CUDA 11.0 added sm_80, per the CMake lists in shared/reference/cuda.md §6): protects
    against passing sm_80 on a CUDA 9.2 target unchecked."""
    target = CudaTarget(CudaVersion(9, 2), DriverVersion.parse("396.26"), ("sm_80",))
    (finding,) = judge(target, [])
    assert (finding.severity, finding.code, finding.needs) == ("error", "arch-unchecked", "sm_80")
    assert finding.message == (
        "mlenv has no GPU architecture data for CUDA 9.x, so sm_80 cannot be checked"
    )
    assert finding.hint == "target CUDA 10.0 or newer, whose GPU architectures are known"
