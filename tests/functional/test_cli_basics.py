"""The CLI as a newcomer meets it: init, show, help, version, and how failures look."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from mlenv import __version__
from mlenv.cli.app import main as cli_main
from mlenv.cli.exits import exit_status
from mlenv.commands import session
from mlenv.errors import VerdictError
from mlenv.manifest_read import loads
from tests.support.cli import run_mlenv

ROOT = Path(__file__).resolve().parents[2]


def test_version(tmp_path: Path) -> None:
    result = run_mlenv(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"mlenv, version {__version__}"


def test_help_lists_commands_and_options(tmp_path: Path) -> None:
    result = run_mlenv(["--help"], tmp_path)
    assert result.returncode == 0
    for word in ("init", "show", "--manifest", "--verbose", "--quiet"):
        assert word in result.stdout
    sub = run_mlenv(["init", "--help"], tmp_path)
    assert sub.returncode == 0
    assert "--force" in sub.stdout and "--python" in sub.stdout


def test_init_writes_a_valid_commented_manifest(tmp_path: Path) -> None:
    project = tmp_path / "My Project"
    project.mkdir()
    result = run_mlenv(["init", "--python", "3.12"], project)
    assert result.returncode == 0, result.stderr
    text = (project / "mlenv.toml").read_text()
    manifest = loads(text)
    assert manifest.environment.name == "my-project"
    assert manifest.environment.python == "3.12"
    assert text.count("#") > 10
    assert "wrote mlenv.toml" in result.stderr
    assert result.stdout == ""


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_text("# mine\n")
    result = run_mlenv(["init"], tmp_path)
    assert result.returncode == 1
    assert "error: mlenv.toml: a manifest already exists; nothing was written" in result.stderr
    assert "hint: pass --force to replace it" in result.stderr
    assert (tmp_path / "mlenv.toml").read_text() == "# mine\n"
    forced = run_mlenv(["init", "--force", "--name", "x"], tmp_path)
    assert forced.returncode == 0
    assert loads((tmp_path / "mlenv.toml").read_text()).environment.name == "x"


def test_show_json_is_the_normalised_manifest(tmp_path: Path) -> None:
    shutil.copy(ROOT / "mlenv.toml.example", tmp_path / "mlenv.toml")
    result = run_mlenv(["show", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cuda"] == {
        "version": "12.4",
        "driver-floor": "550.54.15",
        "archs": [],
    }
    assert data["environment"]["prefix"] == "/opt/mlenv/cuda-demo"
    raw = tomllib.loads((ROOT / "mlenv.toml.example").read_text())
    assert data["pypi"]["dependencies"] == raw["pypi"]["dependencies"]


def test_show_human_names_the_target(tmp_path: Path) -> None:
    manifest = ROOT / "fixtures" / "manifests" / "aarch64-py312.toml"
    result = run_mlenv(["--manifest", str(manifest), "show"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "linux-aarch64  CPython 3.12  glibc 2.31" in result.stdout
    assert "cp312-cp312-manylinux_2_31_aarch64" in result.stdout


def test_bad_manifest_lists_every_problem_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.99"\n[cuda]\nversion = "twelve"\n'
        'driver-floor = "550.54.14"\n[pypi]\ndependncies = []\n'
    )
    result = run_mlenv(["show"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: mlenv.toml: 3 problems in the manifest",
        "  mlenv.toml: [environment].python: '3.99' is not valid: expected a CPython minor "
        "version from 3.9 to 3.15",
        "  mlenv.toml: [cuda].version: 'twelve' is not valid: expected a CUDA toolkit version "
        'like "12.4" (an update such as 12.4.1 is written "12.4")',
        "  mlenv.toml: [pypi].dependncies: unknown key",
        '    hint: did you mean "dependencies"?',
    ]
    assert "Traceback" not in result.stderr


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_text('[environment]\nname = "x\n')
    result = run_mlenv(["show"], tmp_path)
    assert result.returncode == 1
    assert "mlenv.toml:2:10: invalid TOML: Illegal character '\\n'" in result.stderr


def test_missing_manifest_has_a_hint(tmp_path: Path) -> None:
    result = run_mlenv(["show"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: mlenv.toml: no manifest here",
        "    hint: run `mlenv init` to write one, or pass --manifest PATH",
    ]


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "mlenv.toml").write_bytes(b'[environment]\nname = "\xff"\n')
    result = run_mlenv(["show"], tmp_path)
    assert result.returncode == 1
    assert "error: mlenv.toml: not valid UTF-8 (byte 22, line 2)" in result.stderr


def test_unknown_command_is_a_user_error(tmp_path: Path) -> None:
    result = run_mlenv(["lokc"], tmp_path)
    assert result.returncode == 1
    assert "No such command 'lokc'" in result.stderr


def test_json_log_format_writes_json_lines(tmp_path: Path) -> None:
    result = run_mlenv(["--log-format", "json", "init"], tmp_path)
    assert result.returncode == 0
    assert [json.loads(line) for line in result.stderr.splitlines()] == [
        {"event": "info", "message": "wrote mlenv.toml"}
    ]


def test_json_log_format_reports_every_error_as_a_json_event(tmp_path: Path) -> None:
    """A wrapper reading ``--log-format json`` stderr line by line meets no prose on failure:
    a user's error (with where and hint), a usage error and a secret in either stay JSON."""
    (tmp_path / "mlenv.toml").write_text("[environment]\nname = 3\n[pypi]\nindex-url = 5\n")
    for args in (["--log-format", "json", "show"], ["--log-format=json", "-q", "show"]):
        result = run_mlenv(args, tmp_path)
        assert result.returncode == 1
        events = [json.loads(line) for line in result.stderr.splitlines()]
        assert [e["event"] for e in events] == ["error"], result.stderr
        problems = events[0]["problems"]
        assert events[0]["exit_code"] == 1 and len(problems) >= 2
        assert all(p["where"].startswith("mlenv.toml: [") for p in problems)
        assert "mlenv.toml: [environment].name" in [p["where"] for p in problems]
        assert any(p["hint"] for p in problems)
    usage = run_mlenv(["--log-format", "json", "lock", "--index-url=https://u:pw@h/x"], tmp_path)
    assert usage.returncode == 1
    assert [json.loads(line)["label"] for line in usage.stderr.splitlines()] == ["usage"]
    assert "pw" not in usage.stderr


