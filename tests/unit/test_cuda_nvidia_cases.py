"""CUDA judgments checked against NVIDIA's published facts, one case per fact.

Each test names the NVIDIA source the expected value comes from; a change of mlenv's data or
rules that disagrees with NVIDIA fails here.
"""

from __future__ import annotations

import pytest

from mlenv.cuda.matrix import min_driver, table3_driver
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.host_text import cuda_version_from_int


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


# Table 3 (13.2 Update 2 edition), Linux x86_64: (CUDA of the target, a driver just below the
# GA value, the GA value).
TABLE_3_GA = [
    ("11.8", "520.61.04", "520.61.05"),
    ("12.0", "525.60.12", "525.60.13"),
    ("12.4", "550.54.13", "550.54.14"),
    ("12.8", "570.25", "570.26"),
    ("12.9", "575.51.02", "575.51.03"),
    ("13.0", "580.65.05", "580.65.06"),
    ("13.2", "595.45.03", "595.45.04"),
]


@pytest.mark.parametrize(("cuda", "below", "ga"), TABLE_3_GA)
def test_the_target_toolkit_needs_its_table_3_driver(cuda: str, below: str, ga: str) -> None:
    """NVIDIA CUDA Toolkit Release Notes, Table 3 (https://docs.nvidia.com/cuda/archive/13.2.2/
    cuda-toolkit-release-notes/index.html): the GA driver runs the target, one below does not
    (mlenv's images carry NVIDIA_REQUIRE_CUDA=cuda>=X.Y, so the Table 3 value is the floor)."""
    assert _codes(cuda, ga, ()) == []
    assert _codes(cuda, below, ()) == ["error:driver-below-toolkit"]


def test_real_driver_strings_compare_numerically() -> None:
    """Driver versions as nvidia-smi prints them (580.65.06 is the CUDA 13.0 GA driver of
    Table 3; 535.247.01 an R535 driver): protects the numeric, per-component comparison that
    NVIDIA's container runtime uses."""
    assert DriverVersion.parse("535.247.01") > DriverVersion.parse("535.104.05")
    assert DriverVersion.parse("535.247.01") < DriverVersion.parse("570.26")
    assert DriverVersion.parse("580.65.06") >= DriverVersion.parse("580")
    assert _codes("12.2", "535.247.01", ()) == []
    assert _codes("12.8", "535.247.01", ()) == ["error:driver-below-toolkit"]


def test_a_package_from_a_later_update_runs_only_under_minor_version_compat() -> None:
    """Table 3 (CUDA 12.8 GA >= 570.26, 12.8 Update 1 >= 570.124.06) and the cuda-toolkit
    12.8.1 pin nvidia-cublas-cu12==12.8.4.1: on 570.26 it loads under minor-version
    compatibility (CUDA Compatibility guide), a warning, not an error."""
    codes = _codes("12.8", "570.26", (("nvidia-cublas-cu12", "12.8.4.1"),))
    assert codes == ["warning:driver-minor-compat"]
    assert _codes("12.8", "570.124.06", (("nvidia-cublas-cu12", "12.8.4.1"),)) == []


@pytest.mark.parametrize(
    ("cuda", "arch", "codes"),
    [
        # CUDA 13.0 release notes: Maxwell, Pascal and Volta (sm_50..sm_72) removed.
        ("13.0", "sm_70", ["error:arch-dropped"]),
        ("13.0", "sm_72", ["error:arch-dropped"]),
        ("13.0", "sm_75", []),
        ("13.0", "sm_110", []),
        # sm_35/sm_37 removed in CUDA 12.0; sm_30 in CUDA 11.0.
        ("12.0", "sm_37", ["error:arch-dropped"]),
        ("11.0", "sm_30", ["error:arch-dropped"]),
        ("12.0", "sm_50", []),
        # Blackwell: sm_100/sm_120 from CUDA 12.8, sm_103/sm_121 from 12.9.
        ("12.6", "sm_100", ["error:arch-unsupported"]),
        ("12.8", "sm_120", []),
        ("12.8", "sm_121", ["error:arch-unsupported"]),
        ("12.9", "sm_103", []),
        # Ada/Hopper from CUDA 11.8; arch-specific sm_90a from 12.0; family sm_100f from 12.9.
        ("11.7", "sm_89", ["error:arch-unsupported"]),
        ("11.8", "sm_90", []),
        ("11.8", "sm_90a", ["error:arch-unsupported"]),
        ("12.0", "sm_90a", []),
        ("12.8", "sm_100f", ["error:arch-unsupported"]),
        ("12.9", "sm_100f", []),
    ],
)
def test_architectures_per_cuda_release(cuda: str, arch: str, codes: list[str]) -> None:
    """CUDA 13.0 / 12.9 / 12.8 release notes, the cuFFT deprecated-functionality page (12.6.3)
    and nvcc 13.0.88 --list-gpu-arch (shared/reference/cuda.md §6): protects which sm_XX each
    CUDA release compiles for."""
    target = CudaTarget(CudaVersion.parse(cuda), min_driver(CudaVersion.parse(cuda)), (arch,))
    assert [f"{f.severity}:{f.code}" for f in judge(target, [])] == codes


