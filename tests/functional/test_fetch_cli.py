"""`mlenv fetch`, the cache and bundles end to end over a loopback HTTP index."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlenv.cache.artifacts import ArtifactCache
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.fetch_project import WHEELS, make_project
from tests.support.httpserver import IndexServer
from tests.support.trickle import TrickleServer
from tests.support.wheels import write_simple_index


def cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "artifacts-v1").rglob("*") if p.is_file())


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www") as server:
        root = make_project(tmp_path, f"{server.url}/simple")
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        assert run_mlenv(["lock"], root, env).returncode == 0
        yield root, env, server, tmp_path


def test_fetch_fills_the_cache_once(served) -> None:  # type: ignore[no-untyped-def]
    root, env, server, tmp_path = served
    server.clear_log()
    first = run_mlenv(["fetch"], root, env)
    assert first.returncode == 0, first.stderr
    assert "2 artifact(s)" in first.stderr and "2 fetched" in first.stderr
    lock = load_lock((root / "mlenv.lock").read_text())
    cache = ArtifactCache(tmp_path / "cache")
    for artifact in artifacts_of(lock):
        cache.copy_verified(artifact, None)
    server.clear_log()
    second = run_mlenv(["fetch"], root, env)
    assert second.returncode == 0
    assert "0 fetched (0 bytes), 2 already there" in second.stderr
    assert [r for r in server.requests if r.path.endswith(".whl")] == []


@pytest.mark.parametrize("damage", ["tamper", "truncate"])
def test_damaged_artifact_on_the_index_is_refused(served, damage: str) -> None:  # type: ignore[no-untyped-def]
    root, env, _, tmp_path = served
    wheel = next((tmp_path / "www" / "files").glob("lib-*.whl"))
    data = wheel.read_bytes()
    middle = len(data) // 2
    tampered = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
    wheel.write_bytes(tampered if damage == "tamper" else data[:middle])
    result = run_mlenv(["fetch"], root, env)
    assert result.returncode == 1
    lock = load_lock((root / "mlenv.lock").read_text())
    lib = lock.platform("linux-64").by_name()["lib"]
    assert f"error: lib 2.0: the download from {lib.url} has " in result.stderr
    if damage == "tamper":
        assert f"the lock says {lib.sha256}" in result.stderr
    else:
        assert f"the lock says {lib.size}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(name.startswith(lib.sha256) for name in cache_files(tmp_path / "cache"))


def test_offline_fetch_from_an_empty_cache_lists_what_is_missing(served) -> None:  # type: ignore[no-untyped-def]
    root, env, server, _ = served
    server.clear_log()
    result = run_mlenv(["fetch", "--offline"], root, env)
    assert result.returncode == 1
    assert "error: 2 artifact(s) of the lock are not in the cache" in result.stderr
    assert "  app 1.0: missing" in result.stderr and "  lib 2.0: missing" in result.stderr
    assert "hint: run `mlenv fetch` on a connected machine" in result.stderr
    assert server.requests == []


def test_bundle_round_trip_and_corruption(served) -> None:  # type: ignore[no-untyped-def]
    root, env, _, tmp_path = served
    made = run_mlenv(["fetch", "--bundle", str(tmp_path / "bundle")], root, env)
    assert made.returncode == 0, made.stderr
    moved = tmp_path / "carried" / "bundle"
    moved.parent.mkdir()
    shutil.copytree(tmp_path / "bundle", moved)  # a copy: no hardlinks survive the carry
    ok = run_mlenv(["verify", "--bundle", str(moved)], tmp_path, env)
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith(f"OK: bundle {moved} is complete (2 artifact(s)")
    # The bundle is a cache: an offline fetch inside it needs nothing else.
    offline = run_mlenv(["--cache", str(moved), "fetch", "--offline"], moved, {})
    assert offline.returncode == 0, offline.stderr
    assert "0 fetched (0 bytes), 2 already there" in offline.stderr
    files = sorted(p for p in (moved / "artifacts-v1").rglob("*") if p.is_file())
    files[0].write_bytes(b"\0" + files[0].read_bytes()[1:])
    files[1].unlink()
    (moved / "extra.txt").write_text("x")
    bad = run_mlenv(["verify", "--bundle", str(moved)], tmp_path, env)
    assert bad.returncode == 1
    kinds = sorted(line.split()[0] for line in bad.stdout.splitlines()[:-1])
    assert kinds == ["CORRUPTED", "EXTRA", "MISSING"]
    assert bad.stdout.splitlines()[-1] == f"FAIL: 3 problem(s) in bundle {moved}"


def test_bundle_index_is_byte_stable(served) -> None:  # type: ignore[no-untyped-def]
    root, env, _, tmp_path = served
    for name in ("b1", "b2"):
        assert run_mlenv(["fetch", "--bundle", str(tmp_path / name)], root, env).returncode == 0
    assert (tmp_path / "b1" / "bundle.json").read_bytes() == (
        tmp_path / "b2" / "bundle.json"
    ).read_bytes()


def test_killed_fetch_leaves_nothing_taken_as_done(tmp_path: Path) -> None:
    write_simple_index(tmp_path / "www", WHEELS)
    with TrickleServer(tmp_path / "www", chunk=16 * 1024, delay=0.05) as server:
        root = make_project(tmp_path, f"{server.url}/simple")
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        assert run_mlenv(["lock"], root, env).returncode == 0
        locked = server.bytes_sent  # what the lock read is not the fetch's download
        process = subprocess.Popen(
            [sys.executable, "-m", "mlenv", "fetch", "-j", "1"],
            cwd=root,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Killed once 100 kB of the download is out: counted, not timed. The deadline is
        # only a stall guard (the whole test takes about 6 s here, 10x under it); at it the
        # test fails instead of killing a fetch that had not begun, or had ended, and
        # passing with nothing half-written.
        deadline = time.monotonic() + 60
        while server.bytes_sent - locked < 100_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.bytes_sent - locked >= 100_000, (locked, server.bytes_sent)
        assert process.poll() is None, "the fetch ended before it was killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        lock = load_lock((root / "mlenv.lock").read_text())
        cache = ArtifactCache(tmp_path / "cache")
        lib = next(a for a in artifacts_of(lock) if a.name.startswith("lib"))
        assert not cache.has(lib)  # the half-written file is not taken as the artifact
        server.delay = 0
        again = run_mlenv(["fetch"], root, env)
        assert again.returncode == 0, again.stderr
        for artifact in artifacts_of(lock):
            cache.copy_verified(artifact, None)
        assert not [n for n in cache_files(tmp_path / "cache") if n.startswith(".partial-")]


def test_two_concurrent_fetches_share_one_cache(tmp_path: Path) -> None:
    write_simple_index(tmp_path / "www", WHEELS)
    with TrickleServer(tmp_path / "www", chunk=64 * 1024, delay=0.01) as server:
        root = make_project(tmp_path, f"{server.url}/simple")
        env = {**os.environ, "MLENV_CACHE_DIR": str(tmp_path / "cache")}
        assert run_mlenv(["lock"], root, env).returncode == 0
        server.gets.clear()
        processes = [
            subprocess.Popen([sys.executable, "-m", "mlenv", "fetch"], cwd=root, env=env,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]  # fmt: skip
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in processes]
        assert [code for code, _ in results] == [0, 0], results
        wheel_gets = [g for g in server.gets if g.endswith(".whl")]
        assert sorted(wheel_gets) == sorted(set(wheel_gets))  # each file downloaded once
        lock = load_lock((root / "mlenv.lock").read_text())
        cache = ArtifactCache(tmp_path / "cache")
        for artifact in artifacts_of(lock):
            cache.copy_verified(artifact, None)


def test_a_home_that_cannot_be_made_is_named_as_such(tmp_path: Path) -> None:
    """No space was ever the problem: the default cache lies under a home that cannot be
    made (under /proc here, as a container's uid without a home may have)."""
    project = make_project(tmp_path, write_simple_index(tmp_path / "www", WHEELS))
    locked = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "lock-cache")})
    assert locked.returncode == 0, locked.stderr
    home = Path("/proc/mlenv-no-such-home")  # nothing can be made there, even by root
    env = {"HOME": str(home), "MLENV_CACHE_DIR": "", "XDG_CACHE_HOME": ""}
    result = run_mlenv(["fetch"], project, env)
    assert result.returncode == 1, result.stderr
    assert f"{home}/.cache/mlenv: cannot write to the cache" in result.stderr
    assert "cannot be made there" in result.stderr and "free space" not in result.stderr
    assert "Traceback" not in result.stderr
