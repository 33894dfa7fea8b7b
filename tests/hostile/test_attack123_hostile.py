"""Attack 123: the NVIDIA driver as real machines print it.

Every sample below was pasted by a person into a public GitHub issue or pull request (the URL is
beside it); only the lines mlenv reads are kept, verbatim. Each goes through the function the
real probe path uses (``mlenv.host_text`` parsers, ``mlenv.host.detect`` on an in-memory
machine, ``DriverVersion.parse`` as ``verify --driver`` calls it, ``mlenv.nodes.gpu_facts``),
and the test says what must come out: the driver and CUDA Version the tool printed, or a refusal
whose hint names what was expected, never another number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.versions import CudaError, DriverVersion
from mlenv.host import (
    KERNEL_VERSION,
    PROC_DRIVER_VERSION,
    SMI_BANNER_ARGV,
    SYS_MODULE_VERSION,
    TEGRA_RELEASE,
    detect,
)
from mlenv.host_text import SmiBanner, parse_proc_driver_version, parse_smi_banner
from mlenv.nodes import Node, gpu_facts
from tests.support.cli import run_mlenv
from tests.support.cuda_project import locked_cuda_project
from tests.support.fake_host import with_glibc

_TOP = "+-----------------------------------------------------------------------------------------+"

# R610 renamed the banner's labels: "KMD Version" (the kernel-mode driver) and "CUDA UMD
# Version" (the user-mode driver's CUDA); docs.nvidia.com/deploy/nvidia-smi: "deprecated Driver
# Version and CUDA Version in favor of KMD Version and CUDA UMD Version".
R610_B200 = (  # https://github.com/sgl-project/sglang/issues/27487
    "Sun Jun  7 08:16:57 2026\n" + _TOP + "\n"
    "| NVIDIA-SMI 610.43.02              KMD Version: 610.43.02     CUDA UMD Version: 13.3     |\n"
)
R610_RTX5070 = (  # https://github.com/EricLBuehler/mistral.rs/pull/2287
    _TOP + "\n"
    "| NVIDIA-SMI 610.43.02              KMD Version: 610.43.02     CUDA UMD Version: 13.3     |\n"
)
R610_A1000 = (  # https://github.com/4C-multiphysics/4C/pull/2012
    "Tue Jul 14 15:01:02 2026       \n" + _TOP + "\n"
    "| NVIDIA-SMI 610.43.02              KMD Version: 610.43.02     CUDA UMD Version: 13.3     |\n"
)
R610_43_03 = (  # https://github.com/projectbluefin/finpilot/issues/160
    "Mon Jul 20 06:15:02 2026       \n" + _TOP + "\n"
    "| NVIDIA-SMI 610.43.03              KMD Version: 610.43.03     CUDA UMD Version: 13.3     |\n"
)

# (banner, driver, CUDA Version) as each tool printed it; None where it printed no number.
BANNERS = [
    pytest.param(R610_B200, "610.43.02", "13.3", id="r610-b200"),
    pytest.param(R610_RTX5070, "610.43.02", "13.3", id="r610-rtx5070"),
    pytest.param(R610_A1000, "610.43.02", "13.3", id="r610-a1000"),
    pytest.param(R610_43_03, "610.43.03", "13.3", id="r610-43-03"),
    pytest.param(  # https://github.com/cBio/cbio-cluster/issues/38 (R331: no CUDA column yet)
        "| NVIDIA-SMI 331.62     Driver Version: 331.62         |                       \n",
        "331.62",
        None,
        id="r331",
    ),
    pytest.param(  # https://github.com/keylase/nvidia-patch/issues/224
        "NVIDIA-SMI 440.48.02    Driver Version: 440.48.02    CUDA Version: 10.2\n",
        "440.48.02",
        "10.2",
        id="r440",
    ),
    pytest.param(  # https://github.com/siseci/hashcat-benchmark-comparison/pull/1 (one a line)
        "NVIDIA-SMI 418.56      \nDriver Version: 418.56 \nCUDA Version: 10.1\n",
        "418.56",
        "10.1",
        id="r418-relaid",
    ),
    pytest.param(  # https://github.com/rossumai/nvgpu/pull/15
        "| NVIDIA-SMI 450.57       Driver Version: 450.57       CUDA Version: 11.0     |\n",
        "450.57",
        "11.0",
        id="r450",
    ),
    pytest.param(  # https://github.com/rapidsai/docker/issues/405 (markdown bold pasted in)
        "| NVIDIA-SMI 450.36.06    Driver Version: 450.36.06    **CUDA Version: N/A**      |\n",
        "450.36.06",
        None,
        id="r450-bold-na",
    ),
    pytest.param(  # https://github.com/filecoin-project/bellperson/issues/227
        "| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: 11.4     |\n",
        "470.57.02",
        "11.4",
        id="r470",
    ),
    pytest.param(  # https://github.com/turlucode/ros-docker-gui/issues/12 (container, no libcuda)
        "| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: N/A      |\n",
        "470.57.02",
        None,
        id="r470-na",
    ),
    pytest.param(  # https://github.com/NVIDIA/gpu-operator/issues/391
        "| NVIDIA-SMI 495.46       Driver Version: 495.46       CUDA Version: 11.5     |\n",
        "495.46",
        "11.5",
        id="r495",
    ),
    pytest.param(  # https://github.com/chelsea0x3b/dfdx/pull/619
        "NVIDIA-SMI 525.89.02    Driver Version: 525.89.02    CUDA Version: 12.0\n",
        "525.89.02",
        "12.0",
        id="r525",
    ),
    pytest.param(  # https://github.com/Wan-Video/Wan2.1/issues/5 (Tesla V100)
        "| NVIDIA-SMI 525.105.17   Driver Version: 525.105.17   CUDA Version: 12.0     |\n",
        "525.105.17",
        "12.0",
        id="r525-tesla",
    ),
    pytest.param(  # https://github.com/jahaniam/orbslam3_docker/issues/31
        "| NVIDIA-SMI 535.183.01             Driver Version: 535.183.01   "
        "CUDA Version: 12.2     |\n",
        "535.183.01",
        "12.2",
        id="r535",
    ),
    pytest.param(  # https://github.com/microsoft/WSL/issues/11589 (WSL 2, Windows driver, ERR!)
        "| NVIDIA-SMI 545.46                 Driver Version: 546.80       "
        "CUDA Version: ERR!     |\n",
        "546.80",
        None,
        id="r545-wsl-err",
    ),
    pytest.param(  # https://github.com/Frogging-Family/nvidia-all/pull/212
        "| NVIDIA-SMI 550.40.07              Driver Version: 550.40.07      "
        "CUDA Version: 12.4     |\n",
        "550.40.07",
        "12.4",
        id="r550",
    ),
    pytest.param(  # https://github.com/slackr31337/wyoming-piper-gpu/pull/20 (Tesla P4)
        "| NVIDIA-SMI 550.135                Driver Version: 550.135        "
        "CUDA Version: 12.4     |\n",
        "550.135",
        "12.4",
        id="r550-two-part",
    ),
    pytest.param(  # https://github.com/microsoft/WSL/issues/11277 (WSL 2)
        "| NVIDIA-SMI 560.28.03              Driver Version: 560.76         "
        "CUDA Version: 12.6     |\n",
        "560.76",
        "12.6",
        id="r560-wsl",
    ),
    pytest.param(  # https://github.com/microsoft/WSL/issues/6014 (nvidia-smi.exe, TCC/WDDM)
        "| NVIDIA-SMI 460.15       Driver Version: 460.15       CUDA Version: 11.1     |\n"
        "| GPU  Name            TCC/WDDM | Bus-Id        Disp.A | Volatile Uncorr. ECC |\n",
        "460.15",
        "11.1",
        id="r460-windows",
    ),
    pytest.param(  # https://github.com/canonical/inference-snaps/issues/128
        "| NVIDIA-SMI 570.133.07             Driver Version: 570.133.07     "
        "CUDA Version: 12.8     |\n",
        "570.133.07",
        "12.8",
        id="r570",
    ),
    pytest.param(  # https://github.com/awslabs/amazon-eks-ami/issues/2443 (GRID, NVIDIA L4-12Q)
        "| NVIDIA-SMI 570.172.08             Driver Version: 570.172.08     "
        "CUDA Version: 12.8     |\n",
        "570.172.08",
        "12.8",
        id="r570-grid",
    ),
    pytest.param(  # https://github.com/livepeer/ai-runner/pull/679
        "| NVIDIA-SMI 575.57.08              Driver Version: 575.57.08      "
        "CUDA Version: 12.9     |\n",
        "575.57.08",
        "12.9",
        id="r575",
    ),
    pytest.param(  # https://github.com/shkhln/libc6-shim/issues/14 (FreeBSD shim: N/A)
        "| NVIDIA-SMI 575.64.03              Driver Version: 575.64.03      "
        "CUDA Version: N/A      |\n",
        "575.64.03",
        None,
        id="r575-na",
    ),
    pytest.param(  # https://github.com/anduril/jetpack-nixos/pull/371 (JetPack 6, Orin)
        "| NVIDIA-SMI 540.4.0                Driver Version: 540.4.0      "
        "CUDA Version: N/A      |\n",
        "540.4.0",
        None,
        id="jetpack6-na",
    ),
    pytest.param(  # https://github.com/dusty-nv/jetson-containers/issues/1403 (JetPack 6.2.1)
        "| NVIDIA-SMI 540.4.0                Driver Version: 540.4.0      "
        "CUDA Version: 12.6     |\n",
        "540.4.0",
        "12.6",
        id="jetpack6",
    ),
    # `nvidia-smi -q` (and the older -a) head its log with the same two fields
    pytest.param(  # https://github.com/NVIDIA/nvidia-docker/issues/809 (R390: no CUDA line)
        "==============NVSMI LOG==============\n\n"
        "Timestamp                           : Tue Aug 14 17:01:49 2018\n"
        "Driver Version                      : 390.77\n\nAttached GPUs                       : 1\n",
        "390.77",
        None,
        id="q-r390",
    ),
    pytest.param(  # https://github.com/NVIDIA/nvidia-docker/issues/688
        "Timestamp                           : Mon Apr  2 19:47:58 2018\n"
        "Driver Version                      : 375.82\n",
        "375.82",
        None,
        id="q-r375",
    ),
    pytest.param(  # https://github.com/netdata/netdata/issues/4892
        "Driver Version                      : 410.72\n"
        "CUDA Version                        : 10.0\n",
        "410.72",
        "10.0",
        id="q-r410",
    ),
    pytest.param(  # https://github.com/CFSworks/nvml_fix/issues/27 (a diff: context lines)
        "-Timestamp                           : Tue Sep  3 12:47:40 2019\n"
        "+Timestamp                           : Tue Sep  3 12:50:19 2019\n"
        " Driver Version                      : 418.87.00\n"
        " CUDA Version                        : 10.1\n",
        "418.87.00",
        "10.1",
        id="q-r418-diff",
    ),
    pytest.param(  # https://github.com/NVIDIA/nvidia-docker/issues/1439
        "Driver Version                            : 450.80.02\n"
        "CUDA Version                              : 11.0\n",
        "450.80.02",
        "11.0",
        id="q-r450",
    ),
    pytest.param(  # https://github.com/NVIDIA/nvidia-container-toolkit/issues/169
        "Driver Version                            : 510.68.02\n"
        "CUDA Version                              : 11.6\n",
        "510.68.02",
        "11.6",
        id="q-r510",
    ),
    pytest.param(  # https://github.com/NVIDIA/nvidia-docker/issues/1604 (WSL 2)
        "Driver Version                            : 510.06\n"
        "CUDA Version                              : 11.6\n",
        "510.06",
        "11.6",
        id="q-r510-wsl",
    ),
]


def _refused(text: str) -> str:
    """The hint ``verify --driver`` gives for ``text``, which must be refused."""
    with pytest.raises(CudaError) as caught:
        DriverVersion.parse(text, where="--driver", trim=True)
    assert caught.value.hint is not None, text
    return caught.value.hint


@pytest.mark.parametrize(("text", "driver", "cuda"), BANNERS)
def test_the_banner_reads_the_driver_and_cuda_the_tool_printed(
    text: str, driver: str, cuda: str | None
) -> None:
    assert parse_smi_banner(text) == SmiBanner(driver, cuda)


@pytest.mark.parametrize(("text", "driver", "cuda"), BANNERS)
def test_the_banner_survives_windows_line_ends_and_web_spaces(
    text: str, driver: str, cuda: str | None
) -> None:
    """Copied through a Windows terminal (CRLF) or a web page (non-breaking spaces in the
    padding), a banner still reads as the tool printed it."""
    for noisy in (text.replace("\n", "\r\n"), text.replace("  ", "\u00a0 ")):
        assert parse_smi_banner(noisy) == SmiBanner(driver, cuda), noisy


@pytest.mark.parametrize(("text", "driver", "cuda"), BANNERS)
def test_a_pasted_banner_is_refused_naming_its_driver(
    text: str, driver: str, cuda: str | None
) -> None:
    """``verify --driver "<the banner>"``: not judged (a paste is not a version), but the hint
    names the driver the banner states, the kernel module's (KMD), never nvidia-smi's own.
    Where the two differ the banner is WSL 2's (the tool is Linux's, the driver the Windows
    host's): the hint says so and sends the user to ``verify --host``, which ranks a Windows
    driver by Table 3's Windows column, instead of to ``--driver``, which ranks it as Linux's."""
    hint = _refused(text)
    tool = re.search(r"NVIDIA-SMI ([0-9.]+)", text)
    if tool is not None and tool[1] != driver:
        assert f"driver {driver} is the Windows host's" in hint and "verify --host" in hint, hint
        assert "write" not in hint, hint
    else:
        assert f"that text holds driver {driver}:" in hint, hint


PROC_LINES = [
    pytest.param(  # https://github.com/dylanaraps/neofetch/issues/876
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  384.98  Thu Oct 26 15:16:01 PDT 2017\n"
        "GCC version:  gcc version 7.2.0 (Ubuntu 7.2.0-8ubuntu3) \n",
        "384.98",
        id="proprietary-r384",
    ),
    pytest.param(  # https://github.com/nix-community/nixGL/issues/121
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  525.60.11  Release Build  "
        "(archlinux-builder@localhost)  \nGCC version:  gcc version 12.2.0 (GCC) \n",
        "525.60.11",
        id="open-r525",
    ),
    pytest.param(  # https://github.com/hyprwm/Hyprland/pull/6715 (a localised build date)
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  555.58  Release Build  "
        "(portage@localhost)  \u0421\u0431 29 \u0438\u044e\u043d 2024 14:36:22 MSK\n",
        "555.58",
        id="open-r555-localised",
    ),
    pytest.param(  # https://github.com/nix-community/nixGL/issues/186
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release Build  "
        "(dvs-builder@U16-A24-9-2)  Thu Oct 10 12:15:00 UTC 2024\n"
        "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n",
        "565.57.01",
        id="open-r565",
    ),
]


@pytest.mark.parametrize(("text", "driver"), PROC_LINES)
def test_the_proc_file_gives_the_kernel_module_version(text: str, driver: str) -> None:
    assert parse_proc_driver_version(text) == driver
    host = with_glibc(files={PROC_DRIVER_VERSION: text})
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == (driver, PROC_DRIVER_VERSION)


# /proc/version of WSL 2, its release as `uname -a` printed it in
# https://github.com/microsoft/WSL/issues/11277 ("5.15.153.1-microsoft-standard-WSL2 #1 SMP ...")
WSL_PROC_VERSION = (
    "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1) (gcc (GCC) 12.3.0) "
    "#1 SMP Fri Mar 29 23:14:13 UTC 2024\n"
)


def test_an_r610_host_reports_its_cuda_umd_version() -> None:
    """A Linux host on R610: the kernel module's version from sysfs, and the CUDA Version from
    the banner's renamed "CUDA UMD Version", not dropped as unrecognised output."""
    host = with_glibc(
        files={SYS_MODULE_VERSION: "610.43.02\n"}, outputs={SMI_BANNER_ARGV: R610_B200}
    )
    facts = detect(host)
    assert (facts.driver, facts.cuda_driver_version) == ("610.43.02", "13.3")
    assert not any(p.detail.startswith("unrecognised") for p in facts.probes), facts.probes


