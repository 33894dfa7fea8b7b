"""SimpleIndex and FindLinks over file://, and the metadata cache in front of them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from mlenv.index import (
    FindLinks,
    HttpClient,
    IndexPageError,
    MetadataCache,
    MetadataError,
    NoWheelError,
    SimpleIndex,
)
from tests.support.wheels import build_wheel, write_simple_index

DEMO = canonicalize_name("demo")


@pytest.fixture
def http() -> HttpClient:
    """Offline: a file:// index must never need the network."""
    return HttpClient(offline=True)


def _wheels() -> list[tuple[str, bytes]]:
    return [
        build_wheel("demo", "1.0", requires_python=">=3.8,<4", requires_dist=["dep>=2"]),
        build_wheel("demo", "2.0", tag="cp311-cp311-manylinux_2_28_x86_64"),
        ("demo-2.1.tar.gz", b"sdist bytes"),
        build_wheel("dep", "2.0"),
    ]


@pytest.mark.parametrize("json", [False, True])
def test_file_index_lists_hashes_requires_python_and_metadata(
    tmp_path: Path, http: HttpClient, json: bool
) -> None:
    wheels = _wheels()
    url = write_simple_index(tmp_path, wheels, json=json, yanked={wheels[1][0]: ""})
    index = SimpleIndex(url, http=http)
    files = index.files(DEMO)
    assert [f.filename for f in files] == [w[0] for w in wheels[:3]]
    first, second, sdist = files
    assert first.url == (tmp_path / "files" / first.filename).as_uri()
    assert first.index_url == url
    assert first.sha256 == hashlib.sha256(wheels[0][1]).hexdigest()
    assert first.requires_python == ">=3.8,<4"
    assert first.has_metadata and first.metadata_sha256
    assert (first.yanked, second.yanked) == (None, "")
    assert first.size == (len(wheels[0][1]) if json else None)  # PEP 700 size is JSON-only
    assert index.metadata(first).requires_dist == ("dep>=2",)
    with pytest.raises(NoWheelError, match=r"no wheel of demo 2\.1"):
        index.metadata(sdist)
    with index.open(second) as stream:
        assert stream.read() == wheels[1][1]


def test_unknown_project_is_empty(tmp_path: Path, http: HttpClient) -> None:
    index = SimpleIndex(write_simple_index(tmp_path, _wheels()), http=http)
    assert index.files(canonicalize_name("nothing-here")) == ()


def test_project_names_are_normalized(tmp_path: Path, http: HttpClient) -> None:
    url = write_simple_index(tmp_path, [build_wheel("Zope.Interface", "5.0")])
    index = SimpleIndex(url, http=http)
    assert [f.name for f in index.files(canonicalize_name("zope_interface"))] == ["zope-interface"]


def test_missing_hashes_and_metadata_files_still_give_metadata_from_the_wheel(
    tmp_path: Path, http: HttpClient
) -> None:
    url = write_simple_index(tmp_path, _wheels(), metadata_files=False, omit_hashes=True)
    index = SimpleIndex(url, http=http)
    first = index.files(DEMO)[0]
    assert (first.sha256, first.has_metadata) == (None, False)
    assert index.metadata(first).requires_python == ">=3.8,<4"


def test_tampered_metadata_file_is_refused(tmp_path: Path, http: HttpClient) -> None:
    wheels = _wheels()
    url = write_simple_index(tmp_path, wheels)
    (tmp_path / "files" / f"{wheels[0][0]}.metadata").write_bytes(
        b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: evil\n"
    )
    index = SimpleIndex(url, http=http)
    with pytest.raises(MetadataError, match="does not match the sha256"):
        index.metadata(index.files(DEMO)[0])


