"""`[pypi] prerelease` end to end: what `mlenv lock` pins under each setting over a file://
index, that the lock records a setting other than the default, and that the files of other
tools that say the same thing (pip's `--pre`, uv's `prerelease`) import to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.lockfile_read import loads as load_lock
from mlenv.manifest_read import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.pypi_settings import locked_pins, settings_project

# a: a final release and a newer pre-release; b needs c, which has a dev release only
WHEELS = [("a", "1.0", []), ("a", "2.0b1", []), ("b", "1.0", ["c"]), ("c", "3.0.dev1", [])]


def _project(tmp_path: Path, setting: str | None, dependencies: str) -> Path:
    line = "" if setting is None else f'prerelease = "{setting}"\n'
    return settings_project(tmp_path, WHEELS, f"{line}dependencies = [{dependencies}]\n")


@pytest.mark.parametrize(
    ("setting", "pins", "recorded"),
    [
        (None, {"a": "1.0", "b": "1.0", "c": "3.0.dev1"}, None),
        ("fallback", {"a": "1.0", "b": "1.0", "c": "3.0.dev1"}, None),
        ("allow", {"a": "2.0b1", "b": "1.0", "c": "3.0.dev1"}, "allow"),
    ],
)
def test_each_setting_locks_its_pins_and_the_lock_says_which(
    tmp_path: Path, setting: str | None, pins: dict[str, str], recorded: str | None
) -> None:
    project = _project(tmp_path, setting, '"a", "b"')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_mlenv(["lock"], project, env)
    assert result.returncode == 0, result.stderr
    assert locked_pins(project) == pins
    assert load_lock((project / "mlenv.lock").read_text()).target.prerelease == recorded
    assert run_mlenv(["lock", "--check"], project, env).returncode == 0


def test_disallow_fails_naming_the_setting_and_writes_no_lock(tmp_path: Path) -> None:
    project = _project(tmp_path, "disallow", '"a", "b"')
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert 'refused: 3.0.dev1: a pre-release ([pypi] prerelease = "disallow")' in result.stderr
    assert 'hint: set [pypi] prerelease = "fallback" (or "allow")' in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "mlenv.lock").exists()


def test_a_changed_setting_makes_the_lock_stale(tmp_path: Path) -> None:
    project = _project(tmp_path, None, '"a"')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], project, env).returncode == 0
    manifest = project / "mlenv.toml"
    manifest.write_text(
        manifest.read_text().replace("dependencies", 'prerelease = "allow"\ndependencies')
    )
    check = run_mlenv(["lock", "--check"], project, env)
    assert check.returncode == 1 and "stale" in check.stderr
    assert run_mlenv(["lock"], project, env).returncode == 0
    assert locked_pins(project) == {"a": "1.0"}  # still allowed: the lock's pin is preferred, as uv
    assert run_mlenv(["lock", "--upgrade"], project, env).returncode == 0
    assert locked_pins(project) == {"a": "2.0b1"}


def test_an_unknown_setting_is_named_with_the_choices(tmp_path: Path) -> None:
    project = _project(tmp_path, "if-necessary", '"a"')
    result = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert "[pypi].prerelease: 'if-necessary' is not valid" in result.stderr
    assert "fallback, allow, disallow" in result.stderr


@pytest.mark.parametrize(
    ("name", "text", "setting"),
    [
        ("requirements.txt", "--pre\nnumpy\n", "allow"),
        ("requirements.txt", "numpy\n", "fallback"),
        ("pyproject.toml",
         '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
         '[tool.uv]\nprerelease = "allow"\n', "allow"),
        ("pyproject.toml",
         '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
         '[tool.uv]\nprerelease = "disallow"\n', "disallow"),
        ("pyproject.toml",
         '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
         '[tool.uv]\nprerelease = "if-necessary-or-explicit"\n', "fallback"),
    ],
)  # fmt: skip
def test_other_tools_pre_release_switches_import_to_the_setting(
    tmp_path: Path, name: str, text: str, setting: str
) -> None:
    (tmp_path / name).write_text(text)
    result = run_mlenv(["init", "--from", name], tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = load_manifest((tmp_path / "mlenv.toml").read_text())
    assert manifest.pypi.prerelease == setting


def test_a_uv_mode_mlenv_cannot_spell_is_refused_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\ndependencies = ["numpy"]\n'
        '[tool.uv]\nprerelease = "explicit"\n'
    )
    result = run_mlenv(["init", "--from", "pyproject.toml"], tmp_path)
    assert result.returncode == 1
    assert "prerelease" in result.stderr and "'explicit' has no mlenv equivalent" in result.stderr
    assert not (tmp_path / "mlenv.toml").exists()
