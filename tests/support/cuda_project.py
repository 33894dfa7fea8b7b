"""A locked one-package CUDA project on a local index, for ``mlenv verify`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run_mlenv
from tests.support.golden import golden_project
from tests.support.images import write_image
from tests.support.wheels import build_wheel, write_simple_index


def locked_cuda_project(tmp_path: Path, cuda: str, floor: str) -> tuple[Path, dict[str, str]]:
    """The project root and the env its commands need, already locked for ``cuda``/``floor``."""
    index = write_simple_index(tmp_path / "index", [build_wheel("numpy", "2.4.6")])
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "v"\npython = "3.11"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["numpy"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], root, env)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    return root, env


def project_on_base(
    tmp_path: Path, base_env: list[str], cuda: str, floor: str
) -> tuple[Path, dict[str, str]]:
    """The golden project on a one-layer base image whose config sets ``base_env`` (an
    NVIDIA_REQUIRE_CUDA as NVIDIA's images set it), targeting ``cuda``/``floor``, locked and
    fetched: the root and the env its commands need."""
    base = tmp_path / "base"
    write_image(base, [("base", [])], ref="latest", cmd=["sh"], env=base_env)
    project = golden_project(tmp_path / "project")
    with (project / "mlenv.toml").open("a") as manifest:
        manifest.write(f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n')
        manifest.write(f'[build]\nbase-image = "{base}"\n')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "SOURCE_DATE_EPOCH": ""}
    for args in (["lock"], ["fetch"]):
        done = run_mlenv(args, project, env)
        assert done.returncode == 0, (args, done.stderr)
    return project, env


# PyTorch 2.9.0+cu128 wheels per platform: x86_64's carry 7.0 to 12.0, aarch64's 8.0 on.
AARCH64_TORCH = "torch==2.9.0+cu128"
TORCH_TAGS = {
    "linux-64": "cp311-cp311-manylinux_2_28_x86_64",
    "linux-aarch64": "cp311-cp311-manylinux_2_28_aarch64",
}


def torch_fleet_project(tmp_path: Path, platforms: list[str], archs: list[str]) -> dict[str, str]:
    """A project locking ``AARCH64_TORCH`` for ``platforms`` and a fleet of ``archs`` in
    ``tmp_path``, its wheels on a local index; the env its commands need."""
    wheels = [build_wheel("torch", "2.9.0+cu128", tag=TORCH_TAGS[name]) for name in platforms]
    url = write_simple_index(tmp_path / "www", wheels)
    (tmp_path / "mlenv.toml").write_text(
        f'[environment]\nname = "arm"\npython = "3.11"\nplatforms = {json.dumps(platforms)}\n'
        f'[cuda]\nversion = "12.8"\ndriver-floor = "570.26"\narchs = {json.dumps(archs)}\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["{AARCH64_TORCH}"]\n'
    )
    return {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
