"""An index entry for a wheel with nothing known ahead (no hash, size or PEP 658 metadata): what
the metadata readers are handed when they must open the wheel itself; and a JSON page of one
wheel with the upload time a test chooses."""

from __future__ import annotations

import json

from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.index.model import IndexFile


def plain_wheel_file(name: str, url: str, index_url: str) -> IndexFile:
    return IndexFile(
        name=canonicalize_name(name),
        version=Version("1.0"),
        filename=f"{name}-1.0-py3-none-any.whl",
        url=url,
        index_url=index_url,
        sha256=None,
        size=None,
        requires_python=None,
        yanked=None,
        tags=frozenset(),
        is_wheel=True,
        has_metadata=False,
        metadata_sha256=None,
    )


def dated_page(upload_time: object = ...) -> bytes:
    """A PEP 691 JSON page of one wheel, a-1.0, whose ``upload-time`` is ``upload_time`` as
    JSON holds it (``...``: the key left out)."""
    entry: dict[str, object] = {"filename": "a-1.0-py3-none-any.whl", "hashes": {}}
    entry["url"] = entry["filename"]
    if upload_time is not ...:
        entry["upload-time"] = upload_time
    return json.dumps({"meta": {"api-version": "1.1"}, "files": [entry]}).encode()