def test_a_wsl_host_on_r610_is_found_through_the_banner() -> None:
    """WSL 2 has no kernel module files; when the GPU query fails the banner is the one CLI
    source, and on R610 it says "KMD Version": the driver, its CUDA and WSL are all read."""
    host = with_glibc(
        files={KERNEL_VERSION: WSL_PROC_VERSION}, outputs={SMI_BANNER_ARGV: R610_A1000}
    )
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == ("610.43.02", " ".join(SMI_BANNER_ARGV))
    assert (facts.cuda_driver_version, facts.windows_driver) == ("13.3", True)


@given(
    smi=st.from_regex(r"[5-9][0-9]{2}\.[0-9]{2}(\.[0-9]{2})?", fullmatch=True),
    kmd=st.from_regex(r"[5-9][0-9]{2}\.[0-9]{2}", fullmatch=True),
    pad=st.integers(min_value=1, max_value=20),
)
@settings(max_examples=150, deadline=None)
def test_a_pasted_r610_wsl_banner_names_the_kmd_never_the_tool(
    smi: str, kmd: str, pad: int
) -> None:
    """On WSL 2 the banner's NVIDIA-SMI number is the Linux tool's and the KMD Version the
    Windows driver's: the hint names the KMD Version, as it names "Driver Version" before R610."""
    line = f"| NVIDIA-SMI {smi}{' ' * pad}KMD Version: {kmd}     CUDA UMD Version: 13.3     |"
    banner = parse_smi_banner(line)
    assert banner is not None and banner.driver == kmd and banner.cuda == "13.3"
    hint = _refused(line)
    if smi == kmd:
        assert f"that text holds driver {kmd}:" in hint, hint
    else:
        assert f"driver {kmd} is the Windows host's" in hint and "verify --host" in hint, hint
        assert smi not in hint.replace(f"nvidia-smi {smi} is", ""), hint


