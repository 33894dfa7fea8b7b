"""Attack 225: an NVIDIA-sourced judge's cases, built from NVIDIA's documents and not from
mlenv's data, against mlenv's verdicts.

``HELD`` lists the cases mlenv already judged as the documents say (every Table 3 row of 12.0 to
13.2 at its driver and one patch below, each toolkit update's component wheels on the GA and on
the update driver, 12.x on R450/R470, bare branches, 565.57.01, PyTorch's ``+cuXYZ`` builds of
each major, the SBSA and x86_64 arch lists, the 12.8/12.9/13.0 architecture additions and
removals); ``HELD_CONDA`` conda's ``cuda-version``, ``cudatoolkit``, ``pytorch-cuda`` and
``cudaXYZ`` builds; ``HOSTS`` the same through ``verify --host``, for drivers as the open and the
proprietary kernel module, nvidia-smi and ``MLENV_DRIVER_VERSION`` print them. They guard
against regressions. The cases below them were wrong:

- a conda-forge build (torchvision for CUDA 12.9) was judged by PyTorch's own wheels' GPU
  lists, and a linux-aarch64 record by the x86_64 rows of those lists.
- a Jetson-only fleet's driver floor (JetPack 6.1's 540.4.0 for CUDA 12.6) was refused with
  "raise driver-floor to 560.28.03" and "the container runtime will not start an image": no
  Jetson runs a desktop driver, and its driver reports the CUDA its JetPack ships.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from mlenv import host
from mlenv.cuda.needs import conda_need
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.errors import ManifestError
from mlenv.manifest_read import loads
from tests.support.cli import run_in_process
from tests.support.cuda_project import locked_cuda_project
from tests.support.fake_host import with_glibc
from tests.support.locks import conda_record

pytestmark = pytest.mark.hostile

TABLE3 = "https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html"
MINOR = "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html"
TOOLKIT = "https://pypi.org/project/cuda-toolkit/ (each release's pins)"
TORCH = "https://github.com/pytorch/pytorch/blob/main/RELEASE.md"
ARCHS = "https://docs.nvidia.com/cuda/archive/13.0.0/cuda-toolkit-release-notes/index.html"
CF_VISION = "conda-forge/torchvision-feedstock@a29d32bc:recipe/build.sh"

_SBSA = "cp312-cp312-manylinux_2_28_aarch64.whl"
_X86 = "cp312-cp312-manylinux_2_28_x86_64.whl"

# cuda | driver | package (name==version, or a wheel's file name) | archs | expected ("ok" or
# "severity:code" joined by "+") | source; "-" is empty. The driver is one machine's (checked).
_HELD_TEXT = """
12.0 | 525.60.13 | - | - | ok | TABLE3
12.0 | 525.60.12 | - | - | error:driver-below-toolkit | TABLE3
12.1 | 530.30.02 | - | - | ok | TABLE3
12.1 | 530.30.01 | - | - | error:driver-below-toolkit | TABLE3
12.2 | 535.54.03 | - | - | ok | TABLE3
12.2 | 535.54.02 | - | - | error:driver-below-toolkit | TABLE3
12.3 | 545.23.06 | - | - | ok | TABLE3
12.3 | 545.23.05 | - | - | error:driver-below-toolkit | TABLE3
12.4 | 550.54.14 | - | - | ok | TABLE3
12.4 | 550.54.13 | - | - | error:driver-below-toolkit | TABLE3
12.5 | 555.42.02 | - | - | ok | TABLE3
12.5 | 555.42.01 | - | - | error:driver-below-toolkit | TABLE3
12.6 | 560.28.03 | - | - | ok | TABLE3
12.6 | 560.28.02 | - | - | error:driver-below-toolkit | TABLE3
12.6 | 565.57.01 | - | - | ok | TABLE3
12.8 | 565.57.01 | - | - | error:driver-below-toolkit | TABLE3
12.8 | 570.26 | - | - | ok | TABLE3
12.8 | 570.25 | - | - | error:driver-below-toolkit | TABLE3
12.8 | 570.86.10 | - | - | ok | TABLE3
12.8 | 570 | - | - | error:driver-below-toolkit | TABLE3
12.9 | 575.51.03 | - | - | ok | TABLE3
12.9 | 575.51.02 | - | - | error:driver-below-toolkit | TABLE3
12.9 | 570.86.10 | - | - | error:driver-below-toolkit | TABLE3
13.0 | 580.65.06 | - | - | ok | TABLE3
13.0 | 580.65.05 | - | - | error:driver-below-toolkit | TABLE3
13.0 | 580 | - | - | error:driver-below-toolkit | TABLE3
13.1 | 590.44.01 | - | - | ok | TABLE3
13.1 | 590.44.00 | - | - | error:driver-below-toolkit | TABLE3
13.1 | 580.95.05 | - | - | error:driver-below-toolkit | TABLE3
13.2 | 595.45.04 | - | - | ok | TABLE3
13.2 | 595.45.03 | - | - | error:driver-below-toolkit | TABLE3
12.0 | 470.256.02 | - | - | error:driver-below-toolkit | MINOR
12.0 | 450.80.02 | - | - | error:driver-below-toolkit | MINOR
12.8 | 470.256.02 | - | - | error:driver-below-toolkit | MINOR
11.8 | 520.61.05 | - | - | ok | TABLE3
11.8 | 470.256.02 | - | - | error:driver-below-toolkit | TABLE3
11.4 | 470.42.01 | - | - | ok | TABLE3
# each update's components: its own Table 3 driver, or minor-version compatibility
12.0 | 525.60.13 | nvidia-cuda-runtime-cu12==12.0.146 | - | warning:driver-minor-compat | TOOLKIT
12.0 | 525.85.12 | nvidia-cuda-runtime-cu12==12.0.146 | - | ok | TOOLKIT
12.2 | 535.54.03 | nvidia-cublas-cu12==12.2.5.6 | - | warning:driver-minor-compat | TOOLKIT
12.2 | 535.104.05 | nvidia-cublas-cu12==12.2.5.6 | - | ok | TOOLKIT
12.2 | 535.86.09 | nvidia-cublas-cu12==12.2.4.5 | - | ok | TOOLKIT
12.2 | 535.86.08 | nvidia-cublas-cu12==12.2.4.5 | - | warning:driver-minor-compat | TOOLKIT
12.4 | 550.54.14 | nvidia-cuda-runtime-cu12==12.4.127 | - | warning:driver-minor-compat | TOOLKIT
12.4 | 550.54.15 | nvidia-cuda-runtime-cu12==12.4.127 | - | ok | TOOLKIT
12.6 | 560.35.03 | nvidia-cublas-cu12==12.6.4.1 | - | warning:driver-minor-compat | TOOLKIT
12.6 | 560.35.05 | nvidia-cublas-cu12==12.6.4.1 | - | ok | TOOLKIT
12.8 | 570.26 | nvidia-cublas-cu12==12.8.4.1 | - | warning:driver-minor-compat | TOOLKIT
12.8 | 570.124.06 | nvidia-cublas-cu12==12.8.4.1 | - | ok | TOOLKIT
12.9 | 575.51.03 | nvidia-cuda-runtime-cu12==12.9.79 | - | warning:driver-minor-compat | TOOLKIT
12.9 | 575.57.08 | nvidia-cuda-runtime-cu12==12.9.79 | - | ok | TOOLKIT
13.0 | 580.65.06 | nvidia-cuda-runtime==13.0.96 | - | warning:driver-minor-compat | TOOLKIT
13.0 | 580.95.05 | nvidia-cuda-runtime==13.0.96 | - | ok | TOOLKIT
13.0 | 580.82.07 | nvidia-cuda-runtime==13.0.88 | - | ok | TOOLKIT
13.0 | 580.65.06 | nvidia-cublas==13.1.0.3 | - | warning:driver-minor-compat | TOOLKIT
13.1 | 590.44.01 | nvidia-cuda-nvrtc==13.1.115 | - | warning:driver-minor-compat | TOOLKIT
13.1 | 590.48.01 | nvidia-cuda-nvrtc==13.1.115 | - | ok | TOOLKIT
13.2 | 595.45.04 | nvidia-cuda-runtime==13.2.86 | - | warning:driver-minor-compat | TOOLKIT
13.2 | 595.71.05 | nvidia-cuda-runtime==13.2.86 | - | ok | TOOLKIT
13.2 | 595.58.03 | nvidia-cuda-runtime==13.2.75 | - | ok | TOOLKIT
# builds of each major, older and newer minors (mlenv holds a newer minor to its own driver)
12.4 | 550.54.14 | torch==2.5.1+cu121 | - | ok | MINOR
12.4 | 550.54.14 | torch==2.6.0+cu126 | - | error:cuda-newer-minor | TABLE3
12.8 | 570.86.10 | torch==2.8.0+cu129 | - | error:cuda-newer-minor | TABLE3
12.9 | 575.57.08 | torch==2.8.0+cu129 | - | ok | TABLE3
12.8 | 580.65.06 | torch==2.9.0+cu130 | - | error:cuda-major-mismatch | MINOR
13.0 | 580.65.06 | torch==2.9.0+cu130 | - | ok | TABLE3
13.0 | 580.65.06 | torch==2.9.0+cu128 | - | error:cuda-major-mismatch | MINOR
12.6 | 560.28.03 | torch==2.7.1+cu118 | - | error:cuda-major-mismatch | MINOR
12.1 | 530.30.02 | torch==2.1.2+cu121 | - | ok | TABLE3
11.8 | 520.61.05 | torch==2.1.2+cu118 | - | ok | TABLE3
12.8 | 580.65.06 | nvidia-cudnn-cu13==9.13.0.50 | - | error:cuda-major-mismatch | MINOR
13.0 | 580.65.06 | nvidia-cudnn-cu12==9.10.2.21 | - | error:cuda-major-mismatch | MINOR
13.0 | 580.65.06 | nvidia-nccl-cu13==2.27.7 | - | ok | MINOR
12.4 | 550.54.14 | cupy-cuda12x==13.3.0 | - | ok | MINOR
13.0 | 580.65.06 | cupy-cuda13x==13.6.0 | - | ok | MINOR
# SBSA (aarch64) and x86_64 wheels' GPU code; architectures CUDA adds and removes
13.0 | 580.65.06 | torch-2.9.0+cu130-{sbsa} | sm_121 | ok | TORCH
13.0 | 580.65.06 | torch-2.9.0+cu130-{sbsa} | sm_90 | ok | TORCH
13.0 | 580.65.06 | torch-2.9.0+cu130-{sbsa} | sm_103 | ok | TORCH
13.0 | 580.65.06 | torch-2.9.0+cu130-{sbsa} | sm_110 | ok | TORCH
13.0 | 580.65.06 | torch-2.9.0+cu130-{x86} | sm_121 | ok | TORCH
13.0 | 580.65.06 | torch-2.9.0+cu130-{x86} | sm_70 | error:arch-dropped | ARCHS
12.8 | 570.26 | torch-2.7.1+cu128-{sbsa} | sm_80 | error:arch-not-built | TORCH
12.8 | 570.26 | torch-2.7.1+cu128-{sbsa} | sm_90 | ok | TORCH
12.9 | 575.51.03 | torch-2.8.0+cu129-{sbsa} | sm_121 | ok | TORCH
12.8 | 570.26 | torch-2.7.1+cu128-{x86} | sm_120 | ok | TORCH
12.8 | 570.26 | torch-2.7.1+cu126-{x86} | sm_120 | error:arch-not-built | TORCH
12.8 | 570.26 | - | sm_121 | error:arch-unsupported | ARCHS
12.9 | 575.51.03 | - | sm_121 | ok | ARCHS
12.9 | 575.51.03 | - | sm_103f | ok | ARCHS
12.8 | 570.26 | - | sm_100f | error:arch-unsupported | ARCHS
13.0 | 580.65.06 | - | sm_101 | error:arch-unsupported | ARCHS
13.0 | 580.65.06 | - | sm_110 | ok | ARCHS
12.8 | 570.26 | - | sm_110 | error:arch-unsupported | ARCHS
12.9 | 575.51.03 | - | sm_101 | ok | ARCHS
13.0 | 580.65.06 | - | sm_72 | error:arch-dropped | ARCHS
13.0 | 580.65.06 | - | sm_75 | ok | ARCHS
12.0 | 525.60.13 | - | sm_37 | error:arch-dropped | ARCHS
11.7 | 515.43.04 | - | sm_90 | error:arch-unsupported | ARCHS
11.8 | 520.61.05 | - | sm_89 | ok | ARCHS
"""
_SOURCES = {"TABLE3": TABLE3, "MINOR": MINOR, "TOOLKIT": TOOLKIT, "TORCH": TORCH, "ARCHS": ARCHS}


def _held_row(line: str) -> tuple[str, str, str, str, str, str]:
    cuda, driver, package, archs, expected, source = (
        "" if cell == "-" else cell for cell in (cell.strip() for cell in line.split("|"))
    )
    package = package.format(sbsa=_SBSA, x86=_X86)
    return cuda, driver, package, archs, expected, _SOURCES[source]


HELD = tuple(
    _held_row(line) for line in _HELD_TEXT.splitlines() if line.strip() and not line.startswith("#")
)


def _checked(cuda: str, driver: str, archs: tuple[str, ...] = ()) -> CudaTarget:
    return CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), archs, checked=True)


def _need(package: str) -> list[PackageNeed]:
    if not package:
        return []
    if package.endswith(".whl"):
        wheel, parsed = parse_wheel_filename(package)[:2]
        need = extract(wheel, str(parsed), package)
        assert need is not None, package
        return [PackageNeed.of_wheel(wheel, str(parsed), need, package)]
    name, _, version = package.partition("==")
    need = extract(name, version)
    assert need is not None, package
    return [PackageNeed(name, version, need)]


def _verdict(target: CudaTarget, needs: list[PackageNeed]) -> str:
    found = judge(target, needs)
    return "+".join(sorted({f"{f.severity}:{f.code}" for f in found})) or "ok"


def test_the_held_table_is_large_and_sourced() -> None:
    assert len(HELD) >= 90
    assert all(row[5] for row in HELD)


@pytest.mark.parametrize(("cuda", "driver", "package", "archs", "expected", "source"), HELD)
def test_held(cuda: str, driver: str, package: str, archs: str, expected: str, source: str) -> None:
    target = _checked(cuda, driver, tuple(a for a in archs.split(",") if a))
    assert _verdict(target, _need(package)) == expected, source


CONDA_FORGE = "https://conda.anaconda.org/conda-forge"
PYTORCH_CHANNEL = "https://conda.anaconda.org/pytorch"
VERSION_FEEDSTOCK = "conda-forge/cuda-version-feedstock@ae97761f:recipe/meta.yaml"
_CV = "__cuda >={} ; cudatoolkit {}|{}.*"
# (cuda, driver, channel, subdir, name, version, build, depends, constrains, expected, source):
# conda's CUDA packages, judged by the same rules as wheels ("a ; b" separates specs).
HELD_CONDA: tuple[tuple[str, ...], ...] = (
    ("12.4", "550.54.14", CONDA_FORGE, "linux-64", "cuda-version", "12.4", "h3060b56_3", "",
     _CV.format(12, "12.4", "12.4"), "ok", VERSION_FEEDSTOCK),
    ("12.4", "550.54.14", CONDA_FORGE, "linux-aarch64", "cuda-version", "12.4", "h3060b56_3", "",
     _CV.format(12, "12.4", "12.4"), "ok", VERSION_FEEDSTOCK),
    ("12.4", "550.54.14", CONDA_FORGE, "linux-64", "cuda-version", "12.6", "h7480c83_3", "",
     _CV.format(12, "12.6", "12.6"), "error:cuda-newer-minor", TABLE3),
    ("13.0", "580.65.06", CONDA_FORGE, "linux-64", "cuda-version", "13.0", "h2b12ff2_3", "",
     _CV.format(13, "13.0", "13.0"), "ok", TABLE3),
    ("12.4", "550.54.14", CONDA_FORGE, "linux-64", "cuda-version", "13.0", "h2b12ff2_3", "",
     _CV.format(13, "13.0", "13.0"), "error:cuda-major-mismatch", MINOR),
    ("11.8", "520.61.05", CONDA_FORGE, "linux-64", "cudatoolkit", "11.8.0", "h4ba93d1_13",
     "__glibc >=2.17,<3.0.a0", "", "ok", TABLE3),
    ("12.4", "550.54.14", CONDA_FORGE, "linux-64", "cudatoolkit", "11.8.0", "h4ba93d1_13",
     "__glibc >=2.17,<3.0.a0", "", "error:cuda-major-mismatch", MINOR),
    ("12.4", "550.54.14", PYTORCH_CHANNEL, "linux-64", "pytorch-cuda", "12.1", "ha16c6d3_6",
     "cuda-libraries >=12.1,<12.2", "", "ok", MINOR),
    ("12.1", "530.30.02", PYTORCH_CHANNEL, "linux-64", "pytorch-cuda", "12.4", "hc786d27_7",
     "cuda-libraries >=12.4,<12.5", "", "error:cuda-newer-minor", TABLE3),
    ("12.6", "560.28.03", CONDA_FORGE, "linux-64", "pytorch", "2.5.1",
     "cuda126_mkl_py312_h8bb5dc9_300", "__cuda ; cuda-version >=12.6,<13", "", "ok", TABLE3),
    ("12.4", "550.54.14", CONDA_FORGE, "linux-64", "pytorch", "2.5.1",
     "cuda126_mkl_py312_h8bb5dc9_300", "__cuda ; cuda-version >=12.6,<13", "",
     "error:cuda-newer-minor", TABLE3),
)  # fmt: skip


def _specs(text: str) -> tuple[str, ...]:
    return tuple(spec.strip() for spec in text.split(" ; ") if spec.strip())


@pytest.mark.parametrize("row", HELD_CONDA, ids=[f"{r[4]}-{r[5]}-{r[0]}" for r in HELD_CONDA])
def test_held_conda(row: tuple[str, ...]) -> None:
    cuda, driver, channel, subdir, name, version, build, depends, constrains, expected, source = row
    record = conda_record(
        name,
        version,
        build,
        subdir=subdir,
        channel=channel,
        depends=_specs(depends),
        constrains=_specs(constrains),
        requires_driver=None,
    )
    need = conda_need(record)
    assert need is not None, name
    assert _verdict(_checked(cuda, driver), [need]) == expected, source


JETPACK = "https://developer.nvidia.com/embedded/jetpack/downloads/archive-7.0"
JETSON_CUDA = "https://developer.nvidia.com/blog/simplifying-cuda-upgrades-for-nvidia-jetson-users/"


def _floor_problem(cuda: str, floor: str, archs: list[str]) -> str:
    """The manifest's one problem (message and hint) for a fleet of ``archs``."""
    text = '[environment]\nname = "j"\npython = "3.11"\nplatforms = ["linux-aarch64"]\n'
    text += f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\narchs = {archs!r}\n'
    with pytest.raises(ManifestError) as refused:
        loads(text.replace("'", '"'))
    (problem,) = refused.value.problems
    return f"{problem.message} {problem.hint}"


