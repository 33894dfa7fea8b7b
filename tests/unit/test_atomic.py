"""Directory replacement and the work directories beside outputs (mlenv.atomic)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlenv.atomic import replace_dir, work_dir

# A run that takes a work directory beside DEST, says which, then waits or dies with it.
HOLDER = """
import os, sys
from pathlib import Path
from mlenv.atomic import work_dir
with work_dir(Path(sys.argv[1])) as work:
    print(work, flush=True)
    if sys.argv[2] == "die":
        os.kill(os.getpid(), 9)
    sys.stdin.read()
"""


def _holder(dest: Path, how: str) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(dest), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_replace_dir_puts_the_new_tree_in_place_of_the_old(tmp_path: Path) -> None:
    dest, new = tmp_path / "dist", tmp_path / "new"
    for tree, name in ((dest, "old.txt"), (new, "new.txt")):
        tree.mkdir()
        (tree / name).write_text(name)
    replace_dir(new, dest)
    assert [p.name for p in dest.iterdir()] == ["new.txt"]
    assert not new.exists()
    again = tmp_path / "again"
    again.mkdir()
    replace_dir(again, tmp_path / "fresh")  # no previous tree: a plain rename
    assert (tmp_path / "fresh").is_dir() and not again.exists()


def test_a_killed_runs_work_dir_is_swept_a_live_runs_is_kept(tmp_path: Path) -> None:
    dest = tmp_path / "dist"
    dead, dead_work = _holder(dest, "die")
    assert dead.wait() == -9 and dead_work.is_dir()
    live, live_work = _holder(dest, "wait")
    try:
        with work_dir(dest) as mine:
            assert mine.is_dir() and mine.parent == tmp_path
            assert not dead_work.exists()
            assert live_work.is_dir()
        assert not mine.exists()
    finally:
        live.communicate("")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_users_directory_named_like_a_work_dir_is_never_swept(tmp_path: Path) -> None:
    """Invariant 4: the sweep removes only directories mlenv made (its mark, or empty), never a
    user's directory that happens to share the `.NAME.work-` prefix."""
    dest = tmp_path / "dist"
    mine = tmp_path / ".dist.work-notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine")
    (tmp_path / ".dist.work-empty").mkdir()
    with work_dir(dest):
        pass
    assert (mine / "thesis.tex").read_text() == "mine"
    assert not (tmp_path / ".dist.work-empty").exists()
