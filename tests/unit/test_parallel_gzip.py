"""gzip segments: a big file deflates the same wherever it sits, so two writers share it."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import parallel_gzip
from mlenv.build_record import ArchiveOutput
from mlenv.errors import MlenvError
from mlenv.parallel_gzip import GzipTwin, TwinAborted
from mlenv.tarball import Entry, LayerError, write_layer, write_tar
from mlenv.tree_listing import collect

BLOCK = 4096  # small blocks keep the trees small; the rule is the same


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel_gzip, "GZIP_BLOCK", BLOCK)


def text(rng: random.Random, size: int) -> bytes:
    """Compressible, non-repeating bytes: deflate output depends on every byte and on history."""
    words = [rng.randbytes(rng.randrange(2, 6)).hex().encode() for _ in range(300)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def make_tree(root: Path, sizes: dict[str, int], seed: int = 1) -> Path:
    rng = random.Random(seed)
    for name, size in sizes.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text(rng, size))
    return root


def gzip_layer(entries: list[Entry], workers: int = 2, twin: GzipTwin | None = None) -> bytes:
    out = io.BytesIO()
    write_layer(entries, out, compression="gzip", mtime=0, workers=workers, twin=twin)
    return out.getvalue()


def alone(data: bytes) -> bytes:
    """The deflate pieces of ``data`` as a segment of its own: blocks primed within it only."""
    pieces, history = [], b""
    for start in range(0, len(data), BLOCK):
        block = data[start : start + BLOCK]
        pieces.append(parallel_gzip._deflate_block(block, history, 6, False))
        history = (history + block)[-(1 << 15) :]
    return b"".join(pieces)


def in_twins(first: list[Entry], second: list[Entry], twin: GzipTwin) -> tuple[bytes, bytes]:
    """Both layers written at once in two threads; fails instead of hanging."""
    results: dict[int, bytes | BaseException] = {}

    def run(index: int, entries: list[Entry]) -> None:
        try:
            results[index] = gzip_layer(entries, twin=twin)
        except BaseException as exc:  # handed to the test thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, e)) for i, e in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a twin writer hung"
    outcome = (results[0], results[1])
    for item in outcome:
        if isinstance(item, BaseException):
            raise item
    assert isinstance(outcome[0], bytes) and isinstance(outcome[1], bytes)
    return outcome[0], outcome[1]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """How often each block (by its sha256) was deflated."""
    calls: Counter[str] = Counter()
    real = parallel_gzip._deflate_block

    def counting(block: bytes, history: bytes, level: int, last: bool) -> bytes:
        calls[hashlib.sha256(block).hexdigest()] += 1
        return real(block, history, level, last)

    monkeypatch.setattr(parallel_gzip, "_deflate_block", counting)
    yield calls


def test_a_big_file_deflates_the_same_wherever_it_sits(tmp_path: Path) -> None:
    """Protects sharing: a big file's deflate must not depend on the bytes before it."""
    big = text(random.Random(3), 3 * BLOCK + 17)
    layers = []
    for n, before in enumerate((b"", b"x" * 100, text(random.Random(9), 5 * BLOCK))):
        root = tmp_path / str(n)
        root.mkdir()
        (root / "a.txt").write_bytes(before)
        (root / "b.bin").write_bytes(big)
        layers.append(gzip_layer(collect(root, "opt/env" if n else "")))
    for layer in layers:
        assert alone(big) in layer
        assert tar_files(gzip.decompress(layer))["b.bin"] == big


