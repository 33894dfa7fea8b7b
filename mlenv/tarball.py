"""Deterministic layer tars: the same tree gives the same bytes on any machine.

Nothing here comes from the host: entries are listed and sorted by us (never readdir order),
owners, times and modes are forced, hardlinks become regular files, and compression settings
are pinned because they decide the compressed bytes (see ``shared/reference/reproducibility.md``).
Contents stream through ``tar -> sha256 -> compressor -> sha256 -> out`` in fixed-size chunks.
"""

from __future__ import annotations

import contextlib
import itertools
import platform
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import zstandard

from mlenv.direct import DirectReader, open_source
from mlenv.errors import MlenvError
from mlenv.handoff import Handoff
from mlenv.parallel_gzip import (
    GZIP_LEVEL,
    GzipTwin,
    ParallelGzip,
    Stopped,
    Writable,
    gzip_workers,
    own_segment,
)
from mlenv.report import Reporter, Task
from mlenv.spent import Spent
from mlenv.stages import Compressor, Digest, Zstd

Kind = Literal["dir", "file", "symlink"]
Compression = Literal["gzip", "zstd", "none"]

# zstd's own default, the level containerd/BuildKit use, and the `zstd -3` of the naive pipeline.
ZSTD_LEVEL = 3
# Single-threaded (0 workers) and multi-threaded zstd write different frames, but streaming
# multi-threaded output is the same for every worker count >= 1 (facebook/zstd#2238, #2327).
# So the *mode* is pinned to multi-threaded and the count follows the CPUs (-1) for speed.
ZSTD_THREADS = -1

MEDIA_TYPES: dict[Compression, str] = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
_LEVELS: dict[Compression, range] = {"gzip": range(10), "zstd": range(1, 23)}
_MODES: dict[Kind, tuple[int, ...]] = {"dir": (0o755,), "file": (0o644, 0o755), "symlink": (0o777,)}
_TAR_TYPES: dict[Kind, bytes] = {
    "dir": tarfile.DIRTYPE,
    "file": tarfile.REGTYPE,
    "symlink": tarfile.SYMTYPE,
}
_CHUNK = 1 << 20
# Names are bytes on Linux; this codec round-trips any of them whatever the locale.
ENCODING = "utf-8"
ERRORS = "surrogateescape"


class LayerError(MlenvError):
    """The staging tree or an entry cannot be put into a reproducible layer."""


class ContentMismatch(LayerError):
    """A file whose bytes are not those its entry's sha256 names (``source``: which), or that
    cannot be read to tell: either way it never ships."""

    def __init__(self, source: Path, found: str, expected: str) -> None:
        super().__init__(f"the file has sha256 {found}, expected {expected}", where=str(source))
        self.source = source


