"""Kept "fresh" verdicts of the no-op `lock` (mlenv.cache.fresh, mlenv.uptodate).

The invariant: the no-op answers "up to date" from a kept verdict only when the full check
found the lock fresh for these exact bytes, under this code, and this user wrote the verdict.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import uptodate
from mlenv.cache import FRESH, fresh
from mlenv.cli.app import main as cli_main
from tests.support.mounts import tmpfs
from tests.support.noop import full_runs, imported, lock_for, manifest_text, mutations

ROOT = Path(__file__).resolve().parents[2]

TEXT = manifest_text({"environment": {"name": "e", "python": "3.11"},
                      "pypi": {"dependencies": ["torch==2.14.1"]}})  # fmt: skip


def project(tmp_path: Path, text: str = TEXT, lock: str | None = None) -> list[str]:
    (tmp_path / "mlenv.toml").write_text(text)
    (tmp_path / "mlenv.lock").write_text(lock_for(text) if lock is None else lock)
    return ["-q", "--cache", str(tmp_path / "cache"), "--manifest", str(tmp_path / "mlenv.toml"),
            "lock", "--check"]  # fmt: skip


def entries(tmp_path: Path) -> list[Path]:
    bucket = tmp_path / "cache" / FRESH
    return sorted(bucket.iterdir()) if bucket.is_dir() else []


def test_a_fresh_verdict_is_kept_and_answers_the_next_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects the speed of a repeated no-op: the full check runs once, its verdict is kept
    (named by its key, private to this user), and the next answer comes from it alone."""
    args = project(tmp_path)
    full = full_runs(monkeypatch)
    assert uptodate.answer(args) == 0
    assert len(full) == 1
    [entry] = entries(tmp_path)
    assert entry.read_text().splitlines()[0] == entry.name
    assert entry.stat().st_mode & 0o077 == 0
    assert uptodate.answer(args) == 0
    assert len(full) == 1


