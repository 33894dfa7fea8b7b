"""Attack 165: NVIDIA facts through ``mlenv verify --host``: who forward compatibility is for,
and the compute capabilities nvidia-smi prints, one line per GPU.

The CUDA Compatibility guide's "Forward Compatibility" section
(https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html) says it "is
applicable only for systems with: NVIDIA Data Center GPUs. Select NGC Server Ready SKUs of RTX
cards. Jetson boards." mlenv's hint for a driver below the target's Table 3 value, on a branch
the forward-compatibility matrix lists, said "on data-center GPUs only", turning an NGC Server
Ready RTX node or a Jetson away from the ``cuda-compat`` package NVIDIA supports on it. The
rows c282-c338 of ``nvidia_cuda_cases.csv`` (checked by attack 146) hold the judge-level cases.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

_TAG = "cp311-cp311-manylinux_2_28_x86_64"


def _project(tmp_path: Path, cuda: str, floor: str, package: str) -> None:
    name, version = package.split("==")
    url = write_simple_index(tmp_path / "www", [build_wheel(name, version, tag=_TAG)])
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "fc"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["{package}"]\n'
    )


@pytest.mark.parametrize(
    ("cuda", "floor", "package", "driver", "compat"),
    [
        # Table 3: 12.8 GA needs 570.26; the matrix lists cuda-compat-12-8 on R535
        ("12.8", "570.26", "torch==2.7.1+cu128", "535.288.01", "cuda-compat-12-8"),
        # Table 3: 13.0 GA needs 580.65.06; cuda-compat-13-0 on every older listed branch
        ("13.0", "580.65.06", "torch==2.9.0+cu130", "570.124.06", "cuda-compat-13-0"),
    ],
)
def test_verify_names_every_system_forward_compat_is_for(
    tmp_path: Path, cuda: str, floor: str, package: str, driver: str, compat: str
) -> None:
    _project(tmp_path, cuda, floor, package)
    env = {
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "MLENV_DRIVER_VERSION": driver,
        "MLENV_GPU_COMPUTE_CAP": "9.0",
    }
    locked = run_mlenv(["lock"], tmp_path, env)
    assert locked.returncode == 0, locked.stderr
    done = run_mlenv(["verify", "--host", "--json"], tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads(done.stdout)["findings"]
    (below,) = [f for f in findings if f["code"] == "driver-below-toolkit"]
    hint = below["hint"]
    assert compat in hint
    assert "data-center GPUs" in hint
    assert "NGC Server Ready RTX" in hint and "Jetson boards" in hint
    assert "GeForce cannot use it" in hint
    assert "data-center GPUs only" not in hint


def test_verify_takes_nvidia_smi_compute_cap_lines_of_a_mixed_node(tmp_path: Path) -> None:
    """Input: a node with an A100 (8.0) and a V100 (7.0);
    ``MLENV_GPU_COMPUTE_CAP="$(nvidia-smi --query-gpu=compute_cap --format=csv)"`` holds the
    ``compute_cap`` header and one line per GPU (nvidia-smi docs, --query-gpu). Before: refused
    as "not a list of compute capabilities". Now: both GPUs are judged, and the V100 is refused
    on a CUDA 13.0 lock (CUDA 13.0 release notes: Volta removed)."""
    _project(tmp_path, "13.0", "580.65.06", "torch==2.9.0+cu130")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "MLENV_DRIVER_VERSION": "580.65.06"}
    assert run_mlenv(["lock"], tmp_path, env).returncode == 0
    env["MLENV_GPU_COMPUTE_CAP"] = "compute_cap\n8.0\n7.0\n"
    done = run_mlenv(["verify", "--host", "--json"], tmp_path, env)
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert {f["code"] for f in findings if f["severity"] == "error"} == {"arch-dropped"}
    assert any("sm_70" in f["message"] for f in findings)
    assert not any("sm_80" in f["message"] for f in findings)


_WSL_KERNEL = "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f) #1 SMP\n"


@pytest.mark.parametrize(
    "banner",
    [  # microsoft/WSL#11589 prints ERR!; a CUDA library that does not load prints N/A
        "| NVIDIA-SMI 580.102.01             Driver Version: 581.57         CUDA Version: ERR!   |",
        "| NVIDIA-SMI 580.102.01             Driver Version: 581.57         CUDA Version: N/A    |",
    ],
)
def test_wsl_host_without_a_cuda_version_is_not_sent_to_run_verify_host_again(
    banner: str,
) -> None:
    """Input: WSL 2 (its kernel names Microsoft), Windows driver 581.57, a CUDA 13.0 lock, and
    nvidia-smi printing no CUDA Version. Table 3's Windows column is N/A for 13.x, so the number
    cannot be ranked (CUDA Toolkit Release Notes). Before: the refusal's hint said to run
    `mlenv verify --host` where nvidia-smi prints the CUDA Version -- what had just run (a WSL 2
    driver is only ever judged from verify --host). Now it says the WSL 2 CUDA driver did not
    load (CUDA on WSL User Guide: the Windows driver is stubbed inside WSL 2 as libcuda.so)."""
    from mlenv import host
    from mlenv.judge import Judged, verify_lock
    from tests.support.fake_host import with_glibc
    from tests.support.locks import HASH, locked, make_lock

    machine = with_glibc(
        {"/proc/version": _WSL_KERNEL},
        {
            host.SMI_QUERY_ARGV: "581.57, 8.9, NVIDIA GeForce RTX 4090\n",
            host.SMI_BANNER_ARGV: banner,
        },
    )
    facts = host.detect(machine)
    assert (facts.driver, facts.cuda_driver_version, facts.windows_driver) == ("581.57", None, True)
    lock = make_lock([locked("torch", "2.9.0+cu130", "13.0")], cuda="13.0", floor="580.65.06")
    judged = Judged("581.57", str(facts.driver_source), ("sm_89",), windows=True)
    (finding,) = verify_lock(lock, HASH, judged).findings
    assert (finding.severity, finding.code) == ("error", "driver-unconfirmed")
    assert "reported no CUDA Version" in finding.hint
    assert "libcuda.so" in finding.hint and "target CUDA 12.9 or older" in finding.hint
    assert "where nvidia-smi prints" not in finding.hint
