"""RECORD regenerated, sorted, once every file of a distribution is final."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import posixpath
from pathlib import Path

from mlenv.install.checks import VettedWheel
from mlenv.install.layout import Layout


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def write_record(
    root: Path, layout: Layout, wheel: VettedWheel, files: dict[str, tuple[str, int]]
) -> None:
    """RECORD paths are relative to site-packages, scripts and data reach it through ``..``."""
    record = f"{wheel.dist_info}/RECORD"
    rows = [
        (posixpath.relpath(path, layout.site), digest, str(size))
        for path, (digest, size) in files.items()
    ]
    rows.append((posixpath.relpath(record, layout.site), "", ""))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(sorted(rows))
    (root / record).write_bytes(buffer.getvalue().encode())