MISMATCH = [
    pytest.param(  # https://github.com/tinygrad/open-gpu-kernel-modules/issues/47
        "nvidia-smi \nFailed to initialize NVML: Driver/library version mismatch\n"
        "NVML library version: 570.124\n",
        "570.124",
        id="mismatch-570",
    ),
    pytest.param(  # https://github.com/intel/llvm/issues/17614
        "Failed to initialize NVML: Driver/library version mismatch\n"
        "NVML library version: 550.144\n",
        "550.144",
        id="mismatch-550",
    ),
]


@pytest.mark.parametrize(("text", "library"), MISMATCH)
def test_a_pasted_version_mismatch_is_not_taken_for_the_driver(text: str, library: str) -> None:
    """ "NVML library version" is the user-space library's, and the message says the loaded kernel
    module is another version: naming it as "the driver" would send the user to judge a driver
    the GPU is not running. The hint says where the running driver's version is read."""
    hint = _refused(text)
    assert f"holds driver {library}" not in hint
    assert "mismatch" in hint and SYS_MODULE_VERSION in hint, hint


FAILURES = [
    pytest.param(  # https://github.com/microsoft/WSL/issues/3847
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure "
        "that the latest NVIDIA driver is installed and running. \n",
        id="smi-failed",
    ),
    pytest.param(  # https://github.com/Azure/AKS/issues/4870
        "Failed to initialize NVML: Unknown Error\n", id="nvml-unknown"
    ),
    pytest.param(  # https://github.com/canonical/inference-snaps/issues/128 (R4xx query)
        'Field "compute_cap" is not a valid field to query.\n', id="query-field"
    ),
]


