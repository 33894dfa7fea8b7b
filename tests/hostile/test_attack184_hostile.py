"""Attack 184: an index's PEP 700 ``upload-time`` chosen to slip a file past ``[pypi]
exclude-newer`` or to break the page reader.

The upload time is read once, where a JSON page is parsed (``pages.parse_json`` through
``instants.instant``); a value that is not an RFC 3339 instant with an offset is as good as
none, and an undated file is never a candidate under a cutoff (uv's rule). So a hostile value
can only remove its own file, never let a file uploaded after the cutoff in, never slow the
reader (10k-digit years are not parsed) and never fail the page (a wrong type is no error).

What each value does (mlenv read no upload time before ``exclude-newer``; found while building
it: ``instants.spelled`` wrote the year 999 as ``999-...`` through ``strftime``, which no reader
took back, now ``0999-...``, ``tests/unit/test_exclude_newer.py``):

- ``upload-time`` of another type (a number, a list, an object, null, true) -> ignored: the
  file is undated, refused under a cutoff, taken without one.
- a year of 10,000 digits, a month 13, February 30, second 61, an offset of +24:00 or more,
  ``9999-12-31T23:59:59-01:00`` (past what a timestamp holds), ``0001-01-01T00:00:00+01:00``
  -> undated, no exception.
- a local time (no offset: ``2020-01-01T00:00:00``) -> undated: it names another instant on
  every runner, so it cannot date a file.
- digits of another script (Arabic-Indic, full-width, which ``int`` reads) -> undated
  (``re.ASCII``).
- an offset that moves a late upload before the cutoff as written but not in UTC
  (``2026-01-01T01:00:00+02:00`` is 2025-12-31T23:00Z) -> compared in UTC: taken only when
  the instant is before the cutoff.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.exclude_newer import UNDATED, UPLOADED_LATER, excluded
from mlenv.index.model import IndexFile, make_file
from mlenv.index.pages import parse_json
from mlenv.instants import instant
from tests.support.index_files import dated_page

CUTOFF = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = "https://i.example/simple/a/"


def _file(upload_time: object) -> IndexFile:
    (link,) = parse_json(dated_page(upload_time), PAGE)
    file = make_file(link, project=None, index_url="https://i.example/simple")
    assert file is not None
    return file


HOSTILE: list[object] = [
    1767225600,
    1767225600.5,
    ["2020-01-01T00:00:00Z"],
    {"time": "2020-01-01T00:00:00Z"},
    None,
    True,
    "9" * 10_000 + "-01-01T00:00:00Z",
    "2020-13-01T00:00:00Z",
    "2020-02-30T00:00:00Z",
    "2020-01-01T00:00:61Z",
    "2020-01-01T00:00:00+24:00",
    "2020-01-01T00:00:00+99:99",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "2020-01-01T00:00:00",
    "2020-01-01",
    "\u0662\u0660\u0662\u0660-01-01T00:00:00Z",
    "\uff12\uff10\uff12\uff10-01-01T00:00:00Z",
    "2020-01-01T00:00:00Z\n",
    " 2020-01-01T00:00:00Z",
    "2020-01-01T00:00:00.1234567890Z",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_upload_time_leaves_the_file_undated_and_refused(value: object) -> None:
    file = _file(value)
    assert file.upload_time is None
    assert excluded(file, CUTOFF) == UNDATED


@given(st.text(max_size=80) | st.integers() | st.floats() | st.none() | st.booleans())
def test_any_value_is_an_instant_or_none_and_never_raises(value: object) -> None:
    file = _file(value)
    assert file.upload_time is None or file.upload_time.tzinfo is UTC
    assert excluded(file, CUTOFF) in (None, UNDATED, UPLOADED_LATER)


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        ("2026-01-01T01:00:00+02:00", None),  # 2025-12-31T23:00Z: before
        ("2025-12-31T23:00:00-02:00", UPLOADED_LATER),  # 2026-01-01T01:00Z: after
        ("2025-12-31T23:59:59.999999Z", None),
        ("2026-01-01T00:00:00Z", UPLOADED_LATER),  # the cutoff itself (uv: >=)
        ("2026-01-01t00:00:00z", UPLOADED_LATER),  # RFC 3339 allows either case
    ],
)
def test_an_offset_is_judged_in_utc(value: str, verdict: str | None) -> None:
    assert excluded(_file(value), CUTOFF) == verdict


def test_a_10k_digit_year_is_not_parsed() -> None:
    """Refused by length before any digit is read: CPython's int limit is never met."""
    assert instant("1" * 10_000 + "-01-01T00:00:00Z") is None
    assert instant("1" * 41) is None
