"""The cache of http(s) conda channels' repodata (``mlenv.conda.repodata``), driven through
``mlenv lock`` against a loopback channel: revalidated with a conditional GET, reused on 304,
read alone by ``lock --offline``, a damaged copy never used, bounded by its size limit."""

from __future__ import annotations

from pathlib import Path

import zstandard

from mlenv.cache import REPODATA
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.httpserver import IndexServer, Request

PACKAGES = [
    build_conda_package("tiny", "1.0", "h0_0", noarch="generic", files={"share/t.txt": b"t\n"}),
    build_conda_package("native", "2.0", "h1_0", files={"lib/n.txt": b"n\n"}),
]
SUBDIRS = ("linux-64", "noarch")


def _channel(root: Path, *, packed: bool = True) -> Path:
    """A channel with each subdir's repodata.json and, when ``packed``, its .zst."""
    write_channel(root, PACKAGES)
    for subdir in SUBDIRS:
        plain = root / subdir / "repodata.json"
        if packed:
            (plain.parent / "repodata.json.zst").write_bytes(
                zstandard.ZstdCompressor().compress(plain.read_bytes())
            )
    return root


class Project:
    """A manifest naming ``channel``, locked with its own cache."""

    def __init__(self, root: Path, channel: str, env: dict[str, str] | None = None) -> None:
        self.root = root / "project"
        self.root.mkdir(parents=True, exist_ok=True)
        self.cache = root / "cache"
        self.env = {"MLENV_CACHE_DIR": str(self.cache), **(env or {})}
        (self.root / "mlenv.toml").write_text(
            '[environment]\nname = "x"\npython = "3.11"\n'
            f'[conda]\nchannels = ["{channel}"]\ndependencies = ["tiny", "native"]\n'
        )

    def lock(self, *flags: str, ok: bool = True) -> tuple[bytes, str]:
        """A fresh lock (the previous one removed, so the solve runs): its bytes and stderr."""
        (self.root / "mlenv.lock").unlink(missing_ok=True)
        done = run_mlenv(["lock", *flags], self.root, self.env)
        assert (done.returncode == 0) == ok and "Traceback" not in done.stderr, done.stderr
        lock = self.root / "mlenv.lock"
        return (lock.read_bytes() if ok else b""), done.stderr

    def entries(self) -> list[Path]:
        return sorted(p for p in (self.cache / REPODATA).glob("*/*") if p.is_file())


def _repodata(requests: list[Request]) -> list[Request]:
    return [r for r in requests if "/repodata.json" in r.path]


def test_second_lock_revalidates_and_reuses_the_stored_copy(tmp_path: Path) -> None:
    """The second lock asks with If-None-Match, gets 304 for each subdir's .zst, downloads
    nothing, and writes the same lock bytes as the uncached one."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        project = Project(tmp_path, server.url)
        first, _ = project.lock()
        cold = _repodata(server.requests)
        assert sorted(r.path for r in cold) == [f"/{s}/repodata.json.zst" for s in SUBDIRS]
        assert all(r.status == 200 and "if-none-match" not in r.headers for r in cold)
        assert len(project.entries()) == 2
        mark = len(server.requests)
        second, _ = project.lock()
        warm = _repodata(server.requests[mark:])
    assert sorted(r.path for r in warm) == [f"/{s}/repodata.json.zst" for s in SUBDIRS]
    assert all(r.status == 304 and r.headers.get("if-none-match") for r in warm), warm
    assert all(r.body_bytes == 0 for r in warm)
    assert second == first


def test_a_changed_channel_is_downloaded_again(tmp_path: Path) -> None:
    """A 200 to the conditional request replaces the stored copy: the new package is locked."""
    channel = _channel(tmp_path / "channel")
    with IndexServer(channel) as server:
        project = Project(tmp_path, server.url)
        first, _ = project.lock()
        PACKAGES.append(build_conda_package("native", "3.0", "h1_0", files={"lib/n": b"3\n"}))
        try:
            _channel(channel)
        finally:
            PACKAGES.pop()
        mark = len(server.requests)
        second, _ = project.lock()
        linux = [r for r in server.requests[mark:] if r.path == "/linux-64/repodata.json.zst"]
    assert [r.status for r in linux] == [200] and linux[0].headers.get("if-none-match")
    assert b"native-3.0-h1_0" not in first and b"native-3.0-h1_0" in second, second
    offline, _ = project.lock("--offline")
    assert offline == second


def test_offline_lock_reads_the_stored_copies_and_never_the_network(tmp_path: Path) -> None:
    """After one online lock, ``lock --offline`` locks the same bytes without a request; with
    the cache emptied it fails naming the channel and saying to lock online once."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        project = Project(tmp_path, server.url)
        online, _ = project.lock()
        mark = len(server.requests)
        offline, _ = project.lock("--offline")
        assert server.requests[mark:] == []
        for entry in project.entries():
            entry.unlink()
        _, stderr = project.lock("--offline", ok=False)
        assert server.requests[mark:] == []
    assert offline == online
    assert server.url in stderr and "run `mlenv lock` online once" in stderr, stderr


