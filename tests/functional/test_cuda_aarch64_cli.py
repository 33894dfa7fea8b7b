"""``mlenv lock`` and ``verify --host`` judge an aarch64 torch by the aarch64 arch list.

PyTorch's aarch64 (SBSA) ``+cu128`` wheels of 2.9 carry 8.0;9.0;10.0;12.0, its x86_64 ones
7.0 to 12.0. A g5g fleet (T4G, sm_75) locked an aarch64 torch 2.9.0+cu128 without a word; now
the lock is refused, while the same fleet on x86_64 (T4) locks it. A host is judged by its own
machine's wheels: an x86_64 T4 node verifies a lock for both machines.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from tests.support.cli import run_mlenv
from tests.support.cuda_project import torch_fleet_project as _project


def test_a_t4g_fleet_is_refused_the_aarch64_cu128_torch(tmp_path: Path) -> None:
    env = _project(tmp_path, ["linux-aarch64"], ["sm_75"])
    locked = run_mlenv(["lock"], tmp_path, env)
    assert locked.returncode != 0, locked.stdout
    assert "aarch64 CUDA 12.8 builds carry no code for sm_75" in locked.stderr, locked.stderr


def test_a_t4_fleet_locks_the_x86_64_build_of_the_same_release(tmp_path: Path) -> None:
    env = _project(tmp_path, ["linux-64"], ["sm_75"])
    locked = run_mlenv(["lock"], tmp_path, env)
    assert locked.returncode == 0, locked.stderr


def test_an_x86_64_t4_host_verifies_a_lock_for_both_machines(tmp_path: Path) -> None:
    """The aarch64 torch's list is no verdict on an x86_64 host; the host's own wheel is.
    (verify --host reads the machine from ``uname -m``: this runs on an x86_64 machine.)"""
    assert platform.machine() == "x86_64"
    env = _project(tmp_path, ["linux-64", "linux-aarch64"], ["sm_90"])
    assert run_mlenv(["lock"], tmp_path, env).returncode == 0
    host = {**env, "MLENV_DRIVER_VERSION": "570.26", "MLENV_GPU_COMPUTE_CAP": "7.5"}
    done = run_mlenv(["verify", "--host", "--json"], tmp_path, host)
    codes = {f["code"] for f in json.loads(done.stdout)["findings"]}
    assert "arch-not-built" not in codes, done.stdout
    old = {**host, "MLENV_GPU_COMPUTE_CAP": "6.1"}  # Pascal: the x86_64 cu128 list has none
    done = run_mlenv(["verify", "--host", "--json"], tmp_path, old)
    codes = {f["code"] for f in json.loads(done.stdout)["findings"]}
    assert "arch-not-built" in codes, done.stdout
