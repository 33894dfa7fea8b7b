"""Parsed PEP 508 requirements, memoised: the resolver and the CUDA rules read the same
Requires-Dist lines (cuda-toolkit alone has hundreds), and parsing dominates a cold lock."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from mlenv.lazy_pattern import LazyPattern
from mlenv.names import NAME


@lru_cache(maxsize=8192)
def requirement(text: str) -> Requirement:
    """The parsed requirement; callers must not mutate it (it is shared).

    Its marker must be one every target can evaluate: packaging parses ``python_version ~=
    "abc"``, ``sys_platform ~= "linux"`` or ``"a" in extras`` but raises when it evaluates
    them, which made a Requires-Dist line crash a lock. Such a line is an
    ``InvalidRequirement``, which every reader already turns into an error naming its source.
    """
    parsed = _parse(text)
    if parsed.marker is not None:
        _evaluable(parsed.marker)
    return parsed


def metadata_requirement(text: str) -> Requirement:
    """A Requires-Dist line of an index's distribution, as uv reads it: ``requirement(text)``,
    else with the slips real wheels carry in its version specifier repaired (``lenient``). The
    one reading for the resolver, fetch's METADATA check and the CUDA rules, so all three take
    the same dependency; a line still unreadable raises the original line's error."""
    try:
        return requirement(text)
    except InvalidRequirement as original:
        head, semicolon, marker = text.partition(";")
        start = _SPECIFIER_START.search(head)
        if "@" in head or start is None:
            raise
        fixed = head[: start.start()] + lenient(head[start.start() :]) + semicolon + marker
        try:
            return requirement(fixed)
        except InvalidRequirement:
            raise original from None


_SPECIFIER_START = LazyPattern(r"[<>=!~]")  # no name or extra holds one of these
_STARRED_BOUND = re.compile(r"(>=|<=|>|<)(\s*[0-9][0-9.]*)\.\*")
_MISSING_COMMA = re.compile(r"(?<=[0-9*])(?=[<>~]|[!=]=)")  # the 6< of >=3.6<4, not 1!2
_QUOTES = re.compile(r"['\"]")


def lenient(specifiers: str) -> str:
    """Version specifiers as uv reads them from an index's metadata (a Requires-Python, or a
    Requires-Dist line's): ``>=3.6.*`` (no PEP 440 specifier, but on real wheels) is
    ``>=3.6``, a missing comma is put back (``>=3.6<4``), quotes are dropped (``>= '3.6'``) and
    a trailing comma too. pip ignores such a Requires-Python; both install the wheel."""
    repaired = _MISSING_COMMA.sub(",", _QUOTES.sub("", specifiers))
    return _STARRED_BOUND.sub(r"\1\2", repaired).strip().rstrip(",")


def _evaluable(marker: Marker) -> None:
    """Refuse a marker that evaluating raises for: tried once on a Linux target, which answers
    for every target (an undefined comparison depends on the operator, the variable and the
    literal, or on a variable whose value has the same shape on every target). Lines share
    their parsed markers, so each is tried once (remembered by identity, as ``marker_holds``
    does: a data-stack lock checks 140 markers for 700 lines)."""
    if _EVALUABLE.get(id(marker)) is marker:
        return
    try:
        marker_holds(marker, _PROBE)
    except (UndefinedComparison, UndefinedEnvironmentName, ValueError) as exc:
        raise InvalidRequirement(f"its marker cannot be evaluated ({exc})") from None
    if len(_EVALUABLE) >= _MAX_HOLDS:
        _EVALUABLE.clear()
    _EVALUABLE[id(marker)] = marker


# target.Target.markers of linux-64, CPython 3.11 (only the values' shapes matter)
_PROBE = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.0",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.11.0",
    "python_version": "3.11",
    "sys_platform": "linux",
}


def _parse(text: str) -> Requirement:
    """``Requirement(text)``, faster.

    A line with a marker is parsed as its two halves, each memoised: one wheel's Requires-Dist
    repeats a few markers (``extra == "torch"``) over hundreds of lines, and the marker is most
    of the parsing. The result equals ``Requirement(text)``; anything the halves do not parse
    (and every URL requirement, where ``;`` may belong to the URL) takes the full parser, so the
    errors are its errors.
    """
    if _LONG_NUMBER.search(text):  # packaging would raise a plain ValueError when comparing
        raise InvalidRequirement(f"a number of more than {_MAX_DIGITS} digits")
    if text.count("(") > _MAX_NESTING and _nesting(text) > _MAX_NESTING:
        raise InvalidRequirement(f"parentheses nested more than {_MAX_NESTING} deep")
    head, semicolon, marker = text.partition(";")
    if "@" in head or not _ASSEMBLABLE:
        return Requirement(text)
    if not semicolon:
        return _head(text)
    try:
        front, back = _head(head), _marker(marker)
    except (InvalidRequirement, InvalidMarker):
        return Requirement(text)
    # Assembled from its public attributes: copy.copy would re-parse (packaging pickles a
    # Requirement as its string).
    parsed = Requirement.__new__(Requirement)
    parsed.name, parsed.url, parsed.extras = front.name, front.url, front.extras
    parsed.specifier, parsed.marker = front.specifier, back
    return parsed


