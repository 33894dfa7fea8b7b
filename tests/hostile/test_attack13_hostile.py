"""Thirteenth adversary pass: image.tar's writer with its sha256 on a thread (``write_tar``).

The digest ``write_tar`` returns is the sha256 of the bytes in the file, which are the tar the
unthreaded writer makes; a checked entry's bytes are the ones its hash saw; a failure anywhere
(disk, read, hash thread, interrupt) reaches the caller with no thread left and no image.tar
in place; the handoffs hold a bounded number of chunks. Each test names what it protects and
fails if its enforcement is removed.
"""

from __future__ import annotations

import _thread
import hashlib
import io
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import stages, tarball
from mlenv.atomic import atomic_writer
from mlenv.direct import DirectReader, direct
from mlenv.handoff import Handoff
from mlenv.stages import Digest
from mlenv.tarball import ContentMismatch, Entry, LayerError, write_tar
from tests.support.sinks import FailingSink

pytestmark = pytest.mark.hostile

MIB = 1 << 20
SIZES = [0, 1, MIB - 1, MIB, MIB + 1, 4 * MIB - 1, 4 * MIB, 4 * MIB + 1]


def _content(size: int, seed: int) -> bytes:
    block = hashlib.sha256(f"{seed}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def _entries(root: Path, sizes: list[int], *, checked: bool) -> list[Entry]:
    entries = []
    for n, size in enumerate(sizes):
        path = root / f"f{n:04d}"
        data = _content(size, n)
        path.write_bytes(data)
        sha = hashlib.sha256(data).hexdigest() if checked and n % 2 == 0 else None
        entries.append(Entry(f"f{n:04d}", "file", 0o644, source=path, size=size, sha256=sha))
    return entries


def _unthreaded(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    tarball._write_tar(entries, Digest(out), 0, None)  # the reused-buffer path, one thread
    return out.getvalue()


def _our_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mlenv-layer") and t.is_alive()]


@pytest.fixture(autouse=True)
def _no_thread_left() -> Iterator[None]:
    """Protects: a writer, whatever happened, leaves none of its handoff threads running."""
    before = set(_our_threads())
    yield
    deadline = time.monotonic() + 5
    while set(_our_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(_our_threads()) - before


@pytest.mark.parametrize("size", SIZES)
def test_edge_sizes_give_the_unthreaded_tar_and_its_true_digest(tmp_path: Path, size: int) -> None:
    """Protects invariant 1 at the chunk and buffer edges (0, 1, 1 MiB +-1, 4 MiB +-1): the
    digest returned is the sha256 of the bytes written, which are the unthreaded writer's."""
    entries = _entries(tmp_path, [size, size], checked=True)
    out = io.BytesIO()
    digest, length = write_tar(entries, out, mtime=0)
    written = out.getvalue()
    assert written == _unthreaded(entries)
    assert digest == "sha256:" + hashlib.sha256(written).hexdigest()
    assert length == len(written)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from([*SIZES, 2, 511, 512, 513, 4096]), max_size=12))
def test_any_mix_of_sizes_gives_the_unthreaded_tar(tmp_path: Path, sizes: list[int]) -> None:
    """Protects invariant 1 over any mix of files (many small ones, big ones, none)."""
    root = tmp_path / str(len(list(tmp_path.iterdir())))
    root.mkdir()
    entries = _entries(root, sizes, checked=True)
    out = io.BytesIO()
    digest, length = write_tar(entries, out, mtime=0)
    written = out.getvalue()
    assert written == _unthreaded(entries)
    assert (digest, length) == ("sha256:" + hashlib.sha256(written).hexdigest(), len(written))


def test_a_reused_buffer_handed_to_the_threaded_digest_is_copied() -> None:
    """Protects invariant 2: a chunk cannot change after it is hashed; a caller that hands the
    threaded digest a buffer and reuses it (the old ``_copy`` path) does not change the bytes."""
    out = io.BytesIO()
    buffer = bytearray(b"a" * 1000)
    with Handoff(out) as writer, Digest(writer, threaded=True) as sink:
        for n in range(50):
            buffer[:] = bytes([65 + n % 26]) * 1000
            sink.write(memoryview(buffer))
            sink.write(memoryview(buffer)[:10])
        sink.close()
        writer.close()
    expected = b"".join(bytes([65 + n % 26]) * 1010 for n in range(50))
    assert out.getvalue() == expected
    assert sink.digest() == "sha256:" + hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize("size", [MIB, 4 * MIB + 1, 9 * MIB])
def test_a_checked_file_rewritten_during_the_write_never_ships_unseen_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Protects invariant 2: a checked blob rewritten in place (same size) while it is copied
    either fails the check or ships exactly the bytes its digest names, never a mix."""
    entries = _entries(tmp_path, [size], checked=True)
    source = entries[0].source
    assert source is not None
    original = source.read_bytes()
    real = DirectReader.read
    calls = [0]

    def read(self: DirectReader, count: int) -> bytes:
        calls[0] += 1
        if calls[0] == 1:
            with source.open("r+b") as handle:
                handle.write(b"\xff" * size)
        return real(self, count)

    monkeypatch.setattr(DirectReader, "read", read)
    out = io.BytesIO()
    try:
        write_tar(entries, out, mtime=0)
    except ContentMismatch:
        return
    kept = Entry("f0000", "file", 0o644, source=_keep(tmp_path, original), size=size)
    assert out.getvalue() == _unthreaded([kept])


def _keep(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "kept"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("change", ["grow", "shrink"])
def test_a_file_changing_size_while_read_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """Protects invariant 3: a file that grows or shrinks under the copy is an error, and the
    writer's threads end."""
    entries = _entries(tmp_path, [3 * MIB], checked=False)
    source = entries[0].source
    assert source is not None
    if change == "grow":
        source.write_bytes(_content(3 * MIB + 7, 0))
    else:
        source.write_bytes(_content(3 * MIB - 7, 0))
    with pytest.raises(LayerError, match="changed size"):
        write_tar(entries, io.BytesIO(), mtime=0)


@pytest.mark.parametrize("room", [0, 511, 512, MIB - 1, MIB + 600, 5 * MIB, 7 * MIB])
def test_a_full_disk_at_any_offset_reaches_the_writer(tmp_path: Path, room: int) -> None:
    """Protects invariant 3: the file's write failing at any offset is raised by ``write_tar``
    (no hang with both queues full, no thread left)."""
    entries = _entries(tmp_path, [4 * MIB + 1, 1, 3 * MIB], checked=True)
    with pytest.raises(OSError, match="No space"):
        write_tar(entries, FailingSink(room), mtime=0)


@pytest.mark.parametrize("nth", [1, 2, 5, 40])
def test_a_failure_in_the_hash_thread_reaches_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nth: int
) -> None:
    """Protects invariant 3: the digest's thread failing (a hash that raises) is raised by
    ``write_tar``; the sha256 of a tar it did not see is never returned."""
    real = stages._Hashed.write
    calls = [0]

    def write(self: stages._Hashed, data: bytes | memoryview) -> None:
        calls[0] += 1
        if calls[0] == nth:
            raise MemoryError("hash thread died")
        real(self, data)

    monkeypatch.setattr(stages._Hashed, "write", write)
    entries = _entries(tmp_path, [2 * MIB, 5, MIB + 1] * 4, checked=True)
    with pytest.raises(MemoryError, match="hash thread died"):
        write_tar(entries, io.BytesIO(), mtime=0)


