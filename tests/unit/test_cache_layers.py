"""layer_key names every input of a layer's bytes, and only those; the store keeps entries
whole, verifies them on the way out and evicts the least recently used first."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import installer
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cache import kept
from mlenv.cache import layer_keys as layercache
from mlenv.cache.layer_keys import BuildInputs, layer_key
from mlenv.cache.layers import LayerCache
from mlenv.cache.reuse import LayerReuse
from mlenv.direct import DirectWriter
from mlenv.install.wheels import PlannedWheel, WheelClaims
from mlenv.layer_plan import LayerPlan
from mlenv.parallel_gzip import Writable
from mlenv.report import MemoryReporter
from mlenv.tarball import LayerBlob
from tests.support.mounts import other_file_system

INPUTS = BuildInputs(
    prefix="/opt/env",
    interpreter="/usr/bin/python3.11",
    python="3.11",
    bytecode="none",
    compression="gzip",
    epoch=315532800,
    parents=True,
    conda=(),
)
CHANGED = {
    "prefix": "/opt/other",
    "interpreter": "/usr/local/bin/python3.11",
    "python": "3.12",
    "bytecode": "hash",
    "compression": "zstd",
    "epoch": 1700000000,
    "parents": False,
    "conda": ("ab" * 32,),
}
GROUP = LayerPlan("group 1 of 2", ("alpha", "beta"))
SKELETON = LayerPlan("skeleton", (), skeleton=True)


def wheels(**changes: tuple[str, str, tuple[str, ...]]) -> dict[str, tuple[PlannedWheel, str]]:
    found = {
        name: (PlannedWheel(name, f"{name}-1.0-py3-none-any.whl", ()), name[0] * 64)
        for name in ("alpha", "beta", "gamma")
    }
    for name, (filename, sha, skipped) in changes.items():
        found[name] = (PlannedWheel(name, filename, skipped), sha)
    return found


def test_every_build_setting_is_in_the_key() -> None:
    """Protects: a layer built with other settings is never reused (each field is an input)."""
    assert {f.name for f in dataclasses.fields(BuildInputs)} == set(CHANGED)
    base = {plan: layer_key(plan, wheels(), INPUTS) for plan in (GROUP, SKELETON)}
    for field, value in CHANGED.items():
        other = dataclasses.replace(INPUTS, **{field: value})  # type: ignore[arg-type]
        for plan, key in base.items():
            assert layer_key(plan, wheels(), other) != key, (field, plan.name)


@pytest.mark.parametrize(
    "change",
    [
        ("alpha-1.0-py3-none-any.whl", "f" * 64, ()),  # another wheel under the same name
        ("alpha-1.1-py3-none-any.whl", "a" * 64, ()),  # another file name
        ("alpha-1.0-py3-none-any.whl", "a" * 64, ("nvidia/__init__.py",)),  # a path owned away
    ],
)
def test_a_wheel_change_reaches_its_layer_and_the_skeleton_only(
    change: tuple[str, str, tuple[str, ...]],
) -> None:
    """Protects: the reuse rule: its group and the skeleton change, another group does not."""
    other = LayerPlan("group 2 of 2", ("gamma",))
    before = [layer_key(plan, wheels(), INPUTS) for plan in (GROUP, SKELETON, other)]
    after = [layer_key(plan, wheels(alpha=change), INPUTS) for plan in (GROUP, SKELETON, other)]
    assert after[0] != before[0] and after[1] != before[1]
    assert after[2] == before[2]


def test_tool_versions_and_the_format_are_in_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Protects: another zlib/zstd, installer, mlenv (version or source) or layer format means
    new bytes."""
    key = layer_key(GROUP, wheels(), INPUTS)
    for name, value in [
        ("FORMAT", layercache.FORMAT + 1),
        ("__version__", "0.0.0-other"),
        ("GZIP_BLOCK", 1 << 16),
        ("code_digest", lambda: "0" * 64),
        ("compressor_versions", lambda: {"zlib": "0.0"}),
    ]:
        with monkeypatch.context() as patch:
            patch.setattr(layercache, name, value)
            assert layer_key(GROUP, wheels(), INPUTS) != key, name
    with monkeypatch.context() as patch:
        patch.setattr(installer, "__version__", "0.0")
        assert layer_key(GROUP, wheels(), INPUTS) != key


