"""`mlenv lock` and `mlenv export` end to end on file:// indexes built by the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

WHEELS = [
    build_wheel(
        "app",
        "1.0",
        requires_dist=["lib>=1", "extra-dep; extra == 'more'"],
        provides_extra=["more"],
        entry_points="[console_scripts]\napp = app:main\n",
        files={"app/__init__.py": b"def main():\n    print('app')\n"},
    ),
    build_wheel("lib", "1.0", files={"lib/__init__.py": b""}),
    build_wheel("lib", "1.1", files={"lib/__init__.py": b""}),
    build_wheel("fast", "1.0", tag="cp312-cp312-manylinux_2_17_aarch64"),
    build_wheel("fast", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64"),
]


def manifest(index_url: str, deps: str = '"app"', extra: str = "") -> str:
    return (
        f'[environment]\nname = "t"\npython = "3.11"\n{extra}'
        f'[pypi]\nindex-url = "{index_url}"\ndependencies = [{deps}]\n'
    )


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str, dict[str, str]]:
    url = write_simple_index(tmp_path / "index", WHEELS)
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(manifest(url))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    return root, url, env


def lock_pins(root: Path) -> dict[str, str]:
    lock = load_lock((root / "mlenv.lock").read_text())
    return {pkg.name: pkg.version for _, pkg in lock.packages()}


def test_lock_writes_hash_pinned_lock(project: tuple[Path, str, dict[str, str]]) -> None:
    root, url, env = project
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert "+ app 1.0 (linux-64)" in result.stderr
    assert "wrote mlenv.lock: 2 package(s), 2 change(s)" in result.stderr
    data = tomllib.loads((root / "mlenv.lock").read_text())
    packages = data["platform"]["linux-64"]["package"]
    assert [(p["name"], p["version"]) for p in packages] == [("app", "1.0"), ("lib", "1.1")]
    wheel = dict(WHEELS)[packages[1]["filename"]]
    assert packages[1]["size"] == len(wheel)
    assert packages[0]["dependencies"] == ["lib"]
    assert packages[0]["index"] == url
    assert str(root) not in (root / "mlenv.lock").read_text()


def test_same_inputs_same_bytes_and_noop_relock(project: tuple[Path, str, dict[str, str]]) -> None:
    root, _, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    first = (root / "mlenv.lock").read_bytes()
    (root / "mlenv.lock").unlink()
    assert run_mlenv(["lock"], root, {**env, "MLENV_CACHE_DIR": str(root / "c2")}).returncode == 0
    assert (root / "mlenv.lock").read_bytes() == first
    again = run_mlenv(["lock"], root, env)
    assert again.returncode == 0
    assert "mlenv.lock is up to date" in again.stderr
    assert (root / "mlenv.lock").read_bytes() == first


def test_relock_keeps_pins_and_upgrade_moves_them(
    project: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    root, url, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    # A newer lib appears on the index, and the manifest gains a requirement.
    write_simple_index(tmp_path / "index", [*WHEELS, build_wheel("lib", "1.2")])
    (root / "mlenv.toml").write_text(manifest(url, '"app", "fast"'))
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert lock_pins(root) == {"app": "1.0", "lib": "1.1", "fast": "1.0"}
    assert "+ fast 1.0 (linux-64)" in result.stderr
    moved = run_mlenv(["lock", "--upgrade-package", "lib"], root, env)
    assert moved.returncode == 0, moved.stderr
    assert "~ lib 1.1 -> 1.2 (linux-64)" in moved.stderr
    assert lock_pins(root)["lib"] == "1.2"


def test_check_fails_on_stale_or_missing_lock(project: tuple[Path, str, dict[str, str]]) -> None:
    root, url, env = project
    missing = run_mlenv(["lock", "--check"], root, env)
    assert missing.returncode == 1
    assert "hint: run `mlenv lock` first" in missing.stderr
    assert run_mlenv(["lock"], root, env).returncode == 0
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0
    (root / "mlenv.toml").write_text(manifest(url, '"app", "fast"'))
    stale = run_mlenv(["lock", "--check"], root, env)
    assert stale.returncode == 1
    assert "the lock is stale" in stale.stderr


def test_lock_for_another_architecture_and_python(
    project: tuple[Path, str, dict[str, str]],
) -> None:
    root, url, env = project
    target = 'platforms = ["linux-aarch64"]\n'
    (root / "mlenv.toml").write_text(
        manifest(url, '"fast"', target).replace('python = "3.11"', 'python = "3.12"')
    )
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    lock = load_lock((root / "mlenv.lock").read_text())
    (pkg,) = lock.platform("linux-aarch64").packages
    assert pkg.filename == "fast-1.0-cp312-cp312-manylinux_2_17_aarch64.whl"


def test_conflict_is_explained_on_stderr(project: tuple[Path, str, dict[str, str]]) -> None:
    root, url, env = project
    (root / "mlenv.toml").write_text(manifest(url, '"app", "lib<1"'))
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1
    assert "lib: no version satisfies all of" in result.stderr
    assert "lib<1 (from the manifest)" in result.stderr
    assert "versions available for the target: 1.1, 1.0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "mlenv.lock").exists()


def test_export_requirements_installs_with_pip_require_hashes(
    project: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    root, url, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    out = run_mlenv(["export", "--format", "requirements", "-o", "requirements.txt"], root, env)
    assert out.returncode == 0, out.stderr
    text = (root / "requirements.txt").read_text()
    assert f"--index-url {url}" in text
    assert "lib==1.1 \\\n    --hash=sha256:" in text
    target = tmp_path / "installed"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--require-hashes",
            "--no-deps",
            "--target",
            str(target),
            "-r",
            str(root / "requirements.txt"),
        ],
        env={**os.environ, "PIP_CONFIG_FILE": "/dev/null"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr
    assert (target / "app" / "__init__.py").exists()
    assert (target / "lib-1.1.dist-info").is_dir()


def _pip_install(requirements: Path, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "install", "--require-hashes", "--no-deps", "--target",
         str(target), "-r", str(requirements)],
        env={**os.environ, "PIP_CONFIG_FILE": "/dev/null"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def _export_from_find_links(tmp_path: Path, directory: str) -> subprocess.CompletedProcess[str]:
    """Lock ``lib`` from the find-links directory ``directory`` alone (the index answers
    nothing), then export requirements.txt beside the manifest."""
    root = tmp_path / "project"
    (root / directory).mkdir(parents=True)
    for name, data in WHEELS[1:3]:
        (root / directory / name).write_bytes(data)
    (root / "mlenv.toml").write_text(
        manifest("file:///nonexistent-mlenv-index/simple", '"lib"')
        + f"find-links = [{json.dumps(directory)}]\n"
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], root, env)
    assert locked.returncode == 0, locked.stderr
    return run_mlenv(["export", "--format", "requirements", "-o", "requirements.txt"], root, env)


@pytest.mark.parametrize("directory", ["my wheels", "it's here", "a\\b", "v1 (copy) &x"])
def test_export_quotes_a_find_links_directory_as_pip_splits_it(
    tmp_path: Path, directory: str
) -> None:
    """pip splits a requirements file's option line with shlex: ``--find-links my wheels``
    was read as ``my`` and a stray word, and the only source of the wheels was lost."""
    out = _export_from_find_links(tmp_path, directory)
    assert out.returncode == 0, out.stderr
    pip = _pip_install(tmp_path / "project" / "requirements.txt", tmp_path / "installed")
    assert pip.returncode == 0, pip.stderr
    assert (tmp_path / "installed" / "lib-1.1.dist-info").is_dir()  # only there


@pytest.mark.parametrize("directory", ["a #b", "wheels #2"])
def test_a_find_links_directory_with_a_hash_is_exported_as_a_file_url(
    tmp_path: Path, directory: str
) -> None:
    """A '#' after a blank is a comment to pip, quoted or not; as a ``file:`` URL it is
    ``%23``, which pip and uv both read (attack 93; before, the export was refused)."""
    out = _export_from_find_links(tmp_path, directory)
    assert out.returncode == 0, out.stderr
    requirements = tmp_path / "project" / "requirements.txt"
    assert "%23" in requirements.read_text()
    pip = _pip_install(requirements, tmp_path / "installed")
    assert pip.returncode == 0, pip.stderr


@pytest.mark.parametrize("directory", ["${HOME}", "w${USER}x"])
def test_export_refuses_a_find_links_directory_pip_would_rewrite(
    tmp_path: Path, directory: str
) -> None:
    """``${NAME}`` is a variable pip expands, quoted or not: exit 1 naming the lock's key,
    nothing written."""
    out = _export_from_find_links(tmp_path, directory)
    assert out.returncode == 1, out.stderr
    assert "[target] (find-links)" in out.stderr and "hint:" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "project" / "requirements.txt").exists()


def test_export_pylock_validates_with_packaging(
    project: tuple[Path, str, dict[str, str]],
) -> None:
    root, _, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    out = run_mlenv(["export", "--format", "pylock"], root, env)
    assert out.returncode == 0, out.stderr
    pylock = Pylock.from_dict(tomllib.loads(out.stdout))
    assert sorted(str(p.name) for p in pylock.packages) == ["app", "lib"]
    lib = next(p for p in pylock.packages if p.name == "lib")
    assert lib.wheels is not None
    assert (
        lib.wheels[0].hashes["sha256"]
        == load_lock((root / "mlenv.lock").read_text()).platform("linux-64").by_name()["lib"].sha256
    )


def test_export_refuses_a_stale_lock(project: tuple[Path, str, dict[str, str]]) -> None:
    root, url, env = project
    assert run_mlenv(["lock"], root, env).returncode == 0
    (root / "mlenv.toml").write_text(manifest(url, '"lib"'))
    out = run_mlenv(["export", "--format", "requirements"], root, env)
    assert out.returncode == 1
    assert "the lock is stale" in out.stderr


def test_relative_find_links_keep_the_lock_portable(tmp_path: Path) -> None:
    locks = []
    for checkout in ("one", "two/deeper"):
        root = tmp_path / checkout
        (root / "wheels").mkdir(parents=True)
        for filename, data in WHEELS[:3]:
            (root / "wheels" / filename).write_bytes(data)
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "t"\npython = "3.11"\n[pypi]\nindex-url = '
            f'"{(tmp_path / "empty").as_uri()}"\nfind-links = ["wheels"]\n'
            'dependencies = ["app"]\n'
        )
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 0, result.stderr
        locks.append((root / "mlenv.lock").read_text())
    assert locks[0] == locks[1]
    assert 'url = "wheels/lib-1.1-py3-none-any.whl"' in locks[0]
    assert str(tmp_path) not in locks[0].replace((tmp_path / "empty").as_uri(), "")


def test_a_wheel_in_find_links_stands_in_for_an_index_that_lists_only_an_sdist(
    tmp_path: Path,
) -> None:
    """The index owns ``lib`` (first-index) but lists only its sdist, which mlenv does not
    lock; the wheel the user built into find-links is locked, as pip and uv take it. Before,
    find-links were searched only for names no index listed, so the lock failed."""
    url = write_simple_index(tmp_path / "index", [WHEELS[0], ("lib-1.1.tar.gz", b"sdist")])
    root = tmp_path / "project"
    (root / "wheels").mkdir(parents=True)
    (root / "wheels" / WHEELS[2][0]).write_bytes(WHEELS[2][1])
    (root / "mlenv.toml").write_text(manifest(url, extra="").replace(
        "dependencies", 'find-links = ["wheels"]\ndependencies'
    ))  # fmt: skip
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert lock_pins(root) == {"app": "1.0", "lib": "1.1"}
    assert 'url = "wheels/lib-1.1-py3-none-any.whl"' in (root / "mlenv.lock").read_text()


def test_verbose_shows_the_resolvers_steps(project: tuple[Path, str, dict[str, str]]) -> None:
    """Protects `-v`: without it no debug line, with it each pin, in human and JSON logs."""
    root, _, env = project
    quiet = run_mlenv(["lock"], root, env)
    assert quiet.returncode == 0, quiet.stderr
    assert "debug:" not in quiet.stderr
    (root / "mlenv.lock").unlink()
    loud = run_mlenv(["-v", "lock"], root, env)
    assert loud.returncode == 0, loud.stderr
    assert "debug: pinned app 1.0" in loud.stderr
    (root / "mlenv.lock").unlink()
    logged = run_mlenv(["-v", "--log-format", "json", "lock"], root, env)
    events = [json.loads(line) for line in logged.stderr.splitlines()]
    assert {"event": "debug", "message": "pinned lib 1.1"} in events


def test_a_quoted_tilde_cache_is_the_home_one_on_both_paths(
    project: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    """``--cache '~/c'`` (quoted, so no shell expands it) is ``$HOME/c`` for a full lock and
    for the no-op entry point alike, as ``$MLENV_CACHE_DIR='~/c'`` is: never a directory
    named ``~`` in the project, which a clean-up by ``rm -rf ~`` would aim at the home."""
    root, _, _ = project
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_CACHE_HOME": ""}
    for spelling in (["--cache", "~/c"], ["--cache=~/c"]):
        first = run_mlenv([*spelling, "lock"], root, env)
        assert first.returncode == 0, first.stderr
        again = run_mlenv([*spelling, "lock"], root, env)  # answered by the entry point
        assert "mlenv.lock is up to date" in again.stderr
        (root / "mlenv.lock").unlink()
    assert not (root / "~").exists()
    assert {p.name for p in (home / "c").iterdir()} >= {"fresh-v1", "metadata-v2"}
    unknown = run_mlenv(["--cache", "~no-such-user-here/c", "lock"], root, env)
    assert unknown.returncode == 1
    assert "--cache" in unknown.stderr and "hint: name the cache directory" in unknown.stderr
    assert "Traceback" not in unknown.stderr and not (root / "~no-such-user-here").exists()