class _SlowFailing(io.BytesIO):
    """A disk that is slow (both queues fill) and then fails."""

    def __init__(self, after: int, error: BaseException) -> None:
        super().__init__()
        self.after, self.error = after, error

    def write(self, data: object) -> int:
        assert isinstance(data, bytes)
        time.sleep(0.01)
        if self.tell() + len(data) > self.after:
            raise self.error
        return super().write(data)


def test_a_downstream_failing_while_upstream_waits_on_full_queues_does_not_hang(
    tmp_path: Path,
) -> None:
    """Protects invariant 3: the writer thread failing while the hash thread and the reader
    wait on full queues is raised, not a deadlock."""
    entries = _entries(tmp_path, [40 * MIB], checked=False)
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            write_tar(entries, _SlowFailing(3 * MIB, OSError(5, "EIO")), mtime=0)
            result.append(None)
        except BaseException as exc:
            result.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "write_tar hung"
    assert isinstance(result[0], OSError)


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_an_interrupt_or_read_error_leaves_no_image_tar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    """Protects invariant 3: an interrupt or a read error mid-copy leaves no image.tar and no
    temporary file beside it (atomic writer), and no thread."""
    (tmp_path / "src").mkdir()
    entries = _entries(tmp_path / "src", [6 * MIB, 2 * MIB], checked=False)
    real = DirectReader.read
    calls = [0]

    def read(self: DirectReader, count: int) -> bytes:
        calls[0] += 1
        if calls[0] == 4:
            raise error("stop here")
        return real(self, count)

    monkeypatch.setattr(DirectReader, "read", read)
    dist = tmp_path / "dist"
    dist.mkdir()
    out = dist / "image.tar"
    with pytest.raises(error), atomic_writer(out) as stream, direct(stream) as sink:
        write_tar(entries, sink, mtime=0)
    assert list(dist.iterdir()) == []


