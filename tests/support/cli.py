"""Run the real ``mlenv`` entry point in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def run_mlenv(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    *,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``prefix``: a command mlenv runs under (``setpriv`` dropping root's capabilities)."""
    environment = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "mlenv", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_in_process(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """The real entry point (``mlenv.cli.app.main``, its error mapping included) in this process,
    in ``cwd`` with ``env`` added: exit code, stdout, stderr. For fuzzing passes that run it
    hundreds of times, where a subprocess each would take minutes."""
    from click.testing import CliRunner

    from mlenv.cli.app import main

    before = Path.cwd()
    os.chdir(cwd)
    try:
        with CliRunner().isolation(env={"PIP_CONFIG_FILE": "/dev/null", **(env or {})}) as (
            out,
            err,
            _,
        ):
            code = main(list(args))
            return (
                code,
                out.getvalue().decode("utf-8", "replace"),
                err.getvalue().decode("utf-8", "replace"),
            )
    finally:
        os.chdir(before)


def init_from(
    directory: Path, name: str, text: str, *args: str
) -> tuple[int, str, dict[str, object]]:
    """``mlenv init --from NAME`` in ``directory``, then ``mlenv show`` of what it wrote (which
    must accept it): exit code, all output, and the manifest (empty when none was written)."""
    import tomllib

    (directory / name).write_text(text)
    done = run_mlenv(["init", "--from", name, *args], directory)
    output = done.stdout + done.stderr
    manifest = directory / "mlenv.toml"
    if not manifest.exists():
        return done.returncode, output, {}
    shown = run_mlenv(["show"], directory)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return done.returncode, output, tomllib.loads(manifest.read_text())
