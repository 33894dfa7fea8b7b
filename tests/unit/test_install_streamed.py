"""An OCI-only build leaves a wheel's big members in the wheel (``big="stream"``): the layer
writer inflates each from there (``mlenv.install.streamed``). Its layer must be the layer of
the written tree, byte for byte, and a member that is not what RECORD and its CRC say must fail
the build naming the wheel and the member, as the written one does."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.build_outputs import stream_entries
from mlenv.direct import BIG
from mlenv.install.ports import BigMembers
from mlenv.install.safety import InstallError
from mlenv.install.wheels import InstallResult, install_environment
from mlenv.report import MemoryReporter
from mlenv.tarball import Compression, Entry, LayerBlob, LayerError, write_layer
from mlenv.tree_listing import collect
from tests.support.raw_wheels import DIST_INFO, METADATA, WHEEL, raw_wheel, record_hash
from tests.support.wheels import build_wheel, mark_executable

SITE = "lib/python3.11/site-packages"
PREFIX = "/opt/mlenv/t"


def _files(seed: int = 0) -> dict[str, bytes]:
    """Members at, over and just under BIG; one executable, one a big module, one squeezable."""
    rng = random.Random(seed)
    return {
        "big/__init__.py": b"",
        "big/exact.bin": rng.randbytes(BIG),
        "big/odd.bin": rng.randbytes(BIG + 4097),
        "big/tool": rng.randbytes(2 * BIG + 1),
        "big/squeeze.txt": b"abc\n" * (BIG // 2),
        "big/generated.py": b"X = 1\n" * (BIG // 5),
        "big/small.bin": rng.randbytes(BIG - 1),
    }


def _wheel(directory: Path, files: dict[str, bytes]) -> Path:
    name, data = build_wheel("big", "1.0", files=files)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(mark_executable(data, "big/tool"))
    return directory / name


def _install(wheel: Path, staging: Path, big: BigMembers) -> InstallResult:
    return install_environment(
        [wheel], staging, prefix=PREFIX, interpreter="/usr/bin/python3.11", python="3.11",
        reporter=MemoryReporter(), big=big,
    )  # fmt: skip


def _layer(staging: Path, installed: InstallResult, compression: Compression) -> LayerBlob:
    dest = PREFIX.strip("/")
    entries = stream_entries(collect(staging, dest), installed.streamed, dest)
    return write_layer(entries, io.BytesIO(), compression=compression, mtime=0)


@pytest.mark.parametrize("compression", ["zstd", "gzip", "none"])
def test_a_streamed_layer_is_the_layer_of_the_written_tree(
    tmp_path: Path, compression: Compression
) -> None:
    """Protects the bytes: the same layer (digest and diff_id) from placeholders and streams as
    from the written tree; the big module is written (bytecode reads it), the rest streamed,
    placeholders empty, the executable one 0755; the tree's byte count is the whole tree's."""
    wheel = _wheel(tmp_path / "wheels", _files())
    written = _install(wheel, tmp_path / "written", "scan")
    streamed = _install(wheel, tmp_path / "streamed", "stream")
    assert written.streamed == ()
    names = {m.target.removeprefix(f"{SITE}/") for m in streamed.streamed}
    assert names == {"big/exact.bin", "big/odd.bin", "big/tool", "big/squeeze.txt"}
    for member in streamed.streamed:
        assert (tmp_path / "streamed" / member.target).stat().st_size == 0
    assert (tmp_path / "streamed" / SITE / "big/tool").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "streamed" / SITE / "big/generated.py").stat().st_size > BIG
    assert streamed.bytes == written.bytes and streamed.files == written.files
    assert streamed.distributions == written.distributions  # RECORD lists the same
    record = f"{SITE}/big-1.0.dist-info/RECORD"
    assert (tmp_path / "streamed" / record).read_bytes() == (
        tmp_path / "written" / record
    ).read_bytes()
    assert _layer(tmp_path / "streamed", streamed, compression) == _layer(
        tmp_path / "written", written, compression
    )


@given(seed=st.integers(0, 2**16), where=st.integers(0, 99), bit=st.integers(0, 7))
def test_a_flipped_bit_in_a_streamed_member_fails_naming_the_wheel(
    tmp_path_factory: pytest.TempPathFactory, seed: int, where: int, bit: int
) -> None:
    """Protects the invariant's check by the layer's read, for any bit of the member's data: a
    changed bit is a deflate error, a CRC-32 or a RECORD mismatch naming the wheel; a bit
    deflate ignores (a stored block's padding) gives the very same layer, never another."""
    tmp = tmp_path_factory.mktemp("flip")
    files = {"big/__init__.py": b"", "big/data.bin": random.Random(seed).randbytes(BIG + 7)}
    wheel = _wheel(tmp / "wheels", files)
    installed = _install(wheel, tmp / "stage", "stream")
    good = _layer(tmp / "stage", installed, "zstd")
    (member,) = installed.streamed
    data = bytearray(wheel.read_bytes())
    offset = member.info.header_offset + 30 + len(member.info.filename)
    data[offset + member.info.compress_size * where // 100] ^= 1 << bit
    wheel.write_bytes(bytes(data))
    try:
        assert _layer(tmp / "stage", installed, "zstd") == good
    except InstallError as refused:
        assert refused.where == wheel.name
        assert refused.hint


def test_a_big_member_unlike_its_record_is_refused_by_the_layer_read(tmp_path: Path) -> None:
    """Protects RECORD's hold on a streamed member whose zip data is sound (its CRC is its
    bytes'): RECORD names other bytes of the same size, and the build fails naming both."""
    content = os.urandom(BIG + 100)
    other = os.urandom(BIG + 100)
    record = "".join(
        f"{name},{record_hash(data)},{len(data)}\n"
        for name, data in [("evil/blob.bin", other), (f"{DIST_INFO}/METADATA", METADATA),
                           (f"{DIST_INFO}/WHEEL", WHEEL)]
    ) + f"{DIST_INFO}/RECORD,,\n"  # fmt: skip
    wheel = raw_wheel(tmp_path, [("evil/blob.bin", content)], record=record)
    installed = _install(wheel, tmp_path / "stage", "stream")
    assert [m.info.filename for m in installed.streamed] == ["evil/blob.bin"]
    with pytest.raises(InstallError, match=r"'evil/blob\.bin' does not match its hash") as raised:
        _layer(tmp_path / "stage", installed, "gzip")
    assert raised.value.where == wheel.name


@pytest.mark.parametrize("change", ["truncated", "swapped", "gone"])
def test_a_wheel_changed_after_the_install_fails_the_layer(tmp_path: Path, change: str) -> None:
    """Protects the read from the wheel at layer time: a wheel cut short, replaced by another
    wheel's bytes or removed between install and layer fails with the wheel or its path named,
    never a layer of other bytes."""
    wheel = _wheel(tmp_path / "wheels", _files(1))
    installed = _install(wheel, tmp_path / "stage", "stream")
    if change == "truncated":
        wheel.write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])
    elif change == "swapped":
        wheel.write_bytes(_wheel(tmp_path / "other", _files(2)).read_bytes())
    else:
        wheel.unlink()
    with pytest.raises(InstallError) as raised:
        _layer(tmp_path / "stage", installed, "zstd")
    assert raised.value.where in (wheel.name, str(wheel))