@given(
    st.dictionaries(
        st.sampled_from(["alpha", "beta", "gamma", "delta"]),
        st.tuples(st.sampled_from("abcdef"), st.lists(st.sampled_from(["x", "y/z"]), max_size=2)),
        min_size=3,
    )
)
def test_a_package_layer_key_depends_on_its_own_packages_only(
    others: dict[str, tuple[str, list[str]]],
) -> None:
    """Protects: whatever the rest of the lock, a group's key is that of its own wheels."""
    mine = wheels()
    every = {
        name: (PlannedWheel(name, f"{name}.whl", tuple(skip)), sha * 64)
        for name, (sha, skip) in others.items()
        if name not in GROUP.packages
    }
    every.update({name: mine[name] for name in GROUP.packages})
    assert layer_key(GROUP, every, INPUTS) == layer_key(GROUP, mine, INPUTS)


def _blob(data: bytes) -> LayerBlob:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return LayerBlob(digest, digest, len(data), len(data), "application/x", "none", None)


def _put(cache: LayerCache, tmp_path: Path, key: str, data: bytes) -> None:
    with cache.keeping() as kept:
        kept.write(data)
    cache.put(key, _blob(data), kept, ("opt",), MemoryReporter())


def test_an_entry_comes_back_verified_and_whole(tmp_path: Path) -> None:
    """Protects: get returns the bytes put under the key, with their record; a missing key is
    a miss, not an error."""
    cache = LayerCache(tmp_path / "cache")
    _put(cache, tmp_path, "ab" * 32, b"layer bytes")
    got = cache.get("ab" * 32, tmp_path / "out", MemoryReporter())
    assert got is not None and got.dirs == ("opt",) and got.blob == _blob(b"layer bytes")
    assert (tmp_path / "out").read_bytes() == b"layer bytes"
    assert cache.get("cd" * 32, tmp_path / "out2", MemoryReporter()) is None
    assert not (tmp_path / "out2").exists()
    assert not list(cache.root.glob(".tmp-*"))  # nothing half-written left behind


def test_a_wheel_record_comes_back_whole_or_not_at_all(tmp_path: Path) -> None:
    """Protects: what a vetted wheel installs comes back equal (content tuples included, so the
    ledger compares it as it compared the wheel), and a damaged record is a miss (the wheel is
    read again), never a wrong owner; wheel records are evicted like layers."""
    cache = LayerCache(tmp_path / "cache")
    claims = WheelClaims(
        "alpha",
        "alpha-1.0-py3-none-any.whl",
        "lib/python3.11/site-packages/alpha-1.0.dist-info",
        (("lib/python3.11/site-packages/alpha/__init__.py", "alpha/__init__.py", ("sha256=x", 3)),
         ("lib/python3.11/site-packages/alpha-1.0.dist-info/RECORD", "alpha-1.0.dist-info/RECORD",
          None)),
        ("alpha/__pycache__/a.pyc",),
    )  # fmt: skip
    key = layercache.wheel_key(claims.filename, "a" * 64, INPUTS)
    licences = [{"expression": "MIT"}]
    cache.put_wheel(key, claims, licences, MemoryReporter())
    assert cache.get_wheel(key) == (claims, licences)
    assert cache.get_wheel(layercache.wheel_key(claims.filename, "b" * 64, INPUTS)) is None
    record = cache.root / key[:2] / key / "wheel.json"
    record.write_bytes(record.read_bytes().replace(b"sha256=x", b"sha256=y"))
    assert cache.get_wheel(key) is None
    size = len(record.read_bytes())
    assert [(n, path.name) for _, n, path in cache.entries()] == [(size, key)]
    assert cache.prune(0) == (1, size) and cache.entries() == []


def test_prune_drops_the_least_recently_used_first(tmp_path: Path) -> None:
    """Protects: eviction order is last use (a get counts), and ``keep`` goes last."""
    cache = LayerCache(tmp_path / "cache")
    keys = [c * 64 for c in "abcd"]
    for age, key in enumerate(keys):
        _put(cache, tmp_path, key, key.encode() * 10)
        os.utime(cache.root / key[:2] / key / "layer.json", (1000 + age, 1000 + age))
    assert cache.get(keys[0], tmp_path / "used", MemoryReporter()) is not None  # now the newest
    one = sum(size for _, size, _ in cache.entries()) // 4
    removed, freed = cache.prune(2 * one, keep={keys[1]})
    left = {path.name for _, _, path in cache.entries()}
    assert left == {keys[0], keys[1]}
    assert (removed, freed) == (2, 2 * one)
    assert cache.prune(0) == (2, 2 * one) and cache.entries() == []


