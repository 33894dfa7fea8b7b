"""The index client against a real loopback HTTP server, and this machine's local indexes."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index import (
    FindLinks,
    HttpCache,
    HttpClient,
    HttpError,
    IndexGroup,
    IndexPageError,
    MetadataCache,
    MetadataError,
    NoWheelError,
    OfflineError,
    SimpleIndex,
)
from tests.support.httpserver import JSON_TYPE, Fault, IndexServer
from tests.support.wheels import build_wheel, write_simple_index

DEMO = canonicalize_name("demo")
SECRET = "s3cret-token"


@functools.cache
def _big_wheel() -> tuple[str, bytes]:
    """Two megabytes of incompressible payload around a small METADATA."""
    payload = random.Random(0).randbytes(2_000_000)
    return build_wheel("demo", "1.0", requires_dist=["dep>=2"], files={"demo/blob.bin": payload})


def _wheels() -> list[tuple[str, bytes]]:
    return [
        _big_wheel(),
        build_wheel("demo", "2.0", requires_python=">=3.10"),
        ("demo-2.1.tar.gz", b"sdist"),
        build_wheel("dep", "2.0"),
    ]


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with HttpClient(retries=2, backoff=0.01, netrc_path=Path("/nonexistent")) as client:
        yield client


def test_html_index_over_http(tmp_path: Path, http: HttpClient) -> None:
    write_simple_index(tmp_path, _wheels())
    with IndexServer(tmp_path, json_api=False) as server:
        index = SimpleIndex(f"{server.url}/simple/", http=http)
        files = index.files(DEMO)
        assert [f.filename for f in files] == [w[0] for w in _wheels()[:3]]
        assert files[0].url == f"{server.url}/files/{files[0].filename}"
        assert files[0].index_url == f"{server.url}/simple"
        assert files[1].requires_python == ">=3.10"
        assert files[0].sha256 == hashlib.sha256(_wheels()[0][1]).hexdigest()
        (page,) = server.requests_for("/simple/demo/")
        assert page.headers["accept"].startswith("application/vnd.pypi.simple.v1+json")
        assert index.files(canonicalize_name("missing")) == ()


def test_json_index_over_http_is_chosen_by_content_type(tmp_path: Path, http: HttpClient) -> None:
    write_simple_index(tmp_path, _wheels(), json=True)
    with IndexServer(tmp_path) as server:
        files = SimpleIndex(f"{server.url}/simple", http=http).files(DEMO)
        assert files[0].size == len(_wheels()[0][1])  # only the JSON API carries size
        assert files[0].url == f"{server.url}/files/{files[0].filename}"
        assert files[0].has_metadata and files[0].metadata_sha256


def test_metadata_from_a_wheel_reads_only_a_few_ranges(tmp_path: Path, http: HttpClient) -> None:
    wheels = _wheels()
    write_simple_index(tmp_path, wheels, metadata_files=False)
    with IndexServer(tmp_path) as server:
        index = SimpleIndex(f"{server.url}/simple", http=http)
        big = index.files(DEMO)[0]
        assert not big.has_metadata
        assert index.metadata(big).requires_dist == ("dep>=2",)
        path = f"/files/{big.filename}"
        requests = server.requests_for(path)
        assert all(r.status == 206 and "range" in r.headers for r in requests)
        assert len(requests) <= 3
        assert server.bytes_served(path) < len(wheels[0][1]) // 10


def test_metadata_without_range_support_downloads_the_wheel_once(
    tmp_path: Path, http: HttpClient
) -> None:
    wheels = _wheels()
    write_simple_index(tmp_path, wheels, metadata_files=False)
    with IndexServer(tmp_path, ranges=False) as server:
        index = SimpleIndex(f"{server.url}/simple", http=http)
        assert index.metadata(index.files(DEMO)[0]).requires_dist == ("dep>=2",)
        path = f"/files/{wheels[0][0]}"
        (request,) = server.requests_for(path)
        assert request.status == 200
        assert server.bytes_served(path) == len(wheels[0][1])


def test_pep_658_metadata_file_is_used_instead_of_the_wheel(
    tmp_path: Path, http: HttpClient
) -> None:
    write_simple_index(tmp_path, _wheels())
    with IndexServer(tmp_path) as server:
        index = SimpleIndex(f"{server.url}/simple", http=http)
        big = index.files(DEMO)[0]
        assert index.metadata(big).requires_dist == ("dep>=2",)
        assert server.requests_for(f"/files/{big.filename}") == []
        assert len(server.requests_for(f"/files/{big.filename}.metadata")) == 1


def test_tampered_pep_658_metadata_is_refused(tmp_path: Path, http: HttpClient) -> None:
    wheels = _wheels()
    write_simple_index(tmp_path, wheels)
    (tmp_path / "files" / f"{wheels[0][0]}.metadata").write_bytes(
        b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
    )
    with IndexServer(tmp_path) as server:
        index = SimpleIndex(f"{server.url}/simple", http=http)
        with pytest.raises(MetadataError, match="does not match the sha256") as info:
            index.metadata(index.files(DEMO)[0])
        assert info.value.where == f"{server.url}/files/{wheels[0][0]}.metadata"


def test_advertised_but_missing_metadata_file_falls_back_to_the_wheel(
    tmp_path: Path, http: HttpClient
) -> None:
    wheels = _wheels()
    write_simple_index(tmp_path, wheels)
    (tmp_path / "files" / f"{wheels[1][0]}.metadata").unlink()
    with IndexServer(tmp_path) as server:
        index = SimpleIndex(f"{server.url}/simple", http=http)
        assert index.metadata(index.files(DEMO)[1]).requires_python == ">=3.10"


def test_page_cache_revalidates_with_etag_and_metadata_cache_skips_the_network(
    tmp_path: Path,
) -> None:
    write_simple_index(tmp_path / "www", _wheels(), metadata_files=False)
    cache_root = tmp_path / "cache"

    def fresh_index(server: IndexServer) -> SimpleIndex:
        client = HttpClient(cache=HttpCache(cache_root), netrc_path=Path("/nonexistent"))
        return SimpleIndex(f"{server.url}/simple", http=client, cache=MetadataCache(cache_root))

    with IndexServer(tmp_path / "www") as server:
        first = fresh_index(server)
        files = first.files(DEMO)
        first.prefetch(files)
        server.clear_log()
        second = fresh_index(server)
        assert second.files(DEMO) == files
        (page,) = server.requests
        assert page.path == "/simple/demo/"
        assert page.headers["if-none-match"] and page.status == 304
        assert [str(second.metadata(f).version) for f in files if f.is_wheel] == ["1.0", "2.0"]
        assert len(server.requests) == 1  # metadata came from the cache


def test_max_age_means_no_request_at_all(tmp_path: Path) -> None:
    write_simple_index(tmp_path / "www", _wheels())
    cache = HttpCache(tmp_path / "cache")
    with IndexServer(tmp_path / "www", cache_control="max-age=600") as server:
        for _ in range(2):
            client = HttpClient(cache=cache, netrc_path=Path("/nonexistent"))
            SimpleIndex(f"{server.url}/simple", http=client).files(DEMO)
        assert len(server.requests_for("/simple/demo/")) == 1


def test_credentials_work_and_never_leak(tmp_path: Path, http: HttpClient) -> None:
    write_simple_index(tmp_path, _wheels(), metadata_files=False)
    with IndexServer(tmp_path, auth=("alice", SECRET)) as server:
        host = server.url.removeprefix("http://")
        index = SimpleIndex(f"http://alice:{SECRET}@{host}/simple", http=http)
        assert index.url == f"{server.url}/simple"
        files = index.files(DEMO)
        assert index.metadata(files[1]).version == Version("2.0")
        for file in files:
            assert SECRET not in file.url and SECRET not in file.index_url
            assert "alice" not in file.url
        assert all(r.status in (200, 206) for r in server.requests)
        assert all("authorization" in r.headers for r in server.requests)

        wrong = SimpleIndex(
            f"http://alice:wrong-{SECRET}@{host}/simple",
            http=HttpClient(netrc_path=Path("/nonexistent")),
        )
        with pytest.raises(HttpError) as info:
            wrong.files(DEMO)
        assert info.value.status == 401
        assert SECRET not in str(info.value) and SECRET not in info.value.where
        assert info.value.where == f"{server.url}/simple/demo/"
        assert info.value.hint and "netrc" in info.value.hint


def test_netrc_supplies_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_simple_index(tmp_path / "www", _wheels())
    with IndexServer(tmp_path / "www", auth=("bob", SECRET)) as server:
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login bob password {SECRET}\n")
        netrc.chmod(0o600)
        monkeypatch.setenv("NETRC", str(netrc))
        index = SimpleIndex(f"{server.url}/simple", http=HttpClient())
        assert len(index.files(DEMO)) == 3


def test_authorization_is_not_sent_to_the_host_a_redirect_points_at(
    tmp_path: Path, http: HttpClient
) -> None:
    wheels = _wheels()
    write_simple_index(tmp_path / "index", wheels, metadata_files=False)
    (tmp_path / "cdn").mkdir()
    path = f"/files/{wheels[1][0]}"
    with (
        IndexServer(tmp_path / "index", auth=("alice", SECRET)) as index_server,
        IndexServer(tmp_path / "index", hostname="localhost") as cdn,
    ):
        index_server.redirect(path, f"{cdn.url}{path}")
        host = index_server.url.removeprefix("http://")
        index = SimpleIndex(f"http://alice:{SECRET}@{host}/simple", http=http)
        file = index.files(DEMO)[1]
        assert index.metadata(file).version == Version("2.0")
        with index.open(file) as stream:
            assert stream.read() == wheels[1][1]
        assert all("authorization" in r.headers for r in index_server.requests)
        assert cdn.requests_for(path)
        assert all("authorization" not in r.headers for r in cdn.requests)


def test_server_errors_are_retried(tmp_path: Path, http: HttpClient) -> None:
    write_simple_index(tmp_path, _wheels())
    with IndexServer(tmp_path) as server:
        server.fail("/simple/demo/", 503, times=2)
        assert len(SimpleIndex(f"{server.url}/simple", http=http).files(DEMO)) == 3
        assert [r.status for r in server.requests_for("/simple/demo/")] == [503, 503, 200]

        server.fail("/simple/dep/", 500, times=None)
        with pytest.raises(HttpError) as info:
            SimpleIndex(f"{server.url}/simple", http=http).files(canonicalize_name("dep"))
        assert info.value.status == 500
        assert info.value.where == f"{server.url}/simple/dep/"
        assert len(server.requests_for("/simple/dep/")) == 3  # 1 + 2 retries, then stop


def test_a_slow_server_times_out_with_a_clear_error(tmp_path: Path) -> None:
    write_simple_index(tmp_path, _wheels())
    with IndexServer(tmp_path) as server:
        server.slow("/simple/demo/", 1.0)
        client = HttpClient(read_timeout=0.2, retries=1, backoff=0.01)
        with pytest.raises(HttpError, match="ReadTimeout") as info:
            SimpleIndex(f"{server.url}/simple", http=client).files(DEMO)
        assert info.value.status is None


def test_offline_refuses_without_touching_the_server(tmp_path: Path) -> None:
    write_simple_index(tmp_path, _wheels())
    with IndexServer(tmp_path) as server:
        index = SimpleIndex(f"{server.url}/simple", http=HttpClient(offline=True))
        with pytest.raises(OfflineError) as info:
            index.files(DEMO)
        assert info.value.hint == "run without --offline on a connected machine"
        assert f"{server.url}/simple/demo/" in str(info.value)
        assert server.requests == []


def test_a_page_that_is_not_the_json_it_claims_is_refused(tmp_path: Path, http: HttpClient) -> None:
    write_simple_index(tmp_path, _wheels())
    with IndexServer(tmp_path) as server:
        bad = Fault(status=200, body=b"{oops", headers={"Content-Type": JSON_TYPE}, times=None)
        server.fault("/simple/demo/", bad)
        with pytest.raises(IndexPageError, match="not valid JSON") as info:
            SimpleIndex(f"{server.url}/simple", http=http).files(DEMO)
        assert info.value.where == f"{server.url}/simple/demo/"


def test_sdist_only_package_is_named(tmp_path: Path, http: HttpClient) -> None:
    write_simple_index(tmp_path, [("lonely-1.0.tar.gz", b"sdist")])
    with IndexServer(tmp_path) as server:
        index = SimpleIndex(f"{server.url}/simple", http=http)
        (sdist,) = index.files(canonicalize_name("lonely"))
        with pytest.raises(NoWheelError, match=r"no wheel of lonely 1\.0 for the target"):
            index.metadata(sdist)
        assert server.requests_for("/files/lonely-1.0.tar.gz") == []


def test_open_streams_the_whole_file(tmp_path: Path, http: HttpClient) -> None:
    wheels = _wheels()
    write_simple_index(tmp_path, wheels)
    with IndexServer(tmp_path) as server:
        index = SimpleIndex(f"{server.url}/simple", http=http)
        with index.open(index.files(DEMO)[0]) as stream:
            digest = hashlib.sha256()
            while chunk := stream.read(65536):
                digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(wheels[0][1]).hexdigest()


def test_find_links_page_over_http(tmp_path: Path, http: HttpClient) -> None:
    wheels = _wheels()
    for filename, data in wheels:
        (tmp_path / filename).write_bytes(data)
    anchors = "".join(f'<a href="{name}">{name}</a>' for name, _ in wheels)
    (tmp_path / "links.html").write_text(f"<html><body>{anchors}</body></html>")
    with IndexServer(tmp_path) as server:
        links = FindLinks(f"{server.url}/links.html", http=http)
        assert [f.filename for f in links.files(canonicalize_name("dep"))] == [wheels[3][0]]
        assert len(links.files(DEMO)) == 3
        assert len(server.requests_for("/links.html")) == 1  # one listing serves every project


def test_group_of_an_http_index_and_a_file_index(tmp_path: Path, http: HttpClient) -> None:
    local_url = write_simple_index(tmp_path / "local", [build_wheel("demo", "9.0")])
    write_simple_index(tmp_path / "www", _wheels())
    with IndexServer(tmp_path / "www") as server:
        remote = SimpleIndex(f"{server.url}/simple", http=http)
        local = SimpleIndex(local_url, http=http)
        first = IndexGroup([local, remote])
        assert [str(f.version) for f in first.files(DEMO)] == ["9.0"]
        assert server.requests == []
        best = IndexGroup([local, remote], strategy="best-match")
        assert [str(f.version) for f in best.files(DEMO)] == ["9.0", "1.0", "2.0", "2.1"]


# The real local indexes pip on this machine is configured with (see `pip config list`).


def test_real_local_index_numpy() -> None:
    index = SimpleIndex("file:///opt/pypi/simple", http=HttpClient(offline=True))
    files = index.files(canonicalize_name("numpy"))
    assert len(files) >= 3
    assert all(f.is_wheel and f.sha256 and len(f.sha256) == 64 for f in files)
    assert all(f.url.startswith("file:///opt/pypi/files/numpy-") for f in files)
    newest = max(files, key=lambda f: f.version)
    assert index.metadata(newest).version == newest.version


def test_real_local_index_torch_requires_nvidia_wheels() -> None:
    index = SimpleIndex("file:///opt/pypi-more/simple", http=HttpClient(offline=True))
    (torch,) = [
        f for f in index.files(canonicalize_name("torch")) if f.version == Version("2.14.1")
    ]
    assert torch.is_wheel and torch.sha256
    meta = index.metadata(torch)
    assert meta.name == "torch" and meta.version == Version("2.14.1")
    assert any(r.startswith("nvidia-") for r in meta.requires_dist)


def test_a_file_the_cache_holds_is_sized_without_a_head(tmp_path: Path, http: HttpClient) -> None:
    """Protects a re-lock against an index that states no sizes (pypiserver, a static HTML
    mirror): a file fetch already stored and verified is sized from that copy, not by a HEAD
    per file (36 HEADs, 3.5 s against pypiserver for the data stack); a copy others could
    have planted (group-writable) is not believed, and a file the cache lacks is still asked."""
    from mlenv.cache.artifacts import Artifact, ArtifactCache

    name, data = build_wheel("demo", "1.0")
    write_simple_index(tmp_path / "index", [(name, data)])
    cache = ArtifactCache(tmp_path / "cache")
    with IndexServer(tmp_path / "index", json_api=False) as server:
        index = SimpleIndex(f"{server.url}/simple/", http=http,
                            cache=MetadataCache(tmp_path / "cache"))  # fmt: skip
        (file,) = index.files(DEMO)

        def heads() -> list[object]:
            return [r for r in server.requests_for(f"/files/{name}") if r.method == "HEAD"]

        assert index.size(file) == len(data) and len(heads()) == 1
        digest = hashlib.sha256(data).hexdigest()
        cache.add(Artifact("demo", file.url, digest, len(data)), [data])
        assert index.size(file) == len(data) and len(heads()) == 1  # no second HEAD
        cache.path(digest).chmod(0o666)
        assert index.size(file) == len(data) and len(heads()) == 2