@pytest.mark.parametrize(
    ("cuda", "floor", "archs"),
    [
        ("12.6", "540.4.0", ["sm_87"]),
        ("13.0", "580.00", ["sm_110"]),
    ],
)
def test_a_jetson_fleets_floor_is_not_sent_to_a_desktop_driver(
    cuda: str, floor: str, archs: list[str]
) -> None:
    """JetPack 6.1/6.2 ships CUDA 12.6 and JetPack 7 CUDA 13.0 (JETPACK); a Jetson's CUDA
    driver is part of the Jetson Linux BSP, updated with it, not a desktop driver (JETSON_CUDA),
    so Table 3's 560.28.03 is no driver an Orin can run and its runtime compares the CUDA
    Version that driver reports. mlenv still cannot rank it, but says why, not "raise it"."""
    said = _floor_problem(cuda, floor, archs)
    assert "Jetson" in said and "raise driver-floor" not in said, (JETPACK, said)
    assert "will not start" not in said, (JETSON_CUDA, said)


def test_a_mixed_fleet_keeps_table_3s_remedy() -> None:
    """One desktop GPU (an A100's sm_80) beside the Orins: that node runs a Table 3 driver."""
    said = _floor_problem("12.6", "540.4.0", ["sm_87", "sm_80"])
    assert "raise driver-floor to 560.28.03" in said, (TABLE3, said)


