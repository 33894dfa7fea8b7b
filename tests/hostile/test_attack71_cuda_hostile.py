"""Adversary pass 71: mlenv's CUDA judgements against NVIDIA's facts.

Every expected driver is typed from shared/reference/cuda.md, which cites NVIDIA's CUDA
Toolkit Release Notes 13.2 Update 2, Table 3 "CUDA Toolkit and Corresponding Driver Versions"
(https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html, cuda.md
§1) and the minor-version compatibility guide (cuda.md §2), never computed here.

The finding this file pins: on WSL 2 nvidia-smi prints the *Windows* host's driver (cuda.md §1
has a Windows column), and mlenv ranked it by the Linux column. Windows 560.70 passed a CUDA
12.6 lock (Linux >= 560.28.03, Windows >= 560.76) and Windows 520.06 (Table 3's own Windows
value for 11.8) was refused against Linux's 520.61.05.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.matrix import table3_driver
from mlenv.cuda.rules import CudaTarget, judge
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.host import (
    KERNEL_VERSION,
    SMI_BANNER_ARGV,
    SMI_QUERY_ARGV,
    detect,
)
from mlenv.host_text import parse_proc_driver_version, parse_smi_banner, parse_smi_query
from mlenv.judge import Judged, verify_lock
from tests.support.fake_host import with_glibc
from tests.support.locks import HASH, codes, locked, make_lock
from tests.support.nvidia_table3 import TABLE_3


def _step(driver: str, by: int) -> str:
    parts = driver.split(".")
    value = int(parts[-1]) + by
    assert value >= 0
    parts[-1] = str(value).zfill(len(parts[-1]))
    return ".".join(parts)


def _codes(cuda: str, driver: str, *, windows: bool, reported: str | None = None) -> list[str]:
    target = CudaTarget(
        CudaVersion.parse(cuda),
        DriverVersion.parse(driver),
        checked=True,
        windows=windows,
        reported=CudaVersion.parse(reported) if reported else None,
    )
    return [finding.code for finding in judge(target, [])]


@pytest.mark.parametrize(("cuda", "linux", "windows"), TABLE_3)
def test_each_table3_column_is_a_hard_floor_at_its_exact_value(
    cuda: str, linux: str, windows: str | None
) -> None:
    """cuda.md §1: Table 3's value is the minimum; equal passes, one patch below is refused,
    in the Linux column for a Linux driver and the Windows column for a WSL 2 driver."""
    assert _codes(cuda, linux, windows=False) == []
    assert _codes(cuda, _step(linux, -1), windows=False) == ["driver-below-toolkit"]
    assert _codes(cuda, _step(linux, 1), windows=False) == []
    if windows is None:
        return
    assert table3_driver(CudaVersion.parse(cuda), windows=True) is not None
    assert _codes(cuda, windows, windows=True) == []
    assert _codes(cuda, _step(windows, -1), windows=True) == ["driver-below-toolkit"]


@pytest.mark.parametrize(
    ("cuda", "driver", "linux_says", "windows_says"),
    [
        # 12.6 GA: Linux >= 560.28.03, Windows >= 560.76 (cuda.md §1): 560.70 is between
        ("12.6", "560.70", [], ["driver-below-toolkit"]),
        # 11.8 GA: Linux >= 520.61.05, Windows >= 520.06 (cuda.md §1): Windows' own value
        ("11.8", "520.06", ["driver-below-toolkit"], []),
        # 12.8 GA: Linux >= 570.26, Windows >= 570.65 (cuda.md §1)
        ("12.8", "570.60", [], ["driver-below-toolkit"]),
    ],
)
def test_a_wsl_driver_is_ranked_by_the_windows_column(
    cuda: str, driver: str, linux_says: list[str], windows_says: list[str]
) -> None:
    assert _codes(cuda, driver, windows=False) == linux_says
    assert _codes(cuda, driver, windows=True) == windows_says


def test_a_wsl_driver_on_cuda_13_is_judged_by_its_reported_cuda_version() -> None:
    """cuda.md §1: Table 3 prints N/A in the Windows column of every 13.x row; cuda.md §4: the
    "CUDA Version" nvidia-smi prints is the newest CUDA the installed driver supports. So the
    reported version decides, and without one the number is not passed on Linux's column."""
    assert _codes("13.0", "581.15", windows=True, reported="13.0") == []
    assert _codes("13.0", "581.15", windows=True) == ["driver-unconfirmed"]
    # a reported 13.0 below a 13.2 target is the driver's own word that it is too old (attack 146)
    assert _codes("13.2", "581.15", windows=True, reported="13.0") == ["driver-cuda-below-target"]


LOCK_124 = make_lock([locked("torch", "2.6.0+cu124")])


def test_verify_host_on_wsl_without_a_reported_cuda_uses_the_windows_column() -> None:
    """12.4 GA: Windows >= 551.61 (cuda.md §1). Windows 551.23 (a 12.3 driver) passed by the
    Linux column (550.54.14) when nvidia-smi's banner was not read."""
    assert codes(verify_lock(LOCK_124, HASH, Judged("551.23", "nvidia-smi", windows=True))) == [
        ("error", "driver-below-toolkit", "")
    ]
    assert codes(verify_lock(LOCK_124, HASH, Judged("551.61", "nvidia-smi", windows=True))) == []
    # the same number from a Linux kernel module is above Linux's 550.54.14
    assert codes(verify_lock(LOCK_124, HASH, Judged("551.23", "nvidia-smi"))) == []


