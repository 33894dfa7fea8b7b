"""The artifact cache, fetch and bundles over in-memory sources: nothing unverified gets in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlenv.cache import BUCKETS, cache_dir
from mlenv.cache.artifacts import ArtifactCache, CacheError, IntegrityError
from mlenv.cache.bundle import check_bundle, write_bundle
from mlenv.cache.download import fetch
from mlenv.cache.lock_artifacts import MissingArtifactsError, check_cache
from mlenv.index.http import HttpError
from mlenv.report import MemoryReporter
from tests.support.artifacts import ARTIFACTS, PAYLOADS, FakeOpener


def no_sleep(_: float) -> None:
    pass


def test_cache_dir_is_movable() -> None:
    assert cache_dir({"MLENV_CACHE_DIR": "/srv/c"}) == Path("/srv/c")
    assert cache_dir({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/mlenv")


def test_every_cache_bucket_is_versioned_and_listed_once() -> None:
    """Guards the one list of buckets: a new layout gets a new versioned name beside the old."""
    assert len(set(BUCKETS)) == len(BUCKETS)
    assert all(name.rsplit("-v", 1)[1].isdigit() for name in BUCKETS)


def test_add_stores_verified_bytes_content_addressed(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    a = ARTIFACTS[0]
    path = cache.add(a, [PAYLOADS[a.url][:10], PAYLOADS[a.url][10:]])
    assert path == tmp_path / "artifacts-v1" / "sha256" / a.sha256[:2] / a.sha256
    assert path.read_bytes() == PAYLOADS[a.url]
    assert cache.has(a)
    assert cache.copy_verified(a, None).sha256 == a.sha256


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * 1000, "has sha256 "),  # right size, wrong bytes
        (b"x" * 10, "has 10 bytes, the lock says 1000"),  # truncated download
        (b"x" * 2000, "has more than the 1000 bytes it should"),  # too long
    ],
)
def test_add_refuses_mismatches_and_leaves_nothing(
    tmp_path: Path, data: bytes, message: str
) -> None:
    cache = ArtifactCache(tmp_path)
    a = ARTIFACTS[0]
    with pytest.raises(IntegrityError) as info:
        cache.add(a, [data])
    assert message in info.value.message
    assert info.value.where == "pkg0.whl"
    assert info.value.message.startswith("the download from https://files.example/pkg0.whl has")
    assert a.sha256 in info.value.message or "bytes" in message
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_copy_verified_rechecks_size_and_hash(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    a = ARTIFACTS[1]
    path = cache.add(a, [PAYLOADS[a.url]])
    path.write_bytes(b"\0" * a.size)  # same size, other bytes: only a full check sees it
    assert cache.has(a)
    with pytest.raises(IntegrityError, match="cached file has sha256"):
        cache.copy_verified(a, None)
    path.write_bytes(b"short")
    with pytest.raises(IntegrityError, match="cached file has 5 bytes, the lock says 1001"):
        cache.copy_verified(a, None)
    path.unlink()
    with pytest.raises(CacheError, match=r"pkg1\.whl is not in the cache"):
        cache.copy_verified(a, None)


def test_fetch_downloads_only_what_is_missing(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    cache.add(ARTIFACTS[0], [PAYLOADS[ARTIFACTS[0].url]])
    opener = FakeOpener()
    result = fetch(ARTIFACTS, cache, opener, reporter=MemoryReporter(), jobs=3)
    assert (result.fetched, result.already) == (4, 1)
    assert result.bytes_fetched == sum(a.size for a in ARTIFACTS[1:])
    assert sorted(opener.opened) == sorted(a.url for a in ARTIFACTS[1:])
    again = fetch(ARTIFACTS, cache, FakeOpener(), reporter=MemoryReporter())
    assert (again.fetched, again.already) == (0, 5)


def test_transient_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    sleeps: list[float] = []
    opener = FakeOpener(failures=2)
    fetch(ARTIFACTS[:1], ArtifactCache(tmp_path), opener, reporter=MemoryReporter(),
          sleep=sleeps.append)  # fmt: skip
    assert opener.opened == [ARTIFACTS[0].url] * 3
    assert sleeps == [0.5, 1.0]


def test_retries_are_bounded(tmp_path: Path) -> None:
    opener = FakeOpener(failures=10)
    with pytest.raises(HttpError):
        fetch(ARTIFACTS[:1], ArtifactCache(tmp_path), opener, reporter=MemoryReporter(),
              attempts=3, sleep=no_sleep)  # fmt: skip
    assert len(opener.opened) == 3


def test_tampered_artifact_is_not_retried_and_not_stored(tmp_path: Path) -> None:
    payloads = dict(PAYLOADS)
    payloads[ARTIFACTS[2].url] = b"evil" * 250 + b"\0" * (ARTIFACTS[2].size - 1000)
    opener = FakeOpener(payloads)
    with pytest.raises(IntegrityError) as info:
        fetch(ARTIFACTS[2:3], ArtifactCache(tmp_path), opener, reporter=MemoryReporter(),
              sleep=no_sleep)  # fmt: skip
    assert opener.opened == [ARTIFACTS[2].url]
    assert ARTIFACTS[2].sha256 in info.value.message
    assert not ArtifactCache(tmp_path).has(ARTIFACTS[2])


def test_offline_lists_every_missing_artifact(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    cache.add(ARTIFACTS[0], [PAYLOADS[ARTIFACTS[0].url]])
    opener = FakeOpener()
    with pytest.raises(MissingArtifactsError) as info:
        fetch(ARTIFACTS, cache, opener, reporter=MemoryReporter(), offline=True)
    assert opener.opened == []
    assert [p.where for p in info.value.problems] == [a.name for a in ARTIFACTS[1:]]
    assert info.value.problems[0].hint is not None
    assert "run `mlenv fetch` on a connected machine" in info.value.problems[0].hint


def test_check_cache_reports_every_bad_artifact(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path)
    fetch(ARTIFACTS, cache, FakeOpener(), reporter=MemoryReporter())
    cache.path(ARTIFACTS[1].sha256).write_bytes(b"\7" * ARTIFACTS[1].size)
    cache.path(ARTIFACTS[3].sha256).unlink()
    problems = check_cache(cache, ARTIFACTS)
    assert [p.where for p in problems] == [str(cache.path(ARTIFACTS[n].sha256)) for n in (1, 3)]
    assert [p.message.split()[0].rstrip(":") for p in problems] == ["pkg1.whl", "pkg3.whl"]


def make_bundle(tmp_path: Path, name: str = "bundle") -> Path:
    cache = ArtifactCache(tmp_path / "cache")
    fetch(ARTIFACTS, cache, FakeOpener(), reporter=MemoryReporter())
    (tmp_path / "mlenv.toml").write_text("# manifest\n")
    (tmp_path / "mlenv.lock").write_text("# lock\n")
    return write_bundle(
        tmp_path / name, tmp_path / "mlenv.toml", tmp_path / "mlenv.lock", ARTIFACTS, cache
    )


def test_bundle_is_complete_and_its_index_byte_stable(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "a")
    other = make_bundle(tmp_path / "b")
    assert check_bundle(bundle) == []
    assert (bundle / "bundle.json").read_bytes() == (other / "bundle.json").read_bytes()
    index = json.loads((bundle / "bundle.json").read_bytes())
    assert [f["path"] for f in index["files"]][-2:] == ["mlenv.lock", "mlenv.toml"]
    assert ArtifactCache(bundle).copy_verified(ARTIFACTS[4], None).size  # usable as a cache


def test_bundle_problems_are_all_reported(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path)
    cache = ArtifactCache(bundle)
    cache.path(ARTIFACTS[0].sha256).unlink()
    broken = cache.path(ARTIFACTS[1].sha256)
    broken.unlink()  # a hardlink into the cache: replace, don't write through
    broken.write_bytes(b"\7" * ARTIFACTS[1].size)
    (bundle / "stray.whl").write_bytes(b"?")
    problems = check_bundle(bundle)
    assert sorted((p.kind, p.path) for p in problems) == sorted(
        [
            ("missing", f"artifacts-v1/sha256/{ARTIFACTS[0].sha256[:2]}/{ARTIFACTS[0].sha256}"),
            ("corrupted", f"artifacts-v1/sha256/{ARTIFACTS[1].sha256[:2]}/{ARTIFACTS[1].sha256}"),
            ("extra", "stray.whl"),
        ]
    )


def test_rewriting_a_bundle_swaps_it_whole(tmp_path: Path) -> None:
    """A damaged earlier bundle is replaced whole (a user's file inside one is refused
    instead: attack 63)."""
    bundle = make_bundle(tmp_path)
    damaged = ArtifactCache(bundle).path(ARTIFACTS[0].sha256)
    damaged.unlink()  # a hardlink into the cache: replace, don't write through
    damaged.write_bytes(b"not the artifact")
    assert check_bundle(bundle) != []
    make_bundle(tmp_path)
    assert check_bundle(bundle) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []
