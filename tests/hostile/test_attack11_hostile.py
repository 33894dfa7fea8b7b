"""Eleventh adversary pass: reused layers linked unread out of the layer cache and checked by
the read that writes image.tar (``LayerCache.get(later=True)``, ``write_image_tar(verify=)``,
``DirectReader(hashed=True)``; security invariant 1). Each test names what it protects and
fails if the code that enforces it stops holding it."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlenv.cache import LAYERS
from mlenv.direct import DirectReader
from mlenv.oci.write import write_image_tar
from mlenv.tarball import ContentMismatch
from mlenv.tree_listing import collect
from tests.support.cli import run_mlenv
from tests.support.golden import build, digests
from tests.support.images import write_image
from tests.support.layered import configure, layered_project
from tests.support.mounts import tmpfs

pytestmark = pytest.mark.hostile

MiB = 1 << 20

# `mlenv` with every read (os.readv: the aligned reader's) of one file failing as a failing
# disk's sector does; the file is named by device, inode and mtime (a new file may reuse the
# inode number of one removed).
_EIO_RUNNER = r"""
import errno, os, sys

named = tuple(int(n) for n in sys.argv[1].split(":"))
real = os.readv


def readv(fd, buffers):
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino, info.st_mtime_ns) == named:
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    return real(fd, buffers)


os.readv = readv
from mlenv.cli.app import main

sys.exit(main(sys.argv[2:]))
"""


# `mlenv` that rewrites one cache file in place (one byte flipped, same size) as the build's
# second attempt (after a StaleReuse) starts writing image.tar.
_REWRITE_RUNNER = r"""
import os, sys

victim, seen = sys.argv[1], []


def hook(event, args):
    if event != "open" or not isinstance(args[0], str) or "/.image.tar." not in args[0]:
        return
    seen.append(args[0])
    if len(seen) == 2:
        os.chmod(victim, 0o644)
        fd = os.open(victim, os.O_RDWR)
        middle = os.fstat(fd).st_size // 2
        os.pwrite(fd, bytes([os.pread(fd, 1, middle)[0] ^ 0xFF]), middle)
        os.close(fd)
        os.chmod(victim, 0o444)


sys.addaudithook(hook)
from mlenv.cli.app import main

sys.exit(main(sys.argv[2:]))
"""


def _project(tmp_path: Path) -> tuple[Path, Path]:
    """The layered project (image only), locked and fetched; its cache."""
    project = layered_project(tmp_path / "project", '"auto"')
    configure(project, '"auto"', "1.0", 'outputs = ["oci"]\n')
    return project, tmp_path / "cache"


def _blobs(cache: Path) -> list[Path]:
    return sorted((cache / LAYERS).glob("??/*/blob"))


def _identity(path: Path) -> tuple[int, int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino, info.st_mtime_ns


def _state(paths: list[Path]) -> dict[Path, tuple[str, int]]:
    """Each file's sha256 and mode."""
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode) for p in paths}


def _layout_blobs(dist: Path) -> list[Path]:
    return sorted((dist / "oci" / "blobs" / "sha256").iterdir())


def _failing_reads(inode: os.stat_result) -> Callable[[int, list[memoryview]], int]:
    real = os.readv

    def readv(fd: int, buffers: list[memoryview]) -> int:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) == (inode.st_dev, inode.st_ino):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, buffers)

    return readv


def _layout(tmp_path: Path) -> tuple[Path, str]:
    """A one-layer layout whose layer blob is over ``direct.BIG`` (read around the page cache)."""
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "weights.bin").write_bytes(os.urandom(3 * MiB))  # incompressible
    layout = tmp_path / "layout"
    result = write_image(layout, [("env", collect(staging, "opt/x"))], ref="latest", cmd=["sh"])
    return layout, result.layer_digests[-1]


