"""Fourth adversary pass: parser differentials between the fast readers of this round and the
tools they stand in for (zipfile for a wheel's METADATA). Each test names the invariant it
attacks and fails if the enforcing function stops holding it."""

from __future__ import annotations

import gzip
import io
import struct
import threading
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement

from mlenv.index.model import MetadataError
from mlenv.index.plain_zip import plain_metadata_member
from mlenv.index.wheelmeta import metadata_member
from mlenv.install.checks import plan_wheel
from mlenv.install.layout import Layout
from mlenv.install.safety import InstallError, Limits
from mlenv.parallel_gzip import GZIP_BLOCK, GZIP_LEVEL, GzipTwin, ParallelGzip, twin_side
from mlenv.pep508 import requirement
from tests.support.growth import LINEAR_BOUND, growth
from tests.support.index_files import plain_wheel_file
from tests.support.requirements import assert_read_as_packaging_reads
from tests.support.wheels import build_wheel
from tests.support.zip_answers import zipfile_metadata

_NAME = "foo-1.0.dist-info/METADATA"
_BENIGN = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n\n"
_EVIL = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: evil\n\n"
_LAYOUT = Layout("/opt/env", "/opt/env/bin/python", "3.11")
_FILE = plain_wheel_file("foo", "file:///foo-1.0-py3-none-any.whl", "file:///")


def _unicode_path(raw: bytes, name: str) -> bytes:
    """An Info-ZIP Unicode Path extra field (0x7075) renaming the record ``raw`` to ``name``."""
    data = struct.pack("<BL", 1, zlib.crc32(raw)) + name.encode()
    return struct.pack("<HH", 0x7075, len(data)) + data


def _zip(*members: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # a duplicate name is the point
        for info, data in members:
            archive.writestr(info, data)
    return buffer.getvalue()


def test_unicode_path_field_defers_to_zipfile() -> None:
    """Invariant: the METADATA a lock is resolved from is the one the installed wheel carries.
    Python 3.12+ zipfile names a record by its Unicode Path extra field, so a first record
    named METADATA there renamed METADATX hid from zipfile (and the installer, which saw no
    duplicate) while the fast reader returned it: the lock saw no Requires-Dist, the install
    carried the second METADATA's. Enforced by plain_zip._odd_extra."""
    renamed = zipfile.ZipInfo(_NAME)
    renamed.extra = _unicode_path(_NAME.encode(), "foo-1.0.dist-info/METADATX")
    data = _zip((renamed, _BENIGN), (_NAME, _EVIL))
    assert plain_metadata_member(io.BytesIO(data), _FILE) is None
    assert metadata_member(io.BytesIO(data), _FILE) == zipfile_metadata(data)


def test_malformed_extra_field_defers_to_zipfile() -> None:
    """zipfile refuses a record whose extra field overruns itself; the fast reader must not
    answer for it either. Enforced by plain_zip._odd_extra."""
    broken = zipfile.ZipInfo(_NAME)
    broken.extra = struct.pack("<HH", 0xCAFE, 40) + b"x" * 4
    data = _zip((broken, _BENIGN))
    assert plain_metadata_member(io.BytesIO(data), _FILE) is None


_WHEEL = build_wheel("foo", "1.0", requires_dist=["bar>=1"])[1]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(_WHEEL) - 1), st.binary(min_size=1, max_size=8)),
        max_size=4,
    ),
    cut=st.integers(0, 64),
    stub=st.binary(max_size=8),
)
def test_mutated_wheel_fast_reader_agrees_with_zipfile(
    edits: list[tuple[int, bytes]], cut: int, stub: bytes
) -> None:
    """Any answer of the fast reader is zipfile's answer, over byte overwrites, truncation and
    prepended bytes of a valid wheel (mostly in its central directory and local headers)."""
    data = bytearray(_WHEEL)
    for position, chunk in edits:
        data[position : position + len(chunk)] = chunk
    mutated = stub + bytes(data[: len(data) - cut] if cut else data)
    fast = plain_metadata_member(io.BytesIO(mutated), _FILE)
    if fast is not None:
        assert fast == zipfile_metadata(mutated)
    try:
        answer: bytes | None = metadata_member(io.BytesIO(mutated), _FILE)
    except MetadataError:
        answer = None
    assert answer == zipfile_metadata(mutated)


def _needing(version: int) -> tuple[str, bytes]:
    """A valid wheel whose first record (not its METADATA) says it needs zip ``version``."""
    name, data = build_wheel("foo", "1.0", files={"foo/__init__.py": b""})
    raw = bytearray(data)
    record = raw.find(b"PK\x01\x02")
    raw[record + 6 : record + 8] = version.to_bytes(2, "little")
    return name, bytes(raw)