def test_a_placeholder_gone_from_the_tree_is_an_error(tmp_path: Path) -> None:
    """Protects the listing's hold on what streams: a placeholder the tree lost is named, not
    skipped (a layer without the library would run and fail on the node)."""
    wheel = _wheel(tmp_path / "wheels", _files())
    installed = _install(wheel, tmp_path / "stage", "stream")
    gone = installed.streamed[0]
    (tmp_path / "stage" / gone.target).unlink()
    with pytest.raises(Exception, match="placeholder") as raised:
        _layer(tmp_path / "stage", installed, "zstd")
    assert gone.target in str(raised.value.where)  # type: ignore[attr-defined]


def test_a_stream_of_another_size_is_refused(tmp_path: Path) -> None:
    """Protects the tar against a stream that breaks its size (a header must say the bytes
    that follow): more or fewer bytes than the entry's size stop the layer."""
    (tmp_path / "a").write_bytes(b"")
    for given_ in (b"x" * 9, b"x" * 11):

        def stream(size: int, data: bytes = given_) -> Iterator[bytes]:
            yield data

        entry = Entry("a", "file", 0o644, source=tmp_path / "a", size=10, stream=stream)
        with pytest.raises(LayerError, match="than its size, 10"):
            write_layer([entry], io.BytesIO(), compression="none", mtime=0)