@dataclass(frozen=True)
class Entry:
    """One member of a layer; its mode is already normalised, its content stays on disk."""

    path: str
    kind: Kind
    mode: int
    source: Path | None = None
    size: int = 0
    target: str | None = None
    sha256: str | None = None  # what the content must hash to, checked by the read that copies it
    # The content's bytes, if not ``source``'s (a placeholder's): given ``size``, checked by
    # the stream itself (``mlenv.install.streamed``), chunks of at most the size asked.
    stream: Callable[[int], Iterator[bytes]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if self.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise LayerError(
                "a layer path must be relative, without empty, '.' or '..' components",
                where=self.path,
            )
        if self.mode not in _MODES[self.kind]:
            raise LayerError(
                f"mode {self.mode:o} is not normalised for a {self.kind}", where=self.path
            )
        if (self.kind == "file") != (self.source is not None) or self.size < 0:
            raise LayerError("only a file has a source, and a size >= 0", where=self.path)
        if (self.kind == "symlink") != (self.target is not None):
            raise LayerError("only a symlink has a target", where=self.path)
        if self.sha256 is not None and self.kind != "file":
            raise LayerError("only a file has a sha256", where=self.path)
        if self.stream is not None and (self.kind != "file" or self.sha256 is not None):
            raise LayerError("only a file streams, and checks its own bytes", where=self.path)


@dataclass(frozen=True)
class LayerBlob:
    """A written layer: its identities (diff_id uncompressed, digest compressed) and settings."""

    diff_id: str
    digest: str
    size: int
    uncompressed_size: int
    media_type: str
    compression: Compression
    level: int | None


def write_tar(entries: Iterable[Entry], out: Writable, *, mtime: int) -> tuple[str, int]:
    """The uncompressed tar to ``out`` (written on a thread of its own, beside the reads and
    the sha256; big files read around the page cache); its diff_id and size."""
    with Handoff(out) as writer, Digest(writer, threaded=True) as sink:
        _write_tar(sorted_entries(entries), sink, mtime, None, chunks=True)
        sink.close()
        writer.close()
    return sink.digest(), sink.size


def write_layer(
    entries: Iterable[Entry],
    out: Writable,
    *,
    compression: Compression,
    mtime: int,
    level: int | None = None,
    reporter: Reporter | None = None,
    workers: int | None = None,
    label: str | None = None,
    twin: GzipTwin | None = None,
    stop: threading.Event | None = None,
    spent: Spent | None = None,
) -> LayerBlob:
    """Write the layer blob to ``out`` with the pinned compressor; returns its identities.

    ``workers`` only changes the speed of gzip, never its bytes (default: the usable CPUs);
    ``label`` names the layer in the reporter's progress; ``twin`` shares the deflate of big
    files with another gzip writer of the same files (see ``mlenv.parallel_gzip``); once
    ``stop`` is set the writer raises ``Stopped`` at its next chunk; each file read whole is
    reported to ``spent`` (a scratch tree's files go once every writer has read them).
    """
    try:
        chosen = _level(compression, level)
        ordered = sorted_entries(entries)
        threads = workers or gzip_workers()
        with (
            ThreadPoolExecutor(threads, thread_name_prefix="mlenv-gzip") as pool,
            contextlib.ExitStack() as stack,
        ):
            compressed = Digest(out)
            stage: Compressor | None = None
            segment = None
            if compression == "gzip":
                gzip = ParallelGzip(compressed, chosen, pool, threads, twin)
                gzip.register([_share_key(e) for e in ordered if own_segment(e.size)])
                stage, segment = gzip, gzip.segment
            elif compression == "zstd":
                # zstd's frame and the compressed side's sha256 and writes run on their own
                # thread: the tar side (reads, its sha256) keeps the other core busy.
                zstd = Zstd(compressed, chosen, ZSTD_THREADS)
                stage = stack.enter_context(Handoff(zstd, zstd.close))
            uncompressed = compressed if stage is None else Digest(stage)
            if reporter is None:
                _write_tar(ordered, uncompressed, mtime, None, segment, stop, spent)
            else:
                total = sum(e.size for e in ordered)
                description = label or f"layer ({compression})"
                with reporter.task(description, total=total, unit="bytes") as task:
                    _write_tar(ordered, uncompressed, mtime, task, segment, stop, spent)
            if stage is not None:
                stage.close()
    except BaseException:
        if twin is not None:
            twin.leave(failed=True)
        raise
    if twin is not None:
        twin.leave(failed=False)
    return LayerBlob(
        diff_id=uncompressed.digest(),
        digest=compressed.digest(),
        size=compressed.size,
        uncompressed_size=uncompressed.size,
        media_type=MEDIA_TYPES[compression],
        compression=compression,
        level=None if compression == "none" else chosen,
    )


def compressor_versions() -> dict[str, str]:
    """What decides the compressed bytes, for build.json: a different value may mean new bytes."""
    return {
        "python": platform.python_version(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "zstandard": zstandard.__version__,
        "libzstd": ".".join(str(n) for n in zstandard.ZSTD_VERSION),
    }


def _sort_key(entry: Entry) -> tuple[bytes, ...]:
    return tuple(part.encode(ENCODING, ERRORS) for part in entry.path.split("/"))


def _share_key(entry: Entry) -> str:
    """What names a file's content to both writers of a gzip twin: where it is read from."""
    return str(entry.source)


def sorted_entries(entries: Iterable[Entry]) -> list[Entry]:
    """Sort by components so a directory precedes its children and siblings keep byte order."""
    ordered = sorted(entries, key=_sort_key)
    for before, after in itertools.pairwise(ordered):
        if before.path == after.path:
            raise LayerError("the path occurs twice in the layer", where=after.path)
    return ordered


def _level(compression: Compression, level: int | None) -> int:
    if compression == "none":
        if level is not None:
            raise LayerError("an uncompressed layer takes no compression level")
        return 0
    allowed = _LEVELS[compression]
    chosen = {"gzip": GZIP_LEVEL, "zstd": ZSTD_LEVEL}[compression] if level is None else level
    if chosen not in allowed:
        raise LayerError(
            f"{compression} level {chosen} is out of range {allowed.start}..{allowed.stop - 1}"
        )
    return chosen


def _write_tar(
    entries: Sequence[Entry],
    sink: Digest,
    mtime: int,
    task: Task | None,
    segment: Callable[[str], AbstractContextManager[None]] | None = None,
    stop: threading.Event | None = None,
    spent: Spent | None = None,
    *,
    chunks: bool = False,
) -> None:
    """Headers from tarfile (PAX), contents copied in chunks, then the end-of-archive marker.
    ``segment`` marks each file that gzip deflates on its own (see ``mlenv.parallel_gzip``).
    ``chunks``: each chunk of a file is written as ``bytes`` of its own, for a sink that keeps
    them (a threaded ``Digest``); else through one reused buffer."""
    if isinstance(mtime, bool) or not isinstance(mtime, int) or mtime < 0:
        raise LayerError(f"the layer mtime must be a non-negative integer, not {mtime!r}")
    buffer = None if chunks else bytearray(_CHUNK)
    for entry in entries:
        info = tarfile.TarInfo(entry.path)
        info.type = _TAR_TYPES[entry.kind]
        info.mode = entry.mode
        info.size = entry.size
        info.mtime = mtime
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.linkname = entry.target or ""
        sink.write(info.tobuf(tarfile.PAX_FORMAT, ENCODING, ERRORS))
        if entry.source is not None:
            own = segment is not None and own_segment(entry.size)
            with segment(_share_key(entry)) if own and segment else contextlib.nullcontext():
                _copy(entry, sink, buffer, task, stop)
            if spent is not None:
                spent.read(entry.source)
            sink.write(bytes(-entry.size % tarfile.BLOCKSIZE))
    sink.write(bytes(2 * tarfile.BLOCKSIZE))
    sink.write(bytes(-sink.size % tarfile.RECORDSIZE))


def _copy(
    entry: Entry, sink: Digest, buffer: bytearray | None, task: Task | None,
    stop: threading.Event | None,
) -> None:  # fmt: skip
    """``entry``'s file into ``sink``: through ``buffer``, or, without one, as ``bytes`` made by
    the read itself (one copy, out of the reader's buffer)."""
    assert entry.source is not None
    if entry.stream is not None:
        _copy_stream(entry, entry.stream, sink, task, stop)
        return
    source = entry.source
    view = None if buffer is None else memoryview(buffer)
    remaining = entry.size
    checked = None if entry.sha256 is None else DirectReader(source, hashed=True)
    with checked or open_source(source, entry.size) as handle:

        def read(size: int) -> bytes | memoryview:
            """A read error of a checked file (a failing disk) is a mismatch too: its bytes
            cannot be shown to be the digest's (the caller drops what it came from)."""
            try:
                if view is None:
                    return handle.read(size)
                return view[: handle.readinto(view[:size])]
            except OSError as exc:
                if checked is None:
                    raise
                why = f"unknown (unreadable: {exc.strerror or exc})"
                raise ContentMismatch(source, why, entry.sha256 or "") from exc

        while remaining:
            if stop is not None and stop.is_set():
                raise Stopped("stopped: another writer failed, or the build was interrupted")
            data = read(min(remaining, _CHUNK))
            if not data:
                break
            sink.write(data)
            remaining -= len(data)
            if task is not None:
                task.advance(len(data))
        if remaining or read(1):
            if checked is not None:  # a reused blob changed: drop it and build again
                why = "unknown (the file changed size while read)"
                raise ContentMismatch(source, why, entry.sha256 or "")
            raise LayerError(
                "the file changed size while the layer was written",
                where=str(entry.source),
                hint="nothing may write to the staging tree during a build",
            )
    if checked is not None and (found := checked.sha256()) != entry.sha256:
        raise ContentMismatch(entry.source, found, entry.sha256 or "")


def _copy_stream(
    entry: Entry, stream: Callable[[int], Iterator[bytes]], sink: Digest, task: Task | None,
    stop: threading.Event | None,
) -> None:  # fmt: skip
    """A streamed entry's bytes into ``sink``: exactly ``entry.size`` of them."""
    given = 0
    for data in stream(_CHUNK):
        if stop is not None and stop.is_set():
            raise Stopped("stopped: another writer failed, or the build was interrupted")
        given += len(data)
        if given > entry.size:
            break
        sink.write(data)
        if task is not None:
            task.advance(len(data))
    if given != entry.size:
        raise LayerError(
            f"the file's stream gave {'more' if given > entry.size else 'fewer'} bytes than "
            f"its size, {entry.size}",
            where=entry.path,
        )
