"""METADATA read straight from a wheel's central directory (no ZipInfo per member), and the
zipfile path taking over whenever the archive is anything but plain."""

from __future__ import annotations

import io
import zipfile

import pytest

from mlenv.index import IndexFile, MetadataError
from mlenv.index.plain_zip import plain_metadata_member
from mlenv.index.wheelmeta import metadata_member
from tests.support.index_files import plain_wheel_file
from tests.support.wheels import build_wheel


def _file(name: str = "demo") -> IndexFile:
    return plain_wheel_file(name, f"file:///w/{name}-1.0-py3-none-any.whl", "file:///w")


def _zipfile_answer(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("demo-1.0.dist-info/METADATA")


def test_a_plain_wheel_is_read_without_zipfile_and_gives_zipfiles_bytes() -> None:
    files = {f"demo/m{i}.py": b"x = 1\n" * i for i in range(2000)}
    _, data = build_wheel("demo", "1.0", requires_dist=["dep>=1"], files=files)
    fast = plain_metadata_member(io.BytesIO(data), _file())
    assert fast is not None and fast == _zipfile_answer(data)
    assert b"Requires-Dist: dep>=1" in fast


def test_our_own_dist_info_wins_over_a_vendored_one_listed_first() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("other-9.0.dist-info/METADATA", b"Name: other\nVersion: 9.0\n")
        archive.writestr("demo-1.0.dist-info/METADATA", b"Name: demo\nVersion: 1.0\n")
    assert plain_metadata_member(io.BytesIO(buffer.getvalue()), _file()) == (
        b"Name: demo\nVersion: 1.0\n"
    )


def _with(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) >= 1
    return data.replace(old, new)


def test_an_archive_comment_goes_to_zipfile_which_reads_it() -> None:
    _, data = build_wheel("demo", "1.0")
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = b"a comment"
    commented = buffer.getvalue()
    assert plain_metadata_member(io.BytesIO(commented), _file()) is None
    assert metadata_member(io.BytesIO(commented), _file()) == _zipfile_answer(data)


def test_a_damaged_member_goes_to_zipfile_which_refuses_it() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", b"Name: demo\nVersion: 1.0\n")
    damaged = _with(buffer.getvalue(), b"Version: 1.0", b"Version: 6.6")  # its CRC breaks
    assert plain_metadata_member(io.BytesIO(damaged), _file()) is None
    with pytest.raises(MetadataError, match="not a readable zip"):
        metadata_member(io.BytesIO(damaged), _file())


def test_a_name_cut_by_a_nul_is_left_to_zipfile() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA_", b"Name: demo\nVersion: 1.0\n")
    # zipfile cuts a name at its first NUL: this member is METADATA to it, not to a suffix test
    data = _with(buffer.getvalue(), b"METADATA_", b"METADATA\x00")
    assert metadata_member(io.BytesIO(data), _file()) == b"Name: demo\nVersion: 1.0\n"
    assert plain_metadata_member(io.BytesIO(data), _file()) is None


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x05\x06" + b"\x00" * 18])
def test_garbage_is_left_to_zipfile(data: bytes) -> None:
    assert plain_metadata_member(io.BytesIO(data), _file()) is None
    with pytest.raises(MetadataError):
        metadata_member(io.BytesIO(data), _file())