def test_a_stale_lock_leaves_no_verdict_and_any_change_of_bytes_is_judged_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects `lock --check` from a kept verdict outliving its bytes: a stale lock is never
    kept; an edit to either file (even a comment) goes to the full check again."""
    full = full_runs(monkeypatch)
    stale = project(tmp_path, TEXT.replace("2.14.1", "2.14.0"), lock_for(TEXT))
    assert uptodate.answer(stale) is None
    assert entries(tmp_path) == []
    args = project(tmp_path)
    assert uptodate.answer(args) == 0
    (tmp_path / "mlenv.toml").write_text(TEXT + "# a comment\n")
    assert uptodate.answer(args) == 0
    (tmp_path / "mlenv.lock").write_text(lock_for(TEXT) + "\n")
    uptodate.answer(args)
    assert len(full) == 4
    (tmp_path / "mlenv.toml").write_text(TEXT.replace("2.14.1", "2.14.0"))
    (tmp_path / "mlenv.lock").write_text(lock_for(TEXT))
    assert uptodate.answer(args) is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture],
          deadline=None)  # file IO per example: a shared CPU must not fail it  # fmt: skip
@given(st.lists(mutations, min_size=1, max_size=3))
def test_a_kept_verdict_never_answers_for_other_bytes(
    tmp_path: Path, edits: list[tuple[str, str, object]]
) -> None:
    """Protects the key: with a verdict kept for the original manifest, every edited manifest
    is answered exactly as the full CLI answers it with no verdict kept at all."""
    tables = json.loads(json.dumps({"environment": {"name": "e", "python": "3.11"},
                                    "pypi": {"dependencies": ["numpy"]}}))  # fmt: skip
    original = manifest_text(tables)
    args = project(tmp_path, original)
    assert uptodate.answer(args) == 0
    for table, key, value in edits:
        tables.setdefault(table, {})[key] = value
    edited = manifest_text(tables)
    (tmp_path / "mlenv.toml").write_text(edited)
    answer = uptodate.answer(args)
    if edited != original and answer == 0:  # then the full check, verdicts bypassed, agrees
        assert uptodate._judged_fresh(edited.encode(), lock_for(original).encode(), "lock")
    assert answer in (0, None)


@pytest.mark.parametrize("shape", ["other-owner", "group-writable", "copied", "symlink",
                                   "symlinked-bucket", "torn", "huge", "garbage"])  # fmt: skip
def test_a_verdict_not_written_by_this_user_for_these_bytes_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    """Protects the trust in a kept verdict: one another user owns or could change, one copied
    or linked from another key, one reached through a symlink, a damaged or huge one, is never
    believed: the full check runs, and a stale lock is still refused."""
    (tmp_path / "other").mkdir()
    fresh_args = project(tmp_path / "other")
    assert uptodate.answer(fresh_args) == 0
    [good] = entries(tmp_path / "other")
    stale_text = TEXT.replace("2.14.1", "2.14.0")
    args = project(tmp_path, stale_text, lock_for(TEXT))
    key = fresh.verdict_key(stale_text.encode(), lock_for(TEXT).encode())
    bucket = tmp_path / "cache" / FRESH
    bucket.mkdir(parents=True)
    planted = bucket / key
    own = f"{key}\n".encode()
    if shape == "other-owner":
        planted.write_bytes(own)
        os.chown(planted, 4321, 4321)
    elif shape == "group-writable":
        planted.write_bytes(own)
        planted.chmod(0o664)
    elif shape == "copied":
        os.link(good, planted)
    elif shape == "symlink":
        (tmp_path / "elsewhere").write_bytes(own)
        planted.symlink_to(tmp_path / "elsewhere")
    elif shape == "symlinked-bucket":
        bucket.rmdir()
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / key).write_bytes(own)
        bucket.symlink_to(tmp_path / "elsewhere")
    elif shape == "torn":
        planted.write_bytes(own[:20])
    elif shape == "huge":
        planted.write_bytes(own + b"x" * (2 << 20))
    else:
        planted.write_bytes(own + b"/no/such/file\t1\t2\t3\n")
    full = full_runs(monkeypatch)
    assert uptodate.answer(args) is None
    assert len(full) == 1
    assert cli_main(args) == 1


def test_a_change_to_the_code_that_judged_is_a_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects a kept verdict from outliving the code that gave it: it lists every mlenv and
    packaging source the full check loaded and mlenv's data files, and a change to any (here
    the lock reader, packaging's version parser, cuda.json: size, mtime or ctime) is a miss, as
    is another Python."""
    args = project(tmp_path)
    assert uptodate.answer(args) == 0
    [entry] = entries(tmp_path)
    listed = [line.split("\t")[0] for line in entry.read_text().splitlines()[2:]]
    for module in ("mlenv/lockfile.py", "packaging/version.py", "mlenv/data/cuda.json"):
        assert any(path.endswith(module) for path in listed), module
    manifest, lock = (tmp_path / "mlenv.toml").read_bytes(), (tmp_path / "mlenv.lock").read_bytes()
    assert fresh.is_fresh(tmp_path / "cache", manifest, lock)
    for path in listed:
        lines = entry.read_text().splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith(path + "\t"))
        name, size, mtime, ctime, *rest = lines[at].split("\t")
        for changed in ([name, str(int(size) + 1), mtime, ctime, *rest],
                        [name, size, str(int(mtime) - 1), ctime, *rest],
                        [name, size, mtime, str(int(ctime) - 1), *rest]):  # fmt: skip
            edited = [*lines[:at], "\t".join(changed), *lines[at + 1 :]]
            entry.write_text("\n".join(edited) + "\n")
            assert not fresh.is_fresh(tmp_path / "cache", manifest, lock), (path, changed)
        entry.write_text("\n".join(lines) + "\n")
    assert fresh.is_fresh(tmp_path / "cache", manifest, lock)
    monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    assert not fresh.is_fresh(tmp_path / "cache", manifest, lock)


