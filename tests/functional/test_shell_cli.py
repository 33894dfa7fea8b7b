"""`mlenv --help` grouped by stage, and shell completion through click's _MLENV_COMPLETE."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mlenv.cli.app import cli
from mlenv.cli.group import StagedGroup
from tests.support.cli import run_mlenv


def test_help_lists_every_command_once_under_its_stage(tmp_path: Path) -> None:
    """Each section in workflow order; no registered command is lost or listed twice."""
    result = run_mlenv(["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    titles = [line for line in result.stdout.splitlines() if line.endswith(" commands:")]
    assert titles == [f"{title} commands:" for title, _ in StagedGroup.STAGES]
    listed = [
        line.split()[0]
        for line in result.stdout.split("Start commands:")[1]
        .split("Environment variables:")[0]  # the section after the commands
        .splitlines()
        if line.startswith("  ") and line.split()
    ]
    assert sorted(listed) == sorted(cli.commands)
    staged = [name for _, names in StagedGroup.STAGES for name in names]
    assert listed == staged


def complete(words: str, tmp_path: Path) -> list[str]:
    """What bash offers after sourcing `mlenv completion bash`, as a user's shell would."""
    script = (
        "source <(mlenv completion bash)\n"
        f"COMP_WORDS=({words})\n"
        "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
        '_mlenv_completion mlenv\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PIP_CONFIG_FILE": "/dev/null"}
    result = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_bash_completes_commands_and_choices(tmp_path: Path) -> None:
    assert complete("mlenv ad", tmp_path) == ["add"]
    assert complete("mlenv in", tmp_path) == ["init", "inspect"]
    assert "cyclonedx" in complete('mlenv export --format ""', tmp_path)
    assert complete('mlenv completion ""', tmp_path) == ["bash", "zsh", "fish"]


def test_zsh_and_fish_scripts_use_the_complete_variable(tmp_path: Path) -> None:
    zsh = run_mlenv(["completion", "zsh"], tmp_path)
    assert zsh.stdout.startswith("#compdef mlenv")
    assert "_MLENV_COMPLETE=zsh_complete" in zsh.stdout
    fish = run_mlenv(["completion", "fish"], tmp_path)
    assert "_MLENV_COMPLETE=fish_complete" in fish.stdout
    assert "complete --no-files --command mlenv" in fish.stdout
    bad = run_mlenv(["completion", "tcsh"], tmp_path)
    assert bad.returncode == 1
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in bad.stderr
