"""Attack 234: NVIDIA-sourced CUDA cases nobody here wrote, against mlenv's verdicts: driver
outputs in the shapes NVIDIA's tools print them (several GPUs, vGPU/GRID guests, the open and
SBSA kernel modules, R610's relabelled banner, ``nvidia-smi -q``, WSL 2), forward and
minor-version compatibility, and the GPU targets CUDA 13.0 compiles for.

Wrong before this pass:

- ``nvidia-smi --query-gpu=driver_version --format=csv,noheader`` on a two-GPU node, joined by
  the shell (``MLENV_DRIVER_VERSION=$(echo $(nvidia-smi ...))``, an unquoted ``$(...)`` in a CI
  step) as "560.35.03 560.35.03", was refused ("write 560.35.03 alone") although the same two
  lines with a newline were read as that one driver; ``MLENV_GPU_COMPUTE_CAP`` refused
  "9.0 9.0" the same way.

``HELD`` keeps what already agreed with NVIDIA's documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv import host
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.host_text import (
    HostError,
    parse_compute_cap_override,
    parse_driver_override,
    parse_proc_driver_version,
    parse_smi_banner,
)
from tests.support.cli import run_in_process
from tests.support.cuda_project import locked_cuda_project
from tests.support.fake_host import with_glibc

pytestmark = pytest.mark.hostile

SMI = "https://docs.nvidia.com/deploy/nvidia-smi/index.html (--query-gpu: one line per GPU)"
FORWARD = "https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html"
TABLE3 = "https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html"
NOTES_13 = "https://docs.nvidia.com/cuda/archive/13.0.0/cuda-toolkit-release-notes/index.html"


# --- the finding: a multi-GPU answer joined by the shell -------------------------------------

_BLANKS = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", " \n"])


@given(
    driver=st.sampled_from(["560.35.03", "570.124.06", "580.65.06", "535.230.02", "570.26"]),
    gpus=st.integers(min_value=2, max_value=8),
    blank=_BLANKS,
    header=st.booleans(),
)
def test_one_driver_per_gpu_joined_by_blanks_is_that_driver(
    driver: str, gpus: int, blank: str, header: bool
) -> None:
    """Input: --query-gpu=driver_version's lines (SMI), one per GPU, a ``driver_version`` header
    first without noheader, parted by a newline or joined by the shell with blanks. Before:
    the blank-joined forms were refused. Now: every form is the one driver."""
    lines = (["driver_version"] if header else []) + [driver] * gpus
    assert parse_driver_override(blank.join(lines)) == driver


@pytest.mark.parametrize(
    ("value", "caps"),
    [("9.0 9.0", ("9.0", "9.0")),  # echo $(nvidia-smi --query-gpu=compute_cap ...): 2 H100s
     ("8.0\t8.6 7.5", ("8.0", "8.6", "7.5")),
     ("compute_cap 12.0 12.0", ("12.0", "12.0"))],  # --format=csv keeps its header
)  # fmt: skip
def test_compute_caps_joined_by_blanks_are_each_gpus(value: str, caps: tuple[str, ...]) -> None:
    """Input: --query-gpu=compute_cap's lines (SMI) joined by the shell. Before: refused as
    "not a list of compute capabilities". Now: one capability per GPU, as the newline form."""
    assert parse_compute_cap_override(value) == caps


@pytest.mark.parametrize("value", ["8.6,", "8.6,,9.0", "8.6;9.0", "8.6 sm_90", "compute_cap"])
def test_compute_caps_still_refuse_what_no_gpu_printed(value: str) -> None:
    with pytest.raises(HostError):
        parse_compute_cap_override(value)


def test_two_drivers_joined_by_blanks_are_still_refused() -> None:
    """A host loads one kernel module: two different drivers are two nodes' answers, refused
    with both named (attack 220), blank-joined as newline-joined."""
    with pytest.raises(HostError) as caught:
        parse_driver_override("575.51.03 570.124.06")
    assert "2 drivers (570.124.06, 575.51.03)" in (caught.value.hint or "")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A CUDA 12.6 project (Table 3: 560.28.03), locked by the real CLI."""
    return locked_cuda_project(tmp_path_factory.mktemp("a234"), "12.6", "560.28.03")