@pytest.mark.parametrize("text", FAILURES)
def test_a_pasted_nvidia_smi_failure_is_refused_saying_so(text: str) -> None:
    """What nvidia-smi prints instead of a version (``--driver "$(nvidia-smi ...)"``) is
    refused saying so, and where the running driver's version is read instead."""
    hint = _refused(text)
    assert "nvidia-smi failing" in hint and SYS_MODULE_VERSION in hint, hint


# /etc/nv_tegra_release of a Jetson AGX Thor (JetPack 7), and the driver NVML reports there
# (https://github.com/rbonghi/jetson_stats/issues/711, https://github.com/vllm-project/vllm/issues/34470)
THOR_TEGRA = (
    "# R38 (release), REVISION: 2.0, GCID: 41844464, BOARD: generic, EABI: aarch64, "
    "DATE: Fri Aug 22 00:55:42 UTC 2025\n"
)


def test_a_thor_driver_is_found_but_not_judged() -> None:
    host = with_glibc(files={SYS_MODULE_VERSION: "580.00\n", TEGRA_RELEASE: THOR_TEGRA})
    facts = detect(host)
    assert facts.driver is None
    assert any("Jetson Linux R38.2.0" in p.detail for p in facts.probes), facts.probes


def test_a_jetpack6_banner_without_the_release_file_is_not_judged() -> None:
    """In a container on JetPack 6 without /etc/nv_tegra_release, where nvidia-smi's GPU query
    does not work ("nvidia-smi is not work on nvidia orin",
    https://github.com/sgl-project/sglang/issues/3331), the banner is the driver's source: its
    GPU row names the integrated "Orin (nvgpu)", so 540.4.0 is Jetson Linux's and not judged
    by Table 3 (where it would read as an R535-era desktop driver)."""
    banner = (  # https://github.com/ollama/ollama/issues/9503
        "| NVIDIA-SMI 540.4.0                Driver Version: 540.4.0      "
        "CUDA Version: 12.6     |\n"
        "|   0  Orin (nvgpu)                  "
        "N/A  | N/A              N/A |                  N/A |\n"
    )
    facts = detect(with_glibc(outputs={SMI_BANNER_ARGV: banner}))
    assert facts.driver is None
    assert any("Orin (nvgpu)" in p.detail for p in facts.probes), facts.probes


