"""`mlenv add` and `mlenv remove` through the real CLI on a file:// index built by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib>=1"]),
    build_wheel("lib", "1.0"),
    build_wheel("lib", "1.1"),
    build_wheel("extra", "2.0", requires_dist=["lib"]),
    build_wheel("extra", "2.1", requires_dist=["lib"]),
]

MANIFEST = """\
# project manifest (hand-written)
[environment]
name = "t"          # the env
python = "3.11"

[pypi]
index-url = "{url}"
dependencies = [
    "app",   # the application
]
"""

Project = tuple[Path, dict[str, str]]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    url = write_simple_index(tmp_path / "index", WHEELS)
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(MANIFEST.format(url=url))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], root, env).returncode == 0
    # lib 1.2 appears after the lock: minimal change must keep lib at 1.1
    write_simple_index(tmp_path / "index", [*WHEELS, build_wheel("lib", "1.2")])
    return root, env


def pins(root: Path) -> dict[str, str]:
    lock = load_lock((root / "mlenv.lock").read_text())
    return {p.name: p.version for _, p in lock.packages()}


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def test_add_edits_the_line_and_relocks_minimally(project: Project) -> None:
    """add appends the spec in the file's style, keeps other pins, prints both changes."""
    root, env = project
    before = (root / "mlenv.toml").read_text()
    result = run_mlenv(["add", "extra>=2"], root, env)
    assert result.returncode == 0, result.stderr
    assert (root / "mlenv.toml").read_text() == before.replace(
        '"app",   # the application\n', '"app",   # the application\n    "extra>=2",\n'
    )
    assert pins(root) == {"app": "1.0", "lib": "1.1", "extra": "2.1"}
    assert "+ 'extra>=2' to [pypi].dependencies" in result.stderr
    assert "+ extra 2.1 (linux-64)" in result.stderr
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0


def test_add_replacing_a_spec_moves_only_that_package(project: Project) -> None:
    root, env = project
    assert run_mlenv(["add", "extra==2.0"], root, env).returncode == 0
    result = run_mlenv(["add", "extra>=2.1"], root, env)
    assert result.returncode == 0, result.stderr
    assert "~ 'extra==2.0' -> 'extra>=2.1'" in result.stderr
    assert "~ extra 2.0 -> 2.1 (linux-64)" in result.stderr
    assert pins(root)["lib"] == "1.1"


def test_remove_drops_the_line_and_the_pins(project: Project) -> None:
    root, env = project
    assert run_mlenv(["add", "extra"], root, env).returncode == 0
    result = run_mlenv(["remove", "Extra"], root, env)
    assert result.returncode == 0, result.stderr
    assert "- extra 2.1 (linux-64)" in result.stderr
    assert pins(root) == {"app": "1.0", "lib": "1.1"}
    assert '"extra"' not in (root / "mlenv.toml").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "no-such-package"], "no-such-package"),
        (["add", "extra>=9"], "extra"),
        (["add", "bad>>1"], "not a PEP 508 requirement"),
        (["add", "x @ https://example.org/x.whl"], "direct URL requirements"),
        (["remove", "never-added"], "not in the manifest: never-added"),
        (["add", "--platform", "linux-aarch64", "extra"], "does not target 'linux-aarch64'"),
    ],
)
def test_failures_change_nothing_on_disk(project: Project, args: list[str], message: str) -> None:
    """An unresolvable or invalid change leaves mlenv.toml and mlenv.lock byte-identical."""
    root, env = project
    before = snapshot(root)
    result = run_mlenv(args, root, env)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert "[pypi].dependencies" not in result.stderr.split("error:")[0]  # no edit announced
    assert snapshot(root) == before


def test_a_lock_from_a_newer_mlenv_is_refused_untouched(project: Project) -> None:
    root, env = project
    lock = root / "mlenv.lock"
    lock.write_text(lock.read_text().replace("version = 1\n", "version = 2\n", 1))
    before = snapshot(root)
    result = run_mlenv(["add", "extra"], root, env)
    assert result.returncode == 1
    assert "lock format 2 is not supported" in result.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize("flag", ["--no-lock", "--frozen"])
def test_no_lock_edits_only_the_manifest(project: Project, flag: str) -> None:
    """``--frozen`` is uv's spelling of the same thing (``uv add --frozen``)."""
    root, env = project
    lock_before = (root / "mlenv.lock").read_bytes()
    result = run_mlenv(["add", flag, "extra"], root, env)
    assert result.returncode == 0, result.stderr
    assert (root / "mlenv.lock").read_bytes() == lock_before
    assert "run `mlenv lock`" in result.stderr
    assert run_mlenv(["lock", "--check"], root, env).returncode == 1


def test_remove_frozen_edits_only_the_manifest(project: Project) -> None:
    root, env = project
    assert run_mlenv(["add", "extra"], root, env).returncode == 0
    lock_before = (root / "mlenv.lock").read_bytes()
    result = run_mlenv(["remove", "--frozen", "extra"], root, env)
    assert result.returncode == 0, result.stderr
    assert (root / "mlenv.lock").read_bytes() == lock_before
    assert '"extra"' not in (root / "mlenv.toml").read_text()
    assert run_mlenv(["lock", "--check"], root, env).returncode == 1
