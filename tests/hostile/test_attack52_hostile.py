"""Adversary pass 52: a big wheel member zipfile will not read.

zipfile (so pip) refuses a member whose central directory entry sets flag bit 5 (compressed
patched data: the bytes are a patch to apply to some other file, not the file) or bit 6
(strong encryption): ``NotImplementedError``. The big-member reader (``install/inflate.py``)
read the stored or deflated bytes anyway, and the wheel's small members go through zipfile,
so one wheel's members were judged by two readers. Only installer opening every member
(even those mlenv skips) refused the wheel, unnamed; now both the vetting (``checks``) and
the reader refuse it, naming the member."""

from __future__ import annotations

import gzip
import io
import os
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaError
from mlenv.direct import BIG
from mlenv.index.bodies import read_bounded
from mlenv.install.inflate import member_chunks
from mlenv.install.safety import InstallError
from mlenv.install.wheels import install_environment
from mlenv.redaction import redact, redact_urls
from mlenv.report import MemoryReporter
from tests.support.wheels import build_wheel

CONTENT = os.urandom(BIG // 2) + b"a" * (BIG // 2 + 4097)
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")


def _rewrap(data: bytes, target: str, flags: int, method: int) -> bytes:
    """The zip rebuilt member by member from its raw data, ``target`` with ``flags`` set in
    both headers (and stored or deflated as ``method`` says)."""
    out, central = io.BytesIO(), []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
            raw, flag_bits, compress_type = archive.read(info), info.flag_bits, 0
            if info.filename == target:
                flag_bits |= flags
                if method == zipfile.ZIP_DEFLATED:
                    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
                    raw, compress_type = packer.compress(raw) + packer.flush(), method
            crc = zlib.crc32(archive.read(info))
            offset = out.tell()
            head: tuple[Any, ...] = (compress_type, 0, 0x21, crc, len(raw), info.file_size)
            out.write(_LOCAL.pack(b"PK\x03\x04", 20, flag_bits, *head, len(name), 0))
            out.write(name + raw)
            lengths = (len(name), 0, 0, 0, 0, info.external_attr, offset)
            entry = _CENTRAL.pack(b"PK\x01\x02", 20, 20, flag_bits, *head, *lengths)
            central.append(entry + name)
    directory = b"".join(central)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), out.tell(), 0)
    return out.getvalue() + directory + end


def _wheel(directory: Path, flags: int, method: int) -> Path:
    name, data = build_wheel("big", "1.0", files={"big/__init__.py": b"", "big/odd.bin": CONTENT})
    directory.mkdir(parents=True)
    (directory / name).write_bytes(_rewrap(data, "big/odd.bin", flags, method))
    return directory / name


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("flags", [0x20, 0x40, 0x60])
def test_a_big_member_zipfile_will_not_read_is_not_installed(
    tmp_path: Path, flags: int, method: int
) -> None:
    """Attack: RECORD's hash and size are right and the CRC-32 too; only the flag says the
    bytes are no plain member. zipfile refuses; the big-member reader read them."""
    wheel = _wheel(tmp_path / "wheels", flags, method)
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("big/odd.bin")
        with pytest.raises(NotImplementedError):
            archive.read(info)
    with pytest.raises(zipfile.BadZipFile, match=r"big/odd\.bin.*flag"):
        b"".join(member_chunks(wheel, info, 1 << 20))
    with pytest.raises(InstallError, match=r"big/odd\.bin") as raised:
        install_environment(
            [wheel],
            tmp_path / "stage",
            prefix="/opt/mlenv/t",
            interpreter="/usr/bin/python3.11",
            python="3.11",
            reporter=MemoryReporter(),
        )
    assert raised.value.where == wheel.name
    assert not (tmp_path / "stage").exists()


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_plain_big_member_still_installs_as_zipfile_reads_it(tmp_path: Path, method: int) -> None:
    wheel = _wheel(tmp_path / "wheels", 0, method)
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("big/odd.bin")
        assert archive.read(info) == CONTENT
    assert b"".join(member_chunks(wheel, info, 1 << 20)) == CONTENT
    install_environment(
        [wheel],
        tmp_path / "stage",
        prefix="/opt/mlenv/t",
        interpreter="/usr/bin/python3.11",
        python="3.11",
        reporter=MemoryReporter(),
    )
    site = tmp_path / "stage/lib/python3.11/site-packages"
    assert (site / "big/odd.bin").read_bytes() == CONTENT


