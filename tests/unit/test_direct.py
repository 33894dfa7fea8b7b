"""Big outputs written around the page cache keep every byte, wherever the file system stands."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.direct import BIG, DirectReader, DirectWriter, direct, open_source

MiB = 1 << 20


def _write(path: Path, chunks: list[bytes], prefix: bytes = b"") -> None:
    with path.open("wb") as handle:
        handle.write(prefix)
        with direct(handle) as sink:
            for chunk in chunks:
                assert sink.write(chunk) == len(chunk)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([0, 1, 511, 4095, 4096, 4097, MiB - 1, 4 * MiB, 4 * MiB + 7]),
                   max_size=6),
    prefix=st.sampled_from([b"", b"x" * 4096, b"odd"]),
)  # fmt: skip
def test_the_file_holds_exactly_the_bytes_written(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], prefix: bytes
) -> None:
    """Protects: whatever the chunk sizes (block and buffer edges, a tail that is no whole
    block) and wherever the handle stood (an unaligned start stays plain), the file is the
    bytes in order, and the handle's flags are as they were."""
    path = tmp_path_factory.mktemp("direct") / "out"
    chunks = [os.urandom(size) for size in sizes]
    with path.open("wb") as handle:
        handle.write(prefix)
        before = fcntl.fcntl(handle.fileno(), fcntl.F_GETFL)
        with direct(handle) as sink:
            flags = fcntl.fcntl(handle.fileno(), fcntl.F_GETFL)
            assert bool(flags & os.O_DIRECT) == (len(prefix) % 4096 == 0)  # ext4 takes it
            for chunk in chunks:
                sink.write(memoryview(chunk))
        assert fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) == before
    assert path.read_bytes() == prefix + b"".join(chunks)


def test_a_file_system_that_refuses_o_direct_gets_plain_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects: where setting O_DIRECT fails (tmpfs on older kernels, some network file
    systems), or a write is refused with EINVAL after it was accepted, the bytes still land."""
    data = os.urandom(9 * MiB + 123)
    real = fcntl.fcntl

    def refuse(fd: int, command: int, *args: int) -> int:
        if command == fcntl.F_SETFL and args and args[0] & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, command, *args)

    monkeypatch.setattr(fcntl, "fcntl", refuse)
    _write(tmp_path / "refused", [data])
    monkeypatch.undo()
    assert (tmp_path / "refused").read_bytes() == data

    writes = []
    plain = os.write

    def late(fd: int, view: memoryview) -> int:
        if len(view) < MiB:  # not the writer's (pytest's own output)
            return plain(fd, view)
        writes.append(len(view))
        if len(writes) == 2:
            raise OSError(errno.EINVAL, "Invalid argument")
        return plain(fd, view)

    monkeypatch.setattr(os, "write", late)
    _write(tmp_path / "late", [data])
    monkeypatch.undo()
    assert (tmp_path / "late").read_bytes() == data and len(writes) > 2


def test_a_full_disk_is_the_writers_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects: an error other than a refused O_DIRECT (ENOSPC) reaches the writer."""

    plain = os.write

    def full(fd: int, view: memoryview) -> int:
        if len(view) < MiB:
            return plain(fd, view)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        _write(tmp_path / "out", [os.urandom(5 * MiB)])


@settings(max_examples=25, deadline=None)
@given(
    size=st.sampled_from([0, 1, 4095, 4096, 4097, 4 * MiB, 4 * MiB + 1, 9 * MiB + 5]),
    step=st.sampled_from([1, 4096, MiB, 8 * MiB]),
)
def test_an_uncached_read_gives_the_file_in_any_steps(
    tmp_path_factory: pytest.TempPathFactory, size: int, step: int
) -> None:
    """Protects: read around the page cache, in steps smaller or larger than its buffer, a
    file gives exactly its bytes, then nothing (``read(1)`` is how growth is detected)."""
    path = tmp_path_factory.mktemp("read") / "blob"
    data = os.urandom(size)
    path.write_bytes(data)
    got = bytearray()
    with DirectReader(path) as handle:
        view = memoryview(bytearray(step))
        while n := handle.readinto(view):
            got += view[:n]
        assert handle.read(1) == b""
    assert bytes(got) == data


