"""Tenth adversary pass: a build's artifact "copies" that are hard links into the cache
(``ArtifactCache.copy_verified(share=True)``, security invariant 1) and the reused aligned
buffers of ``mlenv.direct``. Each test names what it protects and fails if the code that
enforces it stops holding it."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import pytest

from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.direct import BIG, DirectReader, DirectWriter, direct
from mlenv.install import ports
from mlenv.install.checks import NamedWheel
from mlenv.install.wheels import install_environment
from mlenv.report import MemoryReporter
from mlenv.spent import Spent
from tests.support.wheels import build_wheel

MiB = 1 << 20


def _file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_a_reader_left_twice_gives_back_its_buffer_and_descriptor_once(tmp_path: Path) -> None:
    """Protects the one-holder rule of the spare buffers and of descriptors: a DirectReader
    left a second time neither closes a descriptor that by then is another file's, nor gives
    its buffer back again, which would hand one buffer to two readers of the same thread
    that then return each other's bytes."""
    first, a_path, b_path = tmp_path / "first", tmp_path / "a", tmp_path / "b"
    _file(first, BIG)
    reader = DirectReader(first)
    with reader:
        assert len(reader.read(10)) == 10
    other = os.open(a_path, os.O_WRONLY | os.O_CREAT, 0o600)  # likely the number just freed
    try:
        reader.__exit__(None, None, None)
        os.fstat(other)  # still open: the second exit closed nothing
    finally:
        os.close(other)
    data = {a_path: _file(a_path, 9 * MiB + 3), b_path: _file(b_path, 9 * MiB + 5)}
    with DirectReader(a_path) as a, DirectReader(b_path) as b:
        got: dict[Path, list[bytes]] = {a_path: [], b_path: []}
        for _ in range(20):  # interleaved, each step smaller than one buffer
            got[a_path].append(a.read(MiB // 2 + 1))
            got[b_path].append(b.read(MiB // 2 + 3))
    for path, chunks in got.items():
        assert b"".join(chunks) == data[path][: len(b"".join(chunks))]


def test_a_writer_used_after_its_release_never_writes_into_another_buffer(
    tmp_path: Path,
) -> None:
    """Protects the same rule from the writer's side: once released, a DirectWriter's
    buffer may already be the next writer's on this thread; a late ``write`` or ``finish``
    must fail rather than put its bytes into that writer's file."""
    with (tmp_path / "late").open("wb") as late_handle, (tmp_path / "next").open("wb") as handle:
        late = DirectWriter(late_handle.fileno())
        late.release()
        after = DirectWriter(handle.fileno())
        after.write(b"good bytes, all of them")
        with pytest.raises(ValueError, match="after its release"):
            late.write(b"EVIL")
        with pytest.raises(ValueError, match="after its release"):
            late.finish()
        after.finish()
        after.release()
    assert (tmp_path / "next").read_bytes() == b"good bytes, all of them"
    assert (tmp_path / "late").read_bytes() == b""


def test_what_a_build_does_with_a_linked_copy_leaves_the_cache_file_as_it_was(
    tmp_path: Path,
) -> None:
    """Protects invariant 1's premise for a linked copy (held, kept as a guard): nothing the
    build does with its copy (install from it, free it once installed, remove the scratch)
    writes through the link, so the cache's file keeps its bytes, mode, time and one link."""
    name, data = build_wheel("linked", "1.0", files={"linked/__init__.py": b"x = 1\n"})
    artifact = Artifact("linked", f"https://example.invalid/{name}",
                        hashlib.sha256(data).hexdigest(), len(data))  # fmt: skip
    cache = ArtifactCache(tmp_path / "cache")
    entry = cache.add(artifact, [data])
    before = entry.stat()
    copies = tmp_path / "work" / "artifacts"
    copies.mkdir(parents=True)
    copy = copies / artifact.sha256
    cache.copy_verified(artifact, copy, share=True)
    assert copy.stat().st_ino == before.st_ino  # a link indeed
    install_environment(
        [NamedWheel(name, copy)],
        tmp_path / "staging",
        prefix="/opt/mlenv/t",
        interpreter="/usr/bin/python3.11",
        python="3.11",
        reporter=MemoryReporter(),
        spent=Spent(readers=1),
    )
    assert not copy.exists()  # freed once installed: the link, not the cache's file
    after = entry.stat()
    assert entry.read_bytes() == data
    assert (after.st_mode, after.st_mtime_ns, after.st_nlink) == (
        before.st_mode,
        before.st_mtime_ns,
        1,
    )


def test_big_scripts_and_data_members_install_as_the_page_cache_path_installs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects byte-identical outputs on the O_DIRECT install path (held, kept as a guard)
    for the members whose size or place installer changes: a big script whose ``#!python`` is
    rewritten (so its size differs from RECORD's), one of exactly BIG bytes in the zip, a big
    ``.data/data`` and ``.data/purelib`` member, and an empty one."""
    files = {
        "big/__init__.py": b"",
        "big/empty.bin": b"",
        "big-1.0.data/scripts/tool": b"#!python\n" + b"#" * (BIG + 10) + b"\n",
        "big-1.0.data/scripts/exact": b"#!python\n" + b"x" * (BIG - 9),
        "big-1.0.data/data/share/big/blob.bin": os.urandom(BIG + 1),
        "big-1.0.data/purelib/big_data.bin": os.urandom(2 * BIG + 4097),
    }
    name, data = build_wheel("big", "1.0", files=files)
    (tmp_path / name).write_bytes(data)
    trees, through = [], []

    def counted(handle: BinaryIO) -> AbstractContextManager[DirectWriter]:
        through.append(Path(handle.name).name)
        return direct(handle)

    monkeypatch.setattr(ports, "direct", counted)
    for label, big in (("direct", BIG), ("cached", 1 << 62)):
        monkeypatch.setattr(ports, "BIG", big)
        root = tmp_path / label
        install_environment([tmp_path / name], root, prefix="/opt/mlenv/t",
                            interpreter="/usr/bin/python3.11", python="3.11",
                            reporter=MemoryReporter())  # fmt: skip
        trees.append({
            p.relative_to(root).as_posix(): (stat.S_IMODE(p.lstat().st_mode), p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()
        })  # fmt: skip
    # direct run only; scripts go through installer's writer, which rewrites their #! line
    assert sorted(through) == ["big_data.bin", "blob.bin"]
    assert trees[0] == trees[1]
    assert trees[0]["bin/tool"][1].startswith(b"#!/opt/mlenv/t/bin/python\n")
    assert trees[0]["bin/tool"][0] == 0o755


_IN_NAMESPACE = """
import json, sys
from pathlib import Path
from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.cache.files import open_plain
root, sha, size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
found = {"uid": __import__("os").geteuid()}
try:
    open_plain(root, "layers/entry/blob", private=2).close()
    found["layer"] = "trusted"
except OSError as exc:
    found["layer"] = exc.strerror
cache = ArtifactCache(root)
copy = root.parent / "work" / sha
cache.copy_verified(Artifact("a", "https://example.invalid/a", sha, size), copy, share=True)
found["linked"] = copy.stat().st_ino == cache.path(sha).stat().st_ino
print(json.dumps(found))
"""


def test_another_host_users_files_never_pass_for_mine_in_a_user_namespace(tmp_path: Path) -> None:
    """Protects "belongs to this user" (``files.check_private``: a linked copy, and the
    layer cache's trust in its own entries) in a rootless container run as uid 65534: every
    owner the namespace does not map shows as that same uid, so another host user's file, which
    that user can rewrite after the hash, looked like this user's own."""
    root = tmp_path / "cache"
    entry = root / "layers" / "entry"
    entry.mkdir(parents=True)
    (entry / "blob").write_bytes(b"planted")
    data = b"an artifact another host user owns"
    artifact = Artifact("a", "https://example.invalid/a", hashlib.sha256(data).hexdigest(), 34)
    ArtifactCache(root).add(artifact, [data])
    (tmp_path / "work").mkdir()
    theirs = [entry.parent, entry, entry / "blob", ArtifactCache(root).path(artifact.sha256)]
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
        if path in theirs:
            os.chown(path, 1234, 1234)  # a host user the namespace below does not map
    child = subprocess.run(
        ["unshare", "--user", "--map-user=65534", "--map-group=65534",
         sys.executable, "-c", _IN_NAMESPACE, str(root), artifact.sha256, str(artifact.size)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )  # fmt: skip
    found = json.loads(child.stdout)
    assert found["uid"] == 65534  # the namespace stands for the container's nobody
    assert found["layer"] != "trusted"
    assert "does not map" in found["layer"]
    assert found["linked"] is False
