"""143rd adversary pass: the cache of http(s) conda channels' repodata (``repodata-v1``). What
others can plant in a shared cache, and what a hostile channel can send, must never become
repodata or reach past the bucket. Each test names what it protects and fails if that
enforcement is removed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import zstandard

from mlenv.cache import REPODATA
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.httpserver import Fault, IndexServer

pytestmark = pytest.mark.hostile

PACKAGES = [
    build_conda_package("tiny", "1.0", "h0_0", noarch="generic", files={"share/t.txt": b"t\n"}),
    build_conda_package("native", "2.0", "h1_0", files={"lib/n.txt": b"n\n"}),
]


def _channel(root: Path) -> Path:
    write_channel(root, PACKAGES)
    for subdir in ("linux-64", "noarch"):
        plain = root / subdir / "repodata.json"
        packed = zstandard.ZstdCompressor().compress(plain.read_bytes())
        (plain.parent / "repodata.json.zst").write_bytes(packed)
    return root


def _project(tmp_path: Path, channel: str) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["tiny", "native"]\n'
    )
    return project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


def _lock(project: Path, env: dict[str, str], *flags: str) -> tuple[int, str]:
    (project / "mlenv.lock").unlink(missing_ok=True)
    done = run_mlenv(["lock", *flags], project, env)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / REPODATA).glob("*/*") if p.is_file())


def test_a_symlinked_bucket_is_never_pruned_through(tmp_path: Path) -> None:
    """Protects files outside the cache: someone who can write the (shared) cache root makes
    ``repodata-v1`` a symlink to a directory of the user's, shaped as shards. ``cache prune``
    with a limit of 0 must not delete what lies behind it."""
    victim = tmp_path / "victim"
    (victim / "ab").mkdir(parents=True)
    (victim / "ab" / "precious").write_bytes(b"keep me")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / REPODATA).symlink_to(victim)
    env = {"MLENV_CACHE_DIR": str(cache), "MLENV_REPODATA_CACHE_MAX": "0"}
    done = run_mlenv(["cache", "prune"], tmp_path, env)
    assert "Traceback" not in done.stderr, done.stderr
    assert (victim / "ab" / "precious").read_bytes() == b"keep me"


def test_a_symlinked_shard_or_entry_is_never_read_or_pruned(tmp_path: Path) -> None:
    """Protects the repodata handed to rattler: an entry replaced by a symlink to a copy the
    planter controls is never followed (offline refuses, online fetches anew without its
    validators), and pruning removes the link, never its target."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        project, env = _project(tmp_path, server.url)
        assert _lock(project, env)[0] == 0
        entry = _entries(tmp_path / "cache")[0]
        planted = tmp_path / "planted"
        planted.write_bytes(entry.read_bytes())
        entry.unlink()
        entry.symlink_to(planted)
        code, stderr = _lock(project, env, "--offline")
        assert code != 0 and "not cached" in stderr, stderr
        paths = [f"/{s}/repodata.json.zst" for s in ("linux-64", "noarch")]
        named = {hashlib.sha256(f"{server.url}{p}".encode()).hexdigest(): p for p in paths}
        path = named[entry.name]
        mark = len(server.requests)
        assert _lock(project, env)[0] == 0
        again = [r for r in server.requests[mark:] if r.path == path]
    assert [(r.status, "if-none-match" in r.headers) for r in again] == [(200, False)]
    assert not entry.is_symlink()  # the fresh copy replaced the link, not its target
    entry.unlink()
    entry.symlink_to(planted)
    env["MLENV_REPODATA_CACHE_MAX"] = "0"
    assert run_mlenv(["cache", "prune"], project, env).returncode == 0
    assert planted.exists() and not entry.is_symlink()


def test_an_entry_filed_under_another_url_is_a_miss(tmp_path: Path) -> None:
    """Protects the key: the noarch entry copied over the linux-64 one (a digest that matches
    its own body) must not be read as linux-64's repodata offline."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        project, env = _project(tmp_path, server.url)
        assert _lock(project, env)[0] == 0
    first, second = _entries(tmp_path / "cache")
    second.write_bytes(first.read_bytes())
    first_lock = (project / "mlenv.lock").exists()
    code, stderr = _lock(project, env, "--offline")
    assert first_lock and code != 0 and "not cached" in stderr, stderr


def test_a_body_that_is_not_zstd_is_never_stored(tmp_path: Path) -> None:
    """Protects the cache from a hostile answer: a .zst that does not decompress fails the
    lock and leaves no entry that a later ``--offline`` lock could read."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        server.fault(
            "/noarch/repodata.json.zst",
            Fault(status=200, body=b"not zstd at all", headers={"ETag": '"x"'}),
        )
        project, env = _project(tmp_path, server.url)
        code, stderr = _lock(project, env)
    assert code != 0 and "not zstd" in stderr, stderr
    names = [p.read_bytes()[:4096] for p in _entries(tmp_path / "cache")]
    assert all(b"noarch" not in head for head in names), names


def test_an_unasked_for_304_is_refused(tmp_path: Path) -> None:
    """Protects against a server answering 304 to a request that sent no validator (nothing
    stored to reuse): the lock fails naming the answer, never solving from nothing."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        server.fault("/linux-64/repodata.json.zst", Fault(status=304, times=None))
        project, env = _project(tmp_path, server.url)
        code, stderr = _lock(project, env)
    assert code != 0 and "304" in stderr, stderr
    assert not (project / "mlenv.lock").exists()


def test_an_entry_of_another_user_is_refused(tmp_path: Path) -> None:
    """Protects against a writable-by-others entry (a shared cache's group member could
    rewrite it with its digest): ``open_plain(private=1)`` refuses it, so offline fails."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        project, env = _project(tmp_path, server.url)
        assert _lock(project, env)[0] == 0
    for entry in _entries(tmp_path / "cache"):
        entry.chmod(0o666)
    code, stderr = _lock(project, env, "--offline")
    assert code != 0 and "not cached" in stderr, stderr


def test_an_offline_lock_from_stored_repodata_is_never_remembered(tmp_path: Path) -> None:
    """Protects the next lock from a stale answer: a first lock ``--offline`` reads the channel
    from the stored copies without asking it; neither it nor a remembered first lock
    (``cache.memo``, for local sources only) may stand in for asking the channel online. The
    channel then publishes native 3.0 and the next first lock online must see it."""
    channel = _channel(tmp_path / "channel")
    with IndexServer(channel) as server:
        project, env = _project(tmp_path, server.url)
        assert _lock(project, env)[0] == 0
        assert _lock(project, env, "--offline")[0] == 0
        assert _lock(project, env, "--offline")[0] == 0
        PACKAGES.append(build_conda_package("native", "3.0", "h1_0", files={"lib/n": b"3\n"}))
        try:
            _channel(channel)
        finally:
            PACKAGES.pop()
        mark = len(server.requests)
        assert _lock(project, env)[0] == 0
        asked = [r.path for r in server.requests[mark:]]
    assert "/linux-64/repodata.json.zst" in asked, asked
    assert b"native-3.0-h1_0" in (project / "mlenv.lock").read_bytes()
