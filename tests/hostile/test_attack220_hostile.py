"""Attack 220: driver readings an NVIDIA driver expert would feed mlenv, in the tools' own
formats, through the one driver reader, ``mlenv.host.detect`` and ``mlenv verify --host``.

Every other input of the brief (several GPUs' lines with CRLF, blanks and padding; "[N/A]",
"No devices were found", "couldn't communicate"; vGPU, WSL 2 and MIG banners; the open,
proprietary and aarch64 /proc lines, tabs, a GCC line first; 570., 0570.86, 570.86-1, R570,
fullwidth and Arabic-Indic digits, 5.7e2, inf, "(open)", 32.0.15.7602, negative, 10**30,
empty) already gave the right verdict or a clear error naming its source. These did not:

- "NVML library version: 580.178", the line nvidia-smi prints after a version mismatch, was
  offered back as the driver ("write 580.178 alone"): it is the user-space library's, and the
  loaded module was 580.173.02 (zzzhouuu/truenas-nvidia-drivers#19, which shows both).
- Two nodes' ``--query-gpu=driver_version`` lines pasted together got the generic hint.
- ``verify --host`` on a Jetson said "no NVIDIA driver found on this host" / "run on a GPU
  node" while its own probe lines said the driver is Jetson Linux's.
- ``verify --host`` where nvidia-smi reports a Driver/library version mismatch and no module
  version file is readable said "no NVIDIA driver found" and exited 3; CUDA cannot start.
"""

from __future__ import annotations

import pytest

from mlenv import host
from mlenv.cuda.versions import CudaError, DriverVersion
from mlenv.host_text import HostError
from tests.support.fake_host import FakeHost

pytestmark = pytest.mark.hostile


def _hint_of(value: str) -> tuple[str, str]:
    """The hints the one driver reader gives ``value`` as MLENV_DRIVER_VERSION (through
    ``detect``) and as a manifest's or lock's exact value."""
    with pytest.raises(HostError) as override:
        host.detect(FakeHost(env={"MLENV_DRIVER_VERSION": value}))
    with pytest.raises(CudaError) as exact:
        DriverVersion.parse(value, where="[cuda].driver-floor")
    return override.value.hint or "", exact.value.hint or ""


@pytest.mark.parametrize(
    "value", ["NVML library version: 580.178", "NVML library version: 580.178\n"]
)
def test_nvml_library_version_is_never_offered_as_the_driver(value: str) -> None:
    """Input: nvidia-smi's second mismatch line as the driver. Before: "write 580.178 alone"
    (a version above the loaded module's, on a host where CUDA cannot start). Now: said to
    be nvidia-smi failing, the library's version, and where the module's is read."""
    for hint in _hint_of(value):
        assert "write 580.178" not in hint
        assert "the library's" in hint and "/sys/module/nvidia/version" in hint


def test_several_nodes_drivers_are_named() -> None:
    """Input: two nodes' ``nvidia-smi --query-gpu=driver_version --format=csv,noheader`` lines
    pasted as one value. Before: "write it as nvidia-smi prints it". Now: both named, oldest
    first, and one asked for."""
    for hint in _hint_of("575.51.03\r\n570.124.06\r\n"):
        assert "2 drivers (570.124.06, 575.51.03)" in hint and "write that one alone" in hint
