"""Eighteenth adversary pass: a host's NVIDIA driver and GPU facts as real machines print
them (nvidia-smi, /proc/driver/nvidia/version, NVML, GPU Feature Discovery labels).

A supported driver is never refused, an unsupported one never passes silently, unreadable
input is a clear error naming its source. Each test names its input and its source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from mlenv import host
from mlenv.commands.verify import by_host
from mlenv.judge import verify_lock
from mlenv.oci.read import BaseImage
from mlenv.oci.write import ImageSpec, image_config
from tests.support.locks import HASH, codes, locked, make_lock

pytestmark = pytest.mark.hostile

PROC_580 = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
    "(dvs-builder@U16-I3-B03-4-3)  Sun Jul 27 07:09:23 UTC 2025\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)
QUERY = " ".join(host.SMI_QUERY_ARGV)


@dataclass
class Machine:
    """A host as ``host.detect`` sees it: files, command outputs, no NVML."""

    files: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> Mapping[str, str]:
        return {}

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def exists(self, path: str) -> bool:
        return path in self.files

    def run(self, argv: Sequence[str], timeout: float) -> str | None:
        return self.outputs.get(" ".join(argv))

    def run_status(self, argv: Sequence[str], timeout: float) -> host.Said | None:
        output = self.run(argv, timeout)
        return None if output is None else host.Said(0, output, "")

    def resolve_link(self, path: str) -> str | None:
        return None

    def confstr(self, name: str) -> str | None:
        return "glibc 2.36"

    def nvml(self) -> host.NvmlSnapshot | None:
        return None


def host_codes(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """verify --host's findings for a CUDA 13.0 lock on ``machine``."""
    monkeypatch.setattr(host, "RealHost", lambda: machine)
    judged, _ = by_host()
    assert judged is not None and judged.driver == "580.65.06"
    lock = make_lock([locked("torch", "2.8.0+cu130", cuda="13.0")], "13.0", "580.65.06")
    return codes(verify_lock(lock, HASH, judged))


