"""Attack 178: host driver detection on the machines NVIDIA's users report from.

Each sample was read in the public issue or pull request beside it; only the lines mlenv reads
are kept. A host goes through ``mlenv.host.detect`` on an in-memory machine, a pasted text
through the one driver reader as ``--driver`` and ``MLENV_DRIVER_VERSION`` call it. What must
come out: the driver the machine runs, or a refusal whose hint names what it read, never
another number and never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.cuda.versions import CudaError, DriverVersion
from mlenv.host import (
    PROC_DRIVER_VERSION,
    SMI_BANNER_ARGV,
    SMI_QUERY_ARGV,
    SYS_MODULE_VERSION,
    TEGRA_RELEASE,
    UNAME_ARGV,
    WSL_GPU_DEVICE,
    WSL_NVIDIA_SMI,
    detect,
)
from mlenv.host_text import (
    DRIVER_ENV,
    HostError,
    parse_compute_cap_override,
    parse_driver_override,
)
from tests.support.cli import run_mlenv
from tests.support.cuda_project import locked_cuda_project
from tests.support.fake_host import with_glibc

WSL_QUERY = (WSL_NVIDIA_SMI, *SMI_QUERY_ARGV[1:])
WSL_BANNER = (WSL_NVIDIA_SMI,)
# https://github.com/microsoft/WSL/issues/11277 (WSL 2: WSL's tool 560.28.03, Windows' 560.76)
BANNER_560_WSL = (
    "| NVIDIA-SMI 560.28.03              Driver Version: 560.76         CUDA Version: 12.6     |\n"
)


def test_wsl_nvidia_smi_off_the_path_still_finds_the_windows_driver() -> None:
    """WSL 2 maps nvidia-smi into /usr/lib/wsl/lib, which root, sudo and SSH sessions do not
    have on their PATH (https://github.com/microsoft/WSL/issues/8794,
    https://github.com/gpustack/gpustack/issues/1297). Before, ``verify --host`` there found
    no driver at all; the mapped-in tool is now asked first."""
    host = with_glibc(
        files={WSL_GPU_DEVICE: "", WSL_NVIDIA_SMI: ""},
        outputs={WSL_BANNER: BANNER_560_WSL},  # the GPU query failed, the banner did not
    )
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == ("560.76", WSL_NVIDIA_SMI)
    assert (facts.cuda_driver_version, facts.windows_driver) == ("12.6", True)
    ran = [call[1] for call in host.calls if call[0] == "run" and call[1] != UNAME_ARGV]
    assert ran == [WSL_QUERY, SMI_QUERY_ARGV, WSL_BANNER], host.calls  # the mapped one first


def test_a_mapped_nvidia_smi_that_cannot_start_falls_back_to_the_path() -> None:
    """https://github.com/nix-community/NixOS-WSL/issues/246: /usr/lib/wsl/lib/nvidia-smi is
    there but cannot start ("no such file or directory": no FHS loader). An nvidia-smi on the
    PATH that does answer (a wrapper) is asked next; its driver is still the Windows host's."""
    host = with_glibc(
        files={WSL_GPU_DEVICE: "", WSL_NVIDIA_SMI: ""},
        outputs={SMI_BANNER_ARGV: BANNER_560_WSL},
    )
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == ("560.76", "nvidia-smi")
    assert (facts.cuda_driver_version, facts.windows_driver) == ("12.6", True)


def test_wsl_query_through_the_mapped_tool_gives_gpus_and_driver() -> None:
    """The GPU query through the mapped-in tool: its driver and GPUs, judged as Windows'."""
    host = with_glibc(
        files={WSL_GPU_DEVICE: "", WSL_NVIDIA_SMI: ""},
        outputs={
            WSL_QUERY: "560.76, 8.9, NVIDIA GeForce RTX 4090\n",
            WSL_BANNER: BANNER_560_WSL,
        },
    )
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == ("560.76", " ".join(WSL_QUERY))
    assert [gpu.compute_cap for gpu in facts.gpus] == ["8.9"]
    assert (facts.cuda_driver_version, facts.windows_driver) == ("12.6", True)


def test_wsl_nvidia_smi_that_cannot_reach_the_driver_reports_no_driver_naming_it() -> None:
    """https://github.com/microsoft/WSL/issues/9134: WSL's nvidia-smi "has failed because it
    couldn't communicate with the NVIDIA driver" (it exits non-zero). No driver is made up;
    the probe list names the tool that was asked."""
    facts = detect(with_glibc(files={WSL_GPU_DEVICE: "", WSL_NVIDIA_SMI: ""}))
    assert facts.driver is None and facts.gpus == ()
    failed = {probe.source for probe in facts.probes if not probe.ok}
    assert {" ".join(WSL_QUERY), WSL_NVIDIA_SMI} <= failed, facts.probes


def test_no_devices_found_on_gh200_keeps_the_loaded_module_driver() -> None:
    """https://github.com/NVIDIA/open-gpu-kernel-modules/issues/774: GH200 NVL2 on
    nvidia-driver-570-open (570.86.15), nvidia-smi prints "No devices were found" and exits
    non-zero. The loaded module's version is still the driver; no GPU is invented."""
    host = with_glibc(files={SYS_MODULE_VERSION: "570.86.15\n"})
    host.outputs[UNAME_ARGV] = "aarch64\n"
    facts = detect(host)
    assert (facts.driver, facts.driver_source) == ("570.86.15", SYS_MODULE_VERSION)
    assert (facts.gpus, facts.cuda_driver_version, facts.machine) == ((), None, "aarch64")


def test_mixed_models_on_one_node_are_each_listed() -> None:
    """https://github.com/triton-inference-server/server/pull/8070: a TITAN V (7.0) beside an
    RTX 5880 Ada (8.9) on 570.86.15, as mlenv's own query columns print them."""
    query = "570.86.15, 7.0, NVIDIA TITAN V\n570.86.15, 8.9, NVIDIA RTX 5880 Ada Generation\n"
    facts = detect(with_glibc(outputs={SMI_QUERY_ARGV: query}))
    assert facts.driver == "570.86.15"
    assert [gpu.compute_cap for gpu in facts.gpus] == ["7.0", "8.9"]


def test_h200_banner_with_its_mig_column_gives_driver_and_cuda() -> None:
    """https://github.com/ollama/ollama/issues/9031: an H200 on 570.86.15 (CUDA Version 12.8),
    the banner's MIG M. column saying Disabled."""
    banner = (
        "| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      "
        "CUDA Version: 12.8     |\n"
        "|                                         |                        "
        "|               MIG M. |\n"
        "|   0  NVIDIA H200                    Off |   00000000:19:00.0 Off "
        "|                    0 |\n"
        "|                                         |                        "
        "|             Disabled |\n"
    )
    facts = detect(with_glibc(outputs={SMI_BANNER_ARGV: banner}))
    assert (facts.driver, facts.cuda_driver_version) == ("570.86.15", "12.8")


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        pytest.param(  # https://github.com/nix-community/nixGL/issues/121 (nvidia-open-dkms)
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  525.60.11  Release Build  "
            "(archlinux-builder@localhost)  \nGCC version:  gcc version 12.2.0 (GCC) \n",
            "525.60.11",
            id="open-525",
        ),
        pytest.param(  # https://github.com/nix-community/nixGL/issues/186 (565-open, Ubuntu)
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  565.57.01  Release Build  "
            "(dvs-builder@U16-A24-9-2)  Thu Oct 10 12:15:00 UTC 2024\n"
            "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n",
            "565.57.01",
            id="open-565",
        ),
    ],
)
def test_the_open_module_proc_file_gives_its_driver(text: str, driver: str) -> None:
    facts = detect(with_glibc(files={PROC_DRIVER_VERSION: text}))
    assert (facts.driver, facts.driver_source) == (driver, PROC_DRIVER_VERSION)


