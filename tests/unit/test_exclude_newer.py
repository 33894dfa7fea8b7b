"""``[pypi] exclude-newer`` and PEP 700 upload times: one RFC 3339 grammar (``instants``), the
manifest key's spellings and refusals, its place in the lock's inputs (full and fast path),
and uv's rule for a file (``exclude_newer.excluded``)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv import inputs
from mlenv.errors import ManifestError
from mlenv.exclude_newer import UNDATED, UPLOADED_LATER, excluded
from mlenv.index.model import make_file
from mlenv.index.pages import parse_json
from mlenv.instants import cutoff, instant, spelled
from mlenv.limits import parse_toml
from mlenv.lockfile_fresh import resolution_inputs
from mlenv.manifest_read import loads
from mlenv.toml_strings import basic
from tests.support.index_files import dated_page

BASE = '[environment]\nname = "x"\npython = "3.12"\n[pypi]\ndependencies = ["a"]\n'
INSTANTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


def _manifest(value: str) -> str:
    return BASE + f"exclude-newer = {basic(value)}\n"


@given(INSTANTS)
def test_an_instant_reads_back_as_mlenv_spells_it(when: datetime) -> None:
    assert instant(spelled(when)) == when
    assert cutoff(spelled(when)) == when


@given(INSTANTS, st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
def test_an_offset_names_the_same_instant_in_utc(when: datetime, minutes: int) -> None:
    local = when.astimezone(timezone(timedelta(minutes=minutes)))
    assert instant(local.isoformat()) == when


@given(st.dates(max_value=date(9999, 12, 30)))
def test_a_plain_date_is_the_midnight_that_ends_it_in_utc(day: date) -> None:
    """uv: ``2006-12-02`` is 2006-12-03T00:00:00, so files of the 2nd are taken."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert cutoff(day.isoformat()) == midnight + timedelta(days=1)


REFUSED = [
    "2026-01-01T00:00:00",  # no offset: another instant on every runner
    "2026-01-01 00:00",  # no seconds
    "2026-13-01T00:00:00Z",
    "2026-02-30",
    "2026-01-01T24:00:00Z",
    "2026-01-01T00:00:00+24:00",
    "9999-12-31",  # its end is past what a timestamp holds
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "\u0662\u0660\u0662\u0666-01-01",  # Arabic-Indic digits
    "\uff12\uff10\uff12\uff16-01-01T00:00:00Z",  # full-width digits
    "9" * 10_000 + "-01-01T00:00:00Z",
    "+2026-01-01",
    "2026-1-1",
    "3 weeks",  # uv's relative span: a lock must not depend on the clock
    "12/02/2006",
    "",
]


@pytest.mark.parametrize("text", REFUSED)
def test_what_is_no_cutoff_is_refused_naming_file_key_value_and_an_example(text: str) -> None:
    assert cutoff(text) is None
    with pytest.raises(ManifestError) as caught:
        loads(_manifest(text), source="proj/mlenv.toml")
    shown = str(caught.value) + "\n".join(p.render() for p in caught.value.problems)
    assert "proj/mlenv.toml: [pypi].exclude-newer" in shown
    assert 'exclude-newer = "2026-01-01T00:00:00Z"' in shown  # the example
    if text.isprintable() and len(text) < 100:
        assert repr(text) in shown


@given(st.text(max_size=60))
def test_any_text_is_a_cutoff_or_a_located_refusal(text: str) -> None:
    try:
        manifest = loads(_manifest(text))
    except ManifestError as exc:
        assert any("exclude-newer" in p.where for p in exc.problems)
    else:
        assert manifest.pypi.exclude_newer == cutoff(text) is not None


def test_not_a_string_is_refused_as_a_type() -> None:
    with pytest.raises(ManifestError) as caught:
        loads(BASE + "exclude-newer = 2026-01-01T00:00:00Z\n")  # a TOML datetime
    assert "expected a string" in caught.value.problems[0].message


def test_show_and_the_inputs_hash_carry_one_spelling() -> None:
    by_date = loads(_manifest("2026-01-01"))
    by_instant = loads(_manifest("2026-01-02T01:00:00+01:00"))
    assert by_date.to_dict()["pypi"]["exclude-newer"] == "2026-01-02T00:00:00Z"
    assert resolution_inputs(by_date) == resolution_inputs(by_instant)
    assert "exclude-newer" not in resolution_inputs(loads(BASE))["pypi"]  # older locks' hash
    later = loads(_manifest("2026-01-03"))
    assert inputs.digest(resolution_inputs(later)) != inputs.digest(resolution_inputs(by_date))


@pytest.mark.parametrize("text", ["2026-01-02T00:00:00Z", "2026-01-01", "2026-01-02T00:00:00z"])
def test_the_fast_path_agrees_or_defers_to_the_full_reader(text: str) -> None:
    """The no-op ``lock`` hashes the value as written: equal to the full reader's for mlenv's
    own spelling, and matching no lock for another, which the full reader then judges."""
    manifest_text = _manifest(text)
    fast = inputs.toml_inputs(parse_toml(manifest_text))
    manifest = loads(manifest_text)
    assert fast is not None and manifest.pypi.exclude_newer is not None
    assert (fast == resolution_inputs(manifest)) is (text == spelled(manifest.pypi.exclude_newer))


def test_uvs_rule_for_one_file() -> None:
    page = parse_json(dated_page("2026-01-01T00:00:00.5Z"), "https://i.example/simple/a/")
    (link,) = page
    assert link.upload_time == datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    file = make_file(link, project=None, index_url="https://i.example/simple")
    assert file is not None and file.upload_time == link.upload_time
    assert excluded(file, datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)) is None
    # uv: ``upload_time >= cutoff`` is excluded, so the cutoff instant itself is
    assert excluded(file, datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)) == UPLOADED_LATER
    (undated,) = parse_json(dated_page(...), "https://i.example/simple/a/")
    bare = make_file(undated, project=None, index_url="https://i.example/simple")
    assert bare is not None and excluded(bare, datetime(9999, 1, 1, tzinfo=UTC)) == UNDATED


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2026-01-01", True),
        ("2026-01-01T00:00:00Z", True),
        ("2026-01-01T00:00:00.123+05:30", True),
        ("2026-01-01T00:00:00", False),
        ("3 weeks", False),
        ("12/02/2006", False),
        ("\uff12\uff10\uff12\uff16-01-01", False),
    ],
)
def test_the_schema_judges_the_spelling_as_the_parser_does(text: str, valid: bool) -> None:
    """Editors read schemas/mlenv.schema.json; ranges (February 30) are beyond a pattern."""
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "mlenv.schema.json").read_text())
    data = tomllib.loads(_manifest(text))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert (errors == []) is valid
    assert (cutoff(text) is not None) is valid


def test_a_time_without_an_offset_is_told_to_state_one() -> None:
    with pytest.raises(ManifestError) as caught:
        loads(_manifest("2026-01-01T00:00:00"))
    assert "a time without an offset (Z or +hh:mm)" in caught.value.problems[0].message
