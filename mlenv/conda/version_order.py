"""Conda's version order (conda's ``VersionOrder``, which rattler's ``Version`` follows), not
PEP 440's: ``1.1.1w`` is newer than ``1.1.1v`` (openssl), which PEP 440 cannot read at all.

A version is case-folded, split at ``!`` (the epoch), ``+`` (the local part) and ``.`` or
``_``; each part into runs of digits and of other characters. Runs compare part by part, a
missing one as 0: numbers as numbers, any text below any number (``1.0a1`` before ``1.0``),
``dev`` below other text, ``post`` above every number. A part that starts with text has a 0
before it, so numbers and text stay in step. Pure.
"""

from __future__ import annotations

import re
from itertools import zip_longest
from typing import Final

_VALID = re.compile(r"[*.+!_0-9a-z]+")
_RUNS = re.compile(r"[0-9]+|[*]+|[^0-9*]+")
_POST: Final = float("inf")  # above every number
_DEV: Final = "DEV"  # upper case: below every other (lower-case) text

Run = int | float | str
Parts = list[list[Run]]


def _parts(text: str) -> list[Parts] | None:
    """The epoch-led version and local parts, or None when conda refuses the version."""
    version = text.strip().lower()
    if not _VALID.fullmatch(version) and "-" in version and "_" not in version:
        version = version.replace("-", "_")  # conda reads dashes as underscores then
    if not _VALID.fullmatch(version) or version.count("!") > 1 or version.count("+") > 1:
        return None
    epoch, _, rest = version.rpartition("!")
    if epoch and not epoch.isdigit():
        return None
    public, _, local = rest.partition("+")
    if not public:
        return None
    if public.endswith("_"):  # openssl's trailing underscore stays on the last part
        split = public[:-1].replace("_", ".").split(".")
        split[-1] += "_"
    else:
        split = public.replace("_", ".").split(".")
    found: list[Parts] = []
    for pieces in ([epoch or "0", *split], local.replace("_", ".").split(".") if local else []):
        parts: Parts = []
        for piece in pieces:
            runs: list[Run] = [_run(run) for run in _RUNS.findall(piece)]
            if not runs:
                return None
            parts.append(runs if piece[0].isdigit() else [0, *runs])
        found.append(parts)
    return found


def _run(text: str) -> Run:
    if text.isdigit():
        return int(text)
    return _POST if text == "post" else _DEV if text == "dev" else text


def _less(first: Run, second: Run) -> bool:
    if isinstance(first, str) != isinstance(second, str):
        return isinstance(first, str)  # text below numbers
    return first < second  # type: ignore[operator]  # same kind


def compare(first: str, second: str) -> int | None:
    """-1, 0 or 1 as conda orders two versions; None when conda cannot read one of them."""
    left, right = _parts(first), _parts(second)
    if left is None or right is None:
        return None
    none: list[Run] = []
    for one, other in zip(left, right, strict=True):
        for part, against in zip_longest(one, other, fillvalue=none):
            for run, opposite in zip_longest(part, against, fillvalue=0):
                if run != opposite:
                    return -1 if _less(run, opposite) else 1
    return 0
