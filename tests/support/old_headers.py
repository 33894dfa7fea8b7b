"""``index.model._plain_headers`` as it was before round 17 made it two regular-expression
scans: the line-by-line reader the scans are held to."""

from __future__ import annotations

import re

_HEADER = re.compile(rb"([!-9;-~]+):[ \t]*(.*)")  # as the email parser splits a header line
_PLAIN_VALUE = re.compile(rb"[ -~\t]*")
_FIELDS = (b"name", b"version", b"requires-dist", b"requires-python", b"provides-extra")


def old_plain_headers(data: bytes) -> dict[bytes, list[str]] | None:
    end = data.find(b"\n\n")
    head = data.removesuffix(b"\n") if end < 0 else data[:end]
    if data.startswith(b"\n") or b"\r" in head:
        return None
    fields: dict[bytes, list[str]] = {}
    wanted = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):  # continues the previous header
            if wanted:
                return None
            continue
        match = _HEADER.fullmatch(line)
        if match is None or line.startswith(b"From "):
            return None
        key = match.group(1).lower()
        wanted = key in _FIELDS
        if wanted:
            value = match.group(2)
            if _PLAIN_VALUE.fullmatch(value) is None:
                return None
            fields.setdefault(key, []).append(value.decode("ascii"))
    return fields
