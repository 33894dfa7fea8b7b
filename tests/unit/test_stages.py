"""The stream stages after the tar writer (mlenv.stages): a threaded Digest is the plain one."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv import tarball
from mlenv.stages import Digest
from mlenv.tarball import LayerError, write_tar
from mlenv.tree_listing import collect
from tests.support.sinks import FailingSink


def layer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mlenv-layer"]


@settings(max_examples=40, deadline=None)
@given(chunks=st.lists(st.binary(max_size=5000), max_size=30))
def test_a_threaded_digest_passes_and_hashes_every_byte_in_order(chunks: list[bytes]) -> None:
    """Protects image.tar's digest and bytes: with the hash on a thread of its own, the bytes
    downstream, their sha256 and their count are the plain stage's."""
    plain_out, threaded_out = io.BytesIO(), io.BytesIO()
    plain = Digest(plain_out)
    with Digest(threaded_out, threaded=True) as threaded:
        for chunk in chunks:
            plain.write(chunk)
            threaded.write(chunk)
        threaded.close()
    assert threaded_out.getvalue() == plain_out.getvalue() == b"".join(chunks)
    assert threaded.digest() == plain.digest()
    assert threaded.digest() == "sha256:" + hashlib.sha256(b"".join(chunks)).hexdigest()
    assert threaded.size == plain.size == len(b"".join(chunks))
    assert not layer_threads()


def test_a_failing_downstream_of_a_threaded_digest_reaches_the_writer() -> None:
    """Protects: a full disk behind the hashing thread is raised to the writer (at a later
    write or at close), and the thread ends."""
    with pytest.raises(OSError, match="No space left"), Digest(FailingSink(10), threaded=True) as d:
        for _ in range(100):
            d.write(b"x" * 1000)
        d.close()
    assert not layer_threads()


def test_image_tar_stops_both_threads_when_a_file_changes_size(tmp_path: Path) -> None:
    """Protects: image.tar's writer (its hash and its writes each on a thread) raises the
    reader's error, and neither thread outlives it."""
    (tmp_path / "a").write_bytes(os.urandom(3 * tarball._CHUNK))
    (tmp_path / "b").write_bytes(b"12345")
    entries = collect(tmp_path, "")
    (tmp_path / "b").write_bytes(b"1")
    with pytest.raises(LayerError, match="changed size"):
        write_tar(entries, io.BytesIO(), mtime=0)
    assert not layer_threads()
