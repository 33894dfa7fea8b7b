"""`mlenv verify` end to end: exit codes 0/1/3, the table, --json, --driver and --host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

TAG = "cp311-cp311-manylinux_2_28_x86_64"


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    url = write_simple_index(
        tmp_path / "index",
        [build_wheel("torch", "2.6.0+cu124", tag=TAG), build_wheel("numpy", "2.4.6")],
    )
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "v"\npython = "3.11"\n'
        '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["torch==2.6.0", "numpy"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], root, env).returncode == 0
    return root, env


def test_verify_passes_and_says_what_it_judged(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    result = run_mlenv(["verify"], root, env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith("2 packages, CUDA 12.4, judged against the driver floor 550.54.14")
    assert lines[1] == "the environment needs driver 550.54.14 or newer"
    assert lines[-1] == "OK: 0 error(s), 0 warning(s)"


def test_verify_fails_for_an_older_driver(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    result = run_mlenv(["verify", "--driver", "535.104.05"], root, env)
    assert result.returncode == 1
    assert "judged against driver 535.104.05 (--driver)" in result.stdout
    assert "ERROR   driver-below-toolkit" in result.stdout
    assert "needed by torch 2.6.0+cu124" in result.stdout
    assert result.stdout.splitlines()[-1] == "FAIL: 1 error(s), 0 warning(s)"


def test_verify_json(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    result = run_mlenv(["verify", "--json", "--driver", "535.104.05"], root, env)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["judged"] == {"driver": "535.104.05", "source": "--driver", "archs": []}
    assert [f["code"] for f in data["findings"]] == ["driver-below-toolkit"]
    assert data["requires-driver"] == "550.54.14"


def test_verify_host_without_a_driver_cannot_judge(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    result = run_mlenv(["verify", "--host"], root, {**env, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 3
    assert "cannot judge: no NVIDIA driver found on this host" in result.stderr
    assert "/proc/driver/nvidia/version: not present" in result.stderr


def test_verify_host_uses_the_override(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    ok = run_mlenv(["verify", "--host"], root, {**env, "MLENV_DRIVER_VERSION": "550.54.15"})
    assert ok.returncode == 0, ok.stdout
    assert "judged against driver 550.54.15 (MLENV_DRIVER_VERSION)" in ok.stdout
    old = run_mlenv(
        ["verify", "--host"],
        root,
        {**env, "MLENV_DRIVER_VERSION": "550.54.15", "MLENV_GPU_COMPUTE_CAP": "3.5"},
    )
    assert old.returncode == 1
    assert "arch-dropped" in old.stdout or "arch-unsupported" in old.stdout


def test_bad_driver_override_is_a_user_error(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    result = run_mlenv(["verify", "--host"], root, {**env, "MLENV_DRIVER_VERSION": "latest"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: MLENV_DRIVER_VERSION: ")
    assert "Traceback" not in result.stderr


def test_bad_driver_argument_is_a_user_error(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    result = run_mlenv(["verify", "--driver", "five-fifty"], root, env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: --driver: ")


def test_verify_reports_a_stale_lock(project: tuple[Path, dict[str, str]]) -> None:
    root, env = project
    manifest = root / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace('"numpy"', '"numpy>=2"'))
    result = run_mlenv(["verify"], root, env)
    assert result.returncode == 1
    assert "ERROR   lock-stale" in result.stdout


def test_naming_the_lock_as_output_verifies_the_lock(project: tuple[Path, dict[str, str]]) -> None:
    """``mlenv verify mlenv.lock`` is the lock's check (its own lock, any spelling), not an
    error about a build.json it never had."""
    root, env = project
    plain = run_mlenv(["verify"], root, env)
    for spelling in ("mlenv.lock", "./mlenv.lock", str(root / "mlenv.lock")):
        named = run_mlenv(["verify", spelling], root, env)
        assert (named.returncode, named.stdout) == (0, plain.stdout), named.stderr


def test_another_lock_or_a_bundle_as_output_says_how_to_check_it(
    project: tuple[Path, dict[str, str]],
) -> None:
    root, env = project
    (root / "other.lock").write_bytes((root / "mlenv.lock").read_bytes())
    other = run_mlenv(["verify", "other.lock"], root, env)
    assert other.returncode == 1
    assert "error: other.lock: this is an mlenv lock, not a build output" in other.stderr
    assert "--manifest DIR/mlenv.toml verify" in other.stderr
    (root / "carry").mkdir()
    (root / "carry" / "bundle.json").write_text("{}")
    bundle = run_mlenv(["verify", "carry"], root, env)
    assert bundle.returncode == 1
    assert "hint: check a bundle with `mlenv verify --bundle carry`" in bundle.stderr
    assert "Traceback" not in other.stderr + bundle.stderr
