"""RFC 3339 instants: an index's PEP 700 ``upload-time`` and ``[pypi] exclude-newer``.

One grammar for both, so a cutoff and an upload time compare as the same kind of value. Only
ASCII digits in fixed widths are read (``re.ASCII``: no other script's digits, no 10k-digit
year), a time must state its offset (a local time means another instant on every runner), and
``datetime`` judges the ranges (month 13, 25:00, February 30).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from mlenv.lazy_pattern import LazyPattern

# RFC 3339 section 5.6; "T"/"Z" in either case and a space for "T" as it allows; a fraction of
# a second to 9 digits (nanoseconds, as jiff reads uv's), cut to what datetime holds.
_INSTANT = LazyPattern(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])([01]\d|2[0-3]):([0-5]\d))",  # an offset's hour 00-23, minute 00-59
    re.ASCII,
)
_DATE = LazyPattern(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
# Longer text is no instant of this grammar; matching it would only cost time.
_MAX_CHARS = 40


def instant(text: object) -> datetime | None:
    """``text`` as an aware UTC datetime when it is an RFC 3339 date-time with an offset; None
    for anything else (not a string, no offset, out of range)."""
    if not isinstance(text, str) or len(text) > _MAX_CHARS:
        return None
    match = _INSTANT.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    second = 59 if second == 60 else second  # RFC 3339's leap second, held at :59 as jiff (uv)
    micro = int((match.group(7) or "0").ljust(6, "0")[:6])
    try:
        when = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
        if match.group(9):  # an offset: the instant is that much earlier or later in UTC
            offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
            when -= offset if match.group(9) == "+" else -offset
    except (ValueError, OverflowError):  # month 13, second 61, a year past 9999 once shifted
        return None
    return when


def cutoff(text: str) -> datetime | None:
    """``[pypi] exclude-newer``: an RFC 3339 date-time, or a plain date meaning the midnight
    that ends it in UTC (uv's reading: ``2026-01-01`` takes files uploaded on that day); None
    when ``text`` is neither."""
    if len(text) <= _MAX_CHARS and (match := _DATE.fullmatch(text)):
        try:
            day = date(*(int(part) for part in match.groups())) + timedelta(days=1)
        except (ValueError, OverflowError):  # February 30, or the day after 9999-12-31
            return None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return instant(text)


CUTOFF_HINT = (
    'write a UTC timestamp, e.g. exclude-newer = "2026-01-01T00:00:00Z", or a date, '
    'e.g. "2026-01-01" (the midnight that ends it, UTC, as uv reads it)'
)


def cutoff_problem(value: str) -> str | None:
    """Why ``value`` is no ``exclude-newer`` mlenv takes (the manifest's and uv's, imported)."""
    if cutoff(value) is not None:
        return None
    if cutoff(f"{value}Z") is not None:  # a local time: another instant on every runner
        return "a time without an offset (Z or +hh:mm) is another instant on every machine"
    return "expected an RFC 3339 timestamp or a date"


def spelled(when: datetime) -> str:
    """The one spelling of an instant mlenv writes: UTC, ``Z``, microseconds only when any."""
    # isoformat, not strftime: "%Y" writes the year 999 as "999", which no reader takes back
    return when.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
