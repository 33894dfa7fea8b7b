"""Twelfth adversary pass: the kept "fresh" verdict of a no-op ``lock`` (``cache.fresh``).

A kept verdict answers only when the full check would say fresh for exactly these bytes under
the code that runs, and this user wrote it; anything else is a miss (no error, hang or false
"up to date"). Each test names what it protects and fails if its enforcement is removed.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import zipfile
from pathlib import Path

import packaging
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import uptodate
from mlenv.cache import FRESH, files, fresh
from mlenv.cli.app import main as cli_main
from tests.support.mounts import tmpfs
from tests.support.noop import (
    copy_mlenv,
    entries,
    full_runs,
    lock_for,
    manifest_text,
    own_listing,
    project,
    run,
)

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
TEXT = manifest_text({"environment": {"name": "e", "python": "3.11"},
                      "pypi": {"dependencies": ["torch==2.14.1"]}})  # fmt: skip
STALE = TEXT.replace("2.14.1", "2.14.0")  # a lock made for TEXT is stale for it


# -- code identity: the code that answers is the code that judged --------------------------
STRICTER_READER = """

def loads(text: str, source: str = "lock") -> Lock:  # a later mlenv that refuses this lock
    raise LockError("this mlenv refuses the lock", [])
"""


def test_a_verdict_of_another_mlenv_install_sharing_the_cache_is_a_miss(tmp_path: Path) -> None:
    """Protects the code identity of a verdict: two installs of mlenv (two venvs, two
    checkouts) share the user's cache; a verdict the one gave never answers for the other,
    whose own full check refuses the lock, however unchanged the first install's files are."""
    project(tmp_path / "p", TEXT)
    old = copy_mlenv(tmp_path / "old")
    new = copy_mlenv(tmp_path / "new")
    with (new / "mlenv" / "lockfile_read.py").open("a") as reader:
        reader.write(STRICTER_READER)
    cache = tmp_path / "cache"
    assert run(tmp_path / "p", cache, new).returncode != 0
    assert run(tmp_path / "p", cache, old).returncode == 0
    assert len(entries(cache)) == 1
    refused = run(tmp_path / "p", cache, new)
    assert refused.returncode != 0 and "up to date" not in refused.stderr, refused.stderr


def test_a_packaging_that_shadows_the_judged_one_is_a_miss(tmp_path: Path) -> None:
    """Protects the code identity for packaging: a verdict given with one packaging never
    answers when another (``PYTHONPATH``, a user site) is the one an import now finds."""
    project(tmp_path / "p", TEXT)
    shadow = tmp_path / "shadow"
    shutil.copytree(Path(packaging.__file__).parent, shadow / "packaging",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    with (shadow / "packaging" / "utils.py").open("a") as utils:
        utils.write("\n\ndef canonicalize_name(name, *, validate=False):\n"
                    "    raise InvalidName('this packaging refuses every name')\n")  # fmt: skip
    cache = tmp_path / "cache"
    assert run(tmp_path / "p", cache, shadow, ROOT).returncode != 0
    assert run(tmp_path / "p", cache, ROOT).returncode == 0
    refused = run(tmp_path / "p", cache, shadow, ROOT)
    assert refused.returncode != 0 and "up to date" not in refused.stderr, refused.stderr


@pytest.mark.parametrize("shadow", ["tomllib.py", "json/__init__.py", "zip"])
def test_a_standard_module_shadowed_before_the_standard_library_is_a_miss(
    tmp_path: Path, shadow: str
) -> None:
    """Protects the code identity for the standard library: ``python -m mlenv`` searches
    the working directory first (``PYTHONPATH`` too, a zip on it as well), so a
    ``tomllib.py`` or ``json/`` there is what the full check would import; a verdict the
    real one gave never answers there."""
    project(tmp_path / "plain", TEXT)
    project(tmp_path / "odd", TEXT)
    code = "raise ImportError('a shadowing module')\n"
    if shadow == "zip":
        with zipfile.ZipFile(tmp_path / "shadow.zip", "w") as archive:
            archive.writestr("tomllib.py", code)
    else:
        (tmp_path / "odd" / shadow).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "odd" / shadow).write_text(code)
    path = [tmp_path / "shadow.zip", ROOT] if shadow == "zip" else [ROOT]
    cache = tmp_path / "cache"
    assert run(tmp_path / "plain", cache, ROOT).returncode == 0
    assert len(entries(cache)) == 1
    refused = run(tmp_path / "odd", cache, *path)
    assert refused.returncode != 0 and "up to date" not in refused.stderr, refused.stderr
    assert run(tmp_path / "plain", cache, ROOT).returncode == 0