def tar_files(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {
            m.name.rsplit("/", 1)[-1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_twins_deflate_each_big_file_once_and_change_no_byte(
    tmp_path: Path, counted: Counter[str]
) -> None:
    """Protects the gzip target (one deflate for both outputs) and byte identity."""
    root = make_tree(tmp_path / "t", {"lib/big1.so": 5 * BLOCK + 3, "lib/x.py": 900,
                                      "lib/z/big2.so": 2 * BLOCK, "bin/tool": 10})  # fmt: skip
    image, archive = collect(root, "opt/env"), collect(root, "")
    solo = (gzip_layer(image), gzip_layer(archive))
    counted.clear()
    twins = in_twins(image, archive, GzipTwin())
    assert twins == solo
    big_blocks = {
        hashlib.sha256(data[i : i + BLOCK]).hexdigest()
        for name in ("lib/big1.so", "lib/z/big2.so")
        for data in [(root / name).read_bytes()]
        for i in range(0, len(data), BLOCK)
    }
    assert big_blocks and all(counted[block] == 1 for block in big_blocks)


def test_twins_whose_files_come_in_another_order_finish_with_the_same_bytes(
    tmp_path: Path,
) -> None:
    """Protects against a deadlock: each writer could wait for the other's first file."""
    root = make_tree(tmp_path / "t", {"x.bin": 2 * BLOCK, "y.bin": 3 * BLOCK})
    x, y = root / "x.bin", root / "y.bin"
    first = [
        Entry("a", "file", 0o644, x, x.stat().st_size),
        Entry("b", "file", 0o644, y, 3 * BLOCK),
    ]
    second = [Entry("a", "file", 0o644, y, 3 * BLOCK), Entry("b", "file", 0o644, x, 2 * BLOCK)]
    solo = (gzip_layer(first), gzip_layer(second))
    assert in_twins(first, second, GzipTwin(limit=1, patience=0.5)) == solo


def test_twins_written_one_after_the_other_finish_with_the_same_bytes(tmp_path: Path) -> None:
    """Protects against a hang when the other writer only starts after this one ends (nobody
    takes what it hands on), and the bytes of both."""
    root = make_tree(tmp_path / "t", {"a.bin": 6 * BLOCK, "b.bin": 3 * BLOCK, "c": 5})
    image, archive = collect(root, "opt/env"), collect(root, "")
    twin = GzipTwin(limit=2, patience=0.2)
    # The archive's writer is there but writes only after the image: nobody takes in time.
    twin.register([str(e.source) for e in archive if e.size >= BLOCK])
    assert gzip_layer(image, twin=twin) == gzip_layer(image)
    assert gzip_layer(archive, twin=twin) == gzip_layer(archive)


def test_a_failing_writer_releases_its_twin(tmp_path: Path) -> None:
    """Protects against a hang: the other writer stops with TwinAborted, never waits forever."""
    root = make_tree(tmp_path / "t", {"a.bin": 2 * BLOCK, "b.bin": 4 * BLOCK})
    good = collect(root, "")
    b = root / "b.bin"
    lying = [e if e.source != b else Entry(e.path, "file", 0o644, b, e.size + 1) for e in good]
    with pytest.raises((LayerError, TwinAborted)):
        in_twins(good, lying, GzipTwin(limit=1))


def test_a_writer_that_never_starts_releases_its_twin_by_leaving(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", {"a.bin": 3 * BLOCK})
    twin = GzipTwin()
    twin.leave(failed=False)  # e.g. the image's layer came from the layer cache
    assert gzip_layer(collect(root, ""), twin=twin) == gzip_layer(collect(root, ""))


def test_a_twin_that_failed_first_reports_its_own_error() -> None:
    """Protects the message: the user sees the cause, not the other writer's stop."""
    cause: Future[ArchiveOutput] = Future()
    cause.set_exception(MlenvError("disk full", where="/out"))
    stopped: Future[object] = Future()
    stopped.set_exception(TwinAborted("the other writer failed"))
    with pytest.raises(MlenvError, match="disk full"):
        parallel_gzip.raise_cause(stopped, cause)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(0, 3 * BLOCK + 5), min_size=1, max_size=6),
    workers=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_gzip_bytes_are_the_same_for_any_workers_and_with_or_without_a_twin(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], workers: int, seed: int
) -> None:
    """Protects byte identity: the segment rule, not cores or sharing, decides the bytes."""
    root = make_tree(
        tmp_path_factory.mktemp("t"), {f"d/f{i}": size for i, size in enumerate(sizes)}, seed
    )
    image, archive = collect(root, "opt/env"), collect(root, "")
    reference = gzip_layer(image, workers=1)
    assert gzip_layer(image, workers=workers) == reference
    assert in_twins(image, archive, GzipTwin())[0] == reference
    tar = io.BytesIO()
    write_tar(image, tar, mtime=0)
    assert gzip.decompress(reference) == tar.getvalue()
    for entry in image:
        if entry.source is not None and entry.size >= BLOCK:
            assert alone(entry.source.read_bytes()) in reference


def test_a_failing_side_stops_the_other_and_its_own_error_is_raised() -> None:
    """Protects build's two writers: when one fails, raise_cause sets ``stop`` while the other
    still runs (it ends at its next chunk with Stopped) and raises the failure itself."""
    stop = threading.Event()

    def failing() -> None:
        raise OSError(28, "No space left on device")

    def other() -> None:
        if not stop.wait(10):
            raise AssertionError("never told to stop")
        raise parallel_gzip.Stopped("stopped")

    with ThreadPoolExecutor(2) as pool:
        sides = pool.submit(other), pool.submit(failing)
        with pytest.raises(OSError, match="No space left"):
            parallel_gzip.raise_cause(*sides, stop=stop)
    assert stop.is_set()


def test_an_interrupted_wait_stops_every_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects Ctrl-C during the layer writers: the interrupt reaches the main thread in
    raise_cause's wait, which sets ``stop`` before it leaves, so the writers end promptly."""
    stop = threading.Event()

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(parallel_gzip, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        parallel_gzip.raise_cause(Future(), stop=stop)
    assert stop.is_set()
