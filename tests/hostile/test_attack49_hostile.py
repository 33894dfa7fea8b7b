"""Adversary pass 49: a big wheel member read by mlenv's own zip reader (``inflate``), held to
zipfile (and so to pip, which reads wheels with it).

A member whose CRC-32 was wrong was installed (zipfile and pip refuse it); the bytes after a
member's deflate stream were all read and kept by the inflater, copied whole on every read
(memory and time growing with them, while zipfile stops at the stream's end); and a local
header naming its member in UTF-8 under a cp437 directory entry, which zipfile reads, was
refused."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mlenv.direct import BIG
from mlenv.install.inflate import member_chunks
from mlenv.install.safety import InstallError
from mlenv.install.wheels import install_environment
from mlenv.redaction import redact, redact_urls
from mlenv.report import MemoryReporter
from tests.support.old_redact import reference_redact
from tests.support.wheels import build_wheel

SITE = "lib/python3.11/site-packages"
CONTENT = os.urandom(BIG // 2) + b"a" * (BIG // 2 + 4097)
_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")


def _rewrap(data: bytes, target: str, **change: Any) -> bytes:
    """The zip rebuilt member by member from its raw data, ``target``'s fields changed: raw,
    flags, local_flags, crc, name, local_name (bytes as written)."""
    out, central = io.BytesIO(), []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
            start = info.header_offset + _LOCAL.size + len(name)
            fields: dict[str, Any] = {
                "raw": data[start : start + info.compress_size],
                "flags": info.flag_bits,
                "crc": info.CRC,
                "name": name,
            }
            if info.filename == target:
                fields.update(change)
            local_name = fields.get("local_name", fields["name"])
            raw, offset = fields["raw"], out.tell()
            head = (info.compress_type, 0, 0x21, fields["crc"], len(raw), info.file_size)
            local_flags = fields.get("local_flags", fields["flags"])
            out.write(_LOCAL.pack(b"PK\x03\x04", 20, local_flags, *head, len(local_name), 0))
            out.write(local_name + raw)
            lengths = (len(fields["name"]), 0, 0, 0, 0, info.external_attr, offset)
            entry = _CENTRAL.pack(b"PK\x01\x02", 20, 20, fields["flags"], *head, *lengths)
            central.append(entry + fields["name"])
    directory = b"".join(central)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(directory), out.tell(), 0)
    return out.getvalue() + directory + end


def _wheel(directory: Path, member: str, **change: Any) -> Path:
    name, data = build_wheel("big", "1.0", files={"big/__init__.py": b"", member: CONTENT})
    directory.mkdir(parents=True)
    (directory / name).write_bytes(_rewrap(data, member, **change))
    return directory / name


def _raw(member: str) -> tuple[bytes, int]:
    _, data = build_wheel("big", "1.0", files={"big/__init__.py": b"", member: CONTENT})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset + _LOCAL.size + len(member.encode())
    return data[start : start + info.compress_size], info.CRC


def _install(wheel: Path, staging: Path) -> None:
    install_environment(
        [wheel],
        staging,
        prefix="/opt/mlenv/t",
        interpreter="/usr/bin/python3.11",
        python="3.11",
        reporter=MemoryReporter(),
    )


def test_a_big_member_whose_crc_is_wrong_is_refused_as_zipfile_refuses_it(
    tmp_path: Path,
) -> None:
    """Attack: RECORD's hash and size are right, the CRC-32 is not. zipfile (so pip) refuses
    the member; the big-member reader skipped the CRC and installed it."""
    _, crc = _raw("big/odd.bin")
    wheel = _wheel(tmp_path / "wheels", "big/odd.bin", crc=crc ^ 1)
    with zipfile.ZipFile(wheel) as archive, pytest.raises(zipfile.BadZipFile, match="CRC"):
        archive.read("big/odd.bin")
    with pytest.raises(InstallError, match=r"big/odd\.bin.*CRC") as raised:
        _install(wheel, tmp_path / "stage")
    assert raised.value.where == wheel.name
    assert not (tmp_path / "stage").exists()


def test_bytes_after_a_big_members_deflate_stream_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: 32 MiB of junk after the member's deflate stream, inside its compressed size.
    zipfile stops at the stream's end and gives the member; the reader fed the junk on to the
    inflater, which kept it all (and copied it whole on each call): memory and time without
    bound in the junk. Now it is not read, and the member is zipfile's bytes."""
    raw, _ = _raw("big/odd.bin")
    wheel = _wheel(tmp_path / "wheels", "big/odd.bin", raw=raw + b"J" * (32 << 20))
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("big/odd.bin") == CONTENT
        info = archive.getinfo("big/odd.bin")
    read = []
    real_pread = os.pread

    def counting(fd: int, size: int, offset: int) -> bytes:
        data = real_pread(fd, size, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", counting)
    assert b"".join(member_chunks(wheel, info, 1 << 20)) == CONTENT
    assert sum(read) < len(raw) + (1 << 20)
    monkeypatch.undo()
    _install(wheel, tmp_path / "stage")
    assert (tmp_path / "stage" / SITE / "big/odd.bin").read_bytes() == CONTENT


def test_a_local_utf8_name_under_a_cp437_entry_is_read_as_zipfile_reads_it(
    tmp_path: Path,
) -> None:
    """zipfile decodes the local header's name as the local header's own UTF-8 flag says;
    the reader used the directory's flag and refused a member zipfile (and pip) install."""
    member = "big/é.bin"
    wheel = _wheel(
        tmp_path / "wheels",
        member,
        flags=0,
        name=member.encode("cp437"),
        local_flags=0x800,
        local_name=member.encode(),
    )
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(member) == CONTENT
    _install(wheel, tmp_path / "stage")
    assert (tmp_path / "stage" / SITE / member).read_bytes() == CONTENT


WHEEL_NAMES = [
    "github_pat_tools_for_enterprise_automation-1.0-py3-none-any.whl",
    "glpat-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "xoxb-2024-py3-none-any.whl",
    "xoxp-20240101-1-py3-none-any.whl",
    "hf_HubIntegrationToolsForAzureMLStudio-1.0-py3-none-any.whl",
    "npm_PackageMirrorClientForInternalUseOnly-2.0-py3-none-any.whl",
]


@pytest.mark.parametrize("name", WHEEL_NAMES)
def test_a_wheel_file_name_starting_like_a_token_stays_whole_in_a_lock_url(name: str) -> None:
    """Attack on ``redaction_lines.KNOWN_TOKEN``: ``redact_urls`` writes a lock's URLs, and a
    project named ``github-pat-tools-...``, ``glpat`` or ``xoxb`` (lower-case, its version and
    tags after a ``-``), or one whose CamelCase name starts ``hf_``/``npm_``, had its file
    name cut to ``xoxb-***.whl``: a lock no index answers."""
    url = f"https://files.example/packages/ab/cd/{name}#sha256={'0' * 64}"
    assert redact_urls(url) == url == redact(url) == reference_redact(url)


TOKENS = [
    "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "xoxp-2706893405-2706893417-2707437744-6bd9a4d3b6c3d38e2d1e4c9c1f1a4c1c",
    "github_pat_11ABCDEFG0123456789abcd_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghijklmnopq",
    "glpat-AbCdEf1234567890xyza",
    "hf_" + "AbCd" * 9,
]


@pytest.mark.parametrize("token", TOKENS)
def test_a_token_is_still_hidden(token: str) -> None:
    """The narrower rule still hides each token's real shape, bare or in a URL's path."""
    for text in (token, f"https://h/{token}/simple", f"run with {token} now"):
        for shown in (redact(text), redact_urls(text)):
            assert token not in shown and token[:3] in shown, shown
        assert reference_redact(text) == redact(text)


@pytest.mark.parametrize("name", ["jwt", "id_jwt", "otp", "hmac", "login.otp"])
def test_a_jwt_otp_or_hmac_parameter_is_hidden(name: str) -> None:
    """Attack on ``redaction._SECRET_NAME``: an index URL signed with ``?jwt=eyJ...`` (or a
    one-time ``otp``, an ``hmac``) was recorded and shown whole."""
    text = f"https://idx.example/simple/?{name}=eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig&page=2"
    for shown in (redact_urls(text), redact(text)):
        assert shown == f"https://idx.example/simple/?{name}=***&page=2"
    assert reference_redact(text) == redact(text)