def test_a_rewrite_that_keeps_size_inode_and_mtime_is_a_miss(tmp_path: Path) -> None:
    """Protects the code identity against a change the old stamp missed: a judging module
    rewritten in place to the same size with its mtime put back (``cp -p``, an extraction
    that keeps archive times) is a miss, by its change time."""
    project(tmp_path / "p", TEXT)
    mine = copy_mlenv(tmp_path / "mine")
    cache = tmp_path / "cache"
    assert run(tmp_path / "p", cache, mine).returncode == 0
    reader = mine / "mlenv" / "lockfile_read.py"
    before = reader.stat()
    data = reader.read_bytes()
    at = data.index(b"def loads(")
    with reader.open("r+b") as handle:  # same inode, same size: 'loads' is gone
        handle.write(data[:at] + b"def _gone(" + data[at + len(b"def loads(") :])
    os.utime(reader, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = reader.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns)  # fmt: skip
    shutil.rmtree(mine / "mlenv" / "__pycache__", ignore_errors=True)  # its stamp is the same
    refused = run(tmp_path / "p", cache, mine)
    assert refused.returncode != 0 and "up to date" not in refused.stderr, refused.stderr


def test_a_package_added_beside_a_judging_module_is_a_miss(tmp_path: Path) -> None:
    """Protects the code identity against shadowing inside the package: a package directory
    ``mlenv/placement/`` added beside ``placement.py`` is what an import loads now, though
    no listed file changed; the directory's stamp makes it a miss."""
    project(tmp_path / "p", TEXT)
    mine = copy_mlenv(tmp_path / "mine")
    cache = tmp_path / "cache"
    assert run(tmp_path / "p", cache, mine).returncode == 0
    (mine / "mlenv" / "placement").mkdir()
    (mine / "mlenv" / "placement" / "__init__.py").write_text("raise ImportError('shadowed')\n")
    refused = run(tmp_path / "p", cache, mine)
    assert refused.returncode != 0 and "up to date" not in refused.stderr, refused.stderr


def test_a_verdict_given_under_another_optimisation_level_is_a_miss(tmp_path: Path) -> None:
    """Protects the code identity: ``python -O`` runs other code from the same sources (its
    asserts gone), so a verdict it gave never answers a plain run, nor the other way."""
    project(tmp_path / "p", TEXT)
    for flags in ([], ["-O"], ["-OO"]):
        assert run(tmp_path / "p", tmp_path / "c", ROOT, flags=flags).returncode == 0
    assert len(entries(tmp_path / "c")) == 3


def test_a_source_changed_since_this_process_began_is_never_vouched_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the code identity against the running code being older than the files: a
    source changed after this process began (a checkout mid-check, a long-lived caller) is
    never stamped into a verdict, nor is a verdict listing it believed by this process."""
    args, full = project(tmp_path, TEXT), full_runs(monkeypatch)
    sources = set(fresh._judging_sources())
    listed = sources | {str(Path(path).parent) for path in sources}
    newest = max(Path(path).stat().st_ctime_ns for path in listed)
    monkeypatch.setattr(fresh, "_STARTED_NS", newest)  # as if that file changed since
    assert uptodate.answer(args) == 0 and entries(tmp_path / "cache") == []
    monkeypatch.setattr(fresh, "_STARTED_NS", newest + 1)
    assert uptodate.answer(args) == 0 and len(entries(tmp_path / "cache")) == 1
    assert uptodate.answer(args) == 0 and len(full) == 2  # the verdict answered
    monkeypatch.setattr(fresh, "_STARTED_NS", newest)  # kept by a process begun later
    assert uptodate.answer(args) == 0 and len(full) == 3


def _nested(levels: int) -> str:
    return TEXT + "[build]\nlayers = " + "[" * levels + "]" * levels + "\n"


def _at_depth(frames: int, manifest: str) -> bool:
    if frames:
        return _at_depth(frames - 1, manifest)
    judged = uptodate._judged_fresh(manifest.encode(), lock_for(TEXT).encode(), "mlenv.lock")
    return judged is not None


def test_a_manifest_whose_parse_depends_on_the_stack_keeps_no_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects "the same bytes, the same verdict": tomllib recurses per nesting level, so
    a manifest nested just below the limit is fresh from a shallow stack and refused ("nested
    too deeply") from a deeper one; no verdict is kept for it, so no caller deeper in the
    stack is answered from one a shallower caller gave. (Since pass 14 the check runs the full
    manifest reader, which refuses this nesting in [build]; it is stubbed here so that the
    stack alone decides, as for any schema that would accept a deep value.)"""
    monkeypatch.setattr(uptodate, "_reader_accepts", lambda data: True)
    shallow = next(n for n in range(200, 1000, 5) if not _at_depth(60, _nested(n)))
    levels = shallow - 5  # fresh 60 frames down, refused 150 frames further
    assert _at_depth(60, _nested(levels)) and not _at_depth(210, _nested(levels))
    args = project(tmp_path, _nested(levels), lock_for(TEXT))
    assert uptodate.answer(args) == 0
    assert entries(tmp_path / "cache") == []
    assert uptodate.answer(project(tmp_path / "plain", TEXT)) == 0
    assert len(entries(tmp_path / "plain" / "cache")) == 1  # a plain manifest keeps its own