# Go's encoding/json writes every '&' as ``\u0026`` (HTML-safe by default): a registry's or a
# proxy's JSON answer (distribution, Harbor, an S3 redirect logged whole) carries a signed URL so.
@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            '{"location":"https://s3.example/b?X-Amz-Algorithm=AWS4-HMAC-SHA256'
            '\\u0026X-Amz-Signature=deadbeefcafe"}',
            "deadbeefcafe",
        ),
        ('"https:\\/\\/h\\/x?a=1\\u0026sig=S3CRETSIG"', "S3CRETSIG"),
        ("https://h/x?a=1\\\\u0026token=S3CRETTOK", "S3CRETTOK"),  # JSON in JSON
        ("https://h/x#state=1\\u0026access_token=S3CRETOAUTH", "S3CRETOAUTH"),
    ],
)
def test_a_secret_parameter_after_a_json_escaped_ampersand_is_hidden(
    text: str, secret: str
) -> None:
    """Attack: the parameter before the secret one is not secret, and the '&' between them is
    JSON's ``\\u0026``: no ``[?&;#]`` started the secret's name, so its value was shown."""
    assert secret not in redact(text)
    assert secret not in redact_urls(text)
    assert redact_urls(text) == text.replace(secret, "***")


@pytest.mark.parametrize(
    "text",
    ["https://h/x?a=1\\u0026page=2\\u0026b=3", "a \\u0026 b", "see \\u0026token= nothing"],
)
def test_json_escaped_ampersands_with_no_secret_stay_whole(text: str) -> None:
    assert redact_urls(text) == text


@pytest.mark.parametrize(
    "version",
    ["1.0+pt28cu12.8", "1.0+torch2.8cu12.8", "1.0+pt2.8cu12.8", "1.0+torch2.8.1cu12.8"],
)
def test_a_dotted_cuda_after_a_builds_own_tag_is_read_whole(version: str) -> None:
    """Attack: ``local-cux.y`` read ``+cu12.8`` only where ``cu`` started a label segment; a
    PyG-style ``pt28`` (or ``torch2.8``) glued before it left ``cu12`` to ``local-ptcu``,
    which read 'CUDA 12.x': a CUDA 12.8 build judged by the 12.x floor passes a 12.4 fleet."""
    need = extract("nunchaku", version)
    assert need is not None and str(need.cuda) == "12.8" and need.label == "12.8"


@pytest.mark.parametrize(
    ("version", "cuda"),
    [("1.0+pt28cu128", "12.8"), ("1.0+cu124", "12.4"), ("1.0+cu12.8torch2.8", "12.8")],
)
def test_cuda_tags_without_the_shape_read_as_before(version: str, cuda: str) -> None:
    need = extract("nunchaku", version)
    assert need is not None and str(need.cuda) == cuda


@pytest.mark.parametrize(
    ("version", "build"),
    [
        ("1.0+cu12.4.cu12.8", ""),
        ("1.0+cu12.8torch2.8cu12.4", ""),
        ("", "py3.10_cuda12.1.1_cuda12.4.1_0"),
    ],
)
def test_two_dotted_cuda_tags_of_one_major_are_two_tags(version: str, build: str) -> None:
    """Attack: the two-tags guard counted ``cu12.4`` and ``cu12.8`` both as ``cu12``, one tag,
    so the first pattern's reading won silently (12.4 for a build naming 12.8 too)."""
    with pytest.raises(CudaError, match="two CUDA tags"):
        if build:
            extract_conda("faiss-gpu", "1.8.0", build, [], [])
        else:
            extract("nunchaku", version)


@pytest.mark.parametrize("after", [gzip.compress(b"EXTRA"), b"junk" * 100])
def test_bytes_after_a_gzip_pages_stream_end_do_not_spin(after: bytes) -> None:
    """Attack: a gzip page over 64 KiB inflated, then anything (a second gzip member, as
    ``cat a.gz b.gz`` makes, or junk). Past the stream's end zlib kept the rest as the
    unconsumed tail and gave nothing for it, so the inflating loop fed it back for ever."""
    body = b"<html>" + b"<a href='x-1.0.whl'>x</a>\n" * 5000
    request = httpx.Request("GET", "https://h/simple/x/")
    headers = {"content-encoding": "gzip"}
    answer = httpx.Response(
        200, headers=headers, content=gzip.compress(body) + after, request=request
    )
    started = time.monotonic()
    assert read_bounded(answer, "https://h/simple/x/") == body
    assert time.monotonic() - started < 5
