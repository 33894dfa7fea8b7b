"""``mlenv.install.inflate``: a big wheel member read as zipfile reads it, bounded, and refused
where its local header or its data is not what the central directory says."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.install.inflate import member_chunks


def _zip(path: Path, members: dict[str, tuple[bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, (data, method) in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, method)
    return path


def _read(path: Path, name: str, chunk: int = 1 << 16) -> list[bytes]:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    return list(member_chunks(path, info, chunk))


@settings(max_examples=60, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=20_000), st.builds(lambda n: b"ab" * n, st.integers(0, 200_000))
    ),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]),
    chunk=st.integers(1, 70_000),
)
def test_hypothesis_the_bytes_are_zipfiles_in_bounded_chunks(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, method: int, chunk: int
) -> None:
    path = _zip(tmp_path_factory.mktemp("z") / "w.whl", {"a/x.so": (data, method)})
    chunks = _read(path, "a/x.so", chunk)
    with zipfile.ZipFile(path) as archive:
        assert b"".join(chunks) == archive.read("a/x.so") == data
    assert all(0 < len(piece) <= chunk for piece in chunks)


def test_a_member_that_inflates_far_is_given_in_bounded_chunks(tmp_path: Path) -> None:
    """A 64 MiB run deflates to about 64 KiB: no call hands out more than ``chunk``."""
    path = _zip(tmp_path / "w.whl", {"bomb": (bytes(64 << 20), zipfile.ZIP_DEFLATED)})
    sizes = [
        len(piece) for piece in member_chunks(path, zipfile.ZipFile(path).getinfo("bomb"), 1 << 20)
    ]
    assert sum(sizes) == 64 << 20 and max(sizes) == 1 << 20


def _central_size(path: Path, delta: int) -> None:
    """The central directory's uncompressed size of the one member, moved by ``delta``."""
    raw = bytearray(path.read_bytes())
    at = raw.rindex(b"PK\x01\x02") + 24
    (size,) = struct.unpack_from("<I", raw, at)
    struct.pack_into("<I", raw, at, size + delta)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("delta", [-1, 1])
def test_a_member_whose_size_is_not_the_directorys_is_refused(
    tmp_path: Path, method: int, delta: int
) -> None:
    path = _zip(tmp_path / "w.whl", {"m": (b"x" * 5000, method)})
    _central_size(path, delta)
    with pytest.raises(zipfile.BadZipFile, match=r"^m: "):
        _read(path, "m")


def test_a_local_header_naming_another_member_is_refused(tmp_path: Path) -> None:
    """zipfile's rule: the local header's name is the central directory's."""
    path = _zip(tmp_path / "w.whl", {"good.so": (b"y" * 100, zipfile.ZIP_DEFLATED)})
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"good.so", b"evil.so", 1))  # the local header comes first
    with pytest.raises(zipfile.BadZipFile, match="local header"):
        _read(path, "good.so")


def test_a_truncated_archive_is_refused(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    path = _zip(tmp_path / "w.whl", {"m": (data, zipfile.ZIP_DEFLATED)})
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("m")
    cut = tmp_path / "cut.whl"
    cut.write_bytes(path.read_bytes()[: info.header_offset + 30 + 1 + 500])
    with pytest.raises(zipfile.BadZipFile, match="ends inside"):
        list(member_chunks(cut, info, 1 << 16))


def test_a_deflate_stream_cut_inside_its_member_is_refused(tmp_path: Path) -> None:
    """The member's compressed bytes end before the deflate stream's final block."""
    data = bytes(range(256)) * 4000
    path = _zip(tmp_path / "w.whl", {"m": (data, zipfile.ZIP_DEFLATED)})
    raw = bytearray(path.read_bytes())
    at = raw.rindex(b"PK\x01\x02") + 20  # the compressed size, shortened by half
    (size,) = struct.unpack_from("<I", raw, at)
    struct.pack_into("<I", raw, at, size // 2)
    path.write_bytes(bytes(raw))
    with pytest.raises(zipfile.BadZipFile):
        _read(path, "m")


def test_data_that_is_no_deflate_stream_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "w.whl", {"m": (bytes(range(256)) * 400, zipfile.ZIP_DEFLATED)})
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("m")
    raw = bytearray(path.read_bytes())
    raw[info.header_offset + 30 + 1] = 0xFF  # the first block's header: type 3, reserved
    path.write_bytes(bytes(raw))
    with pytest.raises(zipfile.BadZipFile, match="not a deflate stream"):
        _read(path, "m")
