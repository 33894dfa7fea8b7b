"""Issue 13 through the CLI: the silent-pass classes fail, the PyTorch index's plain-linux
wheels lock, and verify's edges (empty --driver, --host --json exit 3, conda-only locks)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

from mlenv.lockfile import Lock, LockedPlatform
from mlenv.lockfile_fresh import inputs_hash
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.locks import conda_closed, conda_record, target_of
from tests.support.wheels import build_wheel, write_simple_index

MANY = "cp311-cp311-manylinux_2_28_x86_64"
PLAIN = "cp311-cp311-linux_x86_64"  # how download.pytorch.org tags many CUDA wheels
CUDA_DEPS = ["nvidia-cuda-runtime-cu12==12.4.127"]


def project(
    tmp: Path, wheels: list[tuple[str, bytes]], deps: str, cuda: str
) -> tuple[Path, dict[str, str]]:
    url = write_simple_index(tmp / "index", wheels)
    root = tmp / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "t"\npython = "3.11"\n[cuda]\n{cuda}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = [{deps}]\n'
    )
    return root, {"MLENV_CACHE_DIR": str(tmp / "cache")}


def only_package(root: Path) -> dict[str, object]:
    """The one PyPI package of the lock, as the TOML a user reads."""
    (package,) = tomllib.loads((root / "mlenv.lock").read_text())["platform"]["linux-64"]["package"]
    return package  # type: ignore[no-any-return]


CUDA_121 = 'version = "12.1"\ndriver-floor = "530.30.02"\n'
CUDA_124 = 'version = "12.4"\ndriver-floor = "550.54.14"\n'


def test_plain_linux_tagged_cuda_wheels_lock(tmp_path: Path) -> None:
    """Was: torch-2.6.0+cu124-cp311-cp311-linux_x86_64.whl could never be locked."""
    wheels = [
        build_wheel("torch", "2.6.0+cu124", tag=PLAIN),
        build_wheel("torch", "2.6.0+cpu", tag=PLAIN),
    ]
    root, env = project(tmp_path, wheels, '"torch==2.6.0"', CUDA_124)
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    torch = only_package(root)
    assert torch["filename"] == "torch-2.6.0+cu124-cp311-cp311-linux_x86_64.whl"
    assert torch["cuda"] == "12.4"


def test_manylinux_wheel_wins_over_plain_linux(tmp_path: Path) -> None:
    wheels = [
        build_wheel("torch", "2.6.0+cu124", tag=PLAIN),
        build_wheel("torch", "2.6.0+cu124", tag=MANY),
    ]
    root, env = project(tmp_path, wheels, '"torch"', CUDA_124)
    assert run_mlenv(["lock"], root, env).returncode == 0
    torch = only_package(root)
    assert str(torch["filename"]).endswith("manylinux_2_28_x86_64.whl")


def test_silent_cpu_fallback_fails_and_cpu_ok_records_it(tmp_path: Path) -> None:
    """Was: exit 0 with torch 2.6.0+cpu in a CUDA 12.1 lock."""
    wheels = [
        build_wheel("torch", "2.6.0+cpu", tag=MANY),
        build_wheel("torch", "2.6.0+cu124", tag=MANY),
    ]
    root, env = project(tmp_path, wheels, '"torch"', CUDA_121)
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1, result.stderr
    assert "error: the CUDA 12.1 target would receive 1 CPU-only build(s)" in result.stderr
    assert (
        "refused 2.6.0+cu124 (torch-2.6.0+cu124-cp311-cp311-manylinux_2_28_x86_64.whl): "
        in result.stderr
    )
    assert "it needs driver 550.54.14 but the driver floor is 530.30.02" in result.stderr
    assert "Traceback" not in result.stderr and not (root / "mlenv.lock").exists()
    text = (root / "mlenv.toml").read_text().replace("[pypi]", 'cpu-ok = ["torch"]\n[pypi]')
    (root / "mlenv.toml").write_text(text)
    allowed = run_mlenv(["lock"], root, env)
    assert allowed.returncode == 0, allowed.stderr
    assert "allowed by [cuda] cpu-ok" in allowed.stderr
    torch = only_package(root)
    assert (torch["version"], torch["cpu-ok"]) == ("2.6.0+cpu", True)
    verified = run_mlenv(["verify"], root, env)
    assert verified.returncode == 0, verified.stdout
    assert "WARNING cpu-build" in verified.stdout


def test_plain_cpu_wheel_without_nvidia_requirements_fails(tmp_path: Path) -> None:
    wheels = [
        build_wheel("torch", "2.6.0", tag=MANY),
        build_wheel("torch", "2.6.0+cu126", tag=MANY),
    ]
    root, env = project(tmp_path, wheels, '"torch"', CUDA_124)
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1
    assert (
        "is a CPU-only build without CUDA for linux-64, but the target is CUDA 12.4"
        in result.stderr
    )
    assert "refused 2.6.0+cu126" in result.stderr


def test_plain_wheel_with_nvidia_requirements_is_a_cuda_build(tmp_path: Path) -> None:
    wheels = [
        build_wheel("torch", "2.6.0", tag=MANY, requires_dist=CUDA_DEPS),
        build_wheel("torch", "2.6.0+cu118", tag=MANY),
        build_wheel("nvidia-cuda-runtime-cu12", "12.4.127", tag=MANY),
    ]
    root, env = project(tmp_path, wheels, '"torch"', CUDA_124)
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr


def _verify_project(tmp: Path) -> tuple[Path, dict[str, str]]:
    wheels = [build_wheel("torch", "2.6.0+cu124", tag=MANY)]
    root, env = project(tmp, wheels, '"torch"', CUDA_124)
    assert run_mlenv(["lock"], root, env).returncode == 0
    return root, env


def test_empty_driver_is_an_error_never_the_floor(tmp_path: Path) -> None:
    """`--driver "$(nvidia-smi ...)"` after a failed nvidia-smi must not verify the floor."""
    root, env = _verify_project(tmp_path)
    for value in ("", " ", "\uff15\uff15\uff10.54.14"):
        result = run_mlenv(["verify", "--driver", value], root, env)
        assert result.returncode == 1, (value, result.stdout)
        assert result.stderr.startswith(f"error: --driver: {value!r} is not a driver version")
        assert "judged against" not in result.stdout


def test_host_json_prints_json_when_it_cannot_judge(tmp_path: Path) -> None:
    root, env = _verify_project(tmp_path)
    result = run_mlenv(["verify", "--host", "--json"], root, {**env, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 3
    data = json.loads(result.stdout)
    assert data["ok"] is None
    assert data["cannot-judge"] == "no NVIDIA driver found on this host"
    assert {"source": "/proc/driver/nvidia/version", "ok": False, "detail": "not present"} in data[
        "probes"
    ]


def test_conda_only_lock_is_judged_and_counted(tmp_path: Path) -> None:
    """Was: "0 packages" and exit 0 for a CUDA 11.8 pytorch in a CUDA 12.4 lock."""
    root = tmp_path / "p"
    root.mkdir()
    text = (
        '[environment]\nname = "t"\npython = "3.11"\n[cuda]\n'
        + CUDA_124
        + '[conda]\nchannels = ["conda-forge"]\ndependencies = ["pytorch"]\n'
    )
    (root / "mlenv.toml").write_text(text)
    manifest = load_manifest(text)
    record = conda_record("pytorch", "2.5.1", "cuda118_py311h0", cuda="11.8",
                          depends=("cuda-version >=11.8,<12",))  # fmt: skip
    target = dataclasses.replace(target_of(manifest), requires_driver="550.54.14")
    # the cuda-version record its depends name, as a solve locks it
    platform = LockedPlatform("linux-64", (), conda_closed(record))
    lock = Lock(inputs_hash(manifest), target, (platform,))
    (root / "mlenv.lock").write_text(render(lock))
    result = run_mlenv(["verify"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 packages (0 PyPI, 2 conda), CUDA 12.4" in result.stdout.splitlines()[0]
    assert "ERROR   cuda-major-mismatch" in result.stdout
