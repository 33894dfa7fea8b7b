"""Layer tars: the same tree gives the same bytes whatever the host did to it."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import random
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import parallel_gzip, tarball
from mlenv.report import MemoryReporter, Task
from mlenv.spent import Spent
from mlenv.stages import Zstd
from mlenv.tarball import (
    Compression,
    Entry,
    LayerError,
    compressor_versions,
    write_layer,
    write_tar,
)
from mlenv.tree_listing import collect
from tests.support.sinks import FailingSink

COMPRESSIONS: tuple[Compression, ...] = ("gzip", "zstd", "none")
LONG_DIR = "d" * 120
UNICODE_NAME = "données/naïve-文字.txt"
# The tree every determinism test builds: path -> (content, mode); None content = directory.
TREE: dict[str, tuple[bytes | None, int]] = {
    "bin": (None, 0o755),
    "bin/tool": (b"#!/bin/sh\necho tool\n", 0o755),
    "lib": (None, 0o700),
    "lib/data.txt": (b"payload\n" * 100, 0o600),
    "données": (None, 0o755),
    UNICODE_NAME: (b"utf-8 name\n", 0o644),
    LONG_DIR: (None, 0o755),
    f"{LONG_DIR}/{'f' * 150}.py": (b"print('long')\n", 0o664),
}


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def build_tree(root: Path, *, reverse: bool = False, hardlink: bool = True) -> Path:
    """Create TREE (plus a hardlink or its copy, and a relative symlink) under ``root``."""
    for path, (content, mode) in sorted(TREE.items(), reverse=reverse):
        target = root / path
        if content is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        target.chmod(mode)
    twin = root / "lib" / "twin.txt"
    if hardlink:
        os.link(root / "lib" / "data.txt", twin)
    else:
        twin.write_bytes((root / "lib" / "data.txt").read_bytes())
    (root / "bin" / "data").symlink_to("../lib/data.txt")
    return root


def layer_bytes(entries: list[Entry], compression: Compression, mtime: int = 0) -> bytes:
    out = io.BytesIO()
    write_layer(entries, out, compression=compression, mtime=mtime)
    return out.getvalue()


def members(tar_bytes: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), encoding="utf-8") as archive:
        return archive.getmembers()


def tar_of(root: Path, dest: str = "opt/env") -> bytes:
    out = io.BytesIO()
    write_tar(collect(root, dest), out, mtime=0)
    return out.getvalue()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_same_tree_gives_same_bytes_whatever_path_umask_mtimes_order_and_links(
    tmp_path: Path, compression: Compression
) -> None:
    with umask(0o022):
        first = build_tree(tmp_path / "a")
    with umask(0o077):
        second = build_tree(tmp_path / "elsewhere" / "deeper" / "b", reverse=True, hardlink=False)
    rng = random.Random(7)
    for path in second.rglob("*"):
        stamp = rng.randrange(1, 2_000_000_000)
        os.utime(path, (stamp, stamp), follow_symlinks=False)
    one = layer_bytes(collect(first, "opt/env"), compression)
    two = layer_bytes(collect(second, "opt/env"), compression)
    assert one == two
    assert layer_bytes(collect(first, "opt/env"), compression, mtime=1) != one


def test_same_digests_under_another_locale_time_zone_and_hash_seed(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "tree")
    (tree / os.fsdecode(b"caf\xe9")).write_text("not utf-8")
    script = (
        "import io, sys; from pathlib import Path; from mlenv.tarball import write_layer\n"
        "from mlenv.tree_listing import collect\n"
        "for c in ('gzip', 'zstd', 'none'):\n"
        "    b = write_layer(collect(Path(sys.argv[1]), 'opt/env'), io.BytesIO(),"
        " compression=c, mtime=7)\n"
        "    print(b.digest)\n"
    )
    digests = []
    for env in (
        {"LC_ALL": "C", "TZ": "UTC", "PYTHONHASHSEED": "0"},
        {"LC_ALL": "C.UTF-8", "TZ": "Pacific/Chatham", "PYTHONHASHSEED": "12345"},
    ):
        result = subprocess.run(
            [sys.executable, "-c", script, str(tree)],
            env={**os.environ, **env},
            cwd=Path(__file__).resolve().parents[2],  # the repository, for `import mlenv`
            capture_output=True,
            text=True,
            check=True,
        )
        digests.append(result.stdout)
    assert digests[0] == digests[1]
    assert len(set(digests[0].split())) == 3


def test_entries_sorted_by_path_components_as_bytes_parents_first(tmp_path: Path) -> None:
    for name in ("a-b", "a/b", "a/B", "a.txt", "Z", "é", "a/b/c"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        if name in ("a/b",):
            (tmp_path / name).mkdir()
        elif not (tmp_path / name).exists():
            (tmp_path / name).write_text(name)
    paths = [e.path for e in collect(tmp_path, "opt/x")]
    assert paths == [
        "opt",
        "opt/x",
        "opt/x/Z",
        "opt/x/a",
        "opt/x/a/B",
        "opt/x/a/b",
        "opt/x/a/b/c",
        "opt/x/a-b",
        "opt/x/a.txt",
        "opt/x/é",
    ]


def test_without_parents_only_the_destination_and_below_are_emitted(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert [e.path for e in collect(tmp_path, "opt/x", parents=False)] == ["opt/x", "opt/x/f"]


def test_an_empty_destination_puts_the_tree_at_the_layer_root(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert [e.path for e in collect(tmp_path, "")] == ["f"]


def test_modes_are_normalised(tmp_path: Path) -> None:
    for name, mode in (("exec", 0o700), ("private", 0o600), ("setuid", 0o4755), ("group", 0o670)):
        (tmp_path / name).write_text(name)
        (tmp_path / name).chmod(mode)
    (tmp_path / "closed").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to("exec")
    modes = {e.path: e.mode for e in collect(tmp_path, "")}
    assert modes == {
        "closed": 0o755,
        "exec": 0o755,
        "group": 0o755,
        "link": 0o777,
        "private": 0o644,
        "setuid": 0o755,
    }
    written = {m.name: m.mode for m in members(tar_of(tmp_path, ""))}
    assert written == modes


def test_headers_carry_nothing_from_the_host(tmp_path: Path) -> None:
    build_tree(tmp_path)
    for member in members(tar_of(tmp_path)):
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == 0
        assert set(member.pax_headers) <= {"path", "linkpath"}, member.name


def test_hardlinks_become_regular_files_and_symlinks_stay(tmp_path: Path) -> None:
    build_tree(tmp_path)
    tar = tar_of(tmp_path)
    by_name = {m.name: m for m in members(tar)}
    twin = by_name["opt/env/lib/twin.txt"]
    assert twin.isfile() and twin.size == len(TREE["lib/data.txt"][0] or b"")
    assert not any(m.islnk() for m in by_name.values())
    link = by_name["opt/env/bin/data"]
    assert link.issym() and link.linkname == "../lib/data.txt"
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        extracted = archive.extractfile("opt/env/lib/twin.txt")
        assert extracted is not None and extracted.read() == TREE["lib/data.txt"][0]


def test_a_symlink_into_the_staging_directory_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "target").write_text("x")
    (real / "escape").symlink_to(real / "target")
    with pytest.raises(LayerError) as caught:
        collect(real, "opt/env")
    assert caught.value.where == str(real / "escape")


def test_a_symlink_into_staging_is_refused_when_staging_is_reached_through_a_link(
    tmp_path: Path,
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "escape").symlink_to(real)
    (tmp_path / "alias").symlink_to(real)
    with pytest.raises(LayerError, match="staging"):
        collect(tmp_path / "alias", "opt/env")


def test_an_absolute_symlink_outside_staging_is_kept(tmp_path: Path) -> None:
    (tmp_path / "python").symlink_to("/usr/bin/python3.11")
    assert collect(tmp_path, "")[0].target == "/usr/bin/python3.11"


def make_fifo(path: Path) -> contextlib.AbstractContextManager[object]:
    os.mkfifo(path)
    return contextlib.nullcontext()


def make_socket(path: Path) -> contextlib.AbstractContextManager[object]:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return contextlib.closing(server)


@pytest.mark.parametrize("make", [make_fifo, make_socket])
def test_special_files_are_refused(
    tmp_path: Path, make: Callable[[Path], contextlib.AbstractContextManager[object]]
) -> None:
    with make(tmp_path / "special"), pytest.raises(LayerError) as caught:
        collect(tmp_path, "opt/env")
    assert caught.value.where == str(tmp_path / "special")


def test_long_and_non_ascii_names_are_written_as_utf8_pax_records(tmp_path: Path) -> None:
    build_tree(tmp_path)
    (tmp_path / "far").symlink_to("../" + "t" * 150)
    tar = tar_of(tmp_path)
    names = {m.name for m in members(tar)}
    assert f"opt/env/{UNICODE_NAME}" in names
    assert f"opt/env/{LONG_DIR}/{'f' * 150}.py" in names
    assert f"path=opt/env/{UNICODE_NAME}\n".encode() in tar
    assert next(m for m in members(tar) if m.name == "opt/env/far").linkname == "../" + "t" * 150


def test_names_that_are_not_utf8_keep_their_bytes(tmp_path: Path) -> None:
    (tmp_path / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name")
    tar = tar_of(tmp_path, "")
    assert b"path=caf\xe9.txt\n" in tar
    with tarfile.open(fileobj=io.BytesIO(tar), encoding="utf-8", errors="surrogateescape") as t:
        assert [m.name.encode("utf-8", "surrogateescape") for m in t] == [b"caf\xe9.txt"]


def decompress(data: bytes, compression: Compression) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_diff_id_is_the_sha256_of_the_decompressed_blob(
    tmp_path: Path, compression: Compression
) -> None:
    build_tree(tmp_path)
    out = io.BytesIO()
    blob = write_layer(collect(tmp_path, "opt/env"), out, compression=compression, mtime=5)
    data = out.getvalue()
    tar = decompress(data, compression)
    assert blob.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert blob.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (blob.size, blob.uncompressed_size) == (len(data), len(tar))
    assert blob.media_type == tarball.MEDIA_TYPES[compression]
    assert len(tar) % tarfile.RECORDSIZE == 0
    assert tar[-1024:] == bytes(1024)


def test_gzip_header_has_no_file_name_and_no_time(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    data = layer_bytes(collect(tmp_path, ""), "gzip")
    assert data[:3] == b"\x1f\x8b\x08"
    assert data[3] == 0, "no FNAME (or any other) flag"
    assert data[4:8] == bytes(4), "mtime 0"
    assert data[9] == 255, "OS byte 'unknown', as GzipFile writes it"


def test_zstd_frame_has_a_checksum_and_no_content_size(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    frame = zstandard.get_frame_parameters(layer_bytes(collect(tmp_path, ""), "zstd"))
    assert frame.has_checksum
    assert frame.content_size == zstandard.CONTENTSIZE_UNKNOWN


# Multi-threaded frames for the input below; single-threaded (0 workers) ones differ from them.
GOLDEN_ZSTD_MULTITHREADED = (
    "sha256:2ca71a329a6cba2d30d54d160159e9a14d3acd139127f6f8698487a8dc932c44"
)


def test_zstd_frames_are_multithreaded_whatever_the_worker_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(1)
    seed = rng.randbytes(1 << 16)
    starts = [rng.randrange(len(seed) - 4096) for _ in range(10_000)]
    # ~30 MB of repetitive data: several zstd jobs, so workers really split the work.
    (tmp_path / "big").write_bytes(b"".join(seed[s : s + 2048 + s % 2048] for s in starts))
    entries = collect(tmp_path, "")
    pinned = layer_bytes(entries, "zstd")
    assert "sha256:" + hashlib.sha256(pinned).hexdigest() == GOLDEN_ZSTD_MULTITHREADED
    for workers in (1, 3):
        monkeypatch.setattr(tarball, "ZSTD_THREADS", workers)
        assert layer_bytes(entries, "zstd") == pinned, f"{workers} workers"
    monkeypatch.setattr(tarball, "ZSTD_THREADS", 0)
    assert layer_bytes(entries, "zstd") != pinned, "single-threaded frames must differ"


# Known answers: a change here means zlib, libzstd, tarfile or our tar rules changed the bytes.
GOLDEN = {
    "gzip": "sha256:518c65a3be6c47a4dbb581d0ee3c07c2a6079d3847b2580c0b14cb5ea08c9952",
    "zstd": "sha256:51c4e8bb73627519f17e6948ed90f0697c913c3cbc52b2ce5c5f005150dd8909",
    "none": "sha256:e61e72a886ab11bae67642587814dc39098c8481089976dde664c0ef930fa59e",
}
GOLDEN_DIFF_ID = GOLDEN["none"]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_golden_digests(tmp_path: Path, compression: Compression) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hello, layer\n")
    entries = [
        Entry("opt", "dir", 0o755),
        Entry("opt/run.sh", "file", 0o755, source=tmp_path / "hello.txt", size=13),
        Entry("opt/self", "symlink", 0o777, target="run.sh"),
    ]
    blob = write_layer(entries, io.BytesIO(), compression=compression, mtime=1_700_000_000)
    assert (blob.digest, blob.diff_id) == (GOLDEN[compression], GOLDEN_DIFF_ID)


def test_levels_are_pinned_recorded_and_checked(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc" * 10000)
    entries = collect(tmp_path, "")
    assert write_layer(entries, io.BytesIO(), compression="gzip", mtime=0).level == 6
    assert write_layer(entries, io.BytesIO(), compression="zstd", mtime=0).level == 3
    assert write_layer(entries, io.BytesIO(), compression="none", mtime=0).level is None
    fast = write_layer(entries, io.BytesIO(), compression="gzip", mtime=0, level=1)
    assert fast.level == 1
    assert fast.digest != write_layer(entries, io.BytesIO(), compression="gzip", mtime=0).digest
    wrong: tuple[tuple[Compression, int], ...] = (("gzip", 10), ("zstd", 0), ("none", 1))
    for compression, level in wrong:
        with pytest.raises(LayerError):
            write_layer(entries, io.BytesIO(), compression=compression, mtime=0, level=level)


@pytest.mark.parametrize("mtime", [-1, 1.5, True])
def test_mtime_must_be_a_non_negative_integer(tmp_path: Path, mtime: int) -> None:
    with pytest.raises(LayerError, match="mtime"):
        write_tar([Entry("d", "dir", 0o755)], io.BytesIO(), mtime=mtime)


@pytest.mark.parametrize(
    ("path", "kind", "mode"),
    [
        ("/abs", "dir", 0o755),
        ("a/../b", "dir", 0o755),
        ("a//b", "dir", 0o755),
        ("a/./b", "dir", 0o755),
        ("", "dir", 0o755),
        ("d", "dir", 0o700),
        ("l", "symlink", 0o755),
    ],
)
def test_invalid_entries_are_refused(path: str, kind: tarball.Kind, mode: int) -> None:
    with pytest.raises(LayerError):
        Entry(path, kind, mode, target="x" if kind == "symlink" else None)


def test_a_path_twice_is_refused() -> None:
    with pytest.raises(LayerError, match="twice"):
        write_tar([Entry("d", "dir", 0o755), Entry("d", "dir", 0o755)], io.BytesIO(), mtime=0)


@pytest.mark.parametrize("change", [b"grown", b""])
def test_a_file_that_changes_size_during_the_build_is_an_error(
    tmp_path: Path, change: bytes
) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    entries = collect(tmp_path, "")
    with open(tmp_path / "f", "ab" if change else "wb") as handle:
        handle.write(change)
    with pytest.raises(LayerError, match="changed size"):
        write_tar(entries, io.BytesIO(), mtime=0)


class RecordingSink(io.BytesIO):
    """Records the biggest single write, to prove file contents are streamed in chunks."""

    largest = 0

    def write(self, data: object) -> int:
        assert isinstance(data, bytes | bytearray | memoryview)
        self.largest = max(self.largest, len(data))
        return super().write(data)


def test_file_contents_are_streamed_in_chunks(tmp_path: Path) -> None:
    size = 5 * tarball._CHUNK + 123
    (tmp_path / "big").write_bytes(os.urandom(size))
    sink = RecordingSink()
    write_layer(collect(tmp_path, ""), sink, compression="none", mtime=0)
    assert sink.tell() > size
    assert sink.largest <= tarball._CHUNK


def test_progress_is_reported_in_bytes(tmp_path: Path) -> None:
    build_tree(tmp_path)
    reporter = MemoryReporter()
    entries = collect(tmp_path, "opt/env")
    write_layer(entries, io.BytesIO(), compression="zstd", mtime=0, reporter=reporter)
    total = sum(e.size for e in entries)
    assert reporter.events == [
        ("task-start", "layer (zstd)"),
        ("task-end", f"layer (zstd): {total} bytes"),
    ]


def test_a_missing_staging_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="does not exist"):
        collect(tmp_path / "missing", "opt/env")


def test_compressor_versions_name_what_decides_the_bytes() -> None:
    versions = compressor_versions()
    assert set(versions) == {"python", "zlib", "zstandard", "libzstd"}
    assert versions["zstandard"] == zstandard.__version__
    assert all(versions.values())


def multi_block_tree(root: Path) -> list[Entry]:
    """~3.5 gzip blocks of compressible, non-repeating data: several blocks cross workers."""
    rng = random.Random(7)
    words = [rng.randbytes(rng.randrange(2, 9)).hex().encode() for _ in range(4000)]
    text = b" ".join(rng.choice(words) for _ in range(int(3.5 * parallel_gzip.GZIP_BLOCK) // 9))
    (root / "big.txt").write_bytes(text)
    (root / "small.txt").write_bytes(b"tail\n")
    return collect(root, "opt")


def test_gzip_bytes_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    """Protects byte identity across machines: the block split, not the cores, decides."""
    entries = multi_block_tree(tmp_path)
    outputs = {}
    for workers in (1, 2, 4, 7):
        out = io.BytesIO()
        write_layer(entries, out, compression="gzip", mtime=0, workers=workers)
        outputs[workers] = out.getvalue()
    assert len(set(outputs.values())) == 1
    assert gzip.decompress(outputs[1]) == tar_of(tmp_path, "opt")


def test_parallel_gzip_is_read_by_the_gzip_tools(tmp_path: Path) -> None:
    """Protects compatibility: every block boundary must be a valid deflate stream to gzip/pigz."""
    tree = tmp_path / "tree"
    tree.mkdir()
    entries = multi_block_tree(tree)
    blob_path = tmp_path / "layer.tar.gz"
    with blob_path.open("wb") as out:
        write_layer(entries, out, compression="gzip", mtime=0, workers=2)
    for tool in ("gzip", "pigz"):
        result = subprocess.run([tool, "-dc", str(blob_path)], capture_output=True, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout == tar_of(tree, "opt")


def test_a_layer_within_one_block_is_what_gzipfile_writes(tmp_path: Path) -> None:
    """Protects existing digests: small layers keep the bytes of the single-stream writer."""
    build_tree(tmp_path)
    tar = tar_of(tmp_path, "")
    assert len(tar) < parallel_gzip.GZIP_BLOCK
    reference = io.BytesIO()
    with gzip.GzipFile("", "wb", parallel_gzip.GZIP_LEVEL, reference, mtime=0) as stream:
        stream.write(tar)
    assert layer_bytes(collect(tmp_path, ""), "gzip") == reference.getvalue()


@pytest.mark.parametrize("room", [0, 100, 3 * tarball._CHUNK])
@pytest.mark.parametrize("writer", ["zstd layer", "tar"])
def test_a_failing_output_reaches_the_writer(tmp_path: Path, room: int, writer: str) -> None:
    """Protects: zstd's stage and the tar's writes run on a thread of their own, yet the
    output's error (a full disk) is raised by the writer itself, whatever the point it fails
    at, and the thread ends."""
    (tmp_path / "big").write_bytes(os.urandom(8 * tarball._CHUNK))
    entries, sink = collect(tmp_path, ""), FailingSink(room)
    with pytest.raises(OSError, match="No space left"):
        if writer == "tar":
            write_tar(entries, sink, mtime=0)
        else:
            write_layer(entries, sink, compression="zstd", mtime=0)
    assert not [t for t in threading.enumerate() if t.name == "mlenv-layer"]


def test_a_failing_tar_side_stops_the_zstd_thread(tmp_path: Path) -> None:
    """Protects: when reading the tree fails (a file changed size), the writer's own error is
    raised and the compressing thread does not outlive it."""
    (tmp_path / "a").write_bytes(os.urandom(3 * tarball._CHUNK))
    (tmp_path / "b").write_bytes(b"12345")
    entries = collect(tmp_path, "")
    (tmp_path / "b").write_bytes(b"1")
    with pytest.raises(LayerError, match="changed size"):
        write_layer(entries, io.BytesIO(), compression="zstd", mtime=0)
    assert not [t for t in threading.enumerate() if t.name == "mlenv-layer"]


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 3 * tarball._CHUNK), min_size=1, max_size=4))
def test_zstd_through_its_thread_is_the_single_threaded_stream(sizes: list[int]) -> None:
    """Protects: the handoff to zstd's thread keeps every byte and its order: the blob is the
    frame written by the same compressor without the thread."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for n, size in enumerate(sizes):
            (root / f"f{n}").write_bytes(random.Random(n).randbytes(size))
        entries = collect(root, "")
        out = io.BytesIO()
        blob = write_layer(entries, out, compression="zstd", mtime=0)
        tar = io.BytesIO()
        write_tar(entries, tar, mtime=0)
        direct = io.BytesIO()
        stage = Zstd(direct, tarball.ZSTD_LEVEL, tarball.ZSTD_THREADS)
        stage.write(tar.getvalue())
        stage.close()
    assert out.getvalue() == direct.getvalue()
    assert blob.diff_id == "sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()


