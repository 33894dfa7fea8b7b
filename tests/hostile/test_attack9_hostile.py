"""Ninth adversary pass: the scratch tree freed as it is read (``mlenv.spent``), the layer kept
in the cache by the writes that build it (``mlenv.cache.kept``) and the O_DIRECT writer
(``mlenv.direct``), in shapes their own tests did not try. Each test names the invariant it
attacks and fails if the enforcing code stops holding it."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.cache import kept as kept_module
from mlenv.cache.layer_keys import BuildInputs
from mlenv.cache.layers import LayerCache
from mlenv.cache.reuse import LayerReuse
from mlenv.install.wheels import PlannedWheel
from mlenv.layer_plan import LayerPlan
from mlenv.parallel_gzip import Writable
from mlenv.report import MemoryReporter
from mlenv.tarball import LayerBlob
from tests.support.mounts import other_file_system

INPUTS = BuildInputs(
    prefix="/opt/env",
    interpreter="/usr/bin/python3",
    python="3.11",
    bytecode="none",
    compression="none",
    epoch=0,
    parents=True,
    conda=(),
)


def _reuse(cache: LayerCache, scratch: Path, reporter: MemoryReporter | None = None) -> LayerReuse:
    """One layer of one package, to be written (the cache has nothing yet)."""
    reuse = LayerReuse(
        cache,
        [LayerPlan("environment", ("a",))],
        {"a": "0" * 64},
        INPUTS,
        scratch,
        reporter or MemoryReporter(),
        install_all=False,
    )
    assert reuse.select([PlannedWheel("a", "a-1-py3-none-any.whl", ())]) == {"a"}
    return reuse


def _write(data: bytes) -> Callable[[Writable, str], LayerBlob]:
    def write(stream: Writable, label: str) -> LayerBlob:
        stream.write(data)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return LayerBlob(digest, digest, len(data), len(data), "tar", "none", None)

    return write


def test_a_layer_whose_own_file_fills_up_at_its_tail_leaves_no_kept_copy(tmp_path: Path) -> None:
    """Attacks: the layer's own file fails only when its buffered tail is written (dist's disk
    full, here /dev/full) after the cache's copy was finished: the build fails, and the copy of
    a layer no image holds must not stay in the cache root as a ``.tmp-blob-*`` file."""
    cache = LayerCache(tmp_path / "cache")
    reuse = _reuse(cache, tmp_path / "scratch")
    with pytest.raises(OSError):
        reuse.layer(0, [], Path("/dev/full"), _write(b"layer bytes " * 1000))
    assert not list(cache.root.glob(".tmp-*"))
    assert cache.usage() == 0


def test_a_kept_copy_whose_close_fails_never_touches_the_fd_reused_after_it(
    tmp_path: Path,
) -> None:
    """Attacks: the cache's copy is closed (its descriptor freed) and the close reports an
    error (EIO, as NFS does), and the descriptor number is already another file's by then (a
    writer thread opened one): discarding the copy must not set that file's flags, e.g. clear
    the O_APPEND of a log."""
    kept = LayerCache(tmp_path / "cache").keeping()
    assert kept.path is not None
    kept.write(bytes(8192))  # whole blocks: O_DIRECT stays on to the end
    other, real_close = tmp_path / "log", os.close
    taken: list[tuple[int, int]] = []

    def failing_close(fd: int) -> None:
        """The kept file's close frees the descriptor, which a log takes at once, then fails."""
        if not taken and Path(f"/proc/self/fd/{fd}").readlink() == kept.path:
            real_close(fd)
            taken.append((fd, os.open(other, os.O_WRONLY | os.O_CREAT | os.O_APPEND)))
            raise OSError(errno.EIO, "Input/output error")
        real_close(fd)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "close", failing_close)
        with kept:
            pass
    [(fd, log)] = taken
    assert log == fd  # the number was reused: the attack's premise
    try:
        assert fcntl.fcntl(log, fcntl.F_GETFL) & os.O_APPEND  # still open, flags untouched
    finally:
        os.close(log)
    assert kept.path is None and kept.problem == "Input/output error"
    assert not list((tmp_path / "cache").rglob(".tmp-*"))


