"""CUDA tag extraction, the judge's rules and the NVIDIA_REQUIRE_CUDA evaluator."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cuda.matrix import known_cuda_versions
from mlenv.cuda.packages import undetermined
from mlenv.cuda.required import required_driver
from mlenv.cuda.requirement import evaluate_requirement, nvidia_require_cuda
from mlenv.cuda.rules import Finding, PackageNeed, judge
from mlenv.cuda.tags import CudaNeed, extract, extract_conda
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from tests.support.cuda_verdicts import target as _target

TORCH_214_REQUIRES = (
    'nvidia-cublas==13.1.0.3; platform_system == "Linux"',
    'nvidia-cuda-runtime~=13.0.48; platform_system == "Linux"',
    'nvidia-cudnn-cu13==9.17.1.4; platform_system == "Linux"',
    'cuda-bindings==13.0.3; platform_system == "Linux"',
    "triton==3.5.0",
)
CUBLAS_EVIDENCE = 'Requires-Dist: nvidia-cublas==13.1.0.3; platform_system == "Linux"'
PTX = "minor-version compatibility (no PTX JIT, newer-driver features fail at run time)"


def _need(
    name: str, version: str, filename: str = "", requires_dist: tuple[str, ...] = ()
) -> CudaNeed:
    need = extract(name, version, filename, requires_dist)
    assert need is not None
    return need


def _pkg(name: str, version: str, requires_dist: tuple[str, ...] = ()) -> PackageNeed:
    return PackageNeed(name, version, _need(name, version, requires_dist=requires_dist))


def _conda(name: str, version: str, build: str, depends: tuple[str, ...] = ()) -> PackageNeed:
    need = extract_conda(name, version, build, depends, ())
    assert need is not None
    return PackageNeed(name, version, need)


def _summary(findings: tuple[Finding, ...]) -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.package) for f in findings]


def _torch_214() -> list[PackageNeed]:
    return [
        _pkg("torch", "2.14.1", requires_dist=TORCH_214_REQUIRES),
        _pkg("nvidia-cublas", "13.1.0.3"),
    ]


# --------------------------------------------------------------------------------------------
# Versions


def test_cuda_version_parses_orders_and_prints() -> None:
    assert CudaVersion.parse(" 12.4 ") == CudaVersion(12, 4)
    assert str(CudaVersion.parse("13.0")) == "13.0"
    assert CudaVersion.parse("12.10") > CudaVersion.parse("12.9") > CudaVersion.parse("11.8")


@pytest.mark.parametrize("text", ["12", "12.4.1", "cu124", "", "12.x"])
def test_cuda_version_garbage_is_an_error_with_where_and_hint(text: str) -> None:
    with pytest.raises(CudaError) as caught:
        CudaVersion.parse(text, where="mlenv.toml: cuda.version")
    assert caught.value.message == f"{text!r} is not a CUDA version"
    assert caught.value.where == "mlenv.toml: cuda.version"
    assert caught.value.hint == "write major.minor, e.g. 12.4"


def test_driver_version_compares_numerically_ignoring_trailing_zeros() -> None:
    parse = DriverVersion.parse
    assert parse("580") == parse("580.0") == parse("580.0.0")
    assert str(parse("450.80.02")) == "450.80.02"
    assert parse("450.80.02") < parse("450.80.10") < parse("450.81")
    assert parse("470.256.02") < parse("471")
    assert parse("580") < parse("580.65.06")
    assert parse("1000.1") > parse("999.99.99")


@pytest.mark.parametrize("text", ["550.54.14a", "", "5..1", "-1", "v550", "550.", "R5800"])
def test_driver_version_garbage_is_an_error(text: str) -> None:
    with pytest.raises(CudaError) as caught:
        DriverVersion.parse(text, where="mlenv.toml: cuda.driver-floor")
    assert caught.value.message == f"{text!r} is not a driver version"
    assert caught.value.where == "mlenv.toml: cuda.driver-floor"
    assert caught.value.hint == "write it as nvidia-smi prints it, e.g. 550.54.14"


@pytest.mark.parametrize("arch", ["sm80", "sm_8", "compute_80", "8.0", "sm_80x"])
def test_target_with_a_bad_arch_is_an_error(arch: str) -> None:
    with pytest.raises(CudaError, match="is not a GPU architecture") as caught:
        _target("12.4", "550.54.14", (arch,))
    assert caught.value.where == "cuda.archs"


# --------------------------------------------------------------------------------------------
# Extraction: every pattern, matching and not matching


@pytest.mark.parametrize(
    ("name", "version", "label", "rule"),
    [
        ("torch", "2.7.1+cu118", "11.8", "local-cu"),
        ("torchvision", "0.22.1+cu126", "12.6", "local-cu"),
        ("torch", "1.4.0+cu92", "9.2", "local-cu"),
        ("torch", "2.9.0+cu130", "13.0", "local-cu"),
        ("vllm", "0.8.5+CU118", "11.8", "local-cu"),
        ("jaxlib", "0.3.25+cuda11.cudnn82", "11.x", "jaxlib-local-cuda"),
        ("paddlepaddle-gpu", "2.5.2.post120", "12.0", "paddle-post"),
        ("paddlepaddle-gpu", "2.5.2.post112", "11.2", "paddle-post"),
        ("paddlepaddle-gpu", "2.0.2.post90", "9.0", "paddle-post"),
        ("paddlepaddle-gpu", "2.0.2.post100", "10.0", "paddle-post"),
        ("paddlepaddle-gpu", "2.0.0rc0.post101", "10.1", "paddle-post"),
        ("paddlepaddle-gpu", "3.0.0b0.post123", "12.3", "paddle-post"),
        ("paddlepaddle-gpu", "1.8.5.post107", "10.0", "paddle-1x-post107"),
        ("paddlepaddle-gpu", "1.8.5.post97", "9.0", "paddle-1x-post97"),
        ("paddlepaddle-gpu", "1.5.0.post87", "8.0", "paddle-1x-post87"),
        ("paddlepaddle-gpu", "1.4.1.post85", "8.0", "paddle-1x-post85"),
        ("nvidia-cuda-runtime-cu12", "12.4.127", "12.4", "nvidia-toolkit-versioned"),
        ("nvidia-cuda-nvrtc-cu11", "11.8.89", "11.8", "nvidia-toolkit-versioned"),
        ("nvidia-cuda-runtime", "13.0.96", "13.0", "nvidia-toolkit-versioned"),
        ("nvidia-nvjitlink", "13.2.51", "13.x", "nvidia-nvjitlink-major"),
        ("nvidia-nvjitlink-cu12", "12.4.127", "12.4", "nvidia-toolkit-versioned"),
        ("Nvidia_CUDA_NVCC.cu12", "12.6.85", "12.6", "nvidia-toolkit-versioned"),
        ("nvidia-cudnn-cu12", "9.10.2.21", "12.x", "nvidia-suffix"),
        ("nvidia-nccl-cu13", "2.28.9", "13.x", "nvidia-suffix"),
        ("nvidia-nvshmem-cu13", "3.3.20", "13.x", "nvidia-suffix"),
        ("nvidia-dali-cuda120", "1.50.0", "12.0", "nvidia-dali"),
        ("nvidia-dali-cuda130", "2.4.0", "13.0", "nvidia-dali"),
        ("cupy-cuda12x", "13.3.0", "12.x", "cupy-major"),
        ("cupy-cuda11x", "13.3.0", "11.x", "cupy-major"),
        ("cupy-cuda117", "11.6.0", "11.7", "cupy-legacy"),
        ("cupy-cuda102", "9.6.0", "10.2", "cupy-legacy"),
        ("jax-cuda12-plugin", "0.7.0", "12.x", "jax-cuda-plugin"),
        ("jax-cuda13-pjrt", "0.7.0", "13.x", "jax-cuda-plugin"),
        ("tensorrt-cu12", "10.13.0.35", "12.x", "tensorrt"),
        ("tensorrt-cu12-libs", "10.13.0.35", "12.x", "tensorrt"),
        ("tensorrt-cu11-bindings", "10.13.0.35", "11.x", "tensorrt"),
        ("tensorrt-lean-cu13", "11.4.0.106", "13.x", "tensorrt"),
        ("cuda-toolkit", "12.8.1", "12.8", "cuda-toolkit"),
        ("cuda-bindings", "12.9.4", "12.x", "cuda-bindings"),
        ("cuda-python", "13.0.3", "13.x", "cuda-bindings"),
    ],
)
def test_extract_matches(name: str, version: str, label: str, rule: str) -> None:
    need = _need(name, version)
    assert (need.label, need.rule, need.stub, need.conflicts) == (label, rule, None, ())


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("torch", "2.7.1+cpu"),
        ("torch", "2.7.1"),
        ("torch", "2.5.1+rocm6.2"),
        ("torch", "2.5.0+xpu"),
        ("jaxlib", "0.4.30"),
        ("jax", "0.7.0"),
        ("paddlepaddle", "2.5.2.post120"),
        ("numpy", "2.1.0.post120"),
        ("nvidia-ml-py", "12.560.30"),
        ("nvidia-cudnn-frontend", "1.5.2"),
        ("cupy", "13.3.0"),
        ("cupy-rocm-5-0", "13.3.0"),
        ("tensorrt", "11.4.0.106"),
        ("cuda-toolkit-extras", "12.8.1"),
    ],
)
def test_extract_without_a_cuda_signal_is_none(name: str, version: str) -> None:
    assert extract(name, version) is None


@pytest.mark.parametrize(
    "version", ["1.8.5.post108", "2.5.2.post11", "2.0.0.post200", "2.6.2.post999"]
)
def test_a_paddle_post_that_names_no_cuda_release_is_refused(version: str) -> None:
    """PaddlePaddle's .postNNN is CUDA major and minor (2.x) or CUDA and cuDNN majors (1.x
    .post107): a code that reads as neither a known release (CUDA 10.8, a major alone) is
    refused as unreadable, never judged as a CUDA NVIDIA never released."""
    with pytest.raises(CudaError, match="names no CUDA release"):
        extract("paddlepaddle-gpu", version)


@given(number=st.integers(0, 1200), pre=st.sampled_from(["", "rc0", "b0"]))
def test_every_paddle_post_reads_a_known_release_or_is_refused(number: int, pre: str) -> None:
    """Guards the .postNNN reading over the whole space: each either names a CUDA release
    mlenv knows (exactly, never a major alone) or is refused (an error, or no reading, which
    the GPU package table turns into cuda-undetermined); never a release that does not exist."""
    version = f"2.5.2{pre}.post{number}"
    try:
        need = extract("paddlepaddle-gpu", version)
    except CudaError:
        return
    if need is None:
        assert undetermined("paddlepaddle-gpu", version, "") is not None
    else:
        assert need.cuda in known_cuda_versions() and not need.major_only, need


def test_wheel_filename_local_tags() -> None:
    old = "flash_attn-2.3.6+cu122torch2.1cxx11abiFALSE-cp310-cp310-linux_x86_64.whl"
    new = "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    vllm = "vllm-0.8.5+cu118-cp38-abi3-manylinux1_x86_64.whl"
    assert _need("flash-attn", "2.3.6", filename=old) == CudaNeed(
        CudaVersion(12, 2),
        False,
        "flash-attn-local-cuxyz",
        old,
        "Dao-AILab/flash-attention@0251105a2fb19d2957484b7f023cd8c115286ced:setup.py",
    )
    need = _need("flash-attn", "2.8.3", filename=new)
    assert (need.label, need.rule, need.evidence) == ("12.x", "flash-attn-local-cuxx", new)
    assert _need("vllm", "0.8.5", filename=vllm).label == "11.8"
    assert extract("flash-attn", "2.8.3", filename="flash_attn-2.8.3.tar.gz") is None


def test_wheel_filename_that_is_not_a_wheel_name_is_an_error() -> None:
    with pytest.raises(CudaError, match="is not a valid wheel file name"):
        extract("torch", "2.6.0", filename="torch.whl")


def test_version_tag_and_filename_that_disagree_contradict() -> None:
    need = _need("torch", "2.6.0+cu124", filename="torch-2.6.0+cu126-cp312-cp312-linux_x86_64.whl")
    assert need.label == "12.4"
    assert [(c.label, c.evidence) for c in need.conflicts] == [
        ("12.6", "torch-2.6.0+cu126-cp312-cp312-linux_x86_64.whl")
    ]


@pytest.mark.parametrize(
    ("name", "version", "label", "release"),
    [
        ("nvidia-cublas-cu12", "12.4.5.8", "12.4", "12.4.1"),
        ("nvidia-cublas-cu12", "12.1.3.1", "12.1", "12.1.1"),
        ("nvidia-cublas-cu11", "11.11.3.6", "11.8", "11.8.0"),
        ("nvidia-cublas", "13.0.0.19", "13.0", "13.0.0"),
        ("nvidia-cublas", "13.1.0.3", "13.0", "13.0.2"),
        ("nvidia-cublas", "13.10.0.20", "13.5", "13.5.0"),
        ("nvidia-cufft", "12.0.0.15", "13.0", "13.0.0"),
        ("nvidia-cufft", "12.0.0.61", "13.0", "13.0.1"),
        ("nvidia-curand", "10.4.0.35", "13.0", "13.0.0"),
        ("nvidia-cufft-cu12", "11.3.0.4", "12.6", "12.6.2"),
        ("nvidia-cusparse-cu12", "12.5.8.93", "12.8", "12.8.1"),
        ("nvidia-cusolver-cu12", "11.7.5.82", "12.9", "12.9.1"),
        # Standalone cuBLAS patches are not pinned: the library minor names one CUDA minor, and
        # the newest earlier pinned version of it is a lower bound of the update.
        ("nvidia-cublas", "13.4.1.1", "13.2", "13.2.1"),
        ("nvidia-cublas-cu12", "12.9.3.13", "12.9", "12.9.2"),
        # The library minor spans several CUDA minors: only the major is certain.
        ("nvidia-cusparse-cu12", "12.5.99.1", "12.x", None),
        ("nvidia-cusolver", "12.0.5.0", "13.x", None),
        ("nvidia-cufft", "99.0.0", "13.x", None),
    ],
)
def test_component_versions_map_through_the_pin_table(
    name: str, version: str, label: str, release: str | None
) -> None:
    need = _need(name, version)
    assert (need.rule, need.label, need.release) == ("nvidia-table-versioned", label, release)


def test_table_source_names_the_pinning_release() -> None:
    need = _need("nvidia-cublas", "13.1.0.3")
    assert need.source == "https://pypi.org/project/cuda-toolkit/13.0.2/"
    assert need.evidence == "nvidia-cublas 13.1.0.3"


def test_toolkit_release_version_becomes_the_release() -> None:
    assert _need("cuda-toolkit", "13.4.1.0").release == "13.4.1"
    assert _need("cuda-toolkit", "12.8.1").release == "12.8.1"


def test_suffix_and_version_that_disagree_contradict() -> None:
    need = _need("nvidia-cuda-runtime-cu12", "13.0.96")
    assert need.label == "13.0"
    assert [(c.label, c.evidence) for c in need.conflicts] == [("12.x", "nvidia-cuda-runtime-cu12")]


@pytest.mark.parametrize(
    ("name", "stub"),
    [
        ("nvidia-cublas-cu116", "nvidia-cublas-cu11"),
        ("nvidia-cuda-runtime-cu110", "nvidia-cuda-runtime-cu11"),
        ("nvidia-cuda-runtime-cu13", "nvidia-cuda-runtime"),
        ("nvidia-cublas-cu13", "nvidia-cublas"),
    ],
)
def test_placeholder_packages_are_stubs(name: str, stub: str) -> None:
    need = _need(name, "0.0.1")
    assert need.stub == stub


def test_real_suffixed_packages_are_not_stubs() -> None:
    assert _need("nvidia-cublas-cu11", "11.11.3.6").stub is None
    assert _need("nvidia-cudnn-cu13", "9.17.1.4").stub is None


def test_requires_dist_decides_when_the_package_has_no_tag() -> None:
    need = _need("torch", "2.14.1", requires_dist=TORCH_214_REQUIRES)
    assert need == CudaNeed(
        CudaVersion(13, 0),
        False,
        "nvidia-table-versioned",
        CUBLAS_EVIDENCE,
        "https://pypi.org/project/cuda-toolkit/13.0.2/",
        release="13.0.2",
    )


@pytest.mark.parametrize(
    ("requirement", "label", "release"),
    [
        ("nvidia-cuda-runtime~=13.0.48", "13.0", None),
        ("nvidia-cublas-cu12>=12.1.3.1", "12.x", None),
        ("nvidia-cuda-runtime-cu12==12.8.90", "12.8", "12.8.1"),
        ("nvidia-cuda-runtime", "13.x", None),
        ("nvidia-cufft", "13.x", None),
        ("cuda-toolkit[cublas]==12.8.1", "12.8", "12.8.1"),
        ("cuda-toolkit>=12.8", "12.x", None),
        ("nvidia-cublas==13.1.0.3.*", "13.0", "13.0.2"),
        ("jax-cuda12-plugin[with-cuda]<0.8,>=0.7", "12.x", None),
    ],
)
def test_requirement_signals(requirement: str, label: str, release: str | None) -> None:
    need = _need("somepkg", "1.0", requires_dist=(requirement,))
    assert (need.label, need.release, need.evidence) == (
        label,
        release,
        f"Requires-Dist: {requirement}",
    )


@pytest.mark.parametrize(
    "requirement",
    [
        'nvidia-cublas-cu12==12.4.5.8; extra == "cuda"',
        "nvidia-cublas-cu116",
        "cuda-bindings",
        "numpy>=1.26",
    ],
)
def test_requirements_that_say_nothing(requirement: str) -> None:
    assert extract("somepkg", "1.0", requires_dist=(requirement,)) is None


def test_local_tag_contradicted_by_cuda_13_requirements() -> None:
    need = _need("torch", "2.6.0+cu124", requires_dist=("nvidia-cublas==13.1.0.3",))
    assert need.label == "12.4"
    assert [(c.label, c.evidence) for c in need.conflicts] == [
        ("13.0", "Requires-Dist: nvidia-cublas==13.1.0.3")
    ]


def test_local_tag_agrees_with_requirements_of_other_minors_of_its_major() -> None:
    need = _need(
        "torch",
        "2.6.0+cu124",
        requires_dist=("nvidia-cublas-cu12==12.4.5.8", "nvidia-cuda-nvrtc-cu12==12.6.77"),
    )
    assert (need.label, need.conflicts) == ("12.4", ())


def test_requirements_of_two_majors_contradict() -> None:
    need = _need(
        "somepkg", "1.0", requires_dist=("nvidia-cudnn-cu12==9.1.0.70", "nvidia-cublas==13.1.0.3")
    )
    assert need.label == "13.0"
    assert [c.evidence for c in need.conflicts] == ["Requires-Dist: nvidia-cudnn-cu12==9.1.0.70"]


def test_broken_requirement_is_an_error() -> None:
    with pytest.raises(CudaError, match="Requires-Dist 'nvidia-cublas==' cannot be parsed") as err:
        extract("torch", "2.6.0", requires_dist=["nvidia-cublas=="])
    assert err.value.where == "torch 2.6.0"


@pytest.mark.parametrize(
    ("build", "label", "rule"),
    [
        ("cuda126_mkl_py312_h8bb5dc9_300", "12.6", "conda-build-cudaxyz"),
        ("cuda126_mkl_h9e9ac90_301", "12.6", "conda-build-cudaxyz"),
        ("cuda120py312hc073071_6", "12.0", "conda-build-cudaxyz"),
        ("gpu_cuda124py312h05d824c_0", "12.4", "conda-build-cudaxyz"),
        ("py311_gpu_cuda12.6_many_linux", "12.6", "conda-build-cudax.y"),
        ("py312_cuda_12.6_h0_0", "12.6", "conda-build-cudax.y"),
        ("py312_cuda12x_h0123456_0", "12.x", "conda-build-cudaxx"),
    ],
)
def test_conda_build_strings(build: str, label: str, rule: str) -> None:
    need = extract_conda("pkg", "1.0", build, (), ())
    assert need is not None
    assert (need.label, need.rule, need.evidence) == (label, rule, f"build {build}")


@pytest.mark.parametrize(
    "build", ["py312h1234567_0", "cpu_mkl_py312_h8bb5dc9_300", "nocuda126_0", "cuda1_0", ""]
)
def test_conda_build_strings_without_cuda(build: str) -> None:
    assert extract_conda("pkg", "1.0", build, (), ()) is None


@pytest.mark.parametrize(
    ("depends", "constrains", "label", "rule"),
    [
        (["__cuda >=12.4"], [], "12.4", "conda-virtual-cuda"),
        (["__cuda>=12"], [], "12.x", "conda-virtual-cuda"),
        (["cuda-version >=12.6,<13"], [], "12.6", "conda-cuda-version"),
        (["cuda-version >=12,<13.0a0"], [], "12.x", "conda-cuda-version"),
        (["cuda-version 12.4.*"], [], "12.4", "conda-cuda-version"),
        (["cuda-version=12.1"], [], "12.1", "conda-cuda-version"),
        ([], ["cuda-version >=11.2,<12"], "11.2", "conda-cuda-version"),
        (["cudatoolkit >=11.8,<12"], [], "11.8", "conda-cudatoolkit"),
        (["pytorch-cuda 12.1.*"], [], "12.1", "conda-pytorch-cuda"),
        # The strongest requirement wins: the driver must support CUDA 12.4.
        (["cuda-version >=12.0,<13", "__cuda >=12.4"], [], "12.4", "conda-virtual-cuda"),
    ],
)
def test_conda_specs(depends: list[str], constrains: list[str], label: str, rule: str) -> None:
    need = extract_conda("pkg", "1.0", "h0_0", depends, constrains)
    assert need is not None
    assert (need.label, need.rule) == (label, rule)


@pytest.mark.parametrize(
    "spec", ["__cuda", "__cuda_arch >=7.5", "cuda-version", "cuda-version <13", "cuda-nvcc 12.4.*"]
)
def test_conda_specs_without_a_cuda_floor(spec: str) -> None:
    assert extract_conda("pkg", "1.0", "h0_0", [spec], []) is None


@pytest.mark.parametrize(("build", "label"), [("cuda126_h0", "12.6"), ("h0", "11.8")])
def test_a_cuda_driver_floor_is_no_build_major(build: str, label: str) -> None:
    """conda's __cuda is the driver's CUDA: __cuda >=11.8 beside a cuda126 build is no
    contradiction, and alone it passes a CUDA 12.4 target (a 12.x driver runs 11.8 builds)."""
    need = extract_conda("pkg", "1.0", build, ["__cuda >=11.8"], [])
    assert need is not None
    assert (need.label, need.conflicts, need.driver_only) == (label, (), build == "h0")
    beside = extract_conda("pkg", "1.0", "h0", ["__cuda >=11.8", "cuda-version >=11.8,<12"], [])
    assert beside is not None and not beside.driver_only  # cuda-version: an 11.8 build
    assert judge(_target("12.6", "560.28.03"), [PackageNeed("pkg", "1.0", need)]) == ()


def test_conda_record_of_the_cuda_version_package_itself() -> None:
    need = extract_conda("cuda-version", "12.4", "h3060b56_3", [], ["__cuda >=12"])
    assert need is not None
    assert (need.label, need.evidence, need.conflicts) == ("12.4", "cuda-version 12.4", ())


def test_conda_build_string_contradicted_by_cuda_version() -> None:
    need = extract_conda(
        "pytorch", "2.7.1", "cuda126_mkl_py312_h8bb5dc9_300", ["cuda-version >=13.0,<14"], []
    )
    assert need is not None
    assert [(c.label, c.evidence) for c in need.conflicts] == [
        ("13.0", "depends cuda-version >=13.0,<14")
    ]


def test_conda_spec_that_cannot_be_read_is_an_error() -> None:
    for spec in (">=twelve", ">=1.x"):
        with pytest.raises(CudaError) as caught:
            extract_conda("pkg", "1.0", "h0_0", [f"cuda-version {spec}"], [])
        assert caught.value.message == f"conda version spec {spec!r} cannot be read"
        assert caught.value.where == "pkg 1.0 h0_0"


# --------------------------------------------------------------------------------------------
# judge(): the whole torch 2.14.1 story first


def test_torch_214_on_the_13_0_ga_driver_runs_with_minor_compat_warnings() -> None:
    findings = judge(_target("13.0", "580.65.06"), _torch_214())
    assert findings == (
        Finding(
            "warning",
            "driver-minor-compat",
            "torch",
            "driver >= 580.95.05",
            "CUDA 13.0, driver 580.65.06",
            f"torch 2.14.1 uses CUDA 13.0.2 ({CUBLAS_EVIDENCE!r}), whose full feature set "
            "needs driver 580.95.05 (CUDA 13.0 Update 2); driver floor 580.65.06 runs it only "
            f"under {PTX}",
            "raise the driver floor to 580.95.05",
        ),
        Finding(
            "warning",
            "driver-minor-compat",
            "nvidia-cublas",
            "driver >= 580.95.05",
            "CUDA 13.0, driver 580.65.06",
            "nvidia-cublas 13.1.0.3 uses CUDA 13.0.2 ('nvidia-cublas 13.1.0.3'), whose full "
            "feature set needs driver 580.95.05 (CUDA 13.0 Update 2); driver floor 580.65.06 "
            f"runs it only under {PTX}",
            "raise the driver floor to 580.95.05",
        ),
    )
    assert all(f.severity == "warning" for f in findings)


def test_torch_214_on_the_update_2_driver_is_clean() -> None:
    assert judge(_target("13.0", "580.95.05"), _torch_214()) == ()


def test_torch_214_on_a_12_9_driver_fails_naming_the_packages() -> None:
    assert judge(_target("13.0", "575.57.08"), _torch_214()) == (
        Finding(
            "error",
            "driver-below-toolkit",
            "",
            "driver >= 580.65.06",
            "CUDA 13.0, driver 575.57.08",
            "driver floor 575.57.08 is below 580.65.06, the minimum driver for CUDA 13.0; "
            "needed by torch 2.14.1, nvidia-cublas 13.1.0.3",
            "raise the driver floor to 580.65.06 or newer",
        ),
    )


def test_torch_214_required_driver_names_the_package() -> None:
    driver, why = required_driver(_target("13.0", "580.65.06"), _torch_214())
    assert (str(driver), why) == ("580.95.05", "torch 2.14.1 (CUDA 13.0 Update 2)")


# judge(): newer minors


def test_cu124_wheel_under_12_1_with_the_12_1_driver_fails_newer_minor() -> None:
    assert judge(_target("12.1", "530.30.02"), [_pkg("torch", "2.6.0+cu124")]) == (
        Finding(
            "error",
            "cuda-newer-minor",
            "torch",
            "CUDA 12.4, driver >= 550.54.14",
            "CUDA 12.1, driver 530.30.02",
            "torch 2.6.0+cu124 is built for CUDA 12.4, newer than the target CUDA 12.1; "
            "it needs driver 550.54.14 but the driver floor is 530.30.02",
            "use a build of torch for CUDA 12.1 or older, or raise the driver floor to 550.54.14; "
            "install torch from PyTorch's CUDA 12.1 index https://download.pytorch.org/whl/cu121 "
            "(builds tagged +cu121)",
        ),
    )


def test_cu124_wheel_under_12_1_with_driver_530_fails_twice() -> None:
    findings = judge(_target("12.1", "530"), [_pkg("torch", "2.6.0+cu124")])
    assert _summary(findings) == [
        ("error", "driver-below-toolkit", ""),
        ("error", "cuda-newer-minor", "torch"),
    ]
    assert findings[0].message == (
        "driver floor 530 is below 530.30.02, the minimum driver for CUDA 12.1; "
        "needed by torch 2.6.0+cu124"
    )
    assert findings[0].hint == "raise the driver floor to 530.30.02 or newer, or target CUDA 12.0"


def test_cu124_wheel_under_12_1_passes_with_the_12_4_driver() -> None:
    assert judge(_target("12.1", "550.54.14"), [_pkg("torch", "2.6.0+cu124")]) == ()


def test_newer_minor_from_a_later_update_warns_between_ga_and_update() -> None:
    findings = judge(_target("12.8", "575.51.03"), [_pkg("nvidia-cublas-cu12", "12.9.1.4")])
    assert _summary(findings) == [("warning", "driver-minor-compat", "nvidia-cublas-cu12")]
    assert findings[0].needs == "driver >= 575.57.08"


def test_newer_minor_from_a_later_update_fails_below_ga() -> None:
    findings = judge(_target("12.8", "570.124.06"), [_pkg("nvidia-cublas-cu12", "12.9.1.4")])
    assert _summary(findings) == [("error", "cuda-newer-minor", "nvidia-cublas-cu12")]
    assert findings[0].message == (
        "nvidia-cublas-cu12 12.9.1.4 is built for CUDA 12.9, newer than the target CUDA 12.8; "
        "it needs driver 575.51.03 but the driver floor is 570.124.06"
    )


def test_same_minor_update_warns_on_the_ga_driver() -> None:
    findings = judge(_target("12.4", "550.54.14"), [_pkg("nvidia-cublas-cu12", "12.4.5.8")])
    assert findings[0].message == (
        "nvidia-cublas-cu12 12.4.5.8 uses CUDA 12.4.1 ('nvidia-cublas-cu12 12.4.5.8'), whose "
        "full feature set needs driver 550.54.15 (CUDA 12.4 Update 1); driver floor 550.54.14 "
        f"runs it only under {PTX}"
    )
    assert judge(_target("12.4", "550.54.15"), [_pkg("nvidia-cublas-cu12", "12.4.5.8")]) == ()


def test_update_without_a_table_3_row_uses_the_newest_known_earlier_row() -> None:
    findings = judge(_target("12.8", "570.26"), [_pkg("nvidia-cublas-cu12", "12.8.5.5")])
    assert _summary(findings) == [("warning", "driver-minor-compat", "nvidia-cublas-cu12")]
    assert (
        "needs driver 570.124.06 (CUDA 12.8 Update 1; CUDA 12.8.2 itself has no confirmed "
        "driver)" in findings[0].message
    )


@pytest.mark.parametrize(
    ("target", "package", "version"),
    [
        (("12.4", "550.54.14"), "torch", "2.4.1+cu121"),
        (("12.4", "550.54.14"), "torch", "2.6.0+cu124"),
        (("12.4", "550.54.14"), "nvidia-dali-cuda120", "1.50.0"),
        (("12.4", "550.54.14"), "jax-cuda12-plugin", "0.7.0"),
        (("12.4", "550.54.14"), "cupy-cuda12x", "13.3.0"),
        (("12.4", "550.54.14.0"), "torch", "2.6.0+cu124"),
        (("10.2", "440.33"), "torch", "1.7.1+cu101"),
        (("11.0", "450.36.06"), "torch", "1.7.1+cu110"),
        (("13.3", "610.43.02"), "nvidia-cuda-runtime", "13.3.29"),
    ],
)
def test_compatible_packages_pass(target: tuple[str, str], package: str, version: str) -> None:
    assert judge(_target(*target), [_pkg(package, version)]) == ()


# judge(): majors, unknowns, stubs, contradictions


def test_cupy_cuda11x_under_12_4_is_a_major_mismatch() -> None:
    assert judge(_target("12.4", "550.54.14"), [_pkg("cupy-cuda11x", "13.3.0")]) == (
        Finding(
            "error",
            "cuda-major-mismatch",
            "cupy-cuda11x",
            "CUDA 11.x",
            "CUDA 12.4, driver 550.54.14",
            "cupy-cuda11x 13.3.0 is built for CUDA 11.x, but the target is CUDA 12.4",
            "use a CUDA 12 build of cupy-cuda11x, or target CUDA 11.x; "
            "install cupy-cuda12x, CuPy's build for CUDA 12.x",
        ),
    )


@pytest.mark.parametrize(
    ("target", "package", "needs"),
    [
        (("13.0", "580.65.06"), _pkg("torch", "2.6.0+cu126"), "CUDA 12.6"),
        (("12.4", "550.54.14"), _pkg("torch", "2.9.0+cu130"), "CUDA 13.0"),
        (("12.4", "550.54.14"), _pkg("cupy-cuda80", "5.0.0"), "CUDA 8.0"),
        (("11.8", "520.61.05"), _pkg("paddlepaddle-gpu", "2.5.2.post120"), "CUDA 12.0"),
        (("13.0", "580.65.06"), _pkg("nvidia-cudnn-cu12", "9.10.2.21"), "CUDA 12.x"),
        (("12.9", "575.51.03"), _pkg("nvidia-cufft", "12.0.0.61"), "CUDA 13.0"),
        (
            ("13.0", "580.65.06"),
            _conda("pytorch", "2.7.1", "cuda126_mkl_py312_h8bb5dc9_300"),
            "CUDA 12.6",
        ),
    ],
)
def test_other_majors_are_refused(
    target: tuple[str, str], package: PackageNeed, needs: str
) -> None:
    findings = judge(_target(*target), [package])
    assert _summary(findings) == [("error", "cuda-major-mismatch", package.name)]
    assert findings[0].needs == needs
    assert findings[0].message == (
        f"{package.name} {package.version} is built for {needs}, but the target is CUDA {target[0]}"
    )


def test_conda_pytorch_cuda126_under_12_4_is_a_newer_minor() -> None:
    package = _conda(
        "pytorch", "2.7.1", "cuda126_mkl_py312_h8bb5dc9_300", ("__cuda", "cuda-version >=12.6,<13")
    )
    findings = judge(_target("12.4", "550.54.14"), [package])
    assert _summary(findings) == [("error", "cuda-newer-minor", "pytorch")]
    assert findings[0].hint == (
        "use a build of pytorch for CUDA 12.4 or older, or raise the driver floor to 560.28.03; "
        "on conda: a build of pytorch that admits cuda-version 12.4.* "
        "(lock again: mlenv constrains the solve to it)"
    )


def test_cupy_legacy_cuda117_under_11_4_is_a_newer_minor() -> None:
    findings = judge(_target("11.4", "470.42.01"), [_pkg("cupy-cuda117", "11.6.0")])
    assert _summary(findings) == [("error", "cuda-newer-minor", "cupy-cuda117")]
    assert findings[0].needs == "CUDA 11.7, driver >= 515.43.04"


def test_unknown_target_cuda() -> None:
    assert judge(_target("12.7", "560.35.03"), []) == (
        Finding(
            "error",
            "cuda-unknown",
            "",
            "a known CUDA release",
            "CUDA 12.7, driver 560.35.03",
            "CUDA 12.7 is not a known CUDA release",
            "known CUDA 12 releases: 12.0, 12.1, 12.2, 12.3, 12.4, 12.5, 12.6, 12.8, 12.9",
        ),
    )


def test_unknown_target_major() -> None:
    (finding,) = judge(_target("14.0", "620"), [])
    assert (finding.code, finding.hint) == (
        "cuda-unknown",
        "known CUDA majors: 7, 8, 9, 10, 11, 12, 13",
    )


def test_target_with_an_unconfirmed_driver_cannot_pass() -> None:
    assert judge(_target("13.4", "615"), [_pkg("nvidia-cuda-runtime", "13.4.49")]) == (
        Finding(
            "error",
            "driver-unconfirmed",
            "",
            "a known minimum driver",
            "CUDA 13.4, driver 615",
            "the minimum driver for CUDA 13.4 is unconfirmed, "
            "so driver floor 615 cannot be checked",
            "target CUDA 13.3 or older, whose minimum drivers are known (13.3's only from "
            "secondary sources, not NVIDIA's own page)",
        ),
    )


def test_package_for_an_unconfirmed_newer_minor_cannot_pass() -> None:
    findings = judge(_target("13.2", "595.45.04"), [_pkg("nvidia-cuda-runtime", "13.4.49")])
    assert findings == (
        Finding(
            "error",
            "driver-unconfirmed",
            "nvidia-cuda-runtime",
            "CUDA 13.4",
            "CUDA 13.2, driver 595.45.04",
            "nvidia-cuda-runtime 13.4.49 is built for CUDA 13.4, whose minimum driver is "
            "unconfirmed",
            "use a build of nvidia-cuda-runtime for CUDA 13.2 or older",
        ),
    )


def test_package_naming_an_unknown_cuda() -> None:
    findings = judge(_target("12.4", "550.54.14"), [_pkg("torch", "2.6.0+cu127")])
    assert _summary(findings) == [("error", "cuda-unknown", "torch")]
    assert findings[0].message == (
        "torch 2.6.0+cu127 names CUDA 12.7 ('2.6.0+cu127'), which is not a known CUDA release"
    )


def test_stub_package_is_refused() -> None:
    assert judge(_target("12.4", "550.54.14"), [_pkg("nvidia-cublas-cu116", "0.0.1")]) == (
        Finding(
            "error",
            "cuda-stub-package",
            "nvidia-cublas-cu116",
            "nvidia-cublas-cu11",
            "CUDA 12.4, driver 550.54.14",
            "nvidia-cublas-cu116 0.0.1 is a placeholder package, not a CUDA library",
            "depend on nvidia-cublas-cu11",
        ),
    )


def test_cu13_placeholder_is_refused_even_under_cuda_13() -> None:
    findings = judge(_target("13.0", "580.65.06"), [_pkg("nvidia-cuda-runtime-cu13", "0.0.1")])
    assert _summary(findings) == [("error", "cuda-stub-package", "nvidia-cuda-runtime-cu13")]
    assert findings[0].hint == "depend on nvidia-cuda-runtime"


def test_contradiction_is_reported() -> None:
    package = _pkg("torch", "2.6.0+cu124", requires_dist=("nvidia-cublas==13.1.0.3",))
    assert judge(_target("12.4", "550.54.14"), [package]) == (
        Finding(
            "error",
            "cuda-contradiction",
            "torch",
            "CUDA 12.4",
            "CUDA 12.4, driver 550.54.14",
            "torch 2.6.0+cu124: CUDA 12.4 from '2.6.0+cu124' contradicts CUDA 13.0 from "
            "'Requires-Dist: nvidia-cublas==13.1.0.3'",
            "use a build of torch whose tags and dependencies agree on one CUDA version",
        ),
    )


def test_contradiction_and_mismatch_are_both_reported() -> None:
    package = _pkg("torch", "2.6.0+cu124", requires_dist=("nvidia-cublas==13.1.0.3",))
    findings = judge(_target("13.0", "580.95.05"), [package])
    assert _summary(findings) == [
        ("error", "cuda-contradiction", "torch"),
        ("error", "cuda-major-mismatch", "torch"),
    ]


# judge(): the driver floor of the target


def test_driver_below_toolkit_suggests_the_newest_minor_the_driver_runs() -> None:
    assert judge(_target("12.4", "535.104.05"), [_pkg("torch", "2.6.0+cu124")]) == (
        Finding(
            "error",
            "driver-below-toolkit",
            "",
            "driver >= 550.54.14",
            "CUDA 12.4, driver 535.104.05",
            "driver floor 535.104.05 is below 550.54.14, the minimum driver for CUDA 12.4; "
            "needed by torch 2.6.0+cu124",
            "raise the driver floor to 550.54.14 or newer, or target CUDA 12.2; NVIDIA's "
            "forward compatibility supports CUDA 12.4 on the 535 branch with cuda-compat-12-4 "
            "on the loader path, only on data-center GPUs, select NGC Server Ready RTX SKUs "
            "and Jetson boards (GeForce cannot use it)",
        ),
    )


def test_driver_below_the_whole_major_only_suggests_raising_it() -> None:
    (finding,) = judge(_target("12.4", "520.61.05"), [])
    assert finding.message == (
        "driver floor 520.61.05 is below 550.54.14, the minimum driver for CUDA 12.4"
    )
    assert finding.hint == "raise the driver floor to 550.54.14 or newer"


def test_driver_floor_given_as_a_branch_is_below_the_ga_driver() -> None:
    (finding,) = judge(_target("13.0", "580"), [])
    assert (finding.code, finding.needs) == ("driver-below-toolkit", "driver >= 580.65.06")


# judge(): architectures


def test_sm_60_under_13_0_is_dropped() -> None:
    assert judge(_target("13.0", "580.65.06", ("sm_60",)), []) == (
        Finding(
            "error",
            "arch-dropped",
            "",
            "sm_60",
            "CUDA 13.0, driver 580.65.06",
            "CUDA 13.x does not support sm_60; its oldest architecture is sm_75",
            "drop sm_60 from cuda.archs or target CUDA 12.x, the last major that supports it",
        ),
    )


@pytest.mark.parametrize(
    ("target", "arch", "code", "message", "hint"),
    [
        (
            "12.0",
            "sm_35",
            "arch-dropped",
            "CUDA 12.x does not support sm_35; its oldest architecture is sm_50",
            "drop sm_35 from cuda.archs or target CUDA 11.x, the last major that supports it",
        ),
        (
            "13.0",
            "sm_30",
            "arch-dropped",
            "CUDA 13.x does not support sm_30; its oldest architecture is sm_75",
            "drop sm_30 from cuda.archs or target CUDA 10.x, the last major that supports it",
        ),
        (
            "12.4",
            "sm_120",
            "arch-unsupported",
            "sm_120 needs CUDA 12.8 or newer; the target is CUDA 12.4",
            "target CUDA 12.8 or newer, or drop sm_120 from cuda.archs",
        ),
        (
            "11.0",
            "sm_86",
            "arch-unsupported",
            "sm_86 needs CUDA 11.1 or newer; the target is CUDA 11.0",
            "target CUDA 11.1 or newer, or drop sm_86 from cuda.archs",
        ),
        (
            "13.0",
            "sm_101",
            "arch-unsupported",
            "CUDA 13.x has no sm_101: CUDA 13.x names it sm_110 (CUDA 13.0 renumbered sm_101 as "
            "sm_110); write sm_110",
            "check the GPU's compute capability; CUDA 13.0 supports sm_75, sm_80, sm_86, sm_87, "
            "sm_88, sm_89, sm_90, sm_100, sm_103, sm_110, sm_120, sm_121",
        ),
    ],
)
def test_arch_refusals(target: str, arch: str, code: str, message: str, hint: str) -> None:
    (finding,) = judge(_target(target, "620", (arch,)), [])
    assert (finding.code, finding.needs, finding.message, finding.hint) == (
        code,
        arch,
        message,
        hint,
    )


@pytest.mark.parametrize(
    ("target", "archs"),
    [
        ("12.8", ("sm_120", "sm_100")),
        ("12.4", ("sm_90a", "sm_50", "sm_80")),
        ("13.0", ("sm_75", "sm_100f", "sm_110")),
        ("11.8", ("sm_35", "sm_89")),
    ],
)
def test_supported_archs_pass(target: str, archs: tuple[str, ...]) -> None:
    assert judge(_target(target, "620", archs), []) == ()


def test_judge_gathers_every_finding_in_order() -> None:
    target = _target("12.4", "535.104.05", ("sm_35", "sm_80"))
    needs = [
        _pkg("cupy-cuda11x", "13.3.0"),
        _pkg("nvidia-cublas-cu116", "0.0.1"),
        _pkg("torch", "2.6.0+cu126"),
    ]
    assert _summary(judge(target, needs)) == [
        ("error", "driver-below-toolkit", ""),
        ("error", "arch-dropped", ""),
        ("error", "cuda-major-mismatch", "cupy-cuda11x"),
        ("error", "cuda-stub-package", "nvidia-cublas-cu116"),
        ("error", "arch-not-built", "torch"),  # torch's CUDA 12.6 builds start at sm_50
        ("error", "cuda-newer-minor", "torch"),
    ]


@pytest.mark.parametrize("arch", ["sm_100", "sm_103", "sm_120", "sm_121"])
def test_a_cu126_torch_has_no_code_for_blackwell(arch: str) -> None:
    """PyTorch's CUDA 12.6 wheels are built for 5.0;6.0;7.0;7.5;8.0;8.6;9.0 without PTX
    (.ci/manywheel/build_cuda.sh); a cubin for X.y runs only on X.z, z >= y (CUDA C++
    Programming Guide, binary compatibility), so a Blackwell GPU has no code to run."""
    target = _target("12.9", "575.51.03", (arch,))
    (finding,) = judge(target, [_pkg("torch", "2.7.1+cu126")])
    assert (finding.code, finding.package, finding.needs) == ("arch-not-built", "torch", "<= sm_90")
    assert "no PTX a newer GPU could compile" in finding.message
    assert "use a CUDA 12.8 or newer build (+cu128) of torch" in finding.hint


@pytest.mark.parametrize("arch", ["sm_52", "sm_61", "sm_72", "sm_87", "sm_89", "sm_90a"])
def test_a_cu126_torch_runs_every_gpu_its_cubins_cover(arch: str) -> None:
    """The X.0 cubin of each major from 5 to 9 runs every X.z GPU (binary compatibility)."""
    assert judge(_target("12.6", "560.28.03", (arch,)), [_pkg("torch", "2.7.1+cu126")]) == ()


# required_driver()


def test_required_driver_is_the_target_minimum_without_packages() -> None:
    driver, why = required_driver(_target("12.4", "550.54.14"), [])
    assert (str(driver), why) == ("550.54.14", "target CUDA 12.4")


def test_required_driver_follows_a_newer_minor_and_ignores_other_majors() -> None:
    needs = [
        _pkg("cupy-cuda13x", "14.0.0"),
        _pkg("torch", "2.6.0+cu126"),
        _pkg("nvidia-cublas-cu12", "12.4.5.8"),
        _pkg("jax-cuda12-plugin", "0.7.0"),
    ]
    driver, why = required_driver(_target("12.4", "550.54.14"), needs)
    assert (str(driver), why) == ("560.28.03", "torch 2.6.0+cu126 (CUDA 12.6 GA)")


def test_required_driver_of_an_unknown_package_cuda_is_an_error() -> None:
    with pytest.raises(CudaError, match=r"the minimum driver for CUDA 12\.7 is not known") as err:
        required_driver(_target("12.4", "550.54.14"), [_pkg("torch", "2.6.0+cu127")])
    assert err.value.where == "torch 2.6.0+cu127"


def test_required_driver_of_an_unconfirmed_target_is_an_error() -> None:
    with pytest.raises(CudaError, match=r"the minimum driver for CUDA 13\.4 is unconfirmed"):
        required_driver(_target("13.4", "615"), [])


# --------------------------------------------------------------------------------------------
# NVIDIA_REQUIRE_CUDA

IMAGE_12_1 = (
    "cuda>=12.1 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 "
    "brand=tesla,driver>=525,driver<526"
)


def test_nvidia_require_cuda() -> None:
    assert nvidia_require_cuda(CudaVersion(12, 4)) == "cuda>=12.4"
    assert nvidia_require_cuda(CudaVersion(13, 0)) == "cuda>=13.0"


@pytest.mark.parametrize(
    ("expr", "facts", "expected"),
    [
        ("cuda>=12.4", {"cuda": "12.4", "driver": "550.54.14"}, True),
        ("cuda>=12.4", {"cuda": "12.2", "driver": "535.104.05"}, False),
        ("cuda>=12.4", {"cuda": "13.0", "driver": "580.65.06"}, True),
        ("CUDA>=12.3", {"cuda": "12.3", "driver": "545.23.06"}, True),
        ("cuda>=12.0", {"cuda": "12", "driver": "525.60.13"}, True),
        ("cuda=12.0", {"cuda": "12", "driver": "525.60.13"}, True),
        ("cuda!=12.0", {"cuda": "12.0.0", "driver": "525.60.13"}, False),
        ("cuda<12.10", {"cuda": "12.9", "driver": "575.51.03"}, True),
        ("cuda<=12.9", {"cuda": "12.9", "driver": "575.51.03"}, True),
        ("cuda>12.9", {"cuda": "12.9", "driver": "575.51.03"}, False),
        ("driver<471", {"cuda": "11.4", "driver": "470.256.02"}, True),
        ("driver>=470,driver<471", {"cuda": "11.4", "driver": "471.0"}, False),
        ("cuda>=12.1,driver>=530", {"cuda": "12.1", "driver": "525.60.13"}, False),
        (IMAGE_12_1, {"cuda": "11.4", "driver": "470.57.02", "brand": "Tesla"}, True),
        (IMAGE_12_1, {"cuda": "12.0", "driver": "525.60.13", "brand": "TESLA"}, True),
        (IMAGE_12_1, {"cuda": "11.4", "driver": "470.57.02", "brand": "GeForce"}, False),
        (IMAGE_12_1, {"cuda": "11.4", "driver": "470.57.02"}, False),
        (IMAGE_12_1, {"cuda": "12.2", "driver": "535.104.05"}, True),
        ("brand!=geforce", {"cuda": "12.4", "driver": "550", "brand": "GeForce"}, False),
        ("arch>=7.5", {"cuda": "13.0", "driver": "580.65.06", "arch": "8.6"}, True),
        ("arch>=7.5", {"cuda": "13.0", "driver": "580.65.06", "arch": "7.0"}, False),
        ("arch>=7.5", {"cuda": "13.0", "driver": "580.65.06"}, False),
        ("", {"cuda": "12.4", "driver": "550.54.14"}, True),
        # the runtime skips empty pieces and never reads past the first term that holds
        ("cuda>=12.1,", {"cuda": "12.1", "driver": "530.30.02"}, True),
        ("cuda>=12.1 foo=1", {"cuda": "13.0", "driver": "580.65.06"}, True),
    ],
)
def test_evaluate_requirement(expr: str, facts: dict[str, str], expected: bool) -> None:
    assert evaluate_requirement(expr, **facts) is expected


def test_the_image_requirement_refuses_an_older_driver_cuda() -> None:
    expr = nvidia_require_cuda(CudaVersion(12, 4))
    assert evaluate_requirement(expr, cuda="12.4", driver="550.54.14")
    assert not evaluate_requirement(expr, cuda="12.2", driver="535.104.05")


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("foo>=1", "invalid expression 'foo>=1': unknown property 'foo'"),
        ("brand>=tesla", "invalid expression 'brand>=tesla': brand compares only with = and !="),
        ("cuda>=twelve", "invalid expression 'cuda>=twelve': 'twelve' is not a version"),
        # the whole run of <>=! is the operator (libnvidia-container's evaluate_rule)
        ("cuda=>12.1", "invalid expression 'cuda=>12.1': '=>' is not an operator"),
        ("cuda==12.1", "invalid expression 'cuda==12.1': '==' is not an operator"),
        ("cuda>=", "invalid expression 'cuda>='"),
        # A broken alternative is an error once it is read: here the first one fails.
        ("cuda>=13.1 foo=1", "invalid expression 'foo=1': unknown property 'foo'"),
    ],
)
def test_evaluate_requirement_errors(expr: str, message: str) -> None:
    with pytest.raises(CudaError) as caught:
        evaluate_requirement(expr, cuda="13.0", driver="580.65.06")
    assert caught.value.message == message
    assert caught.value.where == "NVIDIA_REQUIRE_CUDA"


def test_evaluate_requirement_with_garbage_facts_is_an_error() -> None:
    with pytest.raises(CudaError, match="'twelve' is not a cuda version"):
        evaluate_requirement("cuda>=12.1", cuda="twelve", driver="580.65.06")