@pytest.mark.parametrize("size", [0, 5, 10, 12, 100])
def test_a_blob_of_another_size_than_its_record_is_not_kept(tmp_path: Path, size: int) -> None:
    """Protects: the cache keeps exactly the bytes the record describes; a kept copy that is
    shorter or longer leaves no entry, only a warning."""
    cache, reporter = LayerCache(tmp_path / "cache"), MemoryReporter()
    with cache.keeping() as kept:
        kept.write(b"x" * size)
    cache.put("ab" * 32, _blob(b"layer bytes"), kept, ("opt",), reporter)
    assert cache.get("ab" * 32, tmp_path / "out", MemoryReporter()) is None
    assert any("cannot keep the layer" in message for _, message in reporter.events)
    assert not list(cache.root.glob(".tmp-*"))


def _reuse(cache: LayerCache, tmp_path: Path, reporter: MemoryReporter | None = None) -> LayerReuse:
    reuse = LayerReuse(
        cache,
        [LayerPlan("environment", ("a",))],
        {"a": "0" * 64},
        INPUTS,
        tmp_path / "scratch",
        reporter or MemoryReporter(),
        install_all=False,
    )
    assert reuse.select([PlannedWheel("a", "a-1-py3-none-any.whl", ())]) == {"a"}
    return reuse


def _writing(data: bytes, fail: bool = False) -> Callable[[Writable, str], LayerBlob]:
    def write(stream: Writable, label: str) -> LayerBlob:
        for start in range(0, len(data), 1 << 20):
            stream.write(data[start : start + (1 << 20)])
        if fail:
            raise OSError(errno.EIO, "the layer writer failed")
        return _blob(data)

    return write


def test_a_written_layer_is_kept_by_a_link_to_the_one_file_written(tmp_path: Path) -> None:
    """Protects: on the build's file system the cache keeps the image's own file (written
    once), read-only; a later rewrite of it in place (root ignores the mode) is never reused
    unchecked: the entry is a miss, dropped."""
    cache = LayerCache(tmp_path / "cache")
    reuse, data = _reuse(cache, tmp_path), os.urandom(3 << 20)
    blob, path = reuse.layer(0, [], tmp_path / "layer.tmp", _writing(data))
    assert blob == _blob(data) and path.read_bytes() == data
    kept = _blob_file(cache, reuse.keys[0])
    assert kept.stat().st_ino == path.stat().st_ino and path.stat().st_mode & 0o777 == 0o444
    assert cache.get(reuse.keys[0], tmp_path / "back", MemoryReporter()) is not None
    with path.open("r+b") as handle:
        handle.write(b"rewritten in place")
    assert cache.get(reuse.keys[0], tmp_path / "again", MemoryReporter()) is None
    assert not list(cache.root.glob(".tmp-*"))


def test_a_layer_for_a_cache_elsewhere_is_kept_by_the_writes_that_build_it(
    tmp_path: Path,
) -> None:
    """Protects: where no link can be made, the cache's copy is written from the same stream as
    the image's blob, into a file of its own (rewriting the image's blob later never changes
    it)."""
    with other_file_system(tmp_path) as root:
        cache = LayerCache(root)
        reuse, data = _reuse(cache, tmp_path), os.urandom(3 << 20)
        blob, path = reuse.layer(0, [], tmp_path / "layer.tmp", _writing(data))
        assert blob == _blob(data) and path.read_bytes() == data
        assert _blob_file(cache, reuse.keys[0]).stat().st_ino != path.stat().st_ino
        path.write_bytes(b"rewritten in place")
        assert cache.get(reuse.keys[0], tmp_path / "back", MemoryReporter()) is not None
        assert (tmp_path / "back").read_bytes() == data
        assert not list(cache.root.glob(".tmp-*"))


@pytest.mark.parametrize("at", [0, 1, 2, 3])
def test_a_cache_that_fills_up_costs_the_next_build_not_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int
) -> None:
    """Protects: a write to the cache's copy that fails (ENOSPC at the first, second or third
    MiB, or at the last flush) ends the copy only: the image's blob is whole, a warning names
    the cache, and no entry nor temporary file is left."""

    class Full(DirectWriter):
        """A cache on a disk that fills up after ``at`` writes (3: at the last flush)."""

        writes = 0

        def write(self, data: bytes | memoryview) -> int:
            self.writes += 1
            if self.writes > at:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

        def finish(self) -> None:
            if at == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            super().finish()

    monkeypatch.setattr(kept, "DirectWriter", Full)
    with other_file_system(
        tmp_path
    ) as root:  # the copy is written only for a cache on another file system
        cache, reporter = LayerCache(root), MemoryReporter()
        reuse, data = _reuse(cache, tmp_path, reporter), os.urandom(3 << 20)
        blob, path = reuse.layer(0, [], tmp_path / "layer.tmp", _writing(data))
        monkeypatch.undo()
        assert blob == _blob(data) and path.read_bytes() == data
        assert any("No space left" in message for _, message in reporter.events)
        assert cache.get(reuse.keys[0], tmp_path / "back", MemoryReporter()) is None
        assert not list(cache.root.glob(".tmp-*"))