def test_a_reused_blob_the_disk_cannot_read_is_dropped_and_rebuilt(tmp_path: Path) -> None:
    """Protects the promise of ``LayerCache.get(later=True)`` that a linked blob the ship-time
    read cannot vouch for is dropped and its layer rebuilt, as a blob read at once (the eager
    path) always was: a read error there (a failing disk) failed every build from then on,
    since the entry that could not be read was never dropped."""
    project, cache = _project(tmp_path)
    cold = build(project, cache)
    assert cold.returncode == 0, cold.stderr
    first = digests(project / "dist")
    bad = max(_blobs(cache), key=lambda p: p.stat().st_size)
    named = ":".join(str(n) for n in _identity(bad))
    env = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "MLENV_CACHE_DIR": str(cache)}
    failing = subprocess.run(
        [sys.executable, "-c", _EIO_RUNNER, named, "build", "--offline"],
        cwd=project, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert failing.returncode == 0, failing.stderr
    assert "building again" in failing.stderr and "is corrupt" in failing.stderr
    assert digests(project / "dist") == first
    assert bad.exists() and _identity(bad) != tuple(int(n) for n in named.split(":"))  # rebuilt


def test_the_second_attempt_never_ships_a_blob_rewritten_after_its_check(tmp_path: Path) -> None:
    """Protects invariant 1 on the build's second attempt (``LayerReuse(later=False)``, run
    after a reused blob was found changed): each reused blob is then checked as it is taken,
    and image.tar reads it again unchecked, so that blob must be a private copy made by the
    read that checked it. A link to the cache's file let a rewrite in place between the two
    reads (whatever rewrote the first blob is still at work) ship unchecked bytes in image.tar
    and the layout."""
    project, cache = _project(tmp_path)
    cold = build(project, cache)
    assert cold.returncode == 0, cold.stderr
    first = digests(project / "dist")
    by_size = sorted(_blobs(cache), key=lambda p: p.stat().st_size)
    trigger, victim = by_size[-1], by_size[-2]
    data = bytearray(trigger.read_bytes())
    data[len(data) // 2] ^= 0xFF
    trigger.unlink()  # a new file: the dist of the cold build keeps its own
    trigger.write_bytes(bytes(data))
    before = victim.read_bytes()
    env = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "MLENV_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", _REWRITE_RUNNER, str(victim), "build", "--offline"],
        cwd=project, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert "building again" in done.stderr, done.stderr  # the second attempt ran
    assert victim.read_bytes() != before  # and the cache file was rewritten meanwhile
    assert digests(project / "dist") == first  # shipped as checked, or nothing shipped
    for blob in _layout_blobs(project / "dist"):
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_an_unreadable_checked_blob_is_a_mismatch_and_an_unchecked_one_stays_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects ``tarball._copy``'s checked read: a blob it must check but cannot read is a
    ``ContentMismatch`` (so the build drops its cache entry and runs again), never shipped and
    never left in image.tar; a blob it was not asked to check keeps its plain read error."""
    layout, digest = _layout(tmp_path)
    target = layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
    monkeypatch.setattr(os, "readv", _failing_reads(target.stat()))
    out = tmp_path / "checked" / "image.tar"
    with pytest.raises(ContentMismatch, match="unreadable") as caught:
        write_image_tar(layout, out, "x:1", verify={digest})
    assert caught.value.source == target
    assert not out.exists() and not list(out.parent.iterdir())
    with pytest.raises(OSError) as plain:
        write_image_tar(layout, tmp_path / "plain" / "image.tar", "x:1")
    assert plain.value.errno == errno.EIO


def test_a_full_disk_while_checking_a_blob_is_a_disk_error_not_a_mismatch(tmp_path: Path) -> None:
    """Protects the scope of the rule above: only the checked file's own read failing makes a
    mismatch. Writing image.tar onto a full disk stays the disk error the build reports (a
    mismatch would drop a sound cache entry and build everything again onto the same full
    disk)."""
    layout, digest = _layout(tmp_path)
    with tmpfs(tmp_path / "small", "1m") as small, pytest.raises(OSError) as full:
        write_image_tar(layout, small / "image.tar", "x:1", verify={digest})
    assert full.value.errno == errno.ENOSPC
    assert not isinstance(full.value, ContentMismatch)


def test_a_hashed_reader_that_fails_midway_leaves_its_holder_and_the_next_reader_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the descriptor and buffers a hashed reader borrows: a read failing after the
    first buffer turns O_DIRECT off again on the holder's shared open file description, and
    the next hashed reader on this thread gets its own bytes and their sha256 (no buffer still
    being hashed or read into is handed on)."""
    failing, sound = tmp_path / "failing", tmp_path / "sound"
    failing.write_bytes(os.urandom(13 * MiB))
    data = os.urandom(9 * MiB + 7)
    sound.write_bytes(data)
    real, calls = os.readv, {"n": 0}
    bad = failing.stat()

    def readv(fd: int, buffers: list[memoryview]) -> int:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) == (bad.st_dev, bad.st_ino):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(fd, buffers)

    monkeypatch.setattr(os, "readv", readv)
    with failing.open("rb") as holder:
        before = fcntl.fcntl(holder.fileno(), fcntl.F_GETFL)
        with pytest.raises(OSError, match="Input/output"):
            _drain(DirectReader(holder.fileno(), hashed=True))
        assert fcntl.fcntl(holder.fileno(), fcntl.F_GETFL) == before
    for _ in range(3):
        with DirectReader(sound, hashed=True) as reader:
            got = b"".join(iter(lambda: reader.read(MiB), b""))
        assert got == data
        assert reader.sha256() == hashlib.sha256(data).hexdigest()