class StoppingReporter(MemoryReporter):
    """Sets ``stop`` once the first chunk of a file is written: where Ctrl-C lands."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop
        self.advanced = 0

    @contextlib.contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        reporter = self

        class Stopping:
            def advance(self, amount: int = 1) -> None:
                reporter.advanced += amount
                reporter.stop.set()

        yield Stopping()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_a_set_stop_ends_the_writer_at_its_next_chunk(
    tmp_path: Path, compression: Compression
) -> None:
    """Protects Ctrl-C and a failing twin writer: once ``stop`` is set, the writer raises
    Stopped at its next chunk instead of reading and writing the rest of the layer."""
    (tmp_path / "big").write_bytes(os.urandom(16 * tarball._CHUNK))
    stop = threading.Event()
    reporter = StoppingReporter(stop)
    with pytest.raises(parallel_gzip.Stopped):
        write_layer(
            collect(tmp_path, ""), io.BytesIO(), compression=compression, mtime=0, stop=stop,
            reporter=reporter,
        )  # fmt: skip
    assert reporter.advanced == tarball._CHUNK
    assert not [t for t in threading.enumerate() if t.name == "mlenv-layer"]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_writers_of_a_scratch_tree_remove_its_files_once_all_have_read_them(
    tmp_path: Path, compression: Compression
) -> None:
    """Protects: with ``spent``, the bytes are those of a tree left alone; the first of two
    writers leaves every file for the second, which removes the regular files it read (the
    hardlink's other name too), never a directory or a symlink."""
    expected = layer_bytes(collect(build_tree(tmp_path / "kept"), "opt/env"), compression)
    root = build_tree(tmp_path / "scratch")
    entries = collect(root, "opt/env")
    spent = Spent(readers=2)
    for writer in range(2):
        out = io.BytesIO()
        write_layer(entries, out, compression=compression, mtime=0, spent=spent)
        assert out.getvalue() == expected
        left = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
        if writer == 0:
            assert (root / "lib" / "data.txt").read_bytes() == TREE["lib/data.txt"][0]
            assert (root / "lib" / "twin.txt").exists()
    assert left == sorted(
        [path for path, (content, _) in TREE.items() if content is None] + ["bin/data"]
    )
