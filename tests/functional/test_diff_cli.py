"""`mlenv diff` through the real CLI: a git project whose lock changes, and lock files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

TAG = "cp311-cp311-manylinux_2_28_x86_64"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
MANIFEST = """\
[environment]
name = "demo"
python = "3.11"
{cuda}
[pypi]
index-url = "{url}"
dependencies = [{deps}]
"""
CUDA_121 = '[cuda]\nversion = "12.1"\ndriver-floor = "530.30.02"\n'
CUDA_124 = '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'

Project = tuple[Path, str, dict[str, str]]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A git repository whose committed lock has torch 2.4.0+cu121, numpy 1.26.4 and tqdm."""
    url = write_simple_index(
        tmp_path / "index",
        [
            build_wheel("torch", "2.4.0+cu121", tag=TAG, requires_dist=["numpy"]),
            build_wheel("torch", "2.6.0+cu124", tag=TAG, requires_dist=["numpy"]),
            build_wheel("numpy", "1.26.4"),
            build_wheel("numpy", "2.1.0", files={"numpy/big.bin": bytes(range(256)) * 64}),
            build_wheel("numpy", "1.24.0"),
            build_wheel("tqdm", "4.66.1"),
            build_wheel("rich", "13.7.1"),
        ],
    )
    root = tmp_path / "project"
    root.mkdir()
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    relock(root, env, CUDA_121, url, '"torch==2.4.0", "numpy<2", "tqdm"')
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "."], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "lock"], cwd=root, check=True)
    return root, url, env


def relock(root: Path, env: dict[str, str], cuda: str, url: str, deps: str) -> None:
    (root / "mlenv.toml").write_text(MANIFEST.format(cuda=cuda, url=url, deps=deps))
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr


def test_default_compares_git_head_with_the_working_tree(project: Project) -> None:
    """Every kind of change, the CUDA change of a package and the driver before and after."""
    root, url, env = project
    relock(root, env, CUDA_124, url, '"torch==2.6.0", "numpy>=2", "rich"')
    result = run_mlenv(["diff"], root, env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "mlenv diff HEAD:mlenv.lock -> mlenv.lock"
    assert lines[1].startswith("linux-64: 1 added, 1 removed, 2 upgraded; download +")
    assert [line.split()[:2] for line in lines[2:6]] == [
        ["^", "numpy"],
        ["+", "rich"],
        ["^", "torch"],
        ["-", "tqdm"],
    ]
    assert "2.4.0+cu121 -> 2.6.0+cu124" in lines[4]
    assert lines[4].endswith("CUDA 12.1 -> 12.4")
    assert "CUDA target: 12.1 -> 12.4" in lines
    assert "driver needed: 530.30.02 -> 550.54.14 (because" in result.stdout
    assert run_mlenv(["diff", "--exit-code"], root, env).returncode == 1


def test_unchanged_lock_exit_code_zero(project: Project) -> None:
    root, _, env = project
    result = run_mlenv(["diff", "--exit-code"], root, env)
    assert result.returncode == 0, result.stderr
    assert "no package changes; download +0 B" in result.stdout
    assert "driver needed: 530.30.02, unchanged" in result.stdout


def test_two_files_json_and_a_downgrade(project: Project, tmp_path: Path) -> None:
    root, url, env = project
    old = tmp_path / "old.lock"
    old.write_bytes((root / "mlenv.lock").read_bytes())
    relock(root, env, CUDA_121, url, '"torch==2.4.0", "numpy<1.25", "tqdm"')
    result = run_mlenv(["diff", "--json", str(old), "mlenv.lock"], root, env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (platform,) = data["platforms"]
    assert platform["counts"]["downgraded"] == 1
    (change,) = platform["changes"]
    assert (change["name"], change["kind"]) == ("numpy", "downgraded")
    assert (change["old"]["version"], change["new"]["version"]) == ("1.26.4", "1.24.0")
    assert change["size-delta"] == change["new"]["size"] - change["old"]["size"]
    assert data["requires-driver"]["old"] == data["requires-driver"]["new"] == "530.30.02"


def test_markdown_and_new_warnings(project: Project) -> None:
    """Dropping [cuda] while CUDA builds stay is a new warning, and the table is Markdown."""
    root, url, env = project
    relock(root, env, "", url, '"torch==2.4.0", "numpy<2", "tqdm", "rich"')
    result = run_mlenv(["diff", "--format", "markdown", "HEAD"], root, env)
    assert result.returncode == 0, result.stderr
    assert "| added | `rich` (pypi) | `13.7.1` |" in result.stdout
    assert "|---|---|---|---:|---|" in result.stdout
    assert "- `driver needed: 530.30.02 -> none`" in result.stdout
    assert "- `new warning: the lock holds CUDA builds (torch)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["diff", "no-such-rev"], "cannot read mlenv.lock at 'no-such-rev' from git"),
        (["diff", "HEAD:other.lock"], "cannot read other.lock at 'HEAD' from git"),
        (["diff", "newer.lock", "mlenv.lock"], "lock format 2 is not supported"),
        (["diff", "mlenv.toml", "mlenv.lock"], "the lock is damaged"),
        (["diff", "--", "--output=pwned"], "'--output=pwned' is neither a lock file nor a git"),
        (["diff", ":mlenv.lock"], "neither a lock file nor a git revision"),
    ],
)
def test_bad_sides_are_clear_errors(project: Project, args: list[str], message: str) -> None:
    root, _, env = project
    lock = (root / "mlenv.lock").read_text()
    (root / "newer.lock").write_text(lock.replace("version = 1\n", "version = 2\n", 1))
    result = run_mlenv(args, root, env)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(root.glob("pwned*"))


def test_outside_git_names_the_problem(tmp_path: Path, project: Project) -> None:
    root, _, env = project
    elsewhere = tmp_path / "nogit"
    elsewhere.mkdir()
    (elsewhere / "mlenv.lock").write_bytes((root / "mlenv.lock").read_bytes())
    result = run_mlenv(["diff"], elsewhere, {**env, "GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert result.returncode == 1
    assert "cannot read mlenv.lock at 'HEAD' from git (fatal: not a git repository" in (
        result.stderr
    )