def _vision(channel: str, subdir: str) -> PackageNeed:
    """torchvision 0.23 for CUDA 12.9 as ``channel`` publishes it for ``subdir``."""
    record = conda_record(
        "torchvision",
        "0.23.0",
        "cuda129_py312_h2b2f9b1_1",
        subdir=subdir,
        channel=channel,
        url=f"{channel}/{subdir}/torchvision-0.23.0-cuda129_py312_h2b2f9b1_1.conda",
        depends=("pytorch * cuda*", "cuda-version >=12.9,<13", "__cuda"),
        requires_driver=None,
    )
    need = conda_need(record)
    assert need is not None
    return need


@pytest.mark.parametrize("subdir", ["linux-64", "linux-aarch64"])
@pytest.mark.parametrize("arch", ["sm_50", "sm_60", "sm_61"])
def test_a_conda_forge_build_is_not_judged_by_pytorchs_wheel_lists(subdir: str, arch: str) -> None:
    """conda-forge builds torchvision for CUDA 12.9 with TORCH_CUDA_ARCH_LIST
    "5.0;6.0;7.0;7.5;8.0;8.6;8.9;9.0;10.0;12.0+PTX" on every platform (CF_VISION), so a
    Maxwell or Pascal GPU (sm_61 runs sm_60's cubin: CUDA C++ Programming Guide, binary
    compatibility within a major) runs it; PyTorch's own 12.8/12.9 wheels start at sm_70, the
    list mlenv refused it by (arch-not-built), on aarch64 by the x86_64 wheels' list."""
    need = _vision("https://conda.anaconda.org/conda-forge", subdir)
    assert _verdict(_checked("12.9", "575.57.08", (arch,)), [need]) == "ok", CF_VISION