def test_an_uncached_read_falls_back_where_o_direct_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects: a file system that refuses O_DIRECT at open, or at the first read, is read
    plainly, whole."""
    path = tmp_path / "blob"
    data = os.urandom(5 * MiB + 3)
    path.write_bytes(data)
    real_open, real_readv = os.open, os.readv

    def no_direct_open(name: object, flags: int, *args: int) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(name, flags, *args)  # type: ignore[arg-type]

    refused: list[int] = []

    def refuse_once(fd: int, buffers: list[memoryview]) -> int:
        if not refused and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_readv(fd, buffers)

    for name, fake in (("open", no_direct_open), ("readv", refuse_once)):
        monkeypatch.setattr(os, name, fake)
        with DirectReader(path) as handle:
            assert handle.read(6 * MiB) + handle.read(6 * MiB) == data
        monkeypatch.undo()
    assert refused


def test_writers_on_one_thread_never_share_a_buffer(tmp_path: Path) -> None:
    """Protects the spare buffers: a writer released twice gives its buffer back once, so two
    writers open at once on the same thread after it still write their own bytes."""
    with (tmp_path / "first").open("wb") as handle:
        first = DirectWriter(handle.fileno())
        first.release()
        first.release()
    data = {name: [os.urandom(3 * MiB + 5) for _ in range(3)] for name in ("a", "b")}
    with (tmp_path / "a").open("wb") as a, (tmp_path / "b").open("wb") as b:
        writers = {"a": DirectWriter(a.fileno()), "b": DirectWriter(b.fileno())}
        for step in range(3):
            for name, writer in writers.items():
                writer.write(data[name][step])
        for writer in writers.values():
            writer.finish()
            writer.release()
    for name, chunks in data.items():
        assert (tmp_path / name).read_bytes() == b"".join(chunks)


def test_only_big_files_are_read_around_the_page_cache(tmp_path: Path) -> None:
    """Protects the one rule (``BIG``) every reader of a staging tree follows: a file of BIG
    bytes or more is read without filling the page cache, a smaller one through it."""
    for size, around in ((BIG - 1, False), (BIG, True), (3 * BIG + 1, True)):
        path = tmp_path / f"file-{size}"
        data = os.urandom(size)
        _write(path, [data])
        with open_source(path, size) as handle:
            assert isinstance(handle, DirectReader) == around
            assert handle.read(size + 1) == data
        resident = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        assert (int(resident) < BIG // 2) == around, size


def test_a_reader_left_early_ends_its_read_ahead_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the read-ahead: a reader closed with a read under way (a writer stopped half
    way) waits for it before its buffers go back and its descriptor closes, so the next
    reader on this thread, given those buffers and maybe that descriptor's number, reads
    only its own file. Reads are slowed so that one is always under way at the close."""
    first, second = tmp_path / "first", tmp_path / "second"
    data = {first: os.urandom(9 * MiB), second: os.urandom(9 * MiB + 11)}
    for path, content in data.items():
        path.write_bytes(content)
    real_readv = os.readv
    lost: list[str] = []  # reads whose descriptor was closed or became another file's

    started = threading.Semaphore(0)

    def slow_readv(fd: int, buffers: list[memoryview]) -> int:
        before = os.fstat(fd).st_ino
        started.release()
        time.sleep(0.05)
        try:
            same = os.fstat(fd).st_ino == before
        except OSError as exc:
            same = False
            lost.append(exc.strerror or "closed")
        if not same and not lost:
            lost.append("another file")
        return real_readv(fd, buffers)

    monkeypatch.setattr(os, "readv", slow_readv)
    for _ in range(5):
        with DirectReader(first) as handle:
            assert handle.read(MiB) == data[first][:MiB]
            started.acquire()
            started.acquire()  # the second read is under way as the reader is left
        with DirectReader(second) as handle:
            assert b"".join(iter(lambda: handle.read(MiB), b"")) == data[second]
        while started.acquire(blocking=False):
            pass
    assert lost == []


def test_a_forked_child_reads_ahead_with_threads_of_its_own(tmp_path: Path) -> None:
    """Protects a child forked after the first read (the read-ahead threads stay behind in the
    parent): its reads must not wait forever for them."""
    path = tmp_path / "blob"
    data = os.urandom(5 * MiB)
    path.write_bytes(data)
    with DirectReader(path) as handle:
        assert b"".join(iter(lambda: handle.read(MiB), b"")) == data
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's verdict is its exit status
        signal.alarm(30)  # a read waiting for the parent's threads: killed, not hung
        with DirectReader(path) as handle:
            os._exit(0 if b"".join(iter(lambda: handle.read(MiB), b"")) == data else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@settings(max_examples=30, deadline=None)
@given(
    size=st.sampled_from([0, 1, 4095, 4096, 4 * MiB - 1, 4 * MiB, 12 * MiB + 5]),
    step=st.sampled_from([1 << 10, MiB, 5 * MiB]),
    held=st.booleans(),
)
def test_a_hashed_read_hashes_exactly_the_bytes_it_gives(
    tmp_path_factory: pytest.TempPathFactory, size: int, step: int, held: bool
) -> None:
    """Protects: a hashed reader's sha256 (computed on its own thread, three buffers turning)
    is that of the bytes it gave, read from a path or from a descriptor held elsewhere, and
    no buffer is refilled before its bytes were hashed."""
    path = tmp_path_factory.mktemp("hashed") / "blob"
    data = os.urandom(size)
    path.write_bytes(data)
    got = bytearray()
    with path.open("rb") as owner:
        with DirectReader(owner.fileno() if held else path, hashed=True) as handle:
            view = memoryview(bytearray(step))
            while n := handle.readinto(view):
                got += view[:n]
            assert handle.read(1) == b""
            assert handle.sha256() == hashlib.sha256(data).hexdigest()
        owner.seek(0)
        assert owner.read() == data  # the held descriptor is as it was: no O_DIRECT left on
    assert bytes(got) == data


def test_a_hashed_reader_left_early_waits_for_its_hashes(tmp_path: Path) -> None:
    """Protects: leaving a hashed reader early ends its reads and hashes before its buffers go
    back, so the next reader on this thread gets its own bytes."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(os.urandom(16 * MiB))
    second.write_bytes(os.urandom(9 * MiB))
    for _ in range(5):
        with DirectReader(first, hashed=True) as handle:
            handle.read(MiB)
        with DirectReader(second, hashed=True) as handle:
            got = b"".join(iter(lambda: handle.read(MiB), b""))
            assert got == second.read_bytes()
            assert handle.sha256() == hashlib.sha256(got).hexdigest()
