"""Hundred-eighty-eighth adversary pass: the TOML bounds (``limits._key_problem``) read as a
differential against tomllib, and tomllib's costs inside them.

Three gaps, closed in ``_key_problem``: a quote closing a value on a key's line paired with a
quote after the key, so the key-part scanner saw one quoted part where tomllib saw thousands of
dotted ones (a 200 kB inline table took tomllib 53 s); a run of blanks and dots was scanned
again from each blank (160 kB of ``a . a . a`` took the bound itself 65 s); one 16 MB number
held 2 GB in tomllib's number pattern. Keys and numbers are now counted in the structure
(strings and comments gone, as the value count already was), each run read once."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv import limits
from mlenv.limits import MAX_KEY_PARTS, MAX_TOML_CHARS, MAX_TOML_DIGITS, parse_toml
from tests.support.toml_grammar import document


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


# 1. The lexer agrees with tomllib on every string and comment form


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.booleans().flatmap(lambda long_key: document(long_key=long_key)))
def test_the_structure_is_what_tomllib_reads_outside_strings_and_comments(doc: Any) -> None:
    """Documents from the grammar (basic, literal and multi-line strings with escaped quotes,
    line-ending backslashes and one or two closing quotes of their own; quoted and dotted keys;
    comments holding quotes; CRLF; arrays and inline tables): tomllib reads every string as
    the generator wrote it, the lexer leaves exactly the structure, and a key of more than
    MAX_KEY_PARTS parts is refused wherever it stands, one of fewer is not."""
    text = "".join(doc.text)
    decoded = tomllib.loads(text)
    strings = [s for s in _strings(decoded) if not (s[:1] == "k" and s[1:].isdigit())]
    assert sorted(strings) == sorted(doc.strings)
    lines = "".join(doc.structure).replace("\r\n", "\n")  # tomllib's first step
    assert limits._INERT.sub("", text).replace("\r\n", "\n") == lines  # a comment takes \r
    problem = limits._key_problem(text)
    if max(doc.key_parts, default=0) > MAX_KEY_PARTS:
        assert problem is not None and "dotted parts" in problem
    else:
        assert problem is None
        assert parse_toml(text) == decoded


# 2. A quote closing a value does not pair with one after a key to hide the key's parts


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('t = {s = "", ', ' = ".x="}'),  # the closing quote of "" opens a "part" to ".x="
        ("t = {s = '', ", " = '.x='}"),
        ('t = {s = "v ", ', ' = ".x="}'),
        ('t = [{s = ""}, {', ' = [".x]"]}]'),
        ('t = {s = "", ', '."." = "=x"}'),
    ],
)
def test_a_key_of_many_parts_after_a_string_on_its_line_is_refused(before: str, after: str) -> None:
    """Before: the scanner read ``", a.a.a ... = "`` as one quoted key part followed by
    ``.x`` and ``=``, counted one dot, and let tomllib build the key a part at a time (a
    tuple copied per part: 100,000 parts, 200 kB, took 53 s; 16 MB, hours)."""
    text = before + "a." * 100_000 + "a" + after + "\n"
    with pytest.raises(tomllib.TOMLDecodeError, match="more than 16 dotted parts"):
        parse_toml(text)
    short = before + "a." * (MAX_KEY_PARTS - 2) + "a" + after + "\n"
    assert parse_toml(short) == tomllib.loads(short)


@pytest.mark.parametrize("part", ["a", '"a"', "'a'"])
def test_dots_between_blanks_are_scanned_once(part: str) -> None:
    """Before: a run that was no key (no ``=`` after it) was scanned again from each blank
    in it, so the bound itself was quadratic (160 kB of ``a . a . a`` took 65 s; this one,
    about half an hour). Now it is read once and tomllib refuses the value."""
    text = "x = " + f"{part} . " * 100_000 + "\n"
    with pytest.raises(tomllib.TOMLDecodeError, match=r"at line 1, column"):  # tomllib's
        parse_toml(text)


# 3. A number's digits are bounded (tomllib's pattern holds ~120 bytes a digit)


@pytest.mark.parametrize(
    "number",
    [
        "1." + "1" * (MAX_TOML_CHARS - 20),
        "0x" + "f" * (MAX_TOML_CHARS - 20),
        "1" + "_1" * 8_000_000,
    ],
    ids=["float", "hex", "decimal"],
)
def test_a_number_of_millions_of_digits_is_refused_before_tomllib_reads_it(number: str) -> None:
    """Before: one 16 MB float held 2.2 GB for 10 s, a hex integer 2 GB, and a decimal one
    1 GB before its digit limit refused it."""
    with pytest.raises(tomllib.TOMLDecodeError, match="number of more than 100,000 digits"):
        parse_toml("a = 1\nx = " + number + "\n")


def test_long_digit_runs_in_strings_and_comments_and_short_numbers_are_read() -> None:
    digits = "0123456789abcdef" * 7_000
    zeros = "0" * MAX_TOML_DIGITS
    text = f'h = "{digits}"\n# {digits}\nm = """\n{digits}\n"""\nn = 1.{zeros[1:]}\n'
    assert parse_toml(text + f"f = 0x{zeros[1:]}\n")["n"] == 1.0
    with pytest.raises(tomllib.TOMLDecodeError, match="at line 7"):
        parse_toml(text + f"g = 1.{zeros}0\n")