def test_jetpack5_without_any_driver_probe_is_said_to_be_jetson() -> None:
    """JetPack 5 has no nvidia-smi ("command not found",
    https://github.com/ultralytics/ultralytics/pull/20680) and no NVIDIA kernel module; L4T
    R35.4.1 is JetPack 5.1.2 (https://github.com/OE4T/meta-tegra/pull/1353). Before, the probes
    said only that nothing was found and the hint asked for a driver to set; now the release
    file is named, and why no driver is judged."""
    facts = detect(with_glibc(files={TEGRA_RELEASE: "# R35 (release), REVISION: 4.1\n"}))
    assert facts.driver is None and facts.driver_source is None
    (said,) = [probe for probe in facts.probes if probe.source == TEGRA_RELEASE]
    assert not said.ok
    assert said.detail.startswith("Jetson Linux R35.4.1: its driver is not judged"), said


def _refused(text: str) -> str:
    with pytest.raises(CudaError) as caught:
        DriverVersion.parse(text, where="--driver", trim=True)
    assert caught.value.hint is not None
    return caught.value.hint


# https://github.com/nvidiavgpuarchive/index/issues/1: a vGPU 18.2 package whose guest driver
# (570.148.08) met another kernel module (570.148.06); dmesg as the user pasted it.
API_MISMATCH = (
    "[ 8957.099615] NVRM: API mismatch: the client has the version 570.148.08, but\n"
    "[ 8957.099615] NVRM: this kernel module has the version 570.148.06.  Please\n"
    "[ 8957.099615] NVRM: make sure that this kernel module and all NVIDIA driver\n"
)


