"""``prefix_files`` finds every file holding the build prefix, and says text or binary, as a
whole-file search would: wherever the prefix falls (across a chunk boundary, at either end),
whatever the chunk size and whether the file is read through the page cache or around it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda import pack
from mlenv.direct import BIG

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
