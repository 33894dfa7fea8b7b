"""Adversary pass 109: mlenv's CUDA judgements against NVIDIA's own documents.

Every expected driver is typed from NVIDIA's CUDA Toolkit Release Notes, Table 3 "CUDA Toolkit
and Corresponding Driver Versions" (https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-
release-notes/index.html; shared/reference/cuda.md §1), never computed here.

Findings this file pins:

- CUDA 12.5 Update 1 (Table 3: Linux >= 555.42.06) shipped cudart, NVRTC, NVCC, CUPTI, NVTX,
  cu++filt and the NVML headers at 12.5.82 (NVIDIA's repository manifest
  https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/version_12.5.1.json
  and the 12.5 Update 1 release notes' Table 1,
  https://docs.nvidia.com/cuda/archive/12.5.1/cuda-toolkit-release-notes/index.html). PyPI has
  no ``cuda-toolkit==12.5.1`` metapackage, so mlenv's pin table had no 12.5.1 row and traced
  ``nvidia-cuda-runtime-cu12==12.5.82`` to the 12.5 GA: on a 555.42.02 floor (the GA's driver)
  it passed silently, where every other update's component is the documented
  minor-version-compatibility warning.
- NVIDIA's conda metapackages ``cuda-toolkit`` and ``cuda-runtime`` are versioned as the toolkit
  release they pin (``cuda-toolkit-12.4.1`` depends on ``cuda-libraries 12.4.1.*``, whose
  components are the 12.4 Update 1 versions: https://anaconda.org/main/cuda-libraries-dev/files),
  exactly as PyPI's ``cuda-toolkit==12.8.1``. mlenv read the PyPI one as CUDA 12.8 Update 1
  (driver 570.124.06) but the conda one only as "CUDA 12.8", so on the 12.8 GA's floor
  570.26 the conda record passed where the wheel warned.
- PyPI's torch 1.13.1 pins ``nvidia-cuda-runtime-cu11==11.7.99``, the cudart of CUDA 11.7
  Update 1 (NVIDIA's version_11.7.1.json; Table 3: 515.48.07), but the pin table began at
  11.8.0, so every 11.7 component was "CUDA 11.7" with no update and the lock asked only the
  GA's 515.43.04.
- A Jetson Thor in a CUDA 13 container (JetPack 7 runs the unified Arm/SBSA toolkit and
  containers, https://developer.nvidia.com/blog/whats-new-in-cuda-toolkit-13-0-for-jetson-thor-
  unified-arm-ecosystem-and-more, so no /etc/nv_tegra_release) names its GPU "NVIDIA Thor",
  not "... (nvgpu)": mlenv judged its Jetson-numbered driver by the desktop Table 3. A GPU of a
  compute capability that NVIDIA lists only for Jetson modules (https://developer.nvidia.com/
  cuda-gpus: 11.0 Jetson T5000/T4000, 8.7 Orin; cuda-legacy-gpus: 7.2 Xavier, 6.2 TX2, 5.3
  Nano) is a Jetson's, whatever its name.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.matrix import table3_driver
from mlenv.cuda.required import required_driver
from mlenv.cuda.rules import PackageNeed
from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.host import SMI_BANNER_ARGV, SMI_QUERY_ARGV, detect
from mlenv.nodes import Node, judge_node
from tests.support.cli import run_mlenv
from tests.support.cuda_verdicts import target, verdict
from tests.support.fake_host import with_glibc
from tests.support.locks import locked, make_lock
from tests.support.wheels import build_wheel, write_simple_index

DATA: dict[str, Any] = json.loads(
    (resources.files("mlenv") / "data" / "cuda.json").read_text(encoding="utf-8")
)

# Table 3 (Linux), typed from the release notes.
GA_12_5, UPDATE_12_5_1 = "555.42.02", "555.42.06"
GA_12_8, UPDATE_12_8_1 = "570.26", "570.124.06"
GA_13_0, UPDATE_13_0_2 = "580.65.06", "580.95.05"


# (PyPI wheel, its CUDA 12.5 Update 1 version per version_12.5.1.json / Table 1)
UPDATE_1_WHEELS = [
    ("nvidia-cuda-runtime-cu12", "12.5.82"),
    ("nvidia-cuda-nvrtc-cu12", "12.5.82"),
    ("nvidia-cuda-nvcc-cu12", "12.5.82"),
    ("nvidia-cuda-cupti-cu12", "12.5.82"),
    ("nvidia-nvtx-cu12", "12.5.82"),
    ("nvidia-nvml-dev-cu12", "12.5.82"),
    ("nvidia-cuda-cuxxfilt-cu12", "12.5.82"),
]


@pytest.mark.parametrize(("name", "version"), UPDATE_1_WHEELS)
def test_a_cuda_12_5_update_1_component_is_traced_to_its_update(name: str, version: str) -> None:
    """12.5.82 is CUDA 12.5 Update 1 (NVIDIA's version_12.5.1.json), whose Table 3 driver is
    555.42.06: on the GA's 555.42.02 it runs only under minor-version compatibility."""
    need = extract(name, version)
    assert need is not None
    assert (str(need.cuda), need.release) == ("12.5", "12.5.1")
    assert verdict("12.5", GA_12_5, name, need) == [("warning", "driver-minor-compat")]
    assert verdict("12.5", UPDATE_12_5_1, name, need) == []
    found = required_driver(target("12.5", GA_12_5), [PackageNeed(name, version, need)])
    assert str(found[0]) == UPDATE_12_5_1
    assert "CUDA 12.5 Update 1" in found[1]


def test_the_12_5_ga_components_stay_the_ga() -> None:
    """The GA's own versions (12.5.39 cudart, 12.5.40 NVRTC: version_12.5.0.json) need only the
    GA's driver."""
    for name, version in [
        ("nvidia-cuda-runtime-cu12", "12.5.39"),
        ("nvidia-cuda-nvrtc-cu12", "12.5.40"),
    ]:
        need = extract(name, version)
        assert need is not None
        assert (str(need.cuda), need.release) == ("12.5", "12.5.0")
        assert verdict("12.5", GA_12_5, name, need) == []


def test_the_conda_cudart_of_12_5_update_1_is_traced_like_the_wheel() -> None:
    """conda-forge's cuda-cudart carries NVIDIA's redist version (cuda.json conda_components),
    so cuda-cudart 12.5.82 is CUDA 12.5 Update 1 like the wheel."""
    need = extract_conda(
        "cuda-cudart", "12.5.82", "h5888daf_0", ["cuda-version >=12.5,<12.6.0a0"], []
    )
    assert need is not None
    assert need.release == "12.5.1"
    assert verdict("12.5", GA_12_5, "cuda-cudart", need) == [("warning", "driver-minor-compat")]


@pytest.mark.parametrize(
    ("name", "version", "cuda", "ga", "update"),
    [
        ("cuda-toolkit", "12.8.1", "12.8", GA_12_8, UPDATE_12_8_1),
        ("cuda-runtime", "12.8.1", "12.8", GA_12_8, UPDATE_12_8_1),
        ("cuda-toolkit", "13.0.2", "13.0", GA_13_0, UPDATE_13_0_2),
        ("cuda-runtime", "13.0.2", "13.0", GA_13_0, UPDATE_13_0_2),
    ],
)
def test_a_conda_toolkit_metapackage_is_its_release(
    name: str, version: str, cuda: str, ga: str, update: str
) -> None:
    """NVIDIA's conda cuda-toolkit / cuda-runtime X.Y.Z is toolkit release X.Y.Z, as PyPI's
    cuda-toolkit==X.Y.Z: the same verdict for both, on the GA's driver and on the update's."""
    wheel = extract("cuda-toolkit", version)
    conda = extract_conda(name, version, "0", [], [])
    assert wheel is not None and conda is not None
    assert (
        (conda.cuda, conda.release)
        == (wheel.cuda, wheel.release)
        == (CudaVersion.parse(cuda), version)
    )
    assert verdict(cuda, ga, name, conda) == [("warning", "driver-minor-compat")]
    assert verdict(cuda, update, name, conda) == []


def test_a_conda_toolkit_metapackage_of_a_newer_minor_is_refused() -> None:
    """cuda-toolkit 12.8.1 on a CUDA 12.6 target with the 12.6 Update 3 driver: a newer minor
    needs its own Table 3 driver (570.26), as the wheel does."""
    conda = extract_conda("cuda-toolkit", "12.8.1", "0", [], [])
    assert verdict("12.6", "560.35.05", "cuda-toolkit", conda) == [("error", "cuda-newer-minor")]


# Every component row of 11.x to 13.x (nvJitLink 13 fixes only its major).
_ROWS = [
    row
    for row in DATA["component_versions"]
    if int(row["release"].split(".")[0]) >= 11 and row["component"] != "nvjitlink"
]


def _wheel(component: str, release: str) -> str:
    major = int(release.split(".")[0])
    return f"nvidia-{component}" + ("" if major >= 13 else f"-cu{major}")


@settings(max_examples=150, deadline=None)
@given(row=st.sampled_from(_ROWS))
def test_every_pinned_component_needs_its_update_driver(row: dict[str, str]) -> None:
    """Any component version NVIDIA's cuda-toolkit pins: on its GA's Table 3 driver it is the
    warning when its update's driver is higher, and nothing at the update's driver."""
    cuda = CudaVersion.parse(".".join(row["release"].split(".")[:2]))
    ga = table3_driver(cuda)
    update = table3_driver(cuda, row["release"])
    if ga is None or update is None:
        return  # 13.4 and newer: no confirmed Table 3 value, judged elsewhere
    name = _wheel(row["component"], row["release"])
    need = extract(name, row["version"])
    expected = [("warning", "driver-minor-compat")] if ga[0] < update[0] else []
    assert verdict(str(cuda), str(ga[0]), name, need) == expected
    assert verdict(str(cuda), str(update[0]), name, need) == []


@pytest.mark.parametrize("name", ["cuda-libraries", "cuda-libraries-dev", "cuda-compiler"])
def test_the_other_conda_release_metapackages_are_their_release(name: str) -> None:
    """cuda-toolkit 12.4.1 depends on cuda-compiler 12.4.1.* and cuda-libraries 12.4.1.*, and
    cuda-libraries-dev 12.4.1 on the 12.4 Update 1 components: each is release 12.4.1."""
    need = extract_conda(name, "12.4.1", "0", [], [])
    assert need is not None
    assert (str(need.cuda), need.release) == ("12.4", "12.4.1")
    assert verdict("12.4", "550.54.14", name, need) == [("warning", "driver-minor-compat")]
    assert verdict("12.4", "550.54.15", name, need) == []


# torch 1.13.1's CUDA 11.7 pins on PyPI (its Requires-Dist); NVIDIA's repository manifests
# give 11.7 GA (version_11.7.0.json): cudart 11.7.60, NVRTC/CUPTI/NVTX 11.7.50, and 11.7
# Update 1 (version_11.7.1.json): cudart and NVRTC 11.7.99, CUPTI 11.7.101, NVTX 11.7.91.
TORCH_1_13 = (
    "nvidia-cuda-runtime-cu11==11.7.99",
    "nvidia-cudnn-cu11==8.5.0.96",
    "nvidia-cublas-cu11==11.10.3.66",
    "nvidia-cuda-nvrtc-cu11==11.7.99",
)
GA_11_7, UPDATE_11_7_1 = "515.43.04", "515.48.07"


@pytest.mark.parametrize(
    ("name", "version", "release"),
    [
        ("nvidia-cuda-runtime-cu11", "11.7.99", "11.7.1"),
        ("nvidia-cuda-nvrtc-cu11", "11.7.99", "11.7.1"),
        ("nvidia-cuda-cupti-cu11", "11.7.101", "11.7.1"),
        ("nvidia-nvtx-cu11", "11.7.91", "11.7.1"),
        ("nvidia-cuda-runtime-cu11", "11.7.60", "11.7.0"),
        ("nvidia-cuda-nvrtc-cu11", "11.7.50", "11.7.0"),
    ],
)
def test_cuda_11_7_components_are_traced_to_their_update(
    name: str, version: str, release: str
) -> None:
    """A CUDA 11.7 Update 1 component on the 11.7 GA's driver (Table 3: 515.43.04, Update 1:
    515.48.07) runs only under minor-version compatibility; a GA component does not."""
    need = extract(name, version)
    assert need is not None
    assert (str(need.cuda), need.release) == ("11.7", release)
    warned = [("warning", "driver-minor-compat")] if release == "11.7.1" else []
    assert verdict("11.7", GA_11_7, name, need) == warned
    assert verdict("11.7", UPDATE_11_7_1, name, need) == []


def test_torch_1_13_needs_the_11_7_update_1_driver() -> None:
    """PyPI torch 1.13.1 pins CUDA 11.7 Update 1's cudart: the lock's driver is 515.48.07."""
    need = extract("torch", "1.13.1", requires_dist=TORCH_1_13)
    assert need is not None
    assert (str(need.cuda), need.release) == ("11.7", "11.7.1")
    assert verdict("11.7", GA_11_7, "torch", need) == [("warning", "driver-minor-compat")]
    found = required_driver(target("11.7", GA_11_7), [PackageNeed("torch", "1.13.1", need)])
    assert str(found[0]) == UPDATE_11_7_1


_DRIVERS = st.tuples(st.integers(300, 700), st.integers(0, 299), st.integers(0, 99)).map(
    lambda parts: ".".join(map(str, parts))
)


@settings(max_examples=300, deadline=None)
@given(row=st.sampled_from(_ROWS), driver=_DRIVERS)
def test_any_driver_against_any_pinned_component_agrees_with_table_3(
    row: dict[str, str], driver: str
) -> None:
    """For any driver and any component NVIDIA's toolkit updates shipped: an error below the
    GA's Table 3 driver, the warning from the GA's up to the update's, nothing from there."""
    cuda = CudaVersion.parse(".".join(row["release"].split(".")[:2]))
    ga, update = table3_driver(cuda), table3_driver(cuda, row["release"])
    if ga is None or update is None:
        return
    name = _wheel(row["component"], row["release"])
    got = verdict(str(cuda), driver, name, extract(name, row["version"]))
    value = DriverVersion.parse(driver)
    if value < ga[0]:
        assert got == [("error", "driver-below-toolkit")]
    elif value < update[0]:
        assert got == [("warning", "driver-minor-compat")]
    else:
        assert got == []


def _banner(driver: str, cuda: str) -> str:
    return f"| NVIDIA-SMI {driver}   Driver Version: {driver}   CUDA Version: {cuda}     |\n"


@pytest.mark.parametrize(
    ("query", "banner"),
    [
        ("580.00, 11.0, NVIDIA Thor\n", _banner("580.00", "13.0")),
        ("540.4.0, 8.7, NVIDIA Jetson AGX Orin\n", _banner("540.4.0", "12.6")),
        ("540.4.0, 8.7, Orin\n", ""),
    ],
)
def test_a_jetson_gpu_without_the_tegra_file_is_not_judged(query: str, banner: str) -> None:
    """No /etc/nv_tegra_release (a container): the GPU's Jetson-only compute capability says
    the driver is Jetson Linux's, so it is not judged by Table 3 (verify --host: cannot judge)."""
    outputs = {SMI_QUERY_ARGV: query, SMI_BANNER_ARGV: banner}
    facts = detect(with_glibc({}, outputs))
    assert facts.driver is None
    assert any("Jetson" in probe.detail and not probe.ok for probe in facts.probes), facts.probes


@pytest.mark.parametrize(
    "query",
    [
        "580.65.06, 9.0, NVIDIA H100 80GB HBM3\n",
        "580.82.07, 12.1, NVIDIA GB10\n",  # DGX Spark: a data-center driver, not Jetson's
        "575.57.08, 8.6, NVIDIA RTX A6000\n",
    ],
)
def test_a_discrete_gpu_driver_is_still_judged(query: str) -> None:
    facts = detect(with_glibc({}, {SMI_QUERY_ARGV: query}))
    assert facts.driver == query.split(",")[0]


# NVIDIA's conda channel labels each file with its toolkit release (the newest version in
# each label): https://anaconda.org/nvidia/cuda-cudart-dev/labels (cuda-11.4.0 11.4.43,
# cuda-11.4.1 11.4.108, cuda-11.4.3 11.4.148) and https://anaconda.org/nvidia/cuda-nvrtc-dev/
# labels (cuda-11.6.0 11.6.55, cuda-11.6.1 11.6.112, cuda-11.6.2 11.6.124). Table 3: 11.4 GA
# 470.42.01, Update 1 470.57.02, Update 3 470.82.01; 11.6 GA 510.39.01, Updates 510.47.03.
@pytest.mark.parametrize(
    ("name", "version", "cuda", "release", "ga", "update"),
    [
        ("cuda-cudart", "11.4.148", "11.4", "11.4.3", "470.42.01", "470.82.01"),
        ("cuda-cudart", "11.4.108", "11.4", "11.4.1", "470.42.01", "470.57.02"),
        ("cuda-nvrtc", "11.6.124", "11.6", "11.6.2", "510.39.01", "510.47.03"),
        ("cuda-nvrtc", "11.6.112", "11.6", "11.6.1", "510.39.01", "510.47.03"),
    ],
)
def test_nvidia_channel_cuda_11_updates_are_traced(
    name: str, version: str, cuda: str, release: str, ga: str, update: str
) -> None:
    need = extract_conda(name, version, "0", [], [])
    assert need is not None
    assert (str(need.cuda), need.release) == (cuda, release)
    assert verdict(cuda, ga, name, need) == [("warning", "driver-minor-compat")]
    assert verdict(cuda, update, name, need) == []


def _gfd(driver: str, cc: str) -> dict[str, str]:
    """GPU Feature Discovery's labels for one driver and compute capability."""
    major, minor, revision = [*driver.split("."), ""][:3]
    cmajor, cminor = cc.split(".")
    return {
        "nvidia.com/cuda.driver-version.major": major,
        "nvidia.com/cuda.driver-version.minor": minor,
        "nvidia.com/cuda.driver-version.revision": revision,
        "nvidia.com/cuda.driver-version.full": driver,
        "nvidia.com/gpu.compute.major": cmajor,
        "nvidia.com/gpu.compute.minor": cminor,
    }


@pytest.mark.parametrize(("driver", "cc"), [("580.00", "11.0"), ("540.4.0", "8.7")])
def test_a_jetson_node_is_not_judged_by_table_3(driver: str, cc: str) -> None:
    """verify --nodes judges as verify --host does: a node whose GPU has a Jetson-only compute
    capability runs Jetson Linux's driver, which Table 3 cannot rank."""
    lock = make_lock([locked("torch", "2.9.0+cu130")], cuda="13.0", floor="580.65.06")
    verdict = judge_node(lock, (), Node("thor", _gfd(driver, cc)))
    assert verdict.status == "cannot-judge", verdict
    assert "Jetson" in verdict.reason


def test_a_data_center_node_is_still_judged() -> None:
    lock = make_lock([locked("torch", "2.9.0+cu130")], cuda="13.0", floor="580.65.06")
    assert judge_node(lock, (), Node("b200", _gfd("580.65.06", "10.0"))).status == "ok"
    assert judge_node(lock, (), Node("h100", _gfd("575.57.08", "9.0"))).status == "fail"


def test_the_cli_locks_torch_1_13_for_the_11_7_update_1_driver(tmp_path: Path) -> None:
    """Through ``mlenv lock`` and ``verify``: torch 1.13.1 with its PyPI Requires-Dist on a CUDA
    11.7 fleet whose floor is the 11.7 GA's 515.43.04 locks, records 515.48.07 as the driver the
    environment needs, and verify warns (minor-version compatibility) instead of passing."""
    many = "cp311-cp311-manylinux_2_17_x86_64"
    wheels = [build_wheel("torch", "1.13.1", requires_dist=TORCH_1_13, tag=many)]
    for requirement in TORCH_1_13:
        name, version = requirement.split("==")
        wheels.append(build_wheel(name, version, tag="py3-none-manylinux1_x86_64"))
    index = write_simple_index(tmp_path / "index", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "t"\npython = "3.11"\n'
        f'[cuda]\nversion = "11.7"\ndriver-floor = "{GA_11_7}"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["torch==1.13.1"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked_run = run_mlenv(["lock"], root, env)
    assert locked_run.returncode == 0, locked_run.stderr
    assert f'requires-driver = "{UPDATE_11_7_1}"' in (root / "mlenv.lock").read_text()
    verified = run_mlenv(["verify"], root, env)
    output = verified.stdout + verified.stderr
    assert verified.returncode == 0, output
    assert "driver-minor-compat" in output and UPDATE_11_7_1 in output, output
    checked = run_mlenv(["verify", "--driver", UPDATE_11_7_1], root, env)
    assert checked.returncode == 0 and "driver-minor-compat" not in checked.stdout, checked.stdout