@pytest.mark.parametrize("here", [True, False])
def test_a_layer_that_fails_leaves_nothing_in_the_cache(tmp_path: Path, here: bool) -> None:
    """Protects: the writer's own failure is the build's, and nothing of it is kept (no link,
    and no half copy for a cache elsewhere)."""
    with contextlib.ExitStack() as stack:
        cache = LayerCache(
            tmp_path / "cache" if here else stack.enter_context(other_file_system(tmp_path))
        )
        reuse = _reuse(cache, tmp_path)
        with pytest.raises(OSError, match="layer writer failed"):
            reuse.layer(0, [], tmp_path / "layer.tmp", _writing(os.urandom(2 << 20), fail=True))
        assert list(cache.root.iterdir()) == []


def _blob_file(cache: LayerCache, key: str) -> Path:
    return cache.root / key[:2] / key / "blob"


def test_a_later_get_links_the_blob_and_leaves_its_check_to_the_read_that_ships_it(
    tmp_path: Path,
) -> None:
    """Protects: with ``later`` a private blob is linked unread (``checked`` False: the caller's
    read must check it); without, it is copied by the read that checks it now (a link would be
    read again, unchecked, when shipped), so a changed blob is a miss."""
    cache = LayerCache(tmp_path / "cache")
    _put(cache, tmp_path, "ab" * 32, b"layer bytes")
    blob = _blob_file(cache, "ab" * 32)
    got = cache.get("ab" * 32, tmp_path / "later", MemoryReporter(), later=True)
    assert got is not None and not got.checked
    assert (tmp_path / "later").stat().st_ino == blob.stat().st_ino
    now = cache.get("ab" * 32, tmp_path / "now", MemoryReporter())
    assert now is not None and now.checked
    assert (tmp_path / "now").stat().st_ino != blob.stat().st_ino
    blob.chmod(0o644)
    with blob.open("r+b") as handle:  # same size: only a read of the bytes can tell
        handle.write(b"L")
    assert cache.get("ab" * 32, tmp_path / "later2", MemoryReporter(), later=True) is not None
    assert cache.get("ab" * 32, tmp_path / "again", MemoryReporter()) is None
    assert not (tmp_path / "again").exists() and not blob.exists()  # dropped


@pytest.mark.parametrize("shape", ["group-writable", "longer", "shorter"])
def test_a_later_get_never_links_what_it_cannot_trust(tmp_path: Path, shape: str) -> None:
    """Protects: a blob others could write, or of another size than its record, is a miss
    before any link (dropped, nothing at ``dest``)."""
    cache = LayerCache(tmp_path / "cache")
    _put(cache, tmp_path, "ab" * 32, b"layer bytes")
    blob = _blob_file(cache, "ab" * 32)
    if shape == "group-writable":
        blob.chmod(0o664)
        os.chown(blob, -1, 4321)  # a group with members who are not this user (root alone in gid 0)
    else:
        blob.unlink()
        blob.write_bytes(b"layer bytes!" if shape == "longer" else b"layer byte")
    assert cache.get("ab" * 32, tmp_path / "out", MemoryReporter(), later=True) is None
    assert not (tmp_path / "out").exists() and not blob.exists()


def test_a_later_get_from_another_file_system_copies_by_the_read_that_checks(
    tmp_path: Path,
) -> None:
    """Protects: where no link can be made (a cache on another device), the blob is copied by
    the read that checks it, at once: ``checked``, and a changed blob is a miss then."""
    with other_file_system(tmp_path) as elsewhere:
        cache = LayerCache(elsewhere)
        _put(cache, tmp_path, "ab" * 32, b"layer bytes")
        got = cache.get("ab" * 32, tmp_path / "out", MemoryReporter(), later=True)
        assert got is not None and got.checked
        assert (tmp_path / "out").read_bytes() == b"layer bytes"
        blob = _blob_file(cache, "ab" * 32)
        blob.chmod(0o644)
        with blob.open("r+b") as handle:
            handle.write(b"L")
        assert cache.get("ab" * 32, tmp_path / "out2", MemoryReporter(), later=True) is None
        assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("shape", ["other link", "other size", "symlink", "directory"])