def test_unextractable_record_refused_by_lock_and_install(tmp_path: Path) -> None:
    """Invariant: a wheel is locked only if the installer can read it, else it is refused
    with an MlenvError. zipfile refuses a whole archive holding one record that needs a zip
    version over 6.3; the fast reader answered its METADATA anyway and the install then died
    with NotImplementedError's traceback. Enforced by plain_zip._choose (defers to zipfile,
    which the lock reports as a MetadataError) and install.checks.plan_wheel."""
    name, data = _needing(64)
    assert plain_metadata_member(io.BytesIO(data), _FILE) is None
    with pytest.raises(MetadataError, match="not a readable zip"):
        metadata_member(io.BytesIO(data), _FILE)
    wheel = tmp_path / name
    wheel.write_bytes(data)
    with ExitStack() as stack, pytest.raises(InstallError, match=r"zip file version 6\.4"):
        plan_wheel(wheel, stack, _LAYOUT, Limits(1 << 30, 100))


def _refused(text: str) -> None:
    with pytest.raises(InvalidRequirement):
        requirement(text)


@pytest.mark.parametrize(
    "make",
    [lambda n: "a" + " " * n + "!", lambda n: "a" + " " * n + ">=1" + "\t" * n + "!"],
    ids=["after-name", "around-clause"],
)
def test_blank_runs_in_a_requires_dist_line_parse_in_linear_time(
    make: Callable[[int], str],
) -> None:
    """Invariant 7 (every input is bounded in work): a Requires-Dist line comes from an index.
    The plain-shape expression had three optional runs of blanks side by side, so a failing
    line of n spaces cost n**3 steps (2,000 took 7 s, 4,000 took 50 s; METADATA may be 16 MiB).
    Enforced by pep508._SIMPLE_HEAD's shape."""
    assert growth(_refused, make, small=500) < LINEAR_BOUND  # the cubic form: 64x


_NASTY = ["a", "Z9", "x.y", "x_", "-", "_", ".", "[", "]", ",", " ", "\t", "\r", "\n", "\x0b",
          "\x0c", "\x1c", "\x85", "\xa0", "\u3000", "(", ")", ">=", "<", "==", "===", "~=",
          "!=", ">", "<=", "1", "1.0", ".*", "+loc", "rc1", ".post2", "v", "!", "@", " @ ", "\xe9",
          "\u0663", "\uff11", "\uff21", "\ufb01", "\u0130", "\u212a", "\u200b", "dev", ";",
          "#", "\\", "'", '"', "*"]  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_NASTY), min_size=1, max_size=16).map("".join))
def test_any_nasty_head_parses_or_fails_as_packaging_does(text: str) -> None:
    """The plain-shape reader against packaging's Requirement on unicode digits, full-width
    letters, every kind of blank, separators and operator fragments: the same requirement
    (name, extras, specifier, url, marker) or the same error."""
    assert_read_as_packaging_reads(text)