def test_a_jetpack6_banner_without_a_driver_version_is_unrecognised() -> None:
    text = (  # https://github.com/OE4T/linux-tegra-5.10/issues/17
        "| NVIDIA-SMI 540.3.0                Driver Version: N/A          "
        "CUDA Version: 12.2     |\n"
    )
    assert parse_smi_banner(text) is None


def test_a_jetpack6_banner_with_its_release_file_is_not_judged() -> None:
    """JetPack 6 (R36): nvidia-smi reports 540.4.0, a number Table 3 does not rank."""
    banner = (  # https://github.com/ollama/ollama/issues/9503
        "| NVIDIA-SMI 540.4.0                Driver Version: 540.4.0      "
        "CUDA Version: 12.6     |\n"
        "|   0  Orin (nvgpu)                  N/A  | N"
        "/A              N/A |                  N/A |\n"
    )
    host = with_glibc(
        files={TEGRA_RELEASE: "# R36 (release), REVISION: 4.3\n"}, outputs={SMI_BANNER_ARGV: banner}
    )
    assert detect(host).driver is None


# `kubectl describe node` label lines from GPU Feature Discovery, committed to public GitHub
# repositories (found by content search); the values are GFD's, leading zero of the revision kept.
GFD = [
    pytest.param("560", "35", "03", "560.35.03", "7", "5", "560.35.03", id="gfd-560"),
    pytest.param("525", "78", "01", None, "6", "1", "525.78.01", id="gfd-525-deprecated-only"),
    pytest.param("470", "199", "02", None, "6", "1", "470.199.02", id="gfd-470"),
    pytest.param("515", "86", "01", None, "8", "0", "515.86.01", id="gfd-515-mig"),
]


