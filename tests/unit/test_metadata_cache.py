"""Invariant 2: nothing derived from unverified bytes is reused under a trusted key.

The metadata cache (``mlenv.index.caches.metadata_key``) is shared between projects; these tests
poison it from one index in every shape metadata can arrive in and check another index never
sees the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from mlenv.index import HttpClient, MetadataCache, MetadataError, SimpleIndex
from mlenv.index.caches import MetadataOrigin, metadata_key
from tests.support.httpserver import IndexServer
from tests.support.poisoned_index import SHAPES, honest_and_poisoned
from tests.support.wheels import build_wheel, write_simple_index

LIB = canonicalize_name("lib")
SHA = "ab" * 32


def test_key_of_verified_bytes_is_their_own_hash_only() -> None:
    """Protects sharing of verified metadata: the key is the bytes' hash, whatever the URL."""
    one = metadata_key(MetadataOrigin("https://a.example/x.whl.metadata", SHA.upper(), "s"))
    two = metadata_key(MetadataOrigin("file:///b/x.whl.metadata", SHA, None))
    assert one == two == f"sha256:{SHA}"


def test_unverified_bytes_are_keyed_by_origin_or_not_cached() -> None:
    """Protects against a malformed "hash" turning into a shared key, and against caching bytes
    nothing identifies (no hash, no stamp)."""
    assert metadata_key(MetadataOrigin("https://a.example/x", "not-a-hash", None)) is None
    key = metadata_key(MetadataOrigin("https://a.example/x", "zz" * 32, "claimed-sha256:1"))
    assert key is not None and key.startswith("origin:") and "https://a.example/x" in key


urls = st.text(min_size=1, max_size=40)
stamps = st.one_of(st.none(), st.text(max_size=20))


@given(urls, stamps, urls, stamps)
def test_distinct_origins_never_share_a_key(
    u1: str, s1: str | None, u2: str, s2: str | None
) -> None:
    """Protects the origin keying against collisions built from crafted URLs or stamps (a URL
    holding a separator, a stamp that looks like a URL): different origins, different keys,
    and no origin key is ever a content key."""
    k1 = metadata_key(MetadataOrigin(u1, None, s1))
    k2 = metadata_key(MetadataOrigin(u2, None, s2))
    if k1 is not None and k2 is not None and (u1, s1) != (u2, s2):
        assert k1 != k2
    for key in (k1, k2):
        assert key is None or not key.startswith("sha256:")


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_content_keys_follow_the_bytes(a: bytes, b: bytes) -> None:
    """Protects content keying: two metadata files share a key exactly when their bytes match."""
    ka = metadata_key(MetadataOrigin("u", hashlib.sha256(a).hexdigest()))
    kb = metadata_key(MetadataOrigin("u", hashlib.sha256(b).hexdigest()))
    assert (ka == kb) == (a == b)


