"""The lock memo attacked (pass 20): where a remembered lock is written, and what it says.

A first lock answered from the memo must do what a full run from an empty cache does: the
same exit status, the same lock bytes at the same place (or none), the same lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlenv.outputs import LOCK_FILE, OutputError, check_output
from mlenv.uptodate import absent_target
from tests.support.memo import first_lock
from tests.support.wheels import build_wheel, write_simple_index


def project_with(tmp_path: Path) -> Path:
    index = write_simple_index(tmp_path / "index", [build_wheel("app", "1.0")])
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "attack"\npython = "3.11"\n[pypi]\n'
        f'index-url = "{index}"\ndependencies = ["app"]\n'
    )
    return project


def test_a_home_directory_at_the_lock_path_is_refused_as_by_the_full_run(
    tmp_path: Path,
) -> None:
    """The output guard never writes the home directory or over one below it, even one not
    there yet: HOME is no MLENV_* setting, so a lock remembered under another HOME has the
    same key, and the memo must refuse where the guard would."""
    project = project_with(tmp_path)
    cache = tmp_path / "cache"
    kept = first_lock(project, cache, env={"HOME": str(tmp_path)})
    assert kept.status == 0 and first_lock(project, cache, env={"HOME": str(tmp_path)}).recalled
    for home in (project / "mlenv.lock", project / "mlenv.lock" / "me"):
        env = {"HOME": str(home)}
        answered = first_lock(project, cache, env=env)
        full = first_lock(project, tmp_path / f"cold-{time.time_ns()}", env=env)
        assert full.status == 1 and full.lock is None, full.said
        assert (answered.status, answered.lock) == (full.status, full.lock), answered.said
        assert answered.said == full.said


def test_a_project_under_a_name_holding_a_unicode_line_break_is_remembered(
    tmp_path: Path,
) -> None:
    """An entry's lines are split at its newlines only: a path holding U+2028 or U+0085 (a
    line break to ``str.splitlines``, not in a file name's way) is one line, not a torn entry
    kept on every run and never answered."""
    for name in ("line\u2028break", "next\x85line"):
        project = project_with(tmp_path / name)
        cache = tmp_path / name / "cache"
        full = first_lock(project, cache)
        again = first_lock(project, cache)
        assert full.status == 0 and again.recalled, name
        assert (again.lock, again.said) == (full.lock, full.said)


def test_the_memo_target_and_the_guard_agree_whatever_home_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing at mlenv.lock, the guard refuses only a home directory at or below it."""
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "link").symlink_to(project)
    lock = project / "mlenv.lock"
    homes = [lock, lock / "x", tmp_path / "link" / "mlenv.lock", project, tmp_path / "mlenv"]
    for home in [*map(str, homes), ""]:  # an empty HOME is the root to expanduser
        monkeypatch.setenv("HOME", home)
        keep = {"the manifest": project / "mlenv.toml", "the cache": tmp_path / "cache"}
        try:
            guarded: Path | None = check_output(lock, LOCK_FILE, keep=keep)
        except OutputError:
            guarded = None
        assert absent_target(str(project)) == (None if guarded is None else str(guarded)), home
        assert (guarded is None) == (home in map(str, homes[:3])), home


def _locked_into_a_closed_pipe(project: Path, cache: Path) -> tuple[int, bool]:
    """A first lock whose stderr is a pipe nobody reads (its first line fails): its status,
    and whether it left a lock."""
    time.sleep(0.05)
    read, write = os.pipe()
    os.close(read)
    try:
        env = {**os.environ, "MLENV_CACHE_DIR": str(cache)}
        result = subprocess.run(
            [sys.executable, "-m", "mlenv", "lock"], cwd=project, env=env, stderr=write,
            stdout=subprocess.DEVNULL, timeout=600, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    lock = project / "mlenv.lock"
    there = lock.is_file()
    lock.unlink(missing_ok=True)
    return result.returncode, there


def test_a_lock_that_cannot_say_what_it_resolved_is_not_written_from_the_memo(
    tmp_path: Path,
) -> None:
    """A full run says what it resolved before it writes the lock: when that fails (stderr a
    closed pipe, a full disk), no lock is written; a remembered lock must not be either."""
    project = project_with(tmp_path)
    cache = tmp_path / "cache"
    assert first_lock(project, cache).status == 0
    assert first_lock(project, cache).recalled
    full = _locked_into_a_closed_pipe(project, tmp_path / "cold")
    assert full[0] != 0 and not full[1]
    assert _locked_into_a_closed_pipe(project, cache) == full
    assert first_lock(project, cache).recalled  # the entry still answers a usable stderr
