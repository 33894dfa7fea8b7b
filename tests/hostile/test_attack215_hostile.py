"""Attack 215: today's fast readers and memos against what they stand in for.

Findings (input: what mlenv did -> what it does now):

- A wheel whose METADATA is plain but another member's extra field is malformed (a length
  past its end) or holds a zip64 field short of the size it stands for: zipfile (3.11 and
  3.12+) refuses the whole archive, the installer cannot open it; the central directory
  reader only looked at METADATA's extra and answered -> deferred to zipfile, which refuses.
- ``numpy[foo_]`` in [pypi] dependencies (or ``init --from``): packaging reads the extra
  ``foo_``, PEP 508 and uv refuse it; a217 refused ``numpy_`` but not the extra, so the lock
  asked for the extra ``foo-``, warned that numpy has none and locked without the extra's
  dependencies -> refused as "not a PEP 508 requirement".
- An RFC 3339 offset minute past 59 (``exclude-newer = "2026-01-01T00:00:00+00:60"``, an
  upload time at ``+05:75``): read as one more hour, where RFC 3339 and uv (jiff: hour 00-23,
  minute 00-59) refuse it -> no instant (the manifest refuses it, an upload stays undated).
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from mlenv.errors import MlenvError
from mlenv.index import MetadataError
from mlenv.index.plain_zip import plain_metadata_member
from mlenv.index.wheelmeta import metadata_member
from mlenv.instants import cutoff, instant
from mlenv.manifest import loads
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


@pytest.mark.parametrize("key", ["dependencies", "overrides"])
@pytest.mark.parametrize("line", ["numpy[foo_]", "numpy[cuda,foo_]>=1"])
def test_an_extra_ending_in_an_underscore_is_no_requirement(key: str, line: str) -> None:
    """Before: packaging reads ``numpy[foo_]`` (a name ends at a word boundary), so the
    manifest took it and the lock asked numpy for the extra ``foo-``, which nothing provides,
    and locked without its dependencies after a warning; PEP 508 extras are names, and uv
    refuses the line. Enforced by manifest_requirements.requirement_problem."""
    text = (
        '[environment]\nname = "w"\npython = "3.11"\n[pypi]\n'
        f'index-url = "https://pypi.org/simple"\n{key} = ["{line}"]\n'
    )
    with pytest.raises(MlenvError, match=r"a name ends with a letter or digit"):
        loads(text)


def test_an_extra_with_an_inner_underscore_is_still_a_requirement() -> None:
    """Protects: ``a_.b[x_y]`` is PEP 508 (separators inside a name) and still taken."""
    manifest = loads(
        '[environment]\nname = "w"\npython = "3.11"\n[pypi]\n'
        'index-url = "https://pypi.org/simple"\ndependencies = ["a_.b[x_y]"]\n'
    )
    assert manifest.pypi.dependencies == ("a_.b[x_y]",)


@pytest.mark.parametrize("offset", ["+00:60", "+05:75", "-00:99", "+24:00", "+99:00"])
def test_an_offset_out_of_rfc3339s_range_is_no_instant(offset: str) -> None:
    """Before: the offset's minutes were read as any two digits, so ``+00:60`` was an hour
    and ``+05:75`` 6h15; RFC 3339 (time-minute 00-59) and uv's jiff refuse both. Now neither
    an upload time nor a cutoff. Enforced by instants._INSTANT."""
    text = f"2026-01-01T00:00:00{offset}"
    assert instant(text) is None
    assert cutoff(text) is None


def test_offsets_in_range_still_shift_the_instant() -> None:
    """Protects: ``+23:59`` and a leap second with an offset are still read, as uv reads them."""
    assert instant("2026-01-01T00:00:00+23:59") == instant("2025-12-31T00:01:00Z")
    assert instant("2016-12-31T23:59:60.5-01:00") == instant("2017-01-01T00:59:59.5Z")
