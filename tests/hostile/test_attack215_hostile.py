"""Attack 215: today's fast readers and memos against what they stand in for.

Findings (input: what mlenv did -> what it does now):

- A wheel whose METADATA is plain but another member's extra field is malformed (a length
  past its end) or holds a zip64 field short of the size it stands for: zipfile (3.11 and
  3.12+) refuses the whole archive, the installer cannot open it; the central directory
  reader only looked at METADATA's extra and answered -> deferred to zipfile, which refuses.
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from mlenv.index import MetadataError
from mlenv.index.plain_zip import plain_metadata_member
from mlenv.index.wheelmeta import metadata_member
from tests.support.index_files import plain_wheel_file

_FILE = plain_wheel_file("demo", "file:///w/demo-1.0-py3-none-any.whl", "file:///w")
_METADATA = b"Name: demo\nVersion: 1.0\n"


def _with_odd_member(extra: bytes, *, size: int | None = None) -> bytes:
    """A plain wheel but for one other member's extra field (and its central size)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", _METADATA)
        odd = zipfile.ZipInfo("demo/__init__.py")
        odd.extra = extra
        archive.writestr(odd, b"x = 1\n")
    data = buffer.getvalue()
    if size is not None:  # the odd member's uncompressed size in its central record
        record = data.rfind(b"PK\x01\x02")
        data = data[: record + 24] + struct.pack("<L", size) + data[record + 28 :]
    return data


@pytest.mark.parametrize(
    ("extra", "size"),
    [
        (struct.pack("<HH", 0x9999, 16) + b"ab", None),  # overruns itself
        (struct.pack("<HH", 0x0001, 0), 0xFFFFFFFF),  # zip64 without the size it stands for
    ],
)
def test_another_members_broken_extra_field_is_zipfiles_refusal(
    extra: bytes, size: int | None
) -> None:
    """Invariant: the METADATA reader answers only what zipfile answers. zipfile decodes
    every record's extra field and refuses the archive for one it cannot; the fast reader
    read METADATA's alone and returned METADATA for a wheel no installer opens. Enforced by
    plain_zip._odd_extra on every record."""
    data = _with_odd_member(extra, size=size)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(data))
    assert plain_metadata_member(io.BytesIO(data), _FILE) is None
    with pytest.raises(MetadataError, match="not a readable zip"):
        metadata_member(io.BytesIO(data), _FILE)


def test_another_members_plain_extra_field_is_still_read_fast() -> None:
    """Protects: an extra field zipfile reads nothing from (an extended timestamp) on another
    member leaves the fast path its answer, the one zipfile gives."""
    data = _with_odd_member(struct.pack("<HHB", 0x5455, 1, 0))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("demo-1.0.dist-info/METADATA") == _METADATA
    assert plain_metadata_member(io.BytesIO(data), _FILE) == _METADATA
