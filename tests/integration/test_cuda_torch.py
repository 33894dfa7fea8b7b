"""The CUDA rules on the real CUDA-13 torch 2.14.1 stack from this machine's local indexes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.peers import CUDA_INDEX, LOCAL_INDEX, find_links_with_cuda_bindings

pytestmark = pytest.mark.integration


def write_manifest(root: Path, cuda: str, floor: str) -> None:
    links = find_links_with_cuda_bindings()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "torch"\npython = "3.11"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n'
        f'[pypi]\nindex-url = "{LOCAL_INDEX}"\nextra-index-urls = ["{CUDA_INDEX}"]\n'
        f'find-links = ["{links}"]\nindex-strategy = "best-match"\n'
        'dependencies = ["torch==2.14.1"]\n'
    )


@pytest.fixture(scope="module")
def cuda13(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("cuda13")
    env = {"MLENV_CACHE_DIR": str(root / "cache")}
    write_manifest(root, "13.0", "580.65.06")
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    return root, env


def test_lock_records_cuda_13_needs(cuda13: tuple[Path, dict[str, str]]) -> None:
    root, _ = cuda13
    lock = load_lock((root / "mlenv.lock").read_text())
    packages = lock.platform("linux-64").by_name()
    assert packages["torch"].cuda == "13.0"  # from its Requires-Dist on cuda-toolkit==13.0.3
    assert packages["nvidia-cudnn-cu13"].cuda == "13.x"
    assert packages["nvidia-cublas"].requires_driver == "580.95.05"
    assert lock.target.requires_driver == "580.95.05"
    assert lock.target.requires_driver_because is not None
    assert "CUDA 13.0 Update 2" in lock.target.requires_driver_because


def test_verifies_for_cuda_13_with_floor_580_65_06(cuda13: tuple[Path, dict[str, str]]) -> None:
    root, env = cuda13
    result = run_mlenv(["verify", "--json"], root, env)
    assert result.returncode == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert {f["severity"] for f in data["findings"]} <= {"warning"}


def test_driver_575_fails_naming_torch_and_its_cuda_13_dependencies(
    cuda13: tuple[Path, dict[str, str]],
) -> None:
    root, env = cuda13
    result = run_mlenv(["verify", "--json", "--driver", "575.57.08"], root, env)
    assert result.returncode == 1
    (error,) = [f for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"]
    assert error["code"] == "driver-below-toolkit"
    for name in ("torch 2.14.1", "nvidia-cublas 13.1.1.3", "nvidia-cudnn-cu13 9.24.0.43"):
        assert name in error["message"]
    assert error["hint"] == "upgrade the driver to 580.65.06 or newer"  # a checked driver


def test_cuda_12_4_cannot_lock_torch_2_14_1_and_says_why(tmp_path: Path) -> None:
    write_manifest(tmp_path, "12.4", "550.54.14")
    result = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert "is built for CUDA 13.0, but the target is CUDA 12.4" in result.stderr
    assert "torch==2.14.1 (from the manifest)" in result.stderr  # torch itself is refused
    assert "https://download.pytorch.org/whl/cu124" in result.stderr
    assert not (tmp_path / "mlenv.lock").exists()