def test_pytorchs_own_channel_is_still_judged_by_its_machines_list() -> None:
    """The pytorch channel's builds are PyTorch's: its aarch64 record by the aarch64 list
    (torch 2.8's aarch64 CUDA 12.9 wheels start at sm_90), not the x86_64 one (sm_70)."""
    channel = "https://conda.anaconda.org/pytorch"
    x86 = _verdict(_checked("12.9", "575.57.08", ("sm_80",)), [_vision(channel, "linux-64")])
    arm = _verdict(_checked("12.9", "575.57.08", ("sm_80",)), [_vision(channel, "linux-aarch64")])
    assert (x86, arm) == ("ok", "error:arch-not-built"), TORCH


# (what the host shows, exit code of ``verify --host`` for a CUDA 12.6 lock): the driver as each
# probe prints it, judged by Table 3's 12.6 GA row (560.28.03); 12.x runs on any newer branch.
_PROC = "/proc/driver/nvidia/version"
_OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for {}  {}  Release Build  (dvs-builder@U22)\n"
)
_PROPRIETARY = "NVRM version: NVIDIA UNIX {} Kernel Module  {}  Thu Feb 22 01:44:30 UTC 2024\n"
_BANNER = "| NVIDIA-SMI {0}   Driver Version: {0}   CUDA Version: {1}     |\n"
HOSTS: tuple[tuple[dict[str, str], dict[tuple[str, ...], str], dict[str, str], int], ...] = (
    ({_PROC: _OPEN.format("x86_64", "565.57.01")}, {}, {}, 0),
    ({_PROC: _OPEN.format("aarch64", "580.65.06")}, {}, {}, 0),
    ({_PROC: _PROPRIETARY.format("x86_64", "560.28.03")}, {}, {}, 0),
    ({_PROC: _PROPRIETARY.format("x86_64", "560.28.02")}, {}, {}, 1),
    ({_PROC: _PROPRIETARY.format("aarch64", "535.104.05")}, {}, {}, 1),
    ({}, {("nvidia-smi",): _BANNER.format("565.57.01", "12.7")}, {}, 0),
    ({}, {("nvidia-smi",): _BANNER.format("555.42.06", "12.5")}, {}, 1),
    ({}, {}, {"MLENV_DRIVER_VERSION": "560.35.05"}, 0),
    ({}, {}, {"MLENV_DRIVER_VERSION": "570"}, 0),
    ({}, {}, {"MLENV_DRIVER_VERSION": "550.54.14"}, 1),
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A CUDA 12.6 project (floor 560.28.03), locked by the real CLI."""
    return locked_cuda_project(tmp_path_factory.mktemp("a225"), "12.6", "560.28.03")


@pytest.mark.parametrize(("files", "outputs", "env", "code"), HOSTS)
def test_held_on_the_host(
    files: dict[str, str],
    outputs: dict[tuple[str, ...], str],
    env: dict[str, str],
    code: int,
    project: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``verify --host`` reads each driver as the kernel module, nvidia-smi or the override
    prints it and judges it by Table 3 (TABLE3): exit 0 at or above 560.28.03, else 1."""
    machine = with_glibc(files, outputs, env)
    monkeypatch.setattr(host, "RealHost", lambda: machine)
    got, out, err = run_in_process(["verify", "--host"], *project)
    assert got == code, (TABLE3, out + err)
