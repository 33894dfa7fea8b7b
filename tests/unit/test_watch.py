"""``mlenv.watch``: a recorded run vouches for its reads only when each still holds, and never
when it did what no stamp covers (a connection, a child process, a read nobody reported)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from contextlib import suppress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import watch
from mlenv.userfiles import read_input


def settled() -> None:
    """Wait out the clock tick after the last write (a read within it is never vouched for)."""
    time.sleep(2 * watch.TICK_NS / 1e9)


def test_files_read_through_the_user_file_opener_are_vouched_for(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<a>x</a>")
    settled()
    with watch.recording((str(tmp_path / "cache"),), str(tmp_path)) as reads:
        read_input(page, "page")
        watch.probed(tmp_path / "absent")
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache" / "entry").write_text("derived")
        assert (tmp_path / "cache" / "entry").read_text() == "derived"
    assert reads.vouched()
    assert set(reads.stamps) == {str(page), str(tmp_path / "absent")}


@pytest.mark.parametrize(
    "unreported",
    [
        lambda path: path.read_text(),
        lambda path: list(path.parent.iterdir()),
        lambda path: os.scandir(path.parent).close(),
        lambda path: os.close(os.open(path, os.O_RDONLY)),
    ],
)
def test_a_read_nobody_reported_is_never_vouched_for(tmp_path: Path, unreported: object) -> None:
    other = tmp_path / "other" / "file"
    other.parent.mkdir()
    other.write_text("x")
    settled()
    with watch.recording((), str(tmp_path)) as reads:
        unreported(other)  # type: ignore[operator]
    assert not reads.vouched()


@pytest.mark.parametrize(
    "unstampable",
    [
        lambda: socket.getaddrinfo("127.0.0.1", 1),
        lambda: subprocess.run(["true"], check=True),
        lambda: socket.create_connection(("127.0.0.1", 9), timeout=0.1),
    ],
)
def test_a_connection_or_a_child_process_is_never_vouched_for(
    tmp_path: Path, unstampable: object
) -> None:
    # a refusal is fine: the attempt alone is what no stamp covers
    with watch.recording((), str(tmp_path)) as reads, suppress(OSError):
        unstampable()  # type: ignore[operator]
    assert reads.unstampable and not reads.vouched()


def test_a_read_within_a_tick_of_the_files_change_is_never_vouched_for(tmp_path: Path) -> None:
    page = tmp_path / "page"
    page.write_text("fresh")
    with watch.recording((), str(tmp_path)) as reads:
        read_input(page, "page")  # at once: a rewrite in this tick could keep every stamp
    assert not reads.vouched()


def test_whole_second_or_millisecond_times_need_a_longer_wait(tmp_path: Path) -> None:
    assert watch.window((1, 5, 5_000_000_001, 1, 1)) == watch.TICK_NS
    assert watch.window((1, 5, 5_000_000_000, 1, 1)) == 2_000_000_000
    assert watch.window((1, 5, 5_001_000_000, 1, 1)) == 2_000_000_000
    page = tmp_path / "page"
    page.write_text("x")
    settled()
    with watch.recording((), str(tmp_path)) as reads:
        read_input(page, "page")
    ctime = page.stat().st_ctime_ns
    reads.read_at[str(page)] = ctime + watch.window(reads.stamps[str(page)] or (0,) * 5) - 1
    assert not reads.vouched()
    reads.read_at[str(page)] += 2
    assert reads.vouched()


def _rewrite_same(path: Path) -> None:
    path.write_bytes(path.read_bytes())


def _same_size_other_bytes(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])


def _restored_times(path: Path) -> None:
    info = path.stat()
    _same_size_other_bytes(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _replaced_by_rename(path: Path) -> None:
    other = path.with_name(path.name + ".new")
    other.write_bytes(path.read_bytes())
    other.replace(path)


def _removed(path: Path) -> None:
    path.unlink()


def _appended(path: Path) -> None:
    with path.open("ab") as handle:
        handle.write(b"!")


def _chmod(path: Path) -> None:
    path.chmod(0o600)


CHANGES = [_rewrite_same, _same_size_other_bytes, _restored_times, _replaced_by_rename,
           _removed, _appended, _chmod]  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(
    changes=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(CHANGES)), min_size=0, max_size=3)
)
def test_any_change_after_the_read_voids_the_vouch(
    tmp_path_factory: pytest.TempPathFactory, changes: list[tuple[int, object]]
) -> None:
    root = tmp_path_factory.mktemp("reads")
    files = [root / f"f{n}" for n in range(3)]
    for number, path in enumerate(files):
        path.write_bytes(b"content %d" % number)
    settled()
    with watch.recording((), str(root)) as reads:
        for path in files:
            read_input(path, "page")
    changed = False
    for which, change in changes:
        if files[which].exists():
            change(files[which])  # type: ignore[operator]
            changed = True
    assert reads.vouched() is not changed


def test_a_path_probed_absent_that_appears_voids_the_vouch(tmp_path: Path) -> None:
    with watch.recording((), str(tmp_path)) as reads:
        watch.probed(tmp_path / "index.json")
    assert reads.vouched()
    (tmp_path / "index.json").write_text("{}")
    assert not reads.vouched()


def test_outside_a_recording_nothing_is_noted(tmp_path: Path) -> None:
    page = tmp_path / "page"
    page.write_text("x")
    read_input(page, "page")
    watch.probed(page)
    with watch.recording((), str(tmp_path)) as reads:
        pass
    assert reads.stamps == {} and reads.vouched()
