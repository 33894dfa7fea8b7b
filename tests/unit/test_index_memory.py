"""MemoryIndex, IndexGroup strategies, and the fake wheels the resolver tests are built from."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index import (
    CoreMetadata,
    Index,
    IndexGroup,
    MemoryIndex,
    MetadataError,
    NoWheelError,
)
from tests.support.wheels import build_wheel

DEMO = canonicalize_name("demo")


def _index(url: str, *wheels: tuple[str, bytes], **kwargs: Any) -> MemoryIndex:
    return MemoryIndex(url, dict(wheels), **kwargs)


def test_build_wheel_is_deterministic_and_valid() -> None:
    kwargs: dict[str, Any] = {
        "requires_dist": ["numpy>=1.26", 'rich; extra == "pretty"'],
        "requires_python": ">=3.10",
        "provides_extra": ["pretty"],
        "tag": "cp311-cp311-manylinux_2_28_x86_64",
        "files": {"demo_pkg/__init__.py": b"VALUE = 1\n"},
        "entry_points": "[console_scripts]\ndemo = demo_pkg:main\n",
    }
    filename, data = build_wheel("Demo.Pkg", "1.0", **kwargs)
    assert (filename, data) == build_wheel("Demo.Pkg", "1.0", **kwargs)
    assert filename == "demo_pkg-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names[-1] == "demo_pkg-1.0.dist-info/RECORD"
        assert "demo_pkg-1.0.dist-info/entry_points.txt" in names
        wheel = archive.read("demo_pkg-1.0.dist-info/WHEEL").decode()
        assert "Root-Is-Purelib: false" in wheel
        assert "Tag: cp311-cp311-manylinux_2_28_x86_64" in wheel
        for line in archive.read("demo_pkg-1.0.dist-info/RECORD").decode().splitlines():
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                assert digest == size == ""
                continue
            content = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}"
            assert int(size) == len(content)


def test_memory_index_lists_files_with_computed_facts() -> None:
    wheel = build_wheel("demo", "1.0", requires_python=">=3.9", requires_dist=["dep<2"])
    old = build_wheel("demo", "0.9")
    index = _index("memory://a", wheel, old, ("demo-1.1.tar.gz", b"sdist"), yanked={old[0]: "bad"})
    files = index.files(canonicalize_name("Demo"))
    assert [f.filename for f in files] == ["demo-0.9-py3-none-any.whl", wheel[0], "demo-1.1.tar.gz"]
    by_name = {f.filename: f for f in files}
    first = by_name[wheel[0]]
    assert first.sha256 == hashlib.sha256(wheel[1]).hexdigest()
    assert first.size == len(wheel[1])
    assert first.requires_python == ">=3.9"
    assert first.url == f"memory://a/files/{wheel[0]}"
    assert first.index_url == "memory://a"
    assert first.has_metadata and first.metadata_sha256 is not None
    assert by_name[old[0]].yanked == "bad"
    assert by_name[wheel[0]].yanked is None
    assert index.files(canonicalize_name("unknown")) == ()
    assert index.metadata(first) == CoreMetadata(
        name=DEMO,
        version=Version("1.0"),
        requires_dist=("dep<2",),
        requires_python=">=3.9",
        provides_extra=(),
    )
    with index.open(first) as stream:
        assert stream.read() == wheel[1]
    assert ("metadata", wheel[0]) in index.calls


def test_memory_index_without_hashes() -> None:
    index = _index("memory://a", build_wheel("demo", "1.0"), hashes=False)
    assert index.files(DEMO)[0].sha256 is None


def test_extras_in_metadata_are_normalized() -> None:
    index = _index("memory://a", build_wheel("demo", "1.0", provides_extra=["Fancy_Output"]))
    assert index.metadata(index.files(DEMO)[0]).provides_extra == ("fancy-output",)


def test_sdist_metadata_names_the_package_and_says_why() -> None:
    index = _index("memory://a", ("demo-1.1.tar.gz", b"sdist"))
    with pytest.raises(NoWheelError) as info:
        index.metadata(index.files(DEMO)[0])
    message = str(info.value)
    assert "mlenv locks binary artifacts only; no wheel of demo 1.1 for the target" in message
    assert info.value.hint and "find-links" in info.value.hint


def test_a_wheel_whose_metadata_names_another_package_is_refused() -> None:
    _, data = build_wheel("other", "1.0")
    index = _index("memory://a", ("demo-1.0-py3-none-any.whl", data))
    with pytest.raises(MetadataError, match=r"metadata says other 1\.0 but the file is demo 1\.0"):
        index.metadata(index.files(DEMO)[0])


def test_a_wheel_that_is_not_a_zip_fails_on_metadata_not_on_listing() -> None:
    index = _index("memory://a", ("demo-1.0-py3-none-any.whl", b"not a zip"))
    (file,) = index.files(DEMO)
    with pytest.raises(MetadataError, match="not a readable zip"):
        index.metadata(file)


def test_a_wheel_without_metadata_member() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo/__init__.py", b"")
    index = _index("memory://a", ("demo-1.0-py3-none-any.whl", buffer.getvalue()))
    with pytest.raises(MetadataError, match=r"no \.dist-info/METADATA"):
        index.metadata(index.files(DEMO)[0])


def test_metadata_of_the_wheels_own_dist_info_is_preferred_over_a_vendored_one() -> None:
    vendored = {
        "other-9.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: other\nVersion: 9.0\n"
    }
    index = _index("memory://a", build_wheel("demo", "1.0", files=vendored))
    assert index.metadata(index.files(DEMO)[0]).name == "demo"


def _names(index: Index) -> list[str]:
    return [f"{f.index_url}:{f.version}" for f in index.files(DEMO)]


def test_first_index_strategy_takes_all_files_from_the_first_index_that_has_the_project() -> None:
    internal = _index("memory://internal", build_wheel("demo", "1.0"))
    public = _index("memory://public", build_wheel("demo", "99.0"), build_wheel("other", "1.0"))
    group = IndexGroup([internal, public])
    assert group.strategy == "first-index"
    assert _names(group) == ["memory://internal:1.0"]
    assert ("files", "demo") not in public.calls  # not even asked
    assert [f.name for f in group.files(canonicalize_name("other"))] == ["other"]


def test_best_match_strategy_unions_all_indexes_in_order() -> None:
    first = _index("memory://one", build_wheel("demo", "1.0"))
    second = _index("memory://two", build_wheel("demo", "2.0"), build_wheel("demo", "1.0"))
    group = IndexGroup([first, second], strategy="best-match")
    assert _names(group) == ["memory://one:1.0", "memory://two:1.0", "memory://two:2.0"]


def test_group_routes_metadata_open_and_prefetch_to_the_owning_index() -> None:
    first = _index("memory://one", build_wheel("demo", "1.0"))
    second = _index("memory://two", build_wheel("demo", "2.0", requires_dist=["x"]))
    group = IndexGroup([first, second], strategy="best-match")
    one, two = group.files(DEMO)
    group.prefetch([one, two])
    assert group.metadata(two).requires_dist == ("x",)
    with group.open(one) as stream:
        assert stream.read()[:2] == b"PK"
    assert ("metadata", two.filename) in second.calls
    assert ("metadata", two.filename) not in first.calls
    assert ("open", one.filename) in first.calls
    assert group.url == "memory://one, memory://two"


def test_group_refuses_a_file_it_never_listed() -> None:
    stray = _index("memory://stray", build_wheel("demo", "1.0"))
    group = IndexGroup([_index("memory://one", build_wheel("demo", "1.0"))])
    with pytest.raises(ValueError, match="not listed by any index"):
        group.metadata(stray.files(DEMO)[0])


def test_group_rejects_an_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown index strategy"):
        IndexGroup([], strategy="newest")  # type: ignore[arg-type]


def test_groups_nest() -> None:
    inner = IndexGroup([_index("memory://one", build_wheel("demo", "1.0"))])
    outer = IndexGroup([inner, _index("memory://two", build_wheel("demo", "2.0"))], "best-match")
    files = outer.files(DEMO)
    assert [str(outer.metadata(f).version) for f in files] == ["1.0", "2.0"]


def test_find_links_stand_beside_the_index_that_owns_a_project() -> None:
    """pip and uv search find-links in addition to the indexes: a wheel the user built from an
    index's sdist is a candidate beside that index's files, not hidden behind them, while a
    later index is still never asked (first-index)."""
    internal = _index("memory://internal", ("demo-1.0.tar.gz", b"sdist"))
    public = _index("memory://public", build_wheel("demo", "99.0"))
    links = _index("memory://links", build_wheel("demo", "1.0"))
    group = IndexGroup([internal, public], find_links=[links])
    listed = group.files(DEMO)
    assert [(f.index_url, f.filename) for f in listed] == [
        ("memory://internal", "demo-1.0.tar.gz"),
        ("memory://links", "demo-1.0-py3-none-any.whl"),
    ]
    assert ("files", "demo") not in public.calls
    with group.open(listed[1]) as stream:  # read from the find-links source that listed it
        assert stream.read()[:2] == b"PK"
    assert ("open", "demo-1.0-py3-none-any.whl") in links.calls


def test_find_links_are_searched_under_best_match_and_when_no_index_knows_the_project() -> None:
    first = _index("memory://one", build_wheel("demo", "1.0"))
    links = _index("memory://links", build_wheel("demo", "2.0"))
    best = IndexGroup([first, _index("memory://two")], "best-match", find_links=[links])
    assert _names(best) == ["memory://one:1.0", "memory://links:2.0"]
    alone = IndexGroup([_index("memory://empty")], find_links=[links])
    assert _names(alone) == ["memory://links:2.0"]