@pytest.mark.parametrize(
    ("name", "version", "label", "release"),
    [
        ("torch", "2.7.1+cu128", "12.8", None),
        ("torch", "2.9.0+cu13", "13.x", None),
        ("cupy-cuda12x", "13.6.0", "12.x", None),
        ("nvidia-cuda-runtime-cu12", "12.8.90", "12.8", "12.8.1"),
        ("nvidia-cublas", "13.1.0.3", "13.0", "13.0.2"),
        ("nvidia-cudnn-cu13", "9.17.1.4", "13.x", None),
        ("cuda-toolkit", "12.9.1", "12.9", "12.9.1"),
    ],
)
def test_cuda_read_from_wheel_versions_and_names(
    name: str, version: str, label: str, release: str | None
) -> None:
    """PyTorch's +cuXYZ tags (cu128 is 12.8, cu13 only the major), NVIDIA's -cu12 wheels and
    unsuffixed CUDA 13 wheels with the versions cuda-toolkit==X.Y.Z pins on PyPI (cuBLAS
    13.1.0.3 is CUDA 13.0 Update 2): protects the version strings NVIDIA and PyTorch publish."""
    need = extract(name, version)
    assert need is not None
    assert (need.label, need.release) == (label, release)


@pytest.mark.parametrize(
    ("build", "label"),
    [
        ("cuda126_mkl_py312_h8bb5dc9_300", "12.6"),
        ("cuda128", "12.8"),
        ("py311_gpu_cuda12.6_many_linux", "12.6"),
        ("cuda_12.8_py312_0", "12.8"),
        ("py312_cuda12x_h0123456_0", "12.x"),
        ("cuda13_py313_0", "13.x"),
    ],
)
def test_cuda_read_from_conda_build_strings(build: str, label: str) -> None:
    """conda build strings (conda-forge cudaXYZ / cudaX.Y / RAPIDS cudaNN): protects reading
    the CUDA a conda package was built for."""
    need = extract_conda("pkg", "1.0", build, [], [])
    assert need is not None
    assert need.label == label


def test_nvml_cuda_version_encoding() -> None:
    """CUDA Driver API cuDriverGetVersion / NVML: 1000*major + 10*minor (12040 is 12.4, 13000
    is 13.0), the number nvidia-smi prints as "CUDA Version"."""
    assert [cuda_version_from_int(v) for v in (12040, 13000, 11080, 0)] == [
        "12.4",
        "13.0",
        "11.8",
        None,
    ]


@pytest.mark.parametrize("text", ["R575", "r580", "R535"])
def test_a_driver_branch_name_is_refused_with_what_to_write(text: str) -> None:
    """NVIDIA's data-center driver documentation names branches R535, R570, R580, R575
    (https://docs.nvidia.com/datacenter/tesla/drivers/supported-drivers-and-cuda-toolkit-
    versions.html): a branch holds many drivers (R575: 575.51.03 for CUDA 12.9 GA, 575.57.08
    for 12.9 Update 1 in Table 3), so it cannot stand for the fleet's driver; the refusal says
    so instead of only "not a driver version"."""
    with pytest.raises(CudaError) as caught:
        DriverVersion.parse(text, where="mlenv.toml: cuda.driver-floor")
    number = text[1:]
    assert caught.value.message == f"{text!r} is not a driver version"
    assert caught.value.hint == (
        f"{text} names NVIDIA driver branch {number}, not one driver; write the oldest "
        f"{number}.x driver the fleet runs as nvidia-smi prints it ({number}.<minor>.<patch>)"
    )