def test_a_blob_file_that_is_not_the_one_written_is_never_linked_in(
    tmp_path: Path, shape: str
) -> None:
    """Protects put_file: only a plain file of its own (no other link, which a chmod through
    it would reach), of the size written, is made read-only and linked into the cache;
    anything else is a warning and no entry, and nothing it names changes mode."""
    data = os.urandom(1 << 16)
    path, other = tmp_path / "layer.tmp", tmp_path / "elsewhere"
    other.write_bytes(data)
    other.chmod(0o600)
    if shape == "other link":
        os.link(other, path)
    elif shape == "other size":
        path.write_bytes(data + b"!")
    elif shape == "symlink":
        path.symlink_to(other)
    else:
        path.mkdir()
    cache, reporter = LayerCache(tmp_path / "cache"), MemoryReporter()
    cache.put_file("ab" * 32, _blob(data), path, ("opt",), reporter)
    assert any("cannot keep the layer" in message for _, message in reporter.events)
    assert cache.get("ab" * 32, tmp_path / "out", MemoryReporter()) is None
    assert other.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("errno_", [errno.EPERM, errno.EMLINK, errno.ENOTSUP])
def test_a_file_system_without_hard_links_still_keeps_the_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno_: int
) -> None:
    """Protects: where the cache cannot hold a link (a file system without hard links, or a
    file at its link limit), the built blob is copied into the entry, read-only, and reused;
    the image's file is left as it was."""
    real_link = os.link

    def refused(source: object, dest: object, **kwargs: object) -> None:
        if str(dest).endswith("/blob"):
            raise OSError(errno_, os.strerror(errno_))
        real_link(source, dest, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", refused)
    cache, reporter = LayerCache(tmp_path / "cache"), MemoryReporter()
    reuse, data = _reuse(cache, tmp_path, reporter), os.urandom(3 << 20)
    _, path = reuse.layer(0, [], tmp_path / "layer.tmp", _writing(data))
    monkeypatch.undo()
    assert not [m for _, m in reporter.events if "cannot keep" in m]
    kept = _blob_file(cache, reuse.keys[0])
    assert kept.stat().st_ino != path.stat().st_ino and kept.stat().st_mode & 0o777 == 0o444
    assert path.stat().st_nlink == 1 and path.read_bytes() == data
    got = cache.get(reuse.keys[0], tmp_path / "back", MemoryReporter())
    assert got is not None and (tmp_path / "back").read_bytes() == data


def test_a_checks_pass_is_kept_and_only_a_pass(tmp_path: Path) -> None:
    """Protects: a slow check (the base image's prefix scan) runs once per key while the cache
    keeps its pass, and a recorded pass gives its answer back (the index of the key it is kept
    under: how many parents of the prefix the base lacks); a failing check is never recorded,
    a damaged record is a miss, and without a cache (build --check's second build) the check
    always runs."""
    runs: list[str] = []
    keys = ["ab" * 32, "ef" * 32]

    def passing() -> int:
        runs.append("pass")
        return 1

    def failing() -> int:
        runs.append("fail")
        raise ValueError("refused")

    cache = LayerCache(tmp_path / "cache")
    reuse = _reuse(cache, tmp_path)
    assert reuse.passed(keys, passing) == 1
    assert reuse.passed(keys, passing) == 1
    assert runs == ["pass"]
    for _ in range(2):
        with pytest.raises(ValueError, match="refused"):
            reuse.passed(["cd" * 32], failing)
    assert runs == ["pass", "fail", "fail"]
    assert not (cache.root / "ab" / ("ab" * 32)).exists()
    record = cache.root / "ef" / ("ef" * 32) / "passed.json"
    record.chmod(0o644)
    record.write_bytes(record.read_bytes().replace(b'"key"', b'"kex"'))
    assert reuse.passed(keys, passing) == 1
    assert runs == ["pass", "fail", "fail", "pass"]
    uncached = LayerReuse(None, [], {}, INPUTS, tmp_path / "s", MemoryReporter(), install_all=False)
    uncached.passed(keys, passing)
    uncached.passed(keys, passing)
    assert runs[-2:] == ["pass", "pass"] and len(runs) == 6