# -- who wrote it: the bucket, links, what the entry must list -------------------------------
def plant(tmp_path: Path, body: bytes = b"") -> tuple[list[str], Path]:
    """A stale project and, filed under its key, an entry of this user's naming that key."""
    args = project(tmp_path, STALE, lock_for(TEXT))
    key = fresh.verdict_key(STALE.encode(), lock_for(TEXT).encode())
    (entry := tmp_path / "cache" / FRESH / key).parent.mkdir(0o700, parents=True, exist_ok=True)
    entry.write_bytes(key.encode() + b"\n" + body)
    entry.chmod(0o600)
    return args, entry


@pytest.mark.parametrize("shape", ["group-writable-bucket", "bucket-of-another-user"])
def test_an_entry_in_a_bucket_others_can_write_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """Protects "this user wrote it": whoever can write the bucket can move any file of this
    user's (an artifact, a metadata record whose bytes an index chose) to a key's name; an
    entry is believed only in a bucket of this user's that no one else can write."""
    args, entry = plant(tmp_path, own_listing())
    assert fresh.is_fresh(tmp_path / "cache", STALE.encode(), lock_for(TEXT).encode())
    if shape == "group-writable-bucket":
        entry.parent.chmod(0o775)
        os.chown(entry.parent, -1, 4321)  # a group others are in (attack 157)
    else:
        os.chown(entry.parent, 4321, 4321)
    full = full_runs(monkeypatch)
    assert uptodate.answer(args) is None
    assert len(full) == 1


def test_an_entry_with_another_link_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects "this user wrote it for this key": an entry is written by a rename of a new
    file, so it has one link; a file with another name elsewhere was put there by a link."""
    args, entry = plant(tmp_path, own_listing())
    os.link(entry, tmp_path / "elsewhere")
    full = full_runs(monkeypatch)
    assert uptodate.answer(args) is None
    assert len(full) == 1


@pytest.mark.parametrize("body", [b"", b"\n", b"/etc/hostname\t1\t2\t3\t4\t5\n"])
def test_an_entry_that_does_not_list_the_code_answering_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: bytes
) -> None:
    """Protects the code identity of an entry: one that lists nothing (a file holding just its
    key) or not the very module answering was not written by this code's remember_fresh."""
    args, _ = plant(tmp_path, body)
    full = full_runs(monkeypatch)
    assert uptodate.answer(args) is None
    assert len(full) == 1


@pytest.mark.parametrize("shape", ["directory", "fifo", "socket", "dangling-symlink"])
def test_a_special_file_at_the_entry_path_is_a_miss_and_never_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """Guards the read of an entry (a wall that held): a directory, a FIFO (no writer: an
    open without O_NONBLOCK would hang), a socket or a symlink at the key's name is a miss;
    a fresh lock is still answered and a stale one refused."""
    for args, text, answer in (
        (project(tmp_path / "fresh", TEXT), TEXT, 0),
        (project(tmp_path / "stale", STALE, lock_for(TEXT)), STALE, None),
    ):
        key = fresh.verdict_key(text.encode(), lock_for(TEXT).encode())
        bucket = Path(args[2]) / FRESH
        bucket.mkdir(parents=True)
        where = bucket / key
        if shape == "directory":
            (where / "x").mkdir(parents=True)
        elif shape == "fifo":
            os.mkfifo(where)
        elif shape == "socket":
            monkeypatch.chdir(bucket)  # a socket's path has at most 107 bytes
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind(key)
        else:
            where.symlink_to(tmp_path / "nowhere")
        result: list[int | None] = []
        worker = threading.Thread(target=answer_into, args=(result, args))
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), f"the check hung on a {shape}"
        assert result == [answer]


def answer_into(result: list[int | None], args: list[str]) -> None:
    result.append(uptodate.answer(args))


# -- the inputs and the cache root: never an error -------------------------------------------
@pytest.mark.parametrize("shape", ["unknown-user", "name-too-long", "cache-option-too-long",
                                   "manifest-option-too-long"])  # fmt: skip
