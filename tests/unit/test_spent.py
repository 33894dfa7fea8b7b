"""A scratch tree's files go once every writer has read them, never before."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.spent import Spent


@settings(max_examples=60, deadline=None)
@given(
    readers=st.integers(1, 4),
    files=st.integers(1, 6),
    order=st.randoms(use_true_random=False),
)
def test_a_file_goes_at_its_last_read_and_not_before(
    tmp_path_factory: pytest.TempPathFactory, readers: int, files: int, order: object
) -> None:
    """Protects the invariant: whatever the interleaving of the readers, a file exists until
    ``readers`` reads of it were reported, and is gone after."""
    root = tmp_path_factory.mktemp("tree")
    paths = [root / f"f{n}" for n in range(files)]
    for path in paths:
        path.write_bytes(b"x")
    reads = [path for path in paths for _ in range(readers)]
    order.shuffle(reads)  # type: ignore[attr-defined]
    spent, seen = Spent(readers), dict.fromkeys(paths, 0)
    for path in reads:
        assert path.exists()
        spent.read(path)
        seen[path] += 1
        assert path.exists() == (seen[path] < readers)


def test_readers_on_threads_remove_each_file_once_all_have_read(tmp_path: Path) -> None:
    """Protects: the count is shared safely; two writers racing over the same 400 files leave
    none behind and never find one gone before they read it."""
    paths = [tmp_path / f"f{n}" for n in range(400)]
    for path in paths:
        path.write_bytes(b"data")
    spent, early = Spent(2), []

    def writer(order: list[Path]) -> None:
        for path in order:
            if not path.exists():
                early.append(path)
            spent.read(path)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (paths, paths[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert early == [] and list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_removed_stays_with_the_tree(tmp_path: Path) -> None:
    """Protects: removal is best effort (scratch): a file already gone, or a directory in its
    place, is no error."""
    spent = Spent(1)
    spent.read(tmp_path / "gone")
    (tmp_path / "dir").mkdir()
    spent.read(tmp_path / "dir")
    assert (tmp_path / "dir").is_dir()
    with pytest.raises(ValueError):
        Spent(0)
