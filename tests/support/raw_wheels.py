"""Wheels written with zipfile directly, for tests that need what no wheel builder writes
(odd members, special file modes, a lying RECORD)."""

from __future__ import annotations

import base64
import hashlib
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path

DIST_INFO = "evil-1.0.dist-info"
METADATA = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n\n"
WHEEL = b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"

Member = tuple[str | zipfile.ZipInfo, bytes]


def record_hash(data: bytes) -> str:
    """``data``'s RECORD hash field (sha256, urlsafe base64 without padding)."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def raw_wheel(
    directory: Path,
    members: Sequence[Member],
    *,
    filename: str = "evil-1.0-py3-none-any.whl",
    dist_info: str = DIST_INFO,
    metadata: bytes = METADATA,
    wheel: bytes = WHEEL,
    record: str | None = None,
) -> Path:
    """A wheel written with zipfile directly; RECORD is honest unless ``record`` is given."""
    members = [
        *members,
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", wheel),
    ]
    if record is None:
        rows = [f"{member_name(m)},{record_hash(data)},{len(data)}\n" for m, data in members]
        record = "".join(rows) + f"{dist_info}/RECORD,,\n"
    members.append((f"{dist_info}/RECORD", record.encode()))
    path = directory / filename
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" is the point of some tests
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in members:
                archive.writestr(member, data)
    return path


def member_name(member: str | zipfile.ZipInfo) -> str:
    return member if isinstance(member, str) else member.filename
