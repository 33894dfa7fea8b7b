"""Raw tar blocks for hostile conda packages: headers as written, extension headers as given
(passes 37 and 39)."""

from __future__ import annotations

import tarfile


def tar_block(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def pax(**records: str) -> bytes:
    out = b""
    for key, value in records.items():
        body = f" {key}={value}\n"
        size = len(body) + 1
        while len(str(size)) + len(body) != size:
            size += 1
        out += f"{size}{body}".encode()
    return out


def extension_header(kind: bytes, payload: bytes) -> bytes:
    info = tarfile.TarInfo("././@PaxHeader" if kind in (b"x", b"g") else "././@LongLink")
    info.type, info.size = kind, len(payload)
    return tar_block(info) + padded(payload)


def plain_member(name: str, data: bytes, link: str | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    if link is None:
        info.size, info.mode = len(data), 0o644
        return tar_block(info) + padded(data)
    info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
    return tar_block(info)