def test_metadata_cache_makes_rereads_free(tmp_path: Path, http: HttpClient) -> None:
    """Protects the warm re-lock: verified PEP 658 metadata is served from the cache even when
    neither the .metadata file nor the wheel can be read any more."""
    wheels = _wheels()
    url = write_simple_index(tmp_path / "index", wheels)
    cache = MetadataCache(tmp_path / "cache")
    first = SimpleIndex(url, http=http, cache=cache)
    file = first.files(DEMO)[0]
    expected = first.metadata(file)
    assert file.metadata_sha256 is not None
    assert cache.get(f"sha256:{file.metadata_sha256}") == expected
    assert (tmp_path / "cache" / "metadata-v2").is_dir()
    for name in (file.filename, f"{file.filename}.metadata"):  # only the cache is left
        (tmp_path / "index" / "files" / name).unlink()
    assert SimpleIndex(url, http=http, cache=cache).metadata(file) == expected


def test_metadata_cache_never_stores_garbage(tmp_path: Path, http: HttpClient) -> None:
    """Protects the cache from keeping metadata that contradicts its file's name."""
    wheels = [("demo-1.0-py3-none-any.whl", build_wheel("other", "1.0")[1])]
    url = write_simple_index(tmp_path / "index", wheels, metadata_files=False)
    cache = MetadataCache(tmp_path / "cache")
    index = SimpleIndex(url, http=http, cache=cache)
    file = index.files(DEMO)[0]
    with pytest.raises(MetadataError):
        index.metadata(file)
    assert not (tmp_path / "cache" / "metadata-v2").exists()


def test_prefetch_warms_every_wheel_and_skips_sdists(tmp_path: Path, http: HttpClient) -> None:
    """Protects prefetch: every wheel's metadata lands in the cache, sdists are skipped."""
    url = write_simple_index(tmp_path / "index", _wheels())
    cache = MetadataCache(tmp_path / "cache")
    index = SimpleIndex(url, http=http, cache=cache)
    files = index.files(DEMO)
    index.prefetch(files)
    assert all(cache.get(f"sha256:{f.metadata_sha256}") for f in files if f.is_wheel)


def test_find_links_directory_and_path_location(tmp_path: Path, http: HttpClient) -> None:
    for filename, data in _wheels():
        (tmp_path / filename).write_bytes(data)
    (tmp_path / "README.txt").write_text("not a distribution")
    (tmp_path / f"{_wheels()[1][0]}.metadata").write_bytes(
        b"Metadata-Version: 2.1\nName: demo\nVersion: 2.0\nRequires-Dist: extra-dep\n"
    )
    links = FindLinks(str(tmp_path), http=http)
    assert links.url == tmp_path.as_uri()
    files = links.files(DEMO)
    assert [f.filename for f in files] == [w[0] for w in _wheels()[:3]]
    assert files[0].size == len(_wheels()[0][1]) and files[0].sha256 is None
    assert [f.has_metadata for f in files] == [False, True, False]
    assert links.metadata(files[1]).requires_dist == ("extra-dep",)  # the sibling .metadata
    assert [f.name for f in links.files(canonicalize_name("dep"))] == ["dep"]


def test_find_links_html_page(tmp_path: Path, http: HttpClient) -> None:
    wheels = _wheels()
    for filename, data in wheels:
        (tmp_path / filename).write_bytes(data)
    digest = hashlib.sha256(wheels[3][1]).hexdigest()
    page = tmp_path / "links.html"
    page.write_text(f'<html><a href="{wheels[3][0]}#sha256={digest}">dep</a></html>')
    links = FindLinks(page.as_uri(), http=http)
    (dep,) = links.files(canonicalize_name("dep"))
    assert dep.sha256 == digest and dep.url == (tmp_path / wheels[3][0]).as_uri()
    assert links.files(DEMO) == ()


def test_unreadable_project_page_names_its_path(tmp_path: Path, http: HttpClient) -> None:
    url = write_simple_index(tmp_path, _wheels())
    page = tmp_path / "simple" / "demo" / "index.html"
    page.write_bytes(b"\xff\xfe<a>")
    with pytest.raises(IndexPageError) as info:
        SimpleIndex(url, http=http).files(DEMO)
    assert info.value.where == page.as_uri()