def test_inputs_that_are_not_plain_files_are_never_read_and_nothing_is_kept(
    tmp_path: Path,
) -> None:
    """Protects the fast read: a FIFO as the lock or the manifest never blocks it, a directory
    or a missing file is left to the full CLI, and nothing is kept for any of them."""
    args = project(tmp_path)
    lock = tmp_path / "mlenv.lock"
    for shape in ("fifo", "directory", "missing"):
        lock.unlink()
        if shape == "fifo":
            os.mkfifo(lock)
        elif shape == "directory":
            lock.mkdir()
        assert uptodate.answer(args) is None
        if lock.is_dir():
            lock.rmdir()
        elif lock.exists():
            lock.unlink()
        lock.write_text(lock_for(TEXT))
    manifest = tmp_path / "mlenv.toml"
    manifest.unlink()
    os.mkfifo(manifest)
    assert uptodate.answer(args) is None
    assert entries(tmp_path) == []


def test_no_verdict_is_written_into_a_bundle_or_an_unwritable_cache(tmp_path: Path) -> None:
    """Protects a bundle used as the cache (`verify --bundle` refuses any file it does not
    list) and a read-only cache: the check still answers; nothing is written."""
    args = project(tmp_path)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "bundle.json").write_text("{}")
    assert uptodate.answer(args) == 0
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["bundle.json"]
    (tmp_path / "cache" / "bundle.json").unlink()
    with tmpfs(tmp_path / "cache", "1m") as cache:  # read-only for root too
        subprocess.run(["mount", "-o", "remount,ro", str(cache)], check=True)
        assert uptodate.answer(args) == 0
        assert list(cache.iterdir()) == []


def test_a_kept_verdict_imports_neither_toml_nor_the_lock_reader_end_to_end(
    tmp_path: Path,
) -> None:
    """Protects the point of keeping verdicts, through the real entry point: the second no-op
    loads no TOML parser, lock reader, packaging, dataclasses or OpenSSL (``hashlib``'s
    ``_hashlib``: 3 ms), and says the same thing."""
    project(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLENV_CACHE_DIR": str(tmp_path / "cache")}
    heavy = {"tomllib", "mlenv.lockfile", "packaging", "dataclasses", "mlenv.errors", "_hashlib"}
    runs = []
    for _ in range(2):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "mlenv", "lock"],
                                cwd=tmp_path, env=env, capture_output=True, text=True,
                                check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "mlenv.lock is up to date" in result.stderr
        runs.append(imported(result.stderr))
    assert heavy <= runs[0]
    assert not heavy & runs[1]


def test_without_a_home_directory_the_check_still_answers(tmp_path: Path) -> None:
    """Protects `lock --check` run as an arbitrary uid in a container (no `$HOME`, no passwd
    entry, no cache option): there is no default cache, so nothing is kept, and the answer is
    the full check's, not a traceback."""
    project(tmp_path)
    tmp_path.chmod(0o777)
    (tmp_path / "mlenv.toml").chmod(0o644)
    (tmp_path / "mlenv.lock").chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME")}
    env["PYTHONPATH"] = str(ROOT)
    code = (  # everything the check loads, before the uid can no longer read root's files
        "import os, sys, tomllib, mlenv.lockfile_read, mlenv.inputs, mlenv.placement, mlenv.errors,"
        " mlenv.manifest_read;"
        "from mlenv.uptodate import main; os.setuid(4242); sys.exit(main())"
    )
    for args, status in ((["lock", "--check"], 0), (["lock"], 0)):
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, check=False)  # fmt: skip
        assert result.returncode == status, result.stderr
        assert "mlenv.lock is up to date" in result.stderr
    assert not list(tmp_path.rglob(FRESH))


# ---------------------------------------------------------------------------------------------
# The bucket's bound: least recently used verdicts go; `cache prune` drops the void ones


def keep_verdicts(tmp_path: Path, count: int) -> list[str]:
    """``count`` verdicts, for manifests that differ by name, oldest first (by a day each)."""
    cache, keys = tmp_path / "cache", []
    for i in range(count):
        text = TEXT.replace('name = "e"', f'name = "e{i}"')
        lock = lock_for(text)
        fresh.remember_fresh(cache, text.encode(), lock.encode())
        key = fresh.verdict_key(text.encode(), lock.encode())
        day = 86_400 * (count - i)
        os.utime(cache / FRESH / key, (1_700_000_000 - day, 1_700_000_000 - day))
        keys.append(key)
    return keys