def test_verify_host_takes_the_shells_join_of_two_gpus(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input: MLENV_DRIVER_VERSION="560.35.03 560.35.03", MLENV_GPU_COMPUTE_CAP="9.0 9.0".
    Before: exit 1, "not a driver version". Now: exit 0, judged against driver 560.35.03."""
    env = {"MLENV_DRIVER_VERSION": "560.35.03 560.35.03", "MLENV_GPU_COMPUTE_CAP": "9.0 9.0"}
    machine = with_glibc({}, {}, env)
    monkeypatch.setattr(host, "RealHost", lambda: machine)
    code, out, err = run_in_process(["verify", "--host"], *project)
    assert code == 0, out + err
    assert "judged against driver 560.35.03 (MLENV_DRIVER_VERSION)" in out


# --- held: driver outputs as NVIDIA's tools print them ---------------------------------------

PROC_LINES = (
    # vGPU guest (GRID) driver, the Linux guest's kernel module line
    ("NVRM version: NVIDIA UNIX x86_64 Kernel Module for GRID  550.127.05  Release Build  "
     "(dvs-builder@U16-I3-C04-2)  Fri Oct 11 01:11:21 UTC 2024\n", "550.127.05"),
    # the open GPU kernel module on an SBSA (aarch64) server, GCC line after it
    ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  580.95.05  Release Build  "
     "(dvs-builder@U22)  Wed Sep 24 20:01:08 UTC 2025\nGCC version:  gcc version 13.3.0\n",
     "580.95.05"),
    ("NVRM version: NVIDIA UNIX ppc64le Kernel Module  418.67  Sat Apr  6 02:34:19 CDT 2019\n",
     "418.67"),
    ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.256.02  Thu May  2 14:37:44 UTC 2024\n",
     "470.256.02"),
)  # fmt: skip


@pytest.mark.parametrize(("text", "driver"), PROC_LINES)
def test_held_proc_lines(text: str, driver: str) -> None:
    assert parse_proc_driver_version(text) == driver


# nvidia-smi's banner and -q text: R610 relabelled "Driver Version"/"CUDA Version" as "KMD
# Version"/"CUDA UMD Version" (nvidia-smi documentation); on WSL 2 the tool's own number is
# WSL's and the driver's the Windows host's
BANNERS = (
    ("| NVIDIA-SMI 610.43.02   KMD Version: 610.43.02   CUDA UMD Version: 13.3 |\n",
     "610.43.02", "13.3"),
    ("==============NVSMI LOG==============\n\nDriver Version                            : "
     "580.65.06\nCUDA Version                              : 13.0\n", "580.65.06", "13.0"),
    ("| NVIDIA-SMI 565.77.01   Driver Version: 566.36   CUDA Version: 12.7 |\n", "566.36",
     "12.7"),
    ("| NVIDIA-SMI 384.81                 Driver Version: 384.81                    |\n",
     "384.81", None),
)  # fmt: skip


@pytest.mark.parametrize(("text", "driver", "cuda"), BANNERS)
def test_held_banners(text: str, driver: str, cuda: str | None) -> None:
    banner = parse_smi_banner(text)
    assert banner is not None and (banner.driver, banner.cuda) == (driver, cuda)


# --- held: verdicts ------------------------------------------------------------------------


def _codes(cuda: str, driver: str, archs: tuple[str, ...] = (), package: str = "") -> str:
    """The verdict on one checked machine, "refused" when no GPU has that architecture."""
    try:
        target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), archs, True)
    except CudaError:
        return "refused"
    needs = []
    if package:
        name, _, version = package.partition("==")
        need = extract(name, version)
        assert need is not None, package
        needs.append(PackageNeed(name, version, need))
    found = judge(target, needs)
    return "+".join(sorted({f"{f.severity}:{f.code}" for f in found})) or "ok"


# The targets nvcc 13.0.88 builds (`nvcc --list-gpu-code`, and -arch=X accepted or "Unsupported
# gpu architecture" for each): NOTES_13 removes sm_50-sm_72 and renames Thor's sm_101 as sm_110;
# "a" targets exist from Hopper, "f" from Blackwell; sm_107 comes with 13.4.
ARCHS_13_0 = (
    ("sm_90a", "ok"), ("sm_100a", "ok"), ("sm_100f", "ok"), ("sm_103a", "ok"),
    ("sm_103f", "ok"), ("sm_110a", "ok"), ("sm_110f", "ok"), ("sm_120a", "ok"),
    ("sm_120f", "ok"), ("sm_121a", "ok"), ("sm_121f", "ok"), ("sm_88", "ok"), ("sm_87", "ok"),
    ("sm_75", "ok"), ("sm_72", "error:arch-dropped"), ("sm_101a", "error:arch-unsupported"),
    ("sm_101f", "error:arch-unsupported"), ("sm_107", "error:arch-unsupported"),
    ("sm_90f", "refused"), ("sm_89a", "refused"), ("sm_88a", "refused"), ("sm_87a", "refused"),
)  # fmt: skip


@pytest.mark.parametrize(("arch", "expected"), ARCHS_13_0)
def test_held_cuda_13_0_targets(arch: str, expected: str) -> None:
    assert _codes("13.0", "580.65.06", (arch,)) == expected, NOTES_13


# (cuda, driver, package, expected, source): Table 3's per-release drivers before 11.0 (no
# minor-version compatibility), and forward compatibility named only where its matrix lists
# the branch (cuda-compat-12-8 on 535; none for 12.8 on 550, nor 13.0 on its own 580 branch).
HELD = (
    ("10.0", "410.48", "torch==1.4.0+cu101", "error:cuda-newer-minor", TABLE3),
    ("10.1", "418.39", "torch==1.8.1+cu102", "error:cuda-newer-minor", TABLE3),
    ("10.2", "440.33", "torch==1.4.0+cu100", "ok", TABLE3),
    ("9.2", "396.26", "", "ok", TABLE3),
    ("11.0", "450.36.06", "torch==1.7.1+cu110", "ok", TABLE3),
    ("11.1", "455.23", "torch==1.9.0+cu111", "ok", TABLE3),
)


@pytest.mark.parametrize(("cuda", "driver", "package", "expected", "source"), HELD)
def test_held(cuda: str, driver: str, package: str, expected: str, source: str) -> None:
    assert _codes(cuda, driver, package=package) == expected, source


@pytest.mark.parametrize(
    ("cuda", "driver", "package"),
    [("12.8", "535.230.02", "cuda-compat-12-8"), ("13.1", "580.95.05", "cuda-compat-13-1"),
     ("13.0", "570.86.10", "cuda-compat-13-0"), ("12.8", "550.54.14", None),
     ("13.0", "580", None)],
)  # fmt: skip
def test_held_forward_compat_named_only_where_listed(
    cuda: str, driver: str, package: str | None
) -> None:
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), (), True)
    (found,) = judge(target, [])
    assert found.code == "driver-below-toolkit", FORWARD
    assert (package is not None and package in found.hint) or "cuda-compat" not in found.hint