def test_a_checked_read_error_is_a_mismatch_and_leaves_no_image_tar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects invariant 3 with invariant 1 of docs/security.md: a checked blob that cannot be
    read is a ``ContentMismatch`` (the build retries) and nothing is left in place."""
    (tmp_path / "src").mkdir()
    entries = _entries(tmp_path / "src", [6 * MIB], checked=True)
    real = DirectReader.read
    calls = [0]

    def read(self: DirectReader, count: int) -> bytes:
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(5, "Input/output error")
        return real(self, count)

    monkeypatch.setattr(DirectReader, "read", read)
    dist = tmp_path / "dist"
    dist.mkdir()
    with (
        pytest.raises(ContentMismatch),
        atomic_writer(dist / "image.tar") as stream,
        direct(stream) as sink,
    ):
        write_tar(entries, sink, mtime=0)
    assert list(dist.iterdir()) == []


def test_concurrent_writers_give_the_same_bytes(tmp_path: Path) -> None:
    """Protects invariant 1 under concurrency: writers side by side (shared read and hash
    threads) each write the one tar and its true digest."""
    entries = _entries(tmp_path, [5 * MIB + 3, 1, MIB, 2 * MIB - 1], checked=True)
    expected = _unthreaded(entries)
    results: list[tuple[str, bytes]] = []
    lock = threading.Lock()

    def run() -> None:
        out = io.BytesIO()
        digest, _ = write_tar(entries, out, mtime=0)
        with lock:
            results.append((digest, out.getvalue()))

    workers = [threading.Thread(target=run) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert len(results) == 4
    for digest, data in results:
        assert data == expected
        assert digest == "sha256:" + hashlib.sha256(data).hexdigest()


def test_memory_stays_bounded_behind_a_stalled_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects invariant 4: with the file's writes stalled, the reader stops after the two
    queues' depth of chunks (plus those in hand), not after the whole file."""
    entries = _entries(tmp_path, [64 * MIB], checked=False)
    real = DirectReader.read
    reads = [0]

    def read(self: DirectReader, count: int) -> bytes:
        reads[0] += 1
        return real(self, count)

    monkeypatch.setattr(DirectReader, "read", read)
    release = threading.Event()

    class Stalled(io.BytesIO):
        def write(self, data: object) -> int:
            release.wait(30)
            assert isinstance(data, bytes)
            return super().write(data)

    worker = threading.Thread(target=lambda: write_tar(entries, Stalled(), mtime=0))
    worker.start()
    time.sleep(1.5)
    held = reads[0]
    release.set()
    worker.join(60)
    assert held <= 2 * 8 + 4, f"{held} chunks read behind a stalled disk"


def test_an_offline_build_module_still_pulls_a_registry_base() -> None:
    """Protects invariant 5: ``mlenv.oci.base`` loads no registry client at import, and what
    ``pull_base`` imports when it runs exists (a renamed import fails only at a pull)."""
    code = (
        "import sys, mlenv.oci.base as b\n"
        "assert 'httpx' not in sys.modules and 'mlenv.oci.registry' not in sys.modules\n"
        "from mlenv.cache.download import fetch\n"
        "from mlenv.oci.bundle import BlobOpener\n"
        "from mlenv.oci.registry import reader\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("delay", [0.05, 0.3])
def test_ctrl_c_while_blocked_on_full_queues_stops_cleanly(tmp_path: Path, delay: float) -> None:
    """Protects invariant 3: Ctrl-C reaching the build while it waits on the handoffs' full
    queues (a slow disk) raises KeyboardInterrupt promptly, with no thread left behind."""
    entries = _entries(tmp_path, [48 * MIB], checked=True)

    class Slow(io.BytesIO):
        def write(self, data: object) -> int:
            time.sleep(0.05)
            assert isinstance(data, bytes)
            return super().write(data)

    # A run started in the background by a shell without job control (nohup, `cmd &` in a
    # script) inherits SIGINT ignored, and then interrupt_main does nothing: Ctrl-C at a
    # terminal is what is simulated, so its handler is Python's own for the test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(delay, _thread.interrupt_main)
    try:
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            write_tar(entries, Slow(), mtime=0)
            time.sleep(30)  # not reached unless the interrupt came late
        timer.join()
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # A stall guard, not a speed target: a late interrupt waits out the 30 s sleep (or the
    # whole slow write); a prompt one ends in under 1 s here, 20x under the bound.
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("change", [+7, -7, -(3 * MIB)])
def test_a_checked_blob_changing_size_while_read_is_a_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: int
) -> None:
    """Protects docs/security.md invariant 1 (a reused blob that changed is dropped and the
    build runs again): a checked blob that grows or shrinks under the copy is a
    ``ContentMismatch`` (``reuse.stale``'s trigger), not a plain ``LayerError`` that fails the
    build with the staging tree's hint and leaves the bad entry in the layer cache."""
    entries = _entries(tmp_path, [3 * MIB], checked=True)
    source = entries[0].source
    assert source is not None
    real = DirectReader.__init__

    def opened(self: DirectReader, path: Path | int, *, hashed: bool = False) -> None:
        with source.open("r+b") as handle:  # the cache's copy changes just as it is opened
            handle.truncate(3 * MIB + change)
        real(self, path, hashed=hashed)

    monkeypatch.setattr(DirectReader, "__init__", opened)
    with pytest.raises(ContentMismatch, match="changed size"):
        write_tar(entries, io.BytesIO(), mtime=0)
