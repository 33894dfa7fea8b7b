"""A remembered lock is written where the output guard would let a full run write it: with
nothing at ``mlenv.lock``, ``outputs.check_output`` answers the real path, which is what
``uptodate.absent_target`` gives without importing the guard; with anything there, the memo
does not write at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.outputs import LOCK_FILE, check_output
from mlenv.uptodate import absent_target

NAMES = ["a", "b", "c"]
# each name is a directory, or a symlink to another name (through "..", or dangling)
shapes = st.dictionaries(
    st.sampled_from(NAMES),
    st.one_of(st.just("dir"), st.sampled_from([f"link:{n}" for n in [*NAMES, "gone"]])),
    min_size=1,
)
# what is at mlenv.lock in each directory
locks = st.sampled_from(["none", "file", "dangling", "dir", "link-to-file"])


def build(root: Path, shape: dict[str, str], lock: str) -> None:
    for name, kind in shape.items():
        if kind == "dir":
            (root / name).mkdir()
            (root / name / "mlenv.toml").write_text("[environment]\n")
    for name, kind in shape.items():
        if kind.startswith("link:"):
            (root / name).symlink_to(Path("..") / root.name / kind[5:])
    for name, kind in shape.items():
        target = root / name / "mlenv.lock"
        if kind != "dir" or lock == "none":
            continue
        if lock == "file":
            target.write_text("x")
        elif lock == "dangling":
            target.symlink_to(root / "nowhere")
        elif lock == "dir":
            target.mkdir()
        else:
            target.symlink_to(root / name / "mlenv.toml")


@settings(max_examples=60, deadline=None)
@given(shape=shapes, lock=locks)
def test_the_memo_writes_only_where_the_guard_would(
    tmp_path_factory: pytest.TempPathFactory, shape: dict[str, str], lock: str
) -> None:
    root = tmp_path_factory.mktemp("t")
    build(root, shape, lock)
    for name in NAMES:
        directory = root / name
        target = absent_target(str(directory))
        try:
            os.lstat(directory / "mlenv.lock")
        except FileNotFoundError:
            there = False
        except OSError:
            there = True  # cannot be looked at: the memo stays out
        else:
            there = True
        if there:
            assert target is None, (name, shape, lock)
            continue
        keep = {"the manifest": directory / "mlenv.toml", "the cache": root / "cache"}
        try:
            guarded = check_output(directory / "mlenv.lock", LOCK_FILE, keep=keep)
        except Exception:  # the guard refuses only what is there; nothing is
            guarded = None
        assert target == (None if guarded is None else str(guarded)), (name, shape, lock)
