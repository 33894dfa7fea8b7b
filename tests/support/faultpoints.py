"""Run ``mlenv`` in a subprocess and stop it just before its Nth change to the file system:
SIGKILL it there, or hold it there while something else runs.

An audit hook (PEP 578) sees every open for writing, rename, removal and link before it
happens. Faults at such points are spread over everything a command changes, renames included,
where random wall-clock times would mostly land in interpreter start-up and miss the instants at
which state flips from old to new. A point is the Nth change of one kind (the 3rd rename), which
stays put when threads interleave differently; directory creation is not a point, since how
often ``mkdir(parents=True)`` calls it depends on which thread gets there first.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

_RUNNER = r"""
import os, signal, sys, time

kind, number = sys.argv[1].split(":")
action, scratch = sys.argv[2], sys.argv[3]
seen = []
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGES = {"os.rename", "os.remove", "os.rmdir", "os.link", "os.symlink", "os.truncate",
           "shutil.rmtree", "shutil.copyfile"}


def hook(event, args):
    if event == "open":
        path, _, flags = args
        if isinstance(path, int) or not flags & WRITE or str(path).startswith("/dev/"):
            return
    elif event not in CHANGES:
        return
    seen.append(event)
    if event != kind or seen.count(event) != int(number):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os.close(os.open(os.path.join(scratch, "held"), os.O_CREAT | os.O_WRONLY))
    while not os.path.exists(os.path.join(scratch, "resume")):
        time.sleep(0.01)


sys.addaudithook(hook)
# Ctrl-C as at a terminal, even when the suite runs in the background (a non-interactive
# shell starts background jobs with SIGINT ignored, and Python keeps an inherited SIG_IGN).
signal.signal(signal.SIGINT, signal.default_int_handler)
if action.endswith("-entry"):  # the installed entry point, as a shell or CI runs it
    sys.argv = ["mlenv", *sys.argv[4:]]
    from mlenv.uptodate import main as entry

    code = entry()
else:
    from mlenv.cli.app import main

    code = main(sys.argv[4:])
if action == "count":
    events = repr(seen).replace("'", '"')  # before the open below, which the hook sees too
    with open(os.path.join(scratch, "events.json"), "w") as handle:
        handle.write(events)
sys.exit(code)
"""


Point = tuple[str, int]  # the Nth change of one kind: ("os.rename", 3)


def _command(point: Point, action: str, scratch: Path, args: Sequence[str]) -> list[str]:
    target = f"{point[0]}:{point[1]}"
    return [sys.executable, "-c", _RUNNER, target, action, str(scratch), *args]


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    # No .pyc writes: they would be changes too, and vary with what is cached.
    base = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "PYTHONDONTWRITEBYTECODE": "1"}
    return {**base, **env}


def _run(
    point: Point, action: str, scratch: Path, args: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(point, action, scratch, args),
        cwd=cwd,
        env=_environment(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def changes(args: Sequence[str], cwd: Path, env: Mapping[str, str], scratch: Path) -> list[str]:
    """The audit events of the file-system changes a whole run makes, in order."""
    scratch.mkdir(parents=True, exist_ok=True)
    result = _run(("none", 0), "count", scratch, args, cwd, env)
    assert result.returncode == 0, result.stderr
    events = json.loads((scratch / "events.json").read_text())
    assert isinstance(events, list)
    return [str(event) for event in events]


def _numbered(events: Sequence[str]) -> list[Point]:
    return [(event, events[: n + 1].count(event)) for n, event in enumerate(events)]


def renames(events: Sequence[str]) -> list[Point]:
    """The points just before each rename: where old becomes new."""
    return [point for point in _numbered(events) if point[0] == "os.rename"]


def points(events: Sequence[str], count: int, seed: int) -> list[Point]:
    """Every rename, then random other points, ``count`` in all, in the order they occur."""
    chosen = renames(events)
    others = [point for point in _numbered(events) if point not in chosen]
    extra = random.Random(seed).sample(others, max(0, min(len(others), count - len(chosen))))
    return [point for point in _numbered(events) if point in chosen or point in extra]


def run_killed(
    point: Point, args: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the command and SIGKILL it just before ``point``; it must die there."""
    result = _run(point, "kill", Path(os.devnull), args, cwd, env)
    assert result.returncode == -9, (point, result.returncode, result.stderr)
    return result


class Held:
    """``with Held(point, ...) as held:`` runs the command until just before ``point`` and keeps
    it there for the block; afterwards ``returncode`` and ``stderr``."""

    def __init__(
        self,
        point: Point,
        args: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        scratch: Path,
        *,
        entry: bool = False,
    ) -> None:
        """``entry``: run mlenv's process entry point (its signal handling and all), not the
        CLI function a test calls."""
        scratch.mkdir(parents=True)
        self.scratch = scratch
        self._log = (scratch / "stderr").open("w+")
        self._process = subprocess.Popen(
            _command(point, "hold-entry" if entry else "hold", scratch, args),
            cwd=cwd,
            env=_environment(env),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )
        self.returncode: int | None = None
        self.stderr = ""

    def __enter__(self) -> Held:
        deadline = time.monotonic() + 60
        while not (self.scratch / "held").exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._process.kill()
                self._process.wait()
                raise AssertionError(f"the command never reached the point: {self.scratch}")
            time.sleep(0.01)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        (self.scratch / "resume").touch()
        self.returncode = self._process.wait(timeout=120)
        self._log.seek(0)
        self.stderr = self._log.read()
        self._log.close()