@pytest.mark.parametrize(("major", "minor", "rev", "full", "cc_major", "cc_minor", "driver"), GFD)
def test_gfd_labels_give_the_driver_and_architecture(
    major: str, minor: str, rev: str, full: str | None, cc_major: str, cc_minor: str, driver: str
) -> None:
    labels = {
        "nvidia.com/cuda.driver.major": major,
        "nvidia.com/cuda.driver.minor": minor,
        "nvidia.com/cuda.driver.rev": rev,
        "nvidia.com/gpu.compute.major": cc_major,
        "nvidia.com/gpu.compute.minor": cc_minor,
    }
    if full is not None:
        labels |= {
            "nvidia.com/cuda.driver-version.full": full,
            "nvidia.com/cuda.driver-version.major": major,
            "nvidia.com/cuda.driver-version.minor": minor,
            "nvidia.com/cuda.driver-version.revision": rev,
        }
    facts = gpu_facts(Node("n", labels))
    assert (str(facts.driver), facts.arch) == (driver, f"sm_{cc_major}{cc_minor}")


_NOISE = st.sampled_from(
    ["", " ", "\t", "\r", "\r\n", "\n", "\u00a0", "\u2502 ", "\x1b[32m", "\x1b[0m", "`", '"', "**"]
)


@given(
    driver=st.from_regex(r"[1-9][0-9]{2}\.[0-9]{1,3}(\.[0-9]{2})?", fullmatch=True),
    before=st.lists(_NOISE, max_size=3).map("".join),
    after=st.lists(_NOISE, max_size=3).map("".join),
)
@settings(max_examples=300, deadline=None)
def test_copy_paste_noise_never_changes_the_driver(driver: str, before: str, after: str) -> None:
    """``--driver`` with what a terminal, a web page or markdown adds around a version: the
    version itself, or a refusal; never another number, never an unexpected exception."""
    text = f"{before}{driver}{after}"
    try:
        parsed = DriverVersion.parse(text, where="--driver", trim=True)
    except CudaError as exc:
        assert exc.hint, text
        return
    assert str(parsed) == driver, (text, parsed)
    assert set(before + after) <= set(" \t\r\n"), text  # only ASCII space is ever trimmed