def test_hashed_readers_on_many_threads_each_hash_their_own_bytes_in_order(
    tmp_path: Path,
) -> None:
    """Protects the one hashing thread every hashed reader shares (``direct._hashes``): with
    readers on several threads at once, each interleaving its buffers with the others' in that
    thread's queue, each reader's sha256 is that of its own bytes in its own order (one hashed
    out of order, or over another reader's buffer, would pass a changed blob or fail a sound
    one)."""
    files = []
    for number in range(4):
        path = tmp_path / f"file-{number}"
        data = os.urandom(9 * MiB + 4096 * number + number)
        path.write_bytes(data)
        files.append((path, hashlib.sha256(data).hexdigest()))

    def read(path: Path, step: int) -> str:
        with DirectReader(path, hashed=True) as reader:
            while reader.read(step):
                pass
        return reader.sha256()

    with ThreadPoolExecutor(len(files)) as pool:
        for _ in range(3):
            found = list(pool.map(read, [p for p, _ in files], [MiB // 3, MiB, 3 * MiB, 4096]))
            assert found == [digest for _, digest in files]


def _drain(reader: DirectReader) -> None:
    with reader:
        while reader.read(MiB):
            pass


def test_nothing_a_later_build_or_prune_does_writes_through_a_linked_blob(tmp_path: Path) -> None:
    """Protects the cache's files from the outputs that share their inodes (a reused blob is
    linked into dist/oci): moving a linked blob into the layout keeps the cache file read-only
    (``oci.write._move_in`` changes the mode only of a file of its own), and a second build
    into the same dist, ``build --check`` and ``cache prune`` change neither the cache's bytes
    and modes nor those of a dist that still holds a link."""
    project, cache = _project(tmp_path)
    assert build(project, cache).returncode == 0
    warm = build(project, cache)
    assert warm.returncode == 0, warm.stderr
    cached = _state(_blobs(cache))
    assert cached and all(stat.S_IMODE(mode) == 0o444 for _, mode in cached.values())
    shipped = {p.stat().st_ino for p in _layout_blobs(project / "dist")}
    assert {p.stat().st_ino for p in cached} <= shipped  # linked, not copied
    for extra in ([], ["--check"], ["--dist", str(tmp_path / "other")]):
        again = build(project, cache, *extra)
        assert again.returncode == 0, again.stderr
        assert _state(list(cached)) == cached, extra
    env = {"MLENV_CACHE_DIR": str(cache)}
    pruned = run_mlenv(["cache", "prune", "--max-size", "0"], project, env)
    assert pruned.returncode == 0, pruned.stderr
    assert _blobs(cache) == []
    for dist in (project / "dist", tmp_path / "other"):
        for blob in _layout_blobs(dist):  # every blob still holds the bytes its name says
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