def test_the_bucket_keeps_the_most_recently_used_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards the bound: keeping a verdict past ``MAX_VERDICTS`` drops the least recently
    used, and a hit counts as a use (the oldest verdict, just used, stays)."""
    monkeypatch.setattr(fresh, "MAX_VERDICTS", 3)
    keys = keep_verdicts(tmp_path, 3)
    oldest = TEXT.replace('name = "e"', 'name = "e0"')
    assert fresh.is_fresh(tmp_path / "cache", oldest.encode(), lock_for(oldest).encode())
    newest = TEXT.replace('name = "e"', 'name = "e9"')
    fresh.remember_fresh(tmp_path / "cache", newest.encode(), lock_for(newest).encode())
    kept = {path.name for path in entries(tmp_path)}
    assert kept == {keys[0], keys[2], fresh.verdict_key(newest.encode(), lock_for(newest).encode())}


def test_prune_drops_void_verdicts_and_old_leftovers_and_nothing_else(tmp_path: Path) -> None:
    """Guards `cache prune`'s reach in the bucket: a verdict whose listed file changed can
    never answer again and goes, with a temporary file a killed write left over a day ago;
    a live verdict, a fresh temporary file and anything not named like a verdict stay."""
    live, void = keep_verdicts(tmp_path, 2)
    bucket = tmp_path / "cache" / FRESH
    lines = (bucket / void).read_text().splitlines()
    path, size, *rest = lines[-1].split("\t")
    changed = "\t".join([path, str(int(size) + 1), *rest])  # as if that file had grown
    (bucket / void).write_text("\n".join([*lines[:-1], changed]) + "\n")
    old_tmp, new_tmp = bucket / f".{live}.1.0.tmp", bucket / f".{live}.2.0.tmp"
    for leftover in (old_tmp, new_tmp):
        leftover.write_text("partial")
    os.utime(old_tmp, (1_700_000_000, 1_700_000_000))
    strangers = [bucket / "notes.txt", bucket / ("f" * 64 + ".bak")]
    for stranger in strangers:
        stranger.write_text("mine")
    (bucket / ("e" * 64)).mkdir()  # named like a verdict, but a directory
    assert fresh.forget(tmp_path / "cache", 256, dead=True) == 2
    assert {p.name for p in entries(tmp_path)} == {
        live,
        new_tmp.name,
        "notes.txt",
        "f" * 64 + ".bak",
        "e" * 64,
    }


def test_prune_never_follows_a_bucket_that_is_a_symlink(tmp_path: Path) -> None:
    """Guards everything outside the cache: a ``fresh-v1`` that is a symlink to elsewhere is
    left alone, with what it points at."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ("a" * 64)).write_text("someone's file")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / FRESH).symlink_to(elsewhere)
    assert fresh.forget(tmp_path / "cache", 0, dead=True) == 0
    assert (elsewhere / ("a" * 64)).read_text() == "someone's file"


def test_cache_prune_reports_the_verdicts_it_dropped(tmp_path: Path) -> None:
    _, void = keep_verdicts(tmp_path, 2)
    (tmp_path / "cache" / FRESH / void).write_text(void + "\nstdlib\tos\n")  # lists no source
    result = subprocess.run(
        [sys.executable, "-m", "mlenv", "--cache", str(tmp_path / "cache"), "cache", "prune"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "1 outdated lock verdict(s) and 0 remembered lock(s) dropped"
        in result.stderr + result.stdout
    )
    assert len(entries(tmp_path)) == 1


def test_the_verdict_key_is_the_sha256_hashlib_gives() -> None:
    """Protects the keys kept verdicts are found by: the no-op's own sha256 (which skips
    OpenSSL's import) must give hashlib's digests, or every kept verdict would be a miss."""
    manifest, lock = b"[environment]\nname = 'x'\n", b"version = 1\n"
    code = fresh.code_key()
    assert code.endswith(hashlib.sha256(fresh._judge_origins(fresh.JUDGES).encode()).digest())
    outer = hashlib.sha256(b"mlenv-fresh-v1\0" + code)
    outer.update(hashlib.sha256(manifest).digest())
    outer.update(hashlib.sha256(lock).digest())
    assert fresh.verdict_key(manifest, lock) == outer.hexdigest()