@pytest.mark.parametrize("json_page", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_one_index_cannot_poison_another_through_the_shared_cache(
    tmp_path: Path, shape: str, json_page: bool
) -> None:
    """Protects invariant 2 at the index: metadata index A supplied (read from its wheel, from an
    unhashed .metadata, or from a .metadata hashed by A itself) is never served for index B's
    file, although A claims B's wheel sha256."""
    url_a, url_b = honest_and_poisoned(tmp_path, shape, json_page=json_page)
    cache = MetadataCache(tmp_path / "cache")
    http = HttpClient(offline=True)
    a = SimpleIndex(url_a, http=http, cache=cache)
    (file_a,) = a.files(LIB)
    assert a.metadata(file_a).requires_dist == ("evil",)  # A's metadata is in the cache now
    b = SimpleIndex(url_b, http=http, cache=cache)
    (file_b,) = b.files(LIB)
    assert file_b.sha256 == file_a.sha256
    assert b.metadata(file_b).requires_dist == ()


def test_a_changed_local_file_is_read_again(tmp_path: Path) -> None:
    """Protects origin keys against a file replaced in place: the stamp (size, mtime, inode)
    changes, so the old metadata is not served for the new bytes."""
    url = write_simple_index(tmp_path / "i", [build_wheel("lib", "1.0")], metadata_files=False)
    cache = MetadataCache(tmp_path / "cache")
    http = HttpClient(offline=True)
    (file,) = SimpleIndex(url, http=http, cache=cache).files(LIB)
    assert SimpleIndex(url, http=http, cache=cache).metadata(file).requires_dist == ()
    path = tmp_path / "i" / "files" / file.filename
    replacement = tmp_path / "new.whl"
    replacement.write_bytes(build_wheel("lib", "1.0", requires_dist=["dep"])[1])
    replacement.replace(path)
    assert SimpleIndex(url, http=http, cache=cache).metadata(file).requires_dist == ("dep",)


def test_a_record_filed_under_another_key_is_a_miss(tmp_path: Path) -> None:
    """Protects against a cache entry copied or renamed to another key's path: the record
    names its key and is refused under any other."""
    url = write_simple_index(tmp_path / "i", [build_wheel("lib", "1.0", requires_dist=["x"])])
    cache = MetadataCache(tmp_path / "cache")
    index = SimpleIndex(url, http=HttpClient(offline=True), cache=cache)
    (file,) = index.files(LIB)
    index.metadata(file)
    mine = f"sha256:{file.metadata_sha256}"
    other = f"sha256:{SHA}"
    cache._path(other).parent.mkdir(parents=True, exist_ok=True)
    cache._path(other).write_bytes(cache._path(mine).read_bytes())
    assert cache.get(mine) is not None
    assert cache.get(other) is None
    record = json.loads(cache._path(mine).read_bytes())
    record["requires-dist"] = "x"  # wrong type: a miss, never an error
    cache._path(mine).write_text(json.dumps(record))
    assert cache.get(mine) is None


def test_a_cached_record_for_another_distribution_is_refused(tmp_path: Path) -> None:
    """Protects the name/version check on cache hits: a hit is checked against the file like
    freshly read bytes, so a record for another package never answers for this one."""
    wheels = [build_wheel("lib", "1.0"), build_wheel("other", "1.0")]
    url = write_simple_index(tmp_path / "i", wheels)
    cache = MetadataCache(tmp_path / "cache")
    index = SimpleIndex(url, http=HttpClient(offline=True), cache=cache)
    (lib,) = index.files(LIB)
    (other,) = index.files(canonicalize_name("other"))
    index.metadata(other)
    path = cache._path(f"sha256:{lib.metadata_sha256}")
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(cache._path(f"sha256:{other.metadata_sha256}").read_bytes())
    record["key"] = f"sha256:{lib.metadata_sha256}"
    path.write_text(json.dumps(record))
    fresh = SimpleIndex(url, http=HttpClient(offline=True), cache=cache)
    with pytest.raises(MetadataError, match=r"metadata says other 1\.0"):
        fresh.metadata(fresh.files(LIB)[0])


def test_metadata_file_with_the_wrong_hash_is_refused_and_not_cached(tmp_path: Path) -> None:
    """Protects the PEP 658 check: bytes that do not match the published hash are refused with
    the .metadata URL named, and nothing is cached under the published hash."""
    url = write_simple_index(tmp_path / "i", [build_wheel("lib", "1.0")])
    cache = MetadataCache(tmp_path / "cache")
    index = SimpleIndex(url, http=HttpClient(offline=True), cache=cache)
    (file,) = index.files(LIB)
    (tmp_path / "i" / "files" / f"{file.filename}.metadata").write_text(
        "Metadata-Version: 2.1\nName: lib\nVersion: 1.0\nRequires-Dist: evil\n\n"
    )
    with pytest.raises(MetadataError, match="does not match the sha256") as caught:
        index.metadata(file)
    assert caught.value.where.endswith(".whl.metadata")
    assert cache.get(f"sha256:{file.metadata_sha256}") is None


def test_oversized_metadata_file_is_refused(tmp_path: Path) -> None:
    """Protects the size bound on .metadata files (a local one is judged by its size first)."""
    url = write_simple_index(tmp_path / "i", [build_wheel("lib", "1.0")])
    page = tmp_path / "i" / "simple" / "lib" / "index.html"
    page.write_text(
        re.sub(r'data-core-metadata="[^"]*"', 'data-core-metadata="true"', page.read_text())
    )
    index = SimpleIndex(url, http=HttpClient(offline=True))
    (file,) = index.files(LIB)
    with (tmp_path / "i" / "files" / f"{file.filename}.metadata").open("r+b") as handle:
        handle.truncate(17 * 1024 * 1024)
    with pytest.raises(MetadataError, match="is over"):
        index.metadata(file)


def test_remote_wheel_metadata_is_keyed_by_its_url(tmp_path: Path) -> None:
    """Protects invariant 2 over HTTP: METADATA read by range requests from one server's wheel
    is not served for another server's wheel with the same claimed sha256."""
    honest_and_poisoned(tmp_path, "wheel")
    cache = MetadataCache(tmp_path / "cache")
    with IndexServer(tmp_path / "a") as a_server, IndexServer(tmp_path / "b") as b_server:
        http = HttpClient(netrc_path=tmp_path / "none")
        a = SimpleIndex(f"{a_server.url}/simple", http=http, cache=cache)
        assert a.metadata(a.files(LIB)[0]).requires_dist == ("evil",)
        b = SimpleIndex(f"{b_server.url}/simple", http=http, cache=cache)
        assert b.metadata(b.files(LIB)[0]).requires_dist == ()
        b_again = SimpleIndex(f"{b_server.url}/simple", http=http, cache=cache)
        b_server.clear_log()
        assert b_again.metadata(b_again.files(LIB)[0]).requires_dist == ()
        assert not [r for r in b_server.requests if r.path.endswith(".whl")]  # cached


def test_records_are_written_whole_and_private_and_a_planted_temp_name_is_never_followed(
    tmp_path: Path,
) -> None:
    """Protects the cache write: the record lands under its key (directory made on the
    first write), readable back, private to this user, with no temporary file left behind;
    a symlink planted at the next temporary name is refused (O_EXCL), never written through."""
    from packaging.version import Version

    from mlenv.cache import files
    from mlenv.index.model import CoreMetadata

    cache = MetadataCache(tmp_path / "cache")
    meta = CoreMetadata(LIB, Version("1.0"), ("dep>=1",), ">=3.9", ("x",))
    cache.put("origin:one", meta)
    cache.put("origin:two", meta)
    assert cache.get("origin:one") == cache.get("origin:two") == meta
    path = cache._path("origin:one")
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    target = cache._path("origin:three")
    target.parent.mkdir(parents=True, exist_ok=True)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    planted = target.with_name(f".{target.name}.{os.getpid()}.{next(files._TEMP_NAMES) + 1}.tmp")
    planted.symlink_to(victim)
    cache.put("origin:three", meta)
    assert victim.read_text() == "untouched"
    assert cache.get("origin:three") is None