# No version or marker value has a number this long; past 4,300 digits Python refuses to
# convert it, and packaging lets that ValueError out of a comparison.
_MAX_DIGITS = 1000
_LONG_NUMBER = re.compile(rf"[0-9]{{{_MAX_DIGITS + 1}}}")
# packaging parses a marker's parentheses recursively: a few hundred nested ones (a wheel's
# Requires-Dist line) raised RecursionError, not InvalidRequirement, and crashed a lock or fetch.
_MAX_NESTING = 50


def _nesting(text: str) -> int:
    """How deep the parentheses of ``text`` nest."""
    depth = deepest = 0
    for char in text:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


# A Requirement is exactly these attributes (packaging's __slots__); were it ever more, every
# line takes the full parser.
_ASSEMBLABLE = set(getattr(Requirement, "__slots__", ())) <= {
    "extras", "marker", "name", "specifier", "url"
}  # fmt: skip


@lru_cache(maxsize=8192)
def _head(text: str) -> Requirement:
    return _simple_head(text) or Requirement(text)


_CLAUSE = r"(?:==|~=|!=|<=|>=|<|>)[^,;()\[\]@\s]+"
# Every run of blanks follows a token it cannot be part of and no two runs touch: adjacent
# optional runs made a failing match cubic in the blanks (4,000 spaces took 50 s).
_SIMPLE_HEAD = re.compile(
    rf"[ \t]*(?P<name>{NAME})[ \t]*"
    rf"(?:\[[ \t]*(?:(?P<extras>{NAME}(?:[ \t]*,[ \t]*{NAME})*)[ \t]*)?\][ \t]*)?"
    rf"(?:(?P<specifier>{_CLAUSE}(?:[ \t]*,[ \t]*{_CLAUSE})*)[ \t]*)?"
)
_COMMA = re.compile(r"[ \t]*,[ \t]*")


def _simple_head(text: str) -> Requirement | None:
    """``Requirement(text)`` for the plain shape nearly every Requires-Dist line has (``name``,
    ``[extras]``, comma-separated clauses with no space after the operator), read with one
    regular expression: packaging's tokenizer costs ten times as much, and a lock has hundreds
    of distinct lines. Each clause is still judged by packaging's ``SpecifierSet``; anything
    else (parentheses, ``===``, whatever packaging might refuse) returns None, for the full
    parser and its errors."""
    match = _SIMPLE_HEAD.fullmatch(text)
    if match is None or "===" in text:
        return None
    try:
        specifier = SpecifierSet(match["specifier"] or "")
    except InvalidSpecifier:
        return None
    parsed = Requirement.__new__(Requirement)
    parsed.name, parsed.url, parsed.specifier, parsed.marker = match["name"], None, specifier, None
    parsed.extras = set(_COMMA.split(match["extras"])) if match["extras"] else set()
    return parsed


@lru_cache(maxsize=4096)
def _marker(text: str) -> Marker:
    return Marker(text)


def marker_holds(marker: Marker, environment: Mapping[str, str], extra: str = "") -> bool:
    """``marker`` evaluated for the target, memoised: the same parsed markers are evaluated
    again for every extra and every platform, and evaluating them dominates a warm lock.

    Keyed by the marker object's identity (a Marker hashes by re-serialising itself, which
    costs as much as evaluating it); the entry holds the marker, so its id cannot be reused.
    """
    # In the mapping's own order, unsorted: a key is still exactly the values evaluated, and
    # every caller hands over a target's markers built in one order.
    key = (id(marker), tuple(environment.items()), extra)
    known = _HOLDS.get(key)
    if known is not None and known[0] is marker:
        return known[1]
    result = marker.evaluate({**environment, "extra": extra})
    if len(_HOLDS) >= _MAX_HOLDS:
        _HOLDS.clear()
    _HOLDS[key] = (marker, result)
    return result


_MAX_HOLDS = 1 << 16
_EVALUABLE: dict[int, Marker] = {}  # the entry holds the marker, so its id cannot be reused
_HOLDS: dict[tuple[int, tuple[tuple[str, str], ...], str], tuple[Marker, bool]] = {}


def marker_text(marker: Marker) -> str:
    """``str(marker)``, memoised by identity like ``marker_holds``: the CUDA rules and the
    extras of a candidate read the text of each line's marker, and lines share their markers."""
    known = _TEXTS.get(id(marker))
    if known is not None and known[0] is marker:
        return known[1]
    text = str(marker)
    if len(_TEXTS) >= _MAX_HOLDS:
        _TEXTS.clear()
    _TEXTS[id(marker)] = (marker, text)
    return text


_TEXTS: dict[int, tuple[Marker, str]] = {}
