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
- ``verify`` by the lock's own floor, edited to "570.86 ", said "driver version: ... is not a
  driver version", naming neither the lock nor its key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlenv import host
from mlenv.cuda.versions import CudaError, DriverVersion
from mlenv.host_libs import HINT
from mlenv.host_system import Said
from mlenv.host_text import HostError
from tests.support.cli import run_in_process
from tests.support.cuda_project import locked_cuda_project
from tests.support.fake_host import FakeHost, with_glibc

pytestmark = pytest.mark.hostile

FIXTURES = Path(__file__).parents[2] / "fixtures" / "host"
# zzzhouuu/truenas-nvidia-drivers#19: nvidia-smi's whole output beside a module of 580.173.02
TRUENAS_SMI = (FIXTURES / "smi_nvml_mismatch.txt").read_text()
# JetPack 6.2 on an AGX Orin: the banner (ollama/ollama#9503) and the release file (attack 18)
JETPACK_BANNER = (FIXTURES / "smi_banner_jetpack62.txt").read_text()
L4T_R36 = (FIXTURES / "nv_tegra_release_r36.txt").read_text()


def _hint_of(value: str) -> tuple[str, str]:
    """The hints the one driver reader gives ``value`` as MLENV_DRIVER_VERSION (through
    ``detect``) and as a manifest's or lock's exact value."""
    with pytest.raises(HostError) as override:
        host.detect(FakeHost(env={"MLENV_DRIVER_VERSION": value}))
    with pytest.raises(CudaError) as exact:
        DriverVersion.parse(value, where="[cuda].driver-floor")
    return override.value.hint or "", exact.value.hint or ""


# cpnr/computing#109: the same line beside the open module 580.126.09 (/proc/driver/nvidia)
@pytest.mark.parametrize(
    ("value", "library"),
    [("NVML library version: 580.178", "580.178"),
     ("NVML library version: 580.178\n", "580.178"),
     ("NVML library version: 580.159", "580.159")],
)  # fmt: skip
def test_nvml_library_version_is_never_offered_as_the_driver(value: str, library: str) -> None:
    """Input: nvidia-smi's second mismatch line as the driver. Before: "write 580.178 alone"
    (a version above the loaded module's, on a host where CUDA cannot start). Now: said to
    be nvidia-smi failing, the library's version, and where the module's is read."""
    for hint in _hint_of(value):
        assert f"write {library}" not in hint
        assert "the library's" in hint and "/sys/module/nvidia/version" in hint


def test_several_nodes_drivers_are_named() -> None:
    """Input: two nodes' ``nvidia-smi --query-gpu=driver_version --format=csv,noheader`` lines
    pasted as one value. Before: "write it as nvidia-smi prints it". Now: both named, oldest
    first, and one asked for."""
    for hint in _hint_of("575.51.03\r\n570.124.06\r\n"):
        assert "2 drivers (570.124.06, 575.51.03)" in hint and "write that one alone" in hint
    for hint in _hint_of("driver 555.42 or 550.54"):  # attack 116 gave it the general hint
        assert "2 drivers (550.54, 555.42)" in hint and "write that one alone" in hint


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A CUDA 12.6 project (floor 560.28.03), locked by the real CLI."""
    return locked_cuda_project(tmp_path_factory.mktemp("a220"), "12.6", "560.28.03")


def _verify_host(
    machine: FakeHost, project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, dict[str, object]]:
    """``mlenv verify --host`` on ``machine``: exit code, all text, and the --json answer."""
    monkeypatch.setattr(host, "RealHost", lambda: machine)
    code, out, err = run_in_process(["verify", "--host"], *project)
    json_code, json_out, _ = run_in_process(["verify", "--host", "--json"], *project)
    assert json_code == code
    return code, out + err, json.loads(json_out)


def test_jetson_cannot_judge_says_jetson(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input: a JetPack 6.2 Orin. Before: exit 3 "no NVIDIA driver found on this host", hint
    "run on a GPU node". Now: exit 3 naming driver 540.4.0 as Jetson Linux R36.4.3's."""
    machine = with_glibc({host.TEGRA_RELEASE: L4T_R36}, {host.SMI_BANNER_ARGV: JETPACK_BANNER})
    code, said, answer = _verify_host(machine, project, monkeypatch)
    assert code == 3, said
    headline = "driver 540.4.0 is Jetson Linux R36.4.3's, not judged by NVIDIA's driver tables"
    assert f"cannot judge: {headline}" in said
    assert "no NVIDIA driver found" not in said and "run on a GPU node" not in said
    assert answer["ok"] is None and answer["cannot-judge"] == headline


def test_mismatch_without_a_module_file_fails(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Input: no /sys/module or /proc/driver version file, nvidia-smi exiting 18 with the
    TrueNAS mismatch. Before: exit 3 "no NVIDIA driver found", hint "run on a GPU node". Now:
    exit 1 quoting the mismatch and NVML's 580.178, with the reboot hint."""
    machine = with_glibc()
    for argv in (host.SMI_QUERY_ARGV, host.SMI_BANNER_ARGV):
        machine.failures[argv] = Said(18, TRUENAS_SMI, "")
    code, said, answer = _verify_host(machine, project, monkeypatch)
    assert code == 1, said
    assert (
        "error: nvidia-smi says 'Failed to initialize NVML: Driver/library version mismatch'"
        in said
    )
    assert "Driver/library version mismatch" in said and "580.178" in said
    assert "no NVIDIA driver found" not in said and "reboot" in said
    assert answer["ok"] is False and answer["hint"] == HINT


FULLWIDTH = "\uff15\uff17\uff10.\uff18\uff16"  # 570.86 in fullwidth digits


@pytest.mark.parametrize("command", [["verify"], ["export", "--format", "k8s-affinity"]])
@pytest.mark.parametrize(
    ("key", "value", "named"),
    [("driver-floor", "570.86 ", "target.driver-floor: '570.86 ' is not a driver version"),
     ("driver-floor", FULLWIDTH, "target.driver-floor: "),
     ("cuda", "12.6.3", 'target.cuda: "12.6.3" is not a CUDA major.minor'),
     ("cuda", " 12.6", 'target.cuda: " 12.6" is not a CUDA major.minor')],
)  # fmt: skip
def test_an_edited_lock_value_names_the_lock(
    command: list[str], key: str, value: str, named: str, project: tuple[Path, dict[str, str]]
) -> None:
    """Input: the lock's oldest-driver key (or its CUDA) edited by hand. Before: exit 1 with
    "driver version: '570.86 ' is not a driver version", naming no file or key, and a CUDA
    with a blank was trimmed by some readers. Now: the lock reader refuses the lock as
    damaged, naming its key, for every command that reads it."""
    root, env = project
    lock = (root / "mlenv.lock").read_text()
    assert f'\n{key} = "' in lock
    edited = lock.replace(f'\n{key} = "', f'\n{key} = "{value}" # was "', 1)
    try:
        (root / "mlenv.lock").write_text(edited)
        code, out, err = run_in_process(command, root, env)
    finally:
        (root / "mlenv.lock").write_text(lock)
    assert code == 1, out + err
    assert "error: mlenv.lock: the lock is damaged" in err
    assert f"mlenv.lock: {named}" in err