def _gzip_side(
    twin: GzipTwin, pool: ThreadPoolExecutor, data: bytes, after: threading.Event | None
) -> bytes:
    """One writer of ``twin``: a single shared file ``k`` holding ``data``; with ``after``, it
    starts its file only once that is set (the other writer has finished)."""
    out = io.BytesIO()
    writer = ParallelGzip(out, GZIP_LEVEL, pool, 2, twin)
    writer.register(["k"])
    if after is not None:
        assert after.wait(10)
    with writer.segment("k"):
        writer.write(data)
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize("cut", [0, GZIP_BLOCK // 2], ids=["same-size", "shorter"])
def test_a_file_rewritten_between_the_twins_reads_is_deflated_from_its_own_bytes(cut: int) -> None:
    """Invariant 1 (what is shipped is what was read): the second writer of a gzip twin used
    the first one's deflate for a file of the same key without looking at its own bytes, so a
    file rewritten in place between the two reads gave a gzip whose content is the first
    read's under a CRC (and an OCI diff_id) of the second's: a corrupt layer or archive. A
    shorter file also left the rest of its blocks counted as held. Enforced by
    ParallelGzip._submit (a block is taken only when its input digest matches) and
    GzipTwin.drop."""
    first = bytes(range(256)) * (3 * GZIP_BLOCK // 256)
    second = bytearray(first)
    second[GZIP_BLOCK + 5] ^= 0xFF  # the second block differs
    second = second[: len(second) - cut]
    twin = GzipTwin(limit=4, patience=5.0)
    done = threading.Event()
    with ThreadPoolExecutor(4) as pool, ThreadPoolExecutor(2) as sides:
        giver = sides.submit(twin_side, twin, _gzip_side, twin, pool, first, None)
        taker = sides.submit(twin_side, twin, _gzip_side, twin, pool, bytes(second), done)
        a = giver.result(timeout=30)
        done.set()
        b = taker.result(timeout=30)
    assert gzip.decompress(a) == first
    assert gzip.decompress(b) == bytes(second)
    assert twin._held == 0


def test_a_writer_waiting_for_its_twin_goes_on_when_the_twin_registers() -> None:
    """No stall: a writer at its first big file waits in join until the other has registered.
    register did not wake it, so it slept until the other writer's first block or the whole
    patience (30 s), which then dropped to 0 for every later wait. Enforced by
    GzipTwin.register."""
    twin = GzipTwin(patience=20.0)
    twin.register(["k"])
    with ThreadPoolExecutor(1) as side:
        joined = side.submit(twin.join, "k")
        time.sleep(0.2)
        started = time.monotonic()
        twin.register(["k"])
        assert joined.result(timeout=30) is not None
    assert time.monotonic() - started < 10.0  # the stall it guards against is the 20 s patience


def test_a_record_name_that_is_not_utf8_is_refused_by_lock_and_install(tmp_path: Path) -> None:
    """Invariant: a wheel is locked only if the installer can read it, else refused with an
    MlenvError. A record flagged UTF-8 whose name is not (found by mutating a valid wheel):
    zipfile refuses the archive with UnicodeDecodeError, which escaped both the lock's zipfile
    path and plan_wheel as an internal error, while the fast reader answered METADATA for it.
    Enforced by plain_zip._choose, wheelmeta.metadata_member and install.checks.plan_wheel."""
    name, data = build_wheel("foo", "1.0", files={"foo/__init__.py": b""})
    raw = bytearray(data)
    record = raw.find(b"PK\x01\x02")  # foo/__init__.py's, before the dist-info's
    raw[record + 9] |= 0x08  # the UTF-8 flag (0x800), little-endian
    raw[record + 46] = 0xFF  # the name's first byte, invalid UTF-8
    assert raw[record + 47 : record + 50] == b"oo/"
    data = bytes(raw)
    assert plain_metadata_member(io.BytesIO(data), _FILE) is None
    with pytest.raises(MetadataError, match="not a readable zip"):
        metadata_member(io.BytesIO(data), _FILE)
    wheel = tmp_path / name
    wheel.write_bytes(data)
    with ExitStack() as stack, pytest.raises(InstallError, match="cannot be opened"):
        plan_wheel(wheel, stack, _LAYOUT, Limits(1 << 30, 100))


def _metadata_record(data: bytes) -> tuple[int, int]:
    """Where the METADATA member's local header and central record start."""
    directory = data.find(b"PK\x01\x02")
    return data.find(b"PK\x03\x04"), data.rfind(
        b"PK\x01\x02", 0, data.find(_NAME.encode(), directory)
    )


@pytest.mark.parametrize("shape", ["encrypted", "bzip2", "header-before-file"])
def test_a_metadata_zipfile_cannot_read_is_a_metadata_error(shape: str) -> None:
    """Invariant: every wheel the lock cannot read is refused with an MlenvError (exit 1), never
    an internal error. zipfile raises RuntimeError for an encrypted member, OSError for a
    bzip2 one that does not decompress and ValueError for a header offset before the file;
    the lock's zipfile path let them escape. Enforced by wheelmeta.metadata_member."""
    raw = bytearray(_WHEEL)
    local, central = _metadata_record(bytes(raw))
    if shape == "encrypted":
        raw[local + 6] |= 0x01
        raw[central + 8] |= 0x01
    elif shape == "bzip2":
        raw[local + 8] = raw[central + 10] = 12
    else:
        (offset,) = struct.unpack_from("<I", raw, len(raw) - 6)  # the directory's, in EOCD
        struct.pack_into("<I", raw, len(raw) - 6, offset + 0x100)  # 256 bytes of "stub" < 0
    data = bytes(raw)
    assert plain_metadata_member(io.BytesIO(data), _FILE) is None
    with pytest.raises(MetadataError):
        metadata_member(io.BytesIO(data), _FILE)


@pytest.mark.parametrize("method", [12, 99], ids=["bzip2-garbage", "unknown"])
def test_a_wheel_whose_metadata_zipfile_cannot_read_is_refused_by_install(
    tmp_path: Path, method: int
) -> None:
    """Invariant: a wheel the installer cannot read is refused with an MlenvError naming it.
    plan_wheel let zipfile's NotImplementedError (an unknown compression method) and OSError
    (a bzip2 stream that does not decompress) escape as internal errors. Enforced by
    install.checks._read_text."""
    name, data = build_wheel("foo", "1.0")
    raw = bytearray(data)
    local, central = _metadata_record(data)
    raw[local + 8] = raw[central + 10] = method
    wheel = tmp_path / name
    wheel.write_bytes(bytes(raw))
    with ExitStack() as stack, pytest.raises(InstallError, match="METADATA"):
        plan_wheel(wheel, stack, _LAYOUT, Limits(1 << 30, 100))


def test_metadata_overlapping_the_next_member_defers_to_zipfile() -> None:
    """Invariant: the fast reader answers only what zipfile answers. Python 3.12+ zipfile
    refuses a member whose data runs into the next local header (overlapped entries, a zip
    bomb shape) and the installer then refuses the wheel; the fast reader locked from it.
    Found by checking mutated wheels against 3.13's zipfile. Enforced by plain_zip._choose
    (each member's bound) and plain_metadata_member."""
    raw = bytearray(_WHEEL)
    local, central = _metadata_record(_WHEEL)
    following = raw.find(b"PK\x01\x02", central + 4)  # the next record: WHEEL's
    struct.pack_into("<I", raw, following + 42, local + 40)  # "starts" inside METADATA's data
    assert plain_metadata_member(io.BytesIO(bytes(raw)), _FILE) is None