def test_a_corrupt_stored_copy_is_never_used(tmp_path: Path) -> None:
    """A stored copy with one byte changed (same length) or cut short is a miss: offline it is
    refused, online it is fetched again whole after the 304, and the lock is unchanged."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        project = Project(tmp_path, server.url)
        first, _ = project.lock()
        entries = project.entries()
        flipped = bytearray(entries[0].read_bytes())
        flipped[-5] ^= 0x01
        entries[0].write_bytes(bytes(flipped))
        entries[1].write_bytes(entries[1].read_bytes()[:-7])
        _, stderr = project.lock("--offline", ok=False)
        assert "damaged" in stderr, stderr
        mark = len(server.requests)
        second, _ = project.lock()
        again = _repodata(server.requests[mark:])
        statuses = sorted((r.path, r.status, "if-none-match" in r.headers) for r in again)
        third, _ = project.lock("--offline")
    expected = [
        (f"/{s}/repodata.json.zst", code, code == 304) for s in SUBDIRS for code in (200, 304)
    ]
    assert statuses == sorted(expected), statuses
    assert second == first == third


def test_a_server_without_validators_is_fetched_each_time_but_kept_for_offline(
    tmp_path: Path,
) -> None:
    """No ETag or Last-Modified: every lock downloads the repodata unconditionally (nothing to
    revalidate with), and ``--offline`` still locks from the kept copy; a channel serving no
    .zst is read from its repodata.json."""
    _channel(tmp_path / "channel", packed=False)
    with IndexServer(tmp_path / "channel", validators=False) as server:
        project = Project(tmp_path, server.url)
        first, _ = project.lock()
        mark = len(server.requests)
        second, _ = project.lock()
        warm = _repodata(server.requests[mark:])
        offline, _ = project.lock("--offline")
    plain = [r for r in warm if r.path.endswith("/repodata.json")]
    assert sorted(r.path for r in plain) == [f"/{s}/repodata.json" for s in SUBDIRS]
    assert all(r.status == 200 and not r.headers.get("if-none-match") for r in plain)
    assert first == second == offline


def test_the_cache_respects_its_size_limit_and_cache_prune(tmp_path: Path) -> None:
    """With ``MLENV_REPODATA_CACHE_MAX`` below two entries, a lock keeps at most one (the
    oldest goes); ``mlenv cache prune`` with a limit of 0 empties the bucket."""
    _channel(tmp_path / "channel")
    with IndexServer(tmp_path / "channel") as server:
        project = Project(tmp_path, server.url)
        project.lock()
        sizes = [entry.stat().st_size for entry in project.entries()]
        project.env["MLENV_REPODATA_CACHE_MAX"] = str(max(sizes))
        project.lock()
        kept = project.entries()
        assert len(kept) == 1 and sum(e.stat().st_size for e in kept) <= max(sizes)
    project.env["MLENV_REPODATA_CACHE_MAX"] = "0"
    done = run_mlenv(["cache", "prune"], project.root, project.env)
    assert done.returncode == 0, done.stderr
    assert project.entries() == []
    assert "repodata" in done.stderr


def test_no_entry_holds_credentials_or_a_path_token(tmp_path: Path) -> None:
    """Credentials in the channel URL are sent, never stored, and an anaconda.org-style token
    in its path is never written down either (the head holds the URL's sha256)."""
    write_channel(tmp_path / "channel" / "t" / "tok-s3cr3t" / "main", PACKAGES)
    with IndexServer(tmp_path / "channel", auth=("user", "secret")) as server:
        url = server.url.replace("://", "://user:secret@") + "/t/tok-s3cr3t/main"
        project = Project(tmp_path, url)
        project.lock()
        offline, _ = project.lock("--offline")
    entries = project.entries()
    assert len(entries) == 4  # per subdir: the .zst not there, and the repodata.json
    assert all(b"secret" not in e.read_bytes() and b"s3cr3t" not in e.read_bytes() for e in entries)
    assert b"s3cr3t" not in offline
