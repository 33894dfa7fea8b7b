"""``prefix_files`` finds every file holding the build prefix, and says text or binary, as a
whole-file search would: wherever the prefix falls (across a chunk boundary, at either end),
whatever the chunk size and whether the file is read through the page cache or around it; and
``PrefixScan``, which the installer feeds as it writes, agrees however the bytes are split."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda import pack
from mlenv.direct import BIG
from mlenv.install.prefix_scan import PrefixScan

PREFIX = "/opt/mlenv/scan-prefix"
NEEDLE = PREFIX.encode()


def _expected(data: bytes) -> str | None:
    if NEEDLE not in data:
        return None
    return "binary" if b"\0" in data else "text"


@st.composite
def _file(draw: st.DrawFn, chunk: int) -> bytes:
    size = draw(st.sampled_from([0, 1, chunk - 3, chunk, chunk + 5, 2 * chunk + 1, BIG + 7]))
    data = bytearray(b"a" * size)
    if size >= len(NEEDLE) and draw(st.booleans()):
        # the needle anywhere, and often across the first or second chunk boundary
        near = [chunk - k for k in range(1, len(NEEDLE))] + [2 * chunk - 2, 0, size - len(NEEDLE)]
        spot = draw(st.one_of(st.sampled_from(near), st.integers(0, size - len(NEEDLE))))
        spot = min(max(spot, 0), size - len(NEEDLE))
        data[spot : spot + len(NEEDLE)] = NEEDLE
    if size and draw(st.booleans()):
        data[draw(st.integers(0, size - 1))] = 0
    return bytes(data)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([64, 4096, pack.SCAN_CHUNK]).flatmap(lambda c: st.tuples(
    st.just(c), st.lists(_file(c), min_size=1, max_size=4))))  # fmt: skip
def test_the_scan_agrees_with_a_whole_file_search(case: tuple[int, list[bytes]]) -> None:
    """Protects the conda-unpack listing: a missed file keeps the build prefix after unpacking
    elsewhere; a wrong kind rewrites a binary as text (or the other way)."""
    chunk, files = case
    with tempfile.TemporaryDirectory() as scratch, mock.patch.object(pack, "SCAN_CHUNK", chunk):
        staging = Path(scratch)
        for number, data in enumerate(files):
            (staging / f"f{number}").write_bytes(data)
        expected = [
            (f"f{number}", kind)
            for number, data in sorted(enumerate(files), key=lambda item: f"f{item[0]}")
            if (kind := _expected(data)) is not None
        ]
        assert pack.prefix_files(staging, PREFIX) == expected


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=200).map(lambda b: b.replace(b"\0", b"a")),
    spot=st.integers(0, 200),
    nul=st.one_of(st.none(), st.integers(0, 240)),
    cuts=st.lists(st.integers(0, 240), max_size=8),
)
def test_any_split_of_the_bytes_gives_the_same_answer(
    data: bytes, spot: int, nul: int | None, cuts: list[int]
) -> None:
    """Protects ``PrefixScan`` as the installer feeds it (chunks of any size, shorter than the
    prefix too): the answer is the whole-file search's, however the bytes are split."""
    whole = bytearray(data)
    whole[min(spot, len(whole)) : min(spot, len(whole))] = NEEDLE
    if nul is not None:
        whole.insert(min(nul, len(whole)), 0)
    scan = PrefixScan(NEEDLE)
    edges = sorted({0, len(whole), *(min(cut, len(whole)) for cut in cuts)})
    for start, end in itertools.pairwise(edges):
        scan.feed(bytes(whole[start:end]))
    assert scan.kind == _expected(bytes(whole))
    missing = PrefixScan(NEEDLE + b"/elsewhere")
    missing.feed(bytes(whole))
    assert missing.kind is None