@pytest.mark.parametrize(
    "outputs",
    [
        {},  # nvidia-smi not in the container (NVIDIA_DRIVER_CAPABILITIES=compute)
        {QUERY: "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error\n"},
        {QUERY: "580.65.06, [N/A], Tesla V100-SXM2-16GB\n"},
    ],
)
def test_a_host_whose_gpus_are_unknown_is_not_passed_silently(
    outputs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input: /proc/driver/nvidia/version of the open module 580.65.06 (the format in
    NVIDIA/open-gpu-kernel-modules kernel-open/nvidia/nv.c, ``NVRM version: NVIDIA UNIX Open
    Kernel Module for x86_64  ...``) and an nvidia-smi that lists no GPU: absent (the container
    toolkit mounts it only with the ``utility`` capability, NVIDIA/nvidia-container-toolkit
    docs "Driver Capabilities"), a GPU fallen off the bus (nvidia-smi's "Unable to determine
    the device handle for GPU...: Unknown Error"), or ``[N/A]`` for compute_cap. Truth: CUDA 13
    dropped sm_70 (CUDA 13.0 release notes), so on a V100 the lock fails at run time; the
    host's architecture was never checked. Expected: a host-arch-unknown warning, as
    ``verify --nodes`` warns node-arch-unknown, never a clean pass."""
    machine = Machine({host.PROC_DRIVER_VERSION: PROC_580}, outputs)
    assert ("warning", "host-arch-unknown", "") in host_codes(machine, monkeypatch)


def test_a_host_whose_gpus_are_all_known_has_no_arch_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Input: the same host with nvidia-smi listing two H100s (``580.65.06, 9.0, NVIDIA H100
    80GB HBM3`` per GPU). Expected: the architecture is checked, no host-arch-unknown."""
    row = "580.65.06, 9.0, NVIDIA H100 80GB HBM3\n"
    machine = Machine({host.PROC_DRIVER_VERSION: PROC_580}, {QUERY: row * 2})
    found = host_codes(machine, monkeypatch)
    assert not [code for code in found if code[1] == "host-arch-unknown"], found


def base_with(env: list[str]) -> BaseImage:
    """A base image whose config carries ``env``, as docker writes ``ENV`` lines."""
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": env}}
    return BaseImage("sha256:" + "0" * 64, "amd64", config, (), (), cast(Any, None))


@pytest.mark.parametrize("value", ["1", "true", "True", "t"])
def test_a_base_image_cannot_switch_off_the_driver_guard(value: str) -> None:
    """Input: a base image built ``FROM tensorflow/tensorflow:latest-gpu`` with ``ENV
    NVIDIA_DISABLE_REQUIRE=1`` (a common Dockerfile line; NVIDIA's own device-plugin image sets
    ``NVIDIA_DISABLE_REQUIRE="true"``). Truth: NVIDIA/nvidia-container-toolkit
    internal/config/image/cuda_image.go ``HasDisableRequire``: any strconv.ParseBool true value
    skips every NVIDIA_REQUIRE_* check, so the NVIDIA_REQUIRE_CUDA mlenv writes would let the
    runtime start the image on a driver the lock refuses. Expected: the inherited variable is
    not in the image; the guard mlenv writes holds."""
    spec = ImageSpec("e", "linux-64", "/opt/e", 0, "sha256:" + "ab" * 32,
                     nvidia_require_cuda="cuda>=12.4,driver>=550.54.14")  # fmt: skip
    base = base_with([f"NVIDIA_DISABLE_REQUIRE={value}", "LANG=C.UTF-8"])
    env = dict(item.split("=", 1) for item in image_config(spec, [], base)["config"]["Env"])
    assert "NVIDIA_DISABLE_REQUIRE" not in env
    assert env["NVIDIA_REQUIRE_CUDA"] == "cuda>=12.4,driver>=550.54.14"
    assert env["LANG"] == "C.UTF-8"


JETPACK_62_BANNER = (
    "| NVIDIA-SMI 540.4.0                Driver Version: 540.4.0      CUDA Version: 12.6     |\n"
)
L4T_R36 = (
    "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, "
    "DATE: Wed Jan  8 01:49:37 UTC 2025\n"
)


@pytest.mark.parametrize(
    ("files", "outputs"),
    [
        ({"/etc/nv_tegra_release": L4T_R36}, {" ".join(host.SMI_BANNER_ARGV): JETPACK_62_BANNER}),
        ({}, {QUERY: "540.4.0, 8.7, Orin (nvgpu)\n"}),
        ({"/etc/nv_tegra_release": "\n"}, {QUERY: "540.4.0, 8.7, NVIDIA Jetson AGX Orin\n"}),
    ],
)
def test_a_jetson_driver_is_not_judged_by_the_desktop_driver_table(
    files: dict[str, str], outputs: dict[str, str]
) -> None:
    """Input: a Jetson AGX Orin on JetPack 6.2: nvidia-smi prints ``Driver Version: 540.4.0
    CUDA Version: 12.6`` and names the GPU ``Orin (nvgpu)`` (dusty-nv/jetson-containers#1403,
    ultralytics/ultralytics#20680); /etc/nv_tegra_release reads ``# R36 (release), REVISION:
    4.3`` (Jetson Linux developer guide). Truth: JetPack 6.2 ships and runs CUDA 12.6 on that
    driver; Tegra drivers are numbered by L4T, apart from the desktop/data-center drivers of
    the CUDA release notes' Table 3 (12.6 needs >= 560.28.03 there). Judging 540.4.0 by that
    table refused a supported host. Expected: no driver is judged (verify --host exits 3
    "cannot judge"), and the probes say it is a Jetson driver."""
    facts = host.detect(Machine(files, outputs))
    assert facts.driver is None
    assert any("Jetson" in probe.detail and not probe.ok for probe in facts.probes), facts.probes