def test_the_recorded_requires_driver_stays_linux_on_wsl() -> None:
    """The lock records Linux's Table 3 value; judging a WSL host must not call it edited."""
    verdict = verify_lock(LOCK_124, HASH, Judged("551.61", "nvidia-smi", windows=True))
    assert verdict.requires_driver == "550.54.14"
    assert verdict.ok


WSL_KERNEL = (
    "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f) (gcc (GCC) 11.2.0, "
    "GNU ld (GNU Binutils) 2.37) #1 SMP Tue Nov 5 00:21:55 UTC 2024\n"
)
BANNER = (
    "| NVIDIA-SMI 580.65.03              Driver Version: 580.88         CUDA Version: 13.0     |\n"
)


def test_detect_marks_a_wsl_driver_as_windows() -> None:
    host = with_glibc(
        files={KERNEL_VERSION: WSL_KERNEL},
        outputs={SMI_QUERY_ARGV: "580.88, 8.9, NVIDIA GeForce RTX 4090\n", SMI_BANNER_ARGV: BANNER},
    )
    facts = detect(host)
    assert (facts.driver, facts.cuda_driver_version, facts.windows_driver) == (
        "580.88",
        "13.0",
        True,
    )


@pytest.mark.parametrize(
    "kernel",
    [
        "Linux version 6.8.0-45-generic (buildd@lcy02-amd64-075) (x86_64-linux-gnu-gcc-13) #45\n",
        None,
    ],
)
def test_detect_leaves_a_linux_driver_linux(kernel: str | None) -> None:
    files = {KERNEL_VERSION: kernel} if kernel else {}
    host = with_glibc(files=files, outputs={SMI_QUERY_ARGV: "580.65.06, 9.0, NVIDIA H100\n"})
    assert detect(host).windows_driver is False


def test_a_kernel_module_driver_is_never_windows_even_under_a_microsoft_kernel() -> None:
    """A kernel module's version (/proc/driver/nvidia) exists only for a Linux driver."""
    host = with_glibc(
        files={
            KERNEL_VERSION: WSL_KERNEL,
            "/proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX Open Kernel Module for "
            "x86_64  580.65.06  Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Jul 15 2025\n",
        }
    )
    facts = detect(host)
    assert (facts.driver, facts.windows_driver) == ("580.65.06", False)


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        (
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
            "(dvs-builder@U16-I3-B03-4-3)  Tue Jul 15 05:15:00 UTC 2025\nGCC version:  gcc "
            "version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n",
            "580.65.06",
        ),
        (
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC "
            "2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
            "550.54.14",
        ),
        (
            "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  570.86.10  Release Build  "
            "(dvs-builder@U16-I1-N08-12-1)  Thu Jan 16 01:09:34 UTC 2025\n",
            "570.86.10",
        ),
        ("GCC version:  gcc version 13.3.0\n", None),
    ],
)
def test_proc_driver_version_lines(text: str, driver: str | None) -> None:
    assert parse_proc_driver_version(text) == driver


@pytest.mark.parametrize(
    "output",
    [
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make "
        "sure that the latest NVIDIA driver is installed and running.\n",
        "No devices were found\n",
        "580.65.06, 9.0, NVIDIA H100\n575.57.08, 9.0, NVIDIA H100\n",  # two drivers: a guess
    ],
)
def test_smi_failures_give_no_driver(output: str) -> None:
    assert parse_smi_query(output) is None
    assert parse_smi_banner(output) is None


def test_smi_banner_with_na_cuda_keeps_the_driver_only() -> None:
    banner = parse_smi_banner(
        "| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: N/A |"
    )
    assert banner is not None
    assert (banner.driver, banner.cuda) == ("580.65.06", None)


@settings(max_examples=200)
@given(
    cuda=st.sampled_from([row[0] for row in TABLE_3]),
    parts=st.lists(st.integers(0, 999), min_size=1, max_size=3),
    windows=st.booleans(),
)
def test_judge_agrees_with_the_column_everywhere(
    cuda: str, parts: list[int], windows: bool
) -> None:
    """For any driver, refused exactly when below its column's Table 3 value (cuda.md §1)."""
    driver = DriverVersion.parse(".".join(map(str, [300 + parts[0] % 400, *parts[1:]])))
    row = next(row for row in TABLE_3 if row[0] == cuda)
    floor = row[2] if windows else row[1]
    got = _codes(cuda, str(driver), windows=windows)
    if floor is None:
        assert got == ["driver-unconfirmed"]
    elif driver < DriverVersion.parse(floor):
        assert got == ["driver-below-toolkit"]
    else:
        assert got == []


@pytest.mark.parametrize(
    ("cuda", "driver"), [("13.9", "999.99"), ("14.0", "999.99"), ("14.0", "580.65.06")]
)
def test_beyond_the_matrix_is_an_error_finding_not_a_pass(cuda: str, driver: str) -> None:
    assert _codes(cuda, driver, windows=False) == ["cuda-unknown"]
    assert _codes(cuda, driver, windows=True) == ["cuda-unknown"]


@pytest.mark.parametrize("text", ["0580.65.06", "580.65.06 (open)", "N/A", "", "R580"])
def test_odd_driver_text_is_a_cuda_error_with_a_hint(text: str) -> None:
    with pytest.raises(CudaError) as caught:
        DriverVersion.parse(text, trim=True)
    assert caught.value.hint