def test_a_verdict_already_shown_still_ends_in_a_json_error_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``verify``/``diff --exit-code`` print their report, then fail with a VerdictError: as
    text nothing more is said, in JSON the wrapper still gets the one ``error`` event."""
    verdict = VerdictError("the locks differ")
    assert exit_status(verdict, ["diff", "--exit-code"]) == 1
    assert capsys.readouterr().err == ""
    assert exit_status(verdict, ["--log-format", "json", "diff", "--exit-code"]) == 1
    event = json.loads(capsys.readouterr().err)
    assert (event["event"], event["message"], event["exit_code"]) == (
        "error",
        "the locks differ",
        1,
    )


@pytest.fixture
def broken_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest reader that fails with a bug (an internal error), a secret in its message."""

    def broken(path: Path, found: bytes | None = None) -> None:
        raise RuntimeError("boom https://u:secret@h/x")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(session, "read_manifest", broken)


@pytest.mark.usefixtures("broken_reader")
def test_json_log_format_reports_an_internal_error_as_an_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main(["--log-format", "json", "show"]) == 2
    event = json.loads(capsys.readouterr().err)
    assert event["label"] == "internal error" and "traceback" not in event
    assert cli_main(["--log-format", "json", "-v", "show"]) == 2
    event = json.loads(capsys.readouterr().err)
    assert "RuntimeError: boom" in event["traceback"] and "secret" not in json.dumps(event)


@pytest.mark.usefixtures("broken_reader")
def test_internal_error_exit_2_traceback_only_with_verbose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli_main(["show"]) == 2
    quiet = capsys.readouterr().err
    assert "internal error" in quiet and "Traceback" not in quiet
    assert cli_main(["-v", "show"]) == 2
    verbose = capsys.readouterr().err
    assert "RuntimeError: boom" in verbose and "secret" not in verbose


def test_an_empty_environment_goes_through_every_stage(tmp_path: Path) -> None:
    """A manifest with no dependency (what `mlenv init` writes) locks to a lock with no platform
    table; every later command takes that platform as empty (it said "the lock has no platform
    'linux-64'" with an empty list of the lock's platforms)."""
    index = tmp_path / "index"
    index.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "empty"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\nindex-url = "{index.as_uri()}"\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    steps = [
        ["lock", "--offline"],
        ["export", "--format", "requirements"],
        ["export", "--format", "pylock"],
        ["inspect", "mlenv.lock"],
        ["fetch", "--offline", "--platform", "linux-64"],
        ["build", "--offline"],
        ["verify", "dist/image.tar"],
        ["inspect", "dist/image.tar"],
    ]
    for args in steps:
        done = run_mlenv(args, project, env)
        assert done.returncode == 0, (args, done.stderr)
        assert "no platform" not in done.stderr
    assert "[platform" not in (project / "mlenv.lock").read_text()
    assert "--index-url" in run_mlenv(["export", "--format", "requirements"], project, env).stdout
    pylock = tomllib.loads(run_mlenv(["export", "--format", "pylock"], project, env).stdout)
    assert pylock["packages"] == [] and len(pylock["environments"]) == 1  # linux-64, not none
