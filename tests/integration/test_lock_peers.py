"""The real CUDA-13 torch 2.14.1 stack: mlenv pins what uv and pip-compile pin, and pip
installs mlenv's export with --require-hashes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.peers import (
    CUDA_INDEX,
    LOCAL_INDEX,
    clean_env,
    find_links_with_cuda_bindings,
    pins_of,
    pip_compile,
    uv_compile,
)

pytestmark = pytest.mark.integration
REQUIREMENTS = ["torch==2.14.1"]


@pytest.fixture(scope="module")
def torch_lock(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("torch")
    links = find_links_with_cuda_bindings()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "torch"\npython = "3.11"\n[pypi]\n'
        f'index-url = "{LOCAL_INDEX}"\nextra-index-urls = ["{CUDA_INDEX}"]\n'
        f'find-links = ["{links}"]\nindex-strategy = "best-match"\n'
        f"dependencies = {REQUIREMENTS!r}\n".replace("'", '"')
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(root / "cache")})
    assert result.returncode == 0, result.stderr
    return root, links


def mlenv_pins(root: Path) -> dict[str, str]:
    lock = load_lock((root / "mlenv.lock").read_text())
    return {pkg.name: pkg.version for _, pkg in lock.packages()}


def test_torch_stack_pins_match_uv_and_pip_compile(
    torch_lock: tuple[Path, Path], tmp_path: Path
) -> None:
    root, links = torch_lock
    requirements = tmp_path / "requirements.in"
    requirements.write_text("\n".join(REQUIREMENTS) + "\n")
    indexes = [LOCAL_INDEX, CUDA_INDEX]
    uv = uv_compile(requirements, tmp_path / "uv.txt", indexes, [links], tmp_path / "uv-cache")
    assert uv.returncode == 0, uv.stderr
    pip = pip_compile(requirements, tmp_path / "pip.txt", indexes, [links], tmp_path / "pip-cache")
    assert pip.returncode == 0, pip.stderr
    ours = mlenv_pins(root)
    assert ours["torch"] == "2.14.1"
    assert any(name.startswith("nvidia-") for name in ours)
    assert ours == pins_of((tmp_path / "uv.txt").read_text())
    assert ours == pins_of((tmp_path / "pip.txt").read_text())


def test_pip_installs_the_export_with_require_hashes(
    torch_lock: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = torch_lock
    env = {"MLENV_CACHE_DIR": str(root / "cache")}
    out = run_mlenv(["export", "--format", "requirements", "-o", "req.txt"], root, env)
    assert out.returncode == 0, out.stderr
    # Only the small packages are installed, the hash check is pip's and it checks every line.
    lines = (root / "req.txt").read_text()
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--require-hashes", "--no-deps",
         "-d", str(tmp_path / "dl"), "-r", str(root / "req.txt")],
        env=clean_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr
    downloaded = sorted(p.name for p in (tmp_path / "dl").iterdir())
    lock = load_lock((root / "mlenv.lock").read_text())
    assert downloaded == sorted(pkg.filename for _, pkg in lock.packages())
    assert lines.count("--hash=sha256:") == len(downloaded)
