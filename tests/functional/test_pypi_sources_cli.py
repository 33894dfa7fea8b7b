"""[pypi] sources end to end: a project pinned to its own index (uv's explicit index) is
locked from it alone, that index serves nothing else, and the lock is held to it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

Project = tuple[Path, str, str, dict[str, str]]


def manifest(default: str, pytorch: str, sources: str | None = None) -> str:
    pinned = sources if sources is not None else f'{{ Torch = "{pytorch}" }}'
    return (
        '[environment]\nname = "t"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{default}"\ndependencies = ["torch", "numpy"]\n'
        f"sources = {pinned}\n"
    )


@pytest.fixture
def project(tmp_path: Path) -> Project:
    # the explicit index lists numpy too, at a higher version: it must not be taken from there
    pytorch = write_simple_index(
        tmp_path / "pytorch",
        [
            build_wheel("torch", "2.7.0+cu128", requires_dist=["numpy"]),
            build_wheel("numpy", "9.0"),
        ],
    )
    # and the default index has a higher torch, which must not be taken either
    default = write_simple_index(
        tmp_path / "pypi", [build_wheel("torch", "3.0"), build_wheel("numpy", "2.0")]
    )
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(manifest(default, pytorch))
    return root, default, pytorch, {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


def _entries(root: Path) -> dict[str, dict[str, object]]:
    data = tomllib.loads((root / "mlenv.lock").read_text())
    return {p["name"]: p for p in data["platform"]["linux-64"]["package"]}


def test_a_pinned_project_comes_from_its_source_and_nothing_else_does(project: Project) -> None:
    root, default, pytorch, env = project
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    entries = _entries(root)
    assert (entries["torch"]["version"], entries["torch"]["index"]) == ("2.7.0+cu128", pytorch)
    assert (entries["numpy"]["version"], entries["numpy"]["index"]) == ("2.0", default)
    target = tomllib.loads((root / "mlenv.lock").read_text())["target"]
    assert target["sources"] == [f"torch={pytorch}"] and target["indexes"] == [default]
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0
    assert run_mlenv(["verify"], root, env).returncode == 0


def test_a_pinned_entry_from_another_index_is_drift(project: Project) -> None:
    root, default, pytorch, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = root / "mlenv.lock"
    text = lock.read_text()
    assert text.count(f'index = "{pytorch}"') == 1
    lock.write_text(text.replace(f'index = "{pytorch}"', f'index = "{default}"'))
    check = run_mlenv(["lock", "--check"], root, env)
    assert check.returncode == 1 and "(torch 2.7.0+cu128).index" in check.stderr
    assert "only its [pypi] sources index" in check.stderr
    verify = run_mlenv(["verify"], root, env)
    assert verify.returncode == 1 and "(torch 2.7.0+cu128).index" in verify.stdout


def test_an_unpinned_entry_from_a_source_index_is_drift(project: Project) -> None:
    root, default, pytorch, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = root / "mlenv.lock"
    text = lock.read_text()
    lock.write_text(text.replace(f'index = "{default}"', f'index = "{pytorch}"'))
    check = run_mlenv(["lock", "--check"], root, env)
    assert check.returncode == 1 and "(numpy 2.0).index" in check.stderr


def test_a_changed_source_makes_the_lock_stale(project: Project, tmp_path: Path) -> None:
    root, default, pytorch, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    other = write_simple_index(tmp_path / "cu126", [build_wheel("torch", "2.7.0+cu126")])
    (root / "mlenv.toml").write_text(manifest(default, pytorch, f'{{ torch = "{other}" }}'))
    check = run_mlenv(["lock", "--check"], root, env)
    assert check.returncode == 1 and "stale" in check.stderr
    assert run_mlenv(["lock"], root, env).returncode == 0
    assert _entries(root)["torch"]["version"] == "2.7.0+cu126"


def test_an_edited_target_sources_is_drift(project: Project) -> None:
    root, _, pytorch, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = root / "mlenv.lock"
    lock.write_text(lock.read_text().replace(f'sources = ["torch={pytorch}"]', "sources = []"))
    check = run_mlenv(["lock", "--check"], root, env)
    assert check.returncode == 1 and "[target].sources" in check.stderr


def test_export_names_the_source_index_for_pip_and_pylock(project: Project) -> None:
    root, default, pytorch, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    result = run_mlenv(["export", "--format", "requirements"], root, env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"--index-url {default}" in lines and f"--extra-index-url {pytorch}" in lines
    note = next(line for line in lines if line.startswith("# [pypi] sources"))
    assert "(torch)" in note and "pip has no per-package index" in note
    assert any(line.startswith("torch==2.7.0+cu128") for line in lines)
    pylock = run_mlenv(["export", "--format", "pylock"], root, env)
    assert pylock.returncode == 0, pylock.stderr
    packages = {p["name"]: p for p in tomllib.loads(pylock.stdout)["packages"]}
    assert packages["torch"]["index"] == pytorch and packages["numpy"]["index"] == default


def test_a_source_without_the_project_is_an_error_naming_it(
    project: Project, tmp_path: Path
) -> None:
    """The default index's torch 3.0 is no fallback: the source is the only place asked."""
    root, default, _, env = project
    empty = write_simple_index(tmp_path / "empty", [build_wheel("numpy", "9.0")])
    (root / "mlenv.toml").write_text(manifest(default, empty))
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1 and not (root / "mlenv.lock").exists()
    assert f"torch: not found on {empty} (its only index: [pypi] sources)" in result.stderr