def test_a_kept_copy_swapped_for_a_symlink_never_changes_the_file_it_names(
    tmp_path: Path,
) -> None:
    """Attacks: in a shared cache root another user swaps the finished ``.tmp-blob-*`` (it sits
    in the root until ``put`` renames it into its entry) for a symlink whose own size, the
    length of its target, is the blob's: keeping it must not make the file it names read-only
    for its owner and readable by all (a private key at 0600 made 0444)."""
    victim = tmp_path / "home" / "id_ed25519"
    victim.parent.mkdir()
    victim.write_bytes(b"private key")
    victim.chmod(0o600)
    target = str(victim)
    cache, reporter = LayerCache(tmp_path / "cache"), MemoryReporter()
    with cache.keeping() as kept:
        kept.write(b"x" * len(target))
    assert kept.path is not None
    kept.path.unlink()
    kept.path.symlink_to(target)  # the swap: lstat says len(target) bytes, as the record does
    digest = "sha256:" + hashlib.sha256(b"x" * len(target)).hexdigest()
    blob = LayerBlob(digest, digest, len(target), len(target), "tar", "none", None)
    cache.put("ab" * 32, blob, kept, (), reporter)
    assert victim.stat().st_mode & 0o777 == 0o600
    assert cache.get("ab" * 32, tmp_path / "out", MemoryReporter()) is None
    assert any("cannot keep the layer" in message for _, message in reporter.events)


def test_an_entry_directory_swapped_in_the_shared_root_is_never_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attacks: another user of a shared cache root renames the entry's work directory
    (``.tmp-*``) away and puts one of theirs there holding a symlink named ``layer.json``:
    filing the entry must not truncate and write the file it names (a shell profile)."""
    victim = tmp_path / "home" / ".profile"
    victim.parent.mkdir()
    victim.write_bytes(b"export PATH=/usr/bin\n")
    cache, reporter = LayerCache(tmp_path / "cache"), MemoryReporter()
    real_mkdtemp = tempfile.mkdtemp

    def swapped(prefix: str, dir: Path) -> str:
        made = Path(real_mkdtemp(prefix=prefix, dir=dir))
        (made / "layer.json").symlink_to(victim)  # what the swapped-in directory holds
        return str(made)

    data = b"layer bytes" * 100
    with cache.keeping() as kept:
        kept.write(data)
    monkeypatch.setattr(tempfile, "mkdtemp", swapped)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blob = LayerBlob(digest, digest, len(data), len(data), "tar", "none", None)
    cache.put("ab" * 32, blob, kept, (), reporter)
    monkeypatch.undo()
    assert victim.read_bytes() == b"export PATH=/usr/bin\n"
    assert any("cannot keep the layer" in message for _, message in reporter.events)


def test_a_kept_copy_swapped_for_a_hard_link_never_changes_the_file_it_names(
    tmp_path: Path,
) -> None:
    """Attacks: the same swap with a hard link to the victim's file (a system without
    protected_hardlinks lets any user link a file they cannot read), whose size is the blob's:
    keeping it must not chmod the victim's file, which the link shares."""
    victim = tmp_path / "home" / "id_ed25519"
    victim.parent.mkdir()
    victim.write_bytes(b"private key")
    victim.chmod(0o600)
    cache, reporter = LayerCache(tmp_path / "cache"), MemoryReporter()
    with cache.keeping() as kept:
        kept.write(b"private key")
    assert kept.path is not None
    kept.path.unlink()
    kept.path.hardlink_to(victim)
    digest = "sha256:" + hashlib.sha256(b"private key").hexdigest()
    blob = LayerBlob(digest, digest, 11, 11, "tar", "none", None)
    cache.put("ab" * 32, blob, kept, (), reporter)
    assert victim.stat().st_mode & 0o777 == 0o600
    assert any("cannot keep the layer" in message for _, message in reporter.events)


def test_a_kept_copy_without_a_buffer_costs_the_cache_not_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attacks: the cache's copy cannot get its 4 MiB buffer (ENOMEM under strict overcommit)
    after its file was made: the layer is still written whole, the cache only warns, and no
    ``.tmp-blob-*`` stays in the root."""

    def no_memory(fd: int) -> None:
        raise OSError(errno.ENOMEM, "Cannot allocate memory")

    monkeypatch.setattr(kept_module, "DirectWriter", no_memory)
    with other_file_system(tmp_path) as elsewhere:  # only there is a copy kept, not a link
        cache, reporter = LayerCache(elsewhere / "cache"), MemoryReporter()
        reuse = _reuse(cache, tmp_path / "scratch", reporter)
        data = b"layer bytes" * 1000
        blob, path = reuse.layer(0, [], tmp_path / "layer.tmp", _write(data))
        assert path.read_bytes() == data and blob.size == len(data)
        assert any("Cannot allocate memory" in message for _, message in reporter.events)
        assert not list(cache.root.glob(".tmp-*"))