def test_a_pasted_api_mismatch_names_the_loaded_kernel_module_not_the_client() -> None:
    """Before, the hint said "that text holds driver 570.148.08": the client's libraries,
    which the loaded module refuses, so the user would judge a driver the GPU does not run."""
    hint = _refused(API_MISMATCH)
    assert "holds driver" not in hint, hint
    assert "kernel module is driver 570.148.06" in hint, hint
    assert "user-space libraries are 570.148.08" in hint, hint


def test_a_pasted_dmesg_load_line_names_its_driver() -> None:
    """The same issue's "NVRM: loading ..." line holds the loaded module's version."""
    line = "[    6.252567] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  570.148.06  Mon May  5"
    assert "that text holds driver 570.148.06" in _refused(line)


def test_a_pasted_no_devices_found_is_nvidia_smi_failing() -> None:
    """https://github.com/NVIDIA/open-gpu-kernel-modules/issues/774: before, only the generic
    "write it as nvidia-smi prints it"; now where the running driver is read instead."""
    hint = _refused("No devices were found\n")
    assert "nvidia-smi failing" in hint and SYS_MODULE_VERSION in hint, hint


def test_a_pasted_jetson_release_is_named_as_such() -> None:
    """/etc/nv_tegra_release of JetPack 6.2 (L4T R36.4.3, https://github.com/OE4T/meta-tegra/pull/1822):
    an L4T release, not a driver of NVIDIA's tables; before, the generic hint."""
    text = (
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
        "DATE: Wed Jan  8 01:49:37 UTC 2025\n"
    )
    hint = _refused(text)
    assert "Jetson Linux R36.4.3" in hint and "not a driver" in hint, hint
    with pytest.raises(HostError) as caught:
        parse_driver_override(text)
    assert "Jetson Linux R36.4.3" in (caught.value.hint or "")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("vGPU 18.2", id="vgpu"),  # https://github.com/nvidiavgpuarchive/index/issues/1
        pytest.param("GRID v16.5", id="grid"),  # https://github.com/Azure/azhpc-extensions/pull/74
    ],
)
def test_a_vgpu_software_release_is_named_not_taken_for_a_driver(text: str) -> None:
    """vGPU software releases number a host/guest driver pair (vGPU 18.2: host 570.148.06,
    guest 570.148.08, the archive issue above); before, only the generic hint."""
    hint = _refused(text)
    assert f"{text} names an NVIDIA vGPU software release, not a driver" in hint, hint
    assert "guest" in hint


def test_a_guest_driver_beside_grid_is_still_the_driver_named() -> None:
    assert "that text holds driver 535.161.08" in _refused("GRID 535.161.08")


@pytest.mark.parametrize(
    ("text", "caps"),
    [("sm_90", "9.0"), ("sm_80,sm_90a", "8.0,9.0"), ("sm_100f\nsm_120", "10.0,12.0")],
)
def test_architectures_given_as_compute_capabilities_are_converted_in_the_hint(
    text: str, caps: str
) -> None:
    """MLENV_GPU_COMPUTE_CAP wants nvidia-smi's compute_cap (9.0); an arch list (sm_90, as
    TORCH_CUDA_ARCH_LIST-style tools name it) is refused with the values to write instead."""
    with pytest.raises(HostError) as caught:
        parse_compute_cap_override(text)
    assert (caught.value.hint or "").endswith(f"not compute capabilities; write {caps}")


def test_a_hostile_mismatch_paste_is_refused_without_naming_a_version() -> None:
    """The mismatch reader's gap is bounded: a huge paste is still refused (and quickly)."""
    text = "client has the version 570.148.08 " * 2000 + "x" * 5000
    assert "kernel module is driver" not in _refused(text)


def test_the_cli_refuses_a_pasted_api_mismatch_in_the_variable(tmp_path: Path) -> None:
    """``MLENV_DRIVER_VERSION="$(dmesg | grep NVRM)" mlenv verify --host`` end to end: exit
    non-zero, the hint names the loaded kernel module's driver, no traceback."""
    root, env = locked_cuda_project(tmp_path, "12.8", "570.124.06")
    result = run_mlenv(["verify", "--host"], root, {**env, DRIVER_ENV: API_MISMATCH})
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "kernel module is driver 570.148.06" in result.stderr, result.stderr
    passed = run_mlenv(["verify", "--host"], root, {**env, DRIVER_ENV: "570.148.06\n"})
    assert passed.returncode == 0, passed.stdout + passed.stderr