def test_a_cache_or_manifest_that_cannot_be_named_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """Protects "a miss, never an error" where the cache root or the manifest cannot even be
    looked at (``MLENV_CACHE_DIR=~nosuchuser/c``, a name longer than NAME_MAX): the check
    answers from the full check or leaves it to the full CLI, with no traceback. A default
    cache that cannot be stat'ed is left to the full CLI, which refuses it as it opens its
    session (as it refuses it given as ``--cache``): the two answer alike (pass 21)."""
    project(tmp_path, TEXT)
    args = ["-q", "--manifest", str(tmp_path / "mlenv.toml"), "lock", "--check"]
    long = str(tmp_path / ("x" * 300))
    if shape == "unknown-user":
        monkeypatch.setenv("MLENV_CACHE_DIR", "~no-such-user-at-all/c")
    elif shape == "name-too-long":
        monkeypatch.setenv("MLENV_CACHE_DIR", long)
    elif shape == "cache-option-too-long":
        args = ["--cache", long, *args]
    else:
        args = ["-q", "--manifest", long, "lock", "--check"]
    expected = 0 if shape == "unknown-user" else None  # None: the full CLI
    assert uptodate.answer(args) == expected
    assert uptodate.main(args) == cli_main(args)


def test_a_bundle_whose_index_is_a_dangling_symlink_gets_no_verdict(tmp_path: Path) -> None:
    """Protects a bundle used as the cache from a file it does not list: a bundle's
    ``bundle.json`` that does not resolve still makes the directory a bundle."""
    args = project(tmp_path, TEXT)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "bundle.json").symlink_to(tmp_path / "gone")
    assert uptodate.answer(args) == 0
    assert entries(tmp_path / "cache") == []


def test_inputs_that_are_devices_or_grow_without_end_are_never_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the fast read (a wall that held): a manifest or lock that is /dev/zero, or a
    lock over 8 MiB, is left to the full CLI at once, and nothing is kept. Counted, not
    timed: every os.read is tallied, and the three answers together read less than one
    8 MiB input (an endless read is cut at twice that, so it fails instead of hanging)."""
    args = project(tmp_path, TEXT)
    lock, manifest = tmp_path / "mlenv.lock", tmp_path / "mlenv.toml"
    read: list[int] = []
    real_read = os.read

    def counting(fd: int, size: int) -> bytes:
        if sum(read) > 2 * fresh.MAX_INPUT_BYTES:
            raise OSError("read far past the limit")
        data = real_read(fd, size)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting)
    manifest.unlink()
    manifest.symlink_to("/dev/zero")
    assert uptodate.answer(args) is None
    manifest.unlink()
    manifest.write_text(TEXT)
    lock.unlink()
    lock.symlink_to("/dev/zero")
    assert uptodate.answer(args) is None
    lock.unlink()
    lock.write_bytes(lock_for(TEXT).encode() + b"#" * (fresh.MAX_INPUT_BYTES + 1))
    assert uptodate.answer(args) is None
    assert sum(read) < fresh.MAX_INPUT_BYTES, sum(read)
    assert entries(tmp_path / "cache") == []


def test_planted_temporary_names_and_a_full_disk_never_write_through_or_fail(
    tmp_path: Path,
) -> None:
    """Guards the write of a verdict (a wall that held): symlinks planted at the next
    temporary names are never followed (O_EXCL), and a full disk leaves no entry and no
    temporary file; the check still answers."""
    args = project(tmp_path, TEXT)
    key = fresh.verdict_key(TEXT.encode(), lock_for(TEXT).encode())
    bucket = tmp_path / "cache" / FRESH
    bucket.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    upcoming = next(files._TEMP_NAMES)
    for n in range(upcoming + 1, upcoming + 50):
        (bucket / f".{key}.{os.getpid()}.{n}.tmp").symlink_to(victim)
    assert uptodate.answer(args) == 0
    assert victim.read_text() == "untouched"
    with tmpfs(tmp_path / "full", "2m") as full:
        args = project(full / "p", TEXT)
        filler = full / "filler"
        with filler.open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        assert uptodate.answer(args) == 0
        assert [p.name for p in (full / "p" / "cache" / FRESH).iterdir()] == []


# -- the key: Hypothesis over the bytes ------------------------------------------------------
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # fmt: skip
@given(st.binary(max_size=64), st.binary(max_size=64), st.binary(max_size=64),
       st.binary(max_size=64))  # fmt: skip
def test_a_verdict_answers_for_its_own_bytes_only(
    tmp_path: Path, manifest: bytes, lock: bytes, other_manifest: bytes, other_lock: bytes
) -> None:
    """Protects the key (no two pairs of bytes share one, however the bytes split between
    manifest and lock): a verdict kept for one pair never answers for another."""
    cache = Path(tempfile.mkdtemp(dir=tmp_path))  # one of its own for every example
    fresh.remember_fresh(cache, manifest, lock)
    assert fresh.is_fresh(cache, manifest, lock)
    if (other_manifest, other_lock) != (manifest, lock):
        assert not fresh.is_fresh(cache, other_manifest, other_lock)
    for split in ((manifest + lock, b""), (b"", manifest + lock)):
        if split != (manifest, lock):
            assert not fresh.is_fresh(cache, *split)
