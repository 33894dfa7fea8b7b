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
import warnings
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.errors import MlenvError
from mlenv.index import MetadataError, model
from mlenv.index.model import CoreMetadata, parse_core_metadata
from mlenv.index.plain_zip import plain_metadata_member
from mlenv.index.wheelmeta import metadata_member
from mlenv.instants import cutoff, instant
from mlenv.manifest_read import loads
from tests.support.index_files import plain_wheel_file
from tests.support.zip_answers import zipfile_metadata

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


_SUFFIX = ".dist-info/METADATA"
# Names nobody writes: the suffix alone, twice, mid-name, cut by a NUL (written as "_" and
# replaced), another case, a non-ASCII dist-info; extras and comments that hold the suffix,
# a Unicode Path field, a field running past its end.
_NAMES = [
    f"demo-1.0{_SUFFIX}",
    f"other-1.0{_SUFFIX}",
    _SUFFIX,
    f"/{_SUFFIX}",
    f"a/b{_SUFFIX}",
    f"demo-1.0{_SUFFIX}{_SUFFIX}",
    f"x{_SUFFIX}y",
    f"demo-1.0{_SUFFIX}_",
    "demo-1.0.dist-info/metadata",
    f"\u00e9-1.0{_SUFFIX}",
    "demo/__init__.py",
]
_FIELDS = [b"", _SUFFIX.encode(), struct.pack("<HHB", 0x5455, 1, 0), b"\x75\x70\x05\x00\x01abcd"]
_member = st.tuples(
    st.sampled_from(_NAMES),
    st.lists(st.sampled_from([*_FIELDS, b"\x99\x99\x10\x00"]), max_size=2).map(b"".join),
    st.lists(st.sampled_from(_FIELDS), max_size=2).map(b"".join),
    st.binary(max_size=24),
    st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)


def _odd_zip(members: list[tuple[str, bytes, bytes, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # duplicate names are part of the attack
        for name, extra, comment, data, method in members:
            info = zipfile.ZipInfo(name)
            info.extra, info.comment, info.compress_type = extra, comment, method
            archive.writestr(info, data)
    return buffer.getvalue().replace(b"METADATA_", b"METADATA\x00")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_member, min_size=1, max_size=4))
def test_the_directory_walk_answers_only_what_zipfile_answers(
    members: list[tuple[str, bytes, bytes, bytes, int]],
) -> None:
    """Protects: on central directories nobody wrote (the suffix as a whole name, twice in
    one, mid-name, in extra fields and comments, behind a NUL, odd extras) the fast reader
    either defers or returns the very bytes zipfile's path picks."""
    data = _odd_zip(members)
    fast = plain_metadata_member(io.BytesIO(data), _FILE)
    if fast is not None:
        assert fast == zipfile_metadata(data, "demo")


_KEYS = [b"Name", b"Version", b"Requires-Dist", b"Requires-Python", b"Provides-Extra", b"X-\x7e"]
_VALUES = [b"demo", b"1.0", b"x; extra == 'y'", b" ", b"\t", b"", b":", b"\x00", b"\x0b", b"\x85"]
_line = st.one_of(
    st.tuples(
        st.sampled_from(_KEYS),
        st.sampled_from([b":", b": ", b":\t"]),
        st.lists(st.sampled_from(_VALUES), max_size=3).map(b"".join),
    ).map(b"".join),
    st.tuples(st.sampled_from([b" ", b"\t"]), st.sampled_from(_VALUES)).map(b"".join),
    st.sampled_from([b"From x", b">From x", b""]),
)
_metadata = st.tuples(
    st.sampled_from([b"Name: demo\nVersion: 1.0\n", b"Version: 1\n", b""]),
    st.lists(_line, max_size=6).map(b"\n".join),
    st.sampled_from([b"", b"\n", b"\n\n", b"\n\nName: body\n", b"\r\n"]),
).map(b"".join)


def _by_packaging(data: bytes) -> CoreMetadata | str:
    """packaging's email parser's reading, the fast header reader left out."""
    fast = model._plain_core_metadata
    model._plain_core_metadata = lambda _data: None  # type: ignore[assignment]
    try:
        return parse_core_metadata(data, where="w")
    except MetadataError as exc:
        return str(exc)
    finally:
        model._plain_core_metadata = fast


@settings(max_examples=400)
@given(_metadata)
def test_the_header_scans_answer_only_what_packaging_answers(data: bytes) -> None:
    """Protects: the two-scan header reader is held to packaging's parse_email itself (not
    only to the old line loop) on headers with duplicates, empty values, NUL, VT and NEL,
    continuations of wanted and unwanted fields, "From " lines and bodies."""
    fast = model._plain_core_metadata(data)
    if fast is not None:
        assert fast == _by_packaging(data)
