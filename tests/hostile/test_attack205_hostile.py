"""Attack 205: nvidia-smi saying, on a host whose NVIDIA kernel module is loaded, that no GPU
can be used. The module's version file is there, so the driver is known; nvidia-smi exits
non-zero with "No devices were found" (the module failed to bring the GPU up: RmInitAdapter
failed) or "couldn't communicate with the NVIDIA driver" (a container started without the GPU
devices sees the host's /sys/module but cannot open /dev/nvidiactl), and a container detached
from its GPUs "Failed to initialize NVML: Unknown Error". CUDA finds no device either.

Before, ``verify --host`` judged the module's version, warned that no probe listed the GPUs
and passed (exit 0) a node where nothing CUDA can run. Each sample names the public issue it
was read in; only the lines mlenv reads are kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv import host
from tests.support.cli import run_in_process
from tests.support.cuda_project import locked_cuda_project
from tests.support.no_gpu_host import NO_GPU, judged_on, node

pytestmark = pytest.mark.hostile

# https://github.com/NVIDIA/open-gpu-kernel-modules/issues/862 (RTX 5090, open module, exit 6;
# dmesg: "RmInitAdapter failed! (0x22:0x56:884)") and #789 (RTX 3090 on 550.144.03); a CI job's
# container on a DGX B200 whose bare-metal nvidia-smi lists its GPUs, pytorch/pytorch#167118
NO_DEVICES = "No devices were found\n"
# https://github.com/ameli/manylinux-cuda/issues/5: `docker run -it <image> nvidia-smi`, started
# without --gpus, on a GPU host (exit 9)
NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure "
    "that the latest NVIDIA driver is installed and running.\n\n"
)
# NVIDIA's notice https://github.com/NVIDIA/nvidia-docker/issues/1730 ("Containers losing access
# to GPUs"): after a systemd reload a container's nvidia-smi prints this (exit 255) while the
# host's lists the GPUs (NVIDIA/nvidia-container-toolkit#1227, 570.133.20)
LOST = "Failed to initialize NVML: Unknown Error\n"
# https://github.com/NVIDIA/open-gpu-kernel-modules/issues/259 (515.43.04, open module): one
# GPU's handle failing; on a multi-GPU node the others may still run (nvidia-container-toolkit#69)
NO_HANDLE = "Unable to determine the device handle for GPU 0000:D8:00.0: Not Found\n"
# https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/23.3.1/troubleshootings.html
# ("infoROM is corrupted (nvidia-smi return code 14)"): the GPU is listed, with a warning
INFOROM = (
    "| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4     |\n"
    "|   0  Tesla P100-PCIE...  On   | 00000000:0B:00.0 Off |                    0 |\n"
    "WARNING: infoROM is corrupted at gpu 0000:0B:00.0\n"
)


@pytest.mark.parametrize(
    ("said", "status", "quoted"),
    [(NO_DEVICES, 6, "No devices were found"),
     (NO_DRIVER, 9, "couldn't communicate with the NVIDIA driver"),
     (LOST, 255, "Failed to initialize NVML: Unknown Error")],
)  # fmt: skip
def test_a_loaded_module_without_a_usable_gpu_fails(
    said: str, status: int, quoted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input: module 550.144.03 loaded, nvidia-smi exiting non-zero with each text. Before:
    pass (host-arch-unknown warning only). Now: host-no-gpu, quoting nvidia-smi."""
    found, message = judged_on(node(said, status), monkeypatch)
    assert NO_GPU in found, found
    assert quoted in message and "550.144.03" in message, message


def test_the_probes_still_keep_the_modules_driver() -> None:
    """The driver is still the loaded module's, and no GPU is made up."""
    facts = host.detect(node(NO_DEVICES, 6))
    assert (facts.driver, facts.driver_source) == ("550.144.03", host.PROC_DRIVER_VERSION)
    assert facts.gpus == () and facts.no_gpu == "No devices were found"


def test_a_cpu_only_lock_still_runs_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: the same node, a lock without CUDA builds. Expected: no host-no-gpu; nothing in
    it needs a GPU."""
    found, _ = judged_on(node(NO_DEVICES, 6), monkeypatch, cuda=None)
    assert NO_GPU not in found, found


def test_one_gpu_handle_failing_stays_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: nvidia-smi naming one GPU it cannot reach (#259). Other GPUs may run, so this
    says nothing of the host's: still the host-arch-unknown warning, not host-no-gpu."""
    found, _ = judged_on(node(NO_HANDLE, 255), monkeypatch)
    assert NO_GPU not in found and ("warning", "host-arch-unknown", "") in found, found


def test_a_corrupted_inforom_is_no_missing_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Input: nvidia-smi exiting 14 with its table and the infoROM warning (NVIDIA's GPU
    Operator troubleshooting page). The GPU is there: no host-no-gpu."""
    found, _ = judged_on(node(INFOROM, 14), monkeypatch)
    assert NO_GPU not in found, found


def test_without_a_loaded_module_nothing_is_judged() -> None:
    """Input: no module file, nvidia-smi failing to reach a driver (mattshma/bigdata#133:
    lsmod lists no nvidia). Expected: no driver at all, so nothing to judge (as before)."""
    facts = host.detect(node(NO_DRIVER, 9, proc=""))
    assert facts.driver is None and facts.no_gpu is None


def test_compute_capabilities_given_by_hand_are_believed() -> None:
    """MLENV_GPU_COMPUTE_CAP names the GPUs the user vouches for: not overruled."""
    machine = node(NO_DEVICES, 6)
    machine.env = {"MLENV_GPU_COMPUTE_CAP": "8.6"}
    facts = host.detect(machine)
    assert facts.no_gpu is None and [g.compute_cap for g in facts.gpus] == ["8.6"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A CUDA 12.4 project (floor 550.54.14), locked by the real CLI."""
    return locked_cuda_project(tmp_path_factory.mktemp("a205"), "12.4", "550.54.14")


def test_cli_exits_1_on_a_node_without_a_usable_gpu(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input: #862's node. Before: exit 0. Now: exit 1 naming host-no-gpu."""
    monkeypatch.setattr(host, "RealHost", lambda: node(NO_DEVICES, 6))
    code, out, err = run_in_process(["verify", "--host"], *project)
    assert code == 1, out + err
    assert "ERROR   host-no-gpu" in out and "No devices were found" in out