def test_the_cli_refuses_a_pasted_r610_wsl_banner_naming_its_driver(tmp_path: Path) -> None:
    """``mlenv verify --driver "$(nvidia-smi)"`` on R610, end to end: exit 1, the hint names
    the KMD Version, no traceback."""
    root, env = locked_cuda_project(tmp_path, "12.4", "550.54.14")
    wsl_like = R610_A1000.replace("KMD Version: 610.43.02", "KMD Version: 610.47   ")
    result = run_mlenv(["verify", "--driver", wsl_like], root, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "driver 610.47 is the Windows host's" in result.stderr, result.stderr
    passed = run_mlenv(["verify", "--driver", "610.43.02\r\n"], root, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr


WINDOWS_FILE_VERSIONS = [
    # (what Windows shows for the driver, the NVIDIA driver it is)
    pytest.param(  # https://github.com/the-database/mpv-AnimeJaNai/pull/81 (WMI, R610)
        "32.0.16.1047", "610.47", id="wmi-610"
    ),
    pytest.param("31.0.15.7652", "576.52", id="wmi-576"),  # same pull request
    pytest.param(  # https://github.com/HawaiiBeach/TinyNvidiaUpdateChecker/issues/96
        "30.0.14.7111", "471.11", id="wmi-471"
    ),
    pytest.param("30.0.14.7196", "471.96", id="wmi-471-96"),  # fyr77/EnvyUpdate/issues/21
    pytest.param(  # https://github.com/lord-carlos/nvidia-update/issues/1 (Get-WmiObject)
        "22.21.13.8253", "382.53", id="wmi-382"
    ),
    pytest.param(  # https://github.com/rcmaehl/WhyNotWin11/issues/58 (dxdiag pads with zeros)
        "30.00.0014.7242", "472.42", id="dxdiag-472"
    ),
]


@pytest.mark.parametrize(("text", "driver"), WINDOWS_FILE_VERSIONS)
def test_a_windows_file_version_is_refused_naming_nvidias_number(text: str, driver: str) -> None:
    assert f"is Windows' version of NVIDIA driver {driver};" in _refused(text)


def test_a_pasted_multi_gpu_query_with_other_columns_names_its_one_driver() -> None:
    text = (  # https://github.com/triton-inference-server/server/pull/8070
        "compute_cap, compute_mode, driver_version, name, index\n"
        "7.0, Default, 570.86.15, NVIDIA TITAN V, 0\n"
        "8.9, Default, 570.86.15, NVIDIA RTX 5880 Ada Generation, 1\n"
    )
    assert "that text holds driver 570.86.15:" in _refused(text)


def test_a_pasted_driver_version_query_with_its_header_and_crlf_is_the_driver() -> None:
    """``nvidia-smi --query-gpu=driver_version --format=csv`` on a two-GPU host, through a
    Windows terminal: the header and the agreeing rows give the one driver."""
    text = "driver_version\r\n570.86.15\r\n570.86.15\r\n"
    assert str(DriverVersion.parse(text, where="--driver", trim=True)) == "570.86.15"
