"""How much of anything an untrusted source may make mlenv read or do (security invariant 7).

Every bound on remote input lives here, with the one function that enforces them, so a page,
a metadata file or a requirement list that is too big fails the same clear way, naming what
and where, before the work it would cost is done. The bounds sit far above anything real
(PyPI's largest project pages are a few MB) and far below what hurts.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mlenv.errors import MlenvError, printable
from mlenv.lazy_pattern import LazyPattern

MAX_BODY_BYTES = 64 << 20  # a page, a JSON answer or a .metadata held in memory
MAX_WHEEL_BYTES = 8 << 30  # one wheel or conda package, read or spooled
MAX_PAGE_LINKS = 200_000  # files on one project page or find-links page
# HTML after a tag or comment that never closes: close() rescans it superlinearly (64 kB of
# "<a/" took 23 s before Python 3.13.5; 1 kB takes 8 ms); a real page leaves under 40 bytes
MAX_UNTERMINATED = 1 << 10
MAX_REQUIRES_DIST = 10_000  # Requires-Dist lines of one distribution
# their characters: cuda-toolkit's hundreds of lines are ~50 KB; parsing costs ~5 us a character,
# so a 64 MB METADATA of long lines held one release's read for minutes
MAX_REQUIRES_DIST_CHARS = 1 << 20
# lines of one METADATA (headers and description): the longest real ones are tens of thousands
MAX_METADATA_LINES = 200_000
MAX_DEPENDENCIES = 1_000  # distinct projects one distribution depends on (after markers)
MAX_EXTRAS = 100  # extras named in one requirement (``pkg[a,b,c]``)
MAX_EXTRA_SETS = 500  # distinct extras combinations of one project in one resolution
# distinct projects one resolution looks at: resolvelib's rounds rescan every name known, so
# the work is quadratic in them (1,000: ~10 s on 2 slow cores); a chain or tree of
# distinct names, each under MAX_DEPENDENCIES, was otherwise unbounded. The largest real
# environments resolve a few hundred.
MAX_PROJECTS = 3_000
MAX_MARKER_EVALUATIONS = 2_000_000  # environment markers one resolution may evaluate
# specifier clauses one resolution evaluates past the first FREE_CLAUSES of each check (~1.5 us
# each: ~15 s). A real range has a few clauses; backtracking (boto3's 1,800 releases, each
# pinning botocore, against aiobotocore's pin: 1,800 x 1,900 files x 4 clauses) checks them
# 14 million times, which counting every clause refused; what it bounds is a long range
# (100,000 clauses) checked against every file, hours of work
FREE_CLAUSES = 16
MAX_SPECIFIER_WORK = 10_000_000
MAX_INFLATE_RATIO = 200  # what a layer `inspect` reads may inflate to, per compressed byte
MAX_NODE_LIST = 1 << 30  # characters of `verify --nodes` (kubectl's list of a 5,000-node cluster)
MAX_INCLUDED_FILES = 1_000  # files one `init --from` reads through -r (a diamond doubles per level)
# requirement lines one `init --from` takes (the lock holds MAX_PROJECTS names; each line
# copies the list so far, so 2 million lines took hours), and the strings one array of the
# manifest or the lock holds: the lock reader parses and evaluates every [target] requirement
# for each platform (~100 us a marker: 500,000 markered ones took 31 s)
MAX_IMPORTED_REQUIREMENTS = 10_000
# Values in a record (``build.json``, ``bundle.json``), counted before it is parsed as its
# commas, ``{`` and ``[``: a bundle.json takes five an artifact (40,000 artifacts). Bytes alone
# bound nothing: 64 MiB of ``{},`` parsed to 22 million objects, 7 GB and 22 million lines.
MAX_RECORD_ITEMS = 200_000


class LimitError(MlenvError):
    """An input is bigger, or would cost more work, than any real one."""


def parse_json(
    data: bytes | str,
    *,
    where: str,
    strict: bool = False,
    pairs: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """``json.loads`` for untrusted JSON: nesting past the parser's recursion guard (a few
    kilobytes of ``[``) is a ``LimitError`` naming ``where``, never a RecursionError traceback.
    Malformed JSON stays a ``ValueError`` for the caller to judge; ``pairs`` reads each object
    (not with ``strict``)."""
    try:
        if strict:
            return json.loads(
                data,
                object_pairs_hook=_unique,
                parse_constant=_no_constant,
                parse_int=_bounded_int,
            )
        return json.loads(data, object_pairs_hook=pairs)
    except RecursionError:
        raise LimitError(
            "JSON nested too deeply to be read",
            where=where,
            hint="no real document nests like this; the source is broken or hostile",
        ) from None


def parse_record_json(data: bytes, *, where: str) -> Any:
    """A record mlenv wrote (``build.json``, ``bundle.json``) read back as it writes them, so
    that no two readers can see two documents in one file: UTF-8 only (no byte-order mark, no
    UTF-16 or UTF-32, which ``json.loads`` of bytes takes), no key twice in an object (the
    standard reader keeps the last, a streaming one the first), no ``NaN`` or ``Infinity`` (not
    JSON), no integer of over 20 digits, no more than ``MAX_RECORD_ITEMS`` values. A
    ``ValueError`` says which; nesting as ``parse_json``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    if text.startswith("\ufeff"):
        raise ValueError("starts with a byte-order mark, which mlenv never writes")
    enforce_record_items(data)
    parsed = parse_json(text, where=where, strict=True)
    _no_lone_surrogates(parsed)
    return parsed


def enforce_record_items(data: bytes) -> None:
    """A ``ValueError`` for a record of over ``MAX_RECORD_ITEMS`` values, counted before any
    parser makes an object of each (``parse_record_json``, and ``verify --bundle``'s reader)."""
    if (items := data.count(b",") + data.count(b"{") + data.count(b"[")) > MAX_RECORD_ITEMS:
        raise ValueError(f"holds {items:,} values, over the {MAX_RECORD_ITEMS:,} of any record")


def _no_lone_surrogates(value: Any) -> None:
    """Refuse a string holding an escaped lone surrogate (``"\\ud800"``): JSON lets it be
    written, UTF-8 cannot hold it (mlenv's writer fails on one, so no record of its holds
    one) and other readers replace it or fail, so two readers would see two strings."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending += item.keys()
            pending += item.values()
        elif isinstance(item, list):
            pending += item
        elif isinstance(item, str) and not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ValueError(f"a string holds the lone surrogate at {error.start}") from None


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"key {printable(key, 40)} is given twice in one object")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > 20:  # past any size, count or epoch a record holds
        raise ValueError(f"integer of {len(digits)} digits")
    if digits == "-0":  # a float's sign in other readers (JavaScript); mlenv writes 0
        raise ValueError("integer -0, which mlenv never writes")
    return int(digits)


# A decimal integer where TOML puts a value: after '=', '[', ',' or '{' and blanks. Each match
# consumes its run of digits, so the scan is linear (only the error path runs it).
_TOML_INTEGER = LazyPattern(r"[=\[,{][ \t]*([+-]?[0-9][0-9_]*)")


# Strings and comments as tomllib ends them (a multi-line string's closing quotes may follow
# one or two of its own), so no value or key hides in one. A string left open runs to its
# line's end (a multi-line one to the text's), where tomllib refuses it, so every quote or ``#``
# starts a match that never fails and is scanned once: linear (a failing match retried at each
# later quote would be quadratic). Every bound below counts in what is left (the structure).
_INERT = re.compile(
    r'''"""(?:[^"\\]++|\\(?s:.)?|"(?!""))*+(?:"""(?:""?)?+|\Z)'''
    r"|'''(?:[^']++|'(?!''))*+(?:'''(?:''?)?+|\Z)"
    r"""|"(?:[^"\\\n]++|\\.?)*+(?:"|(?=\n)|\Z)"""
    r"|'[^'\n]*+(?:'|(?=\n)|\Z)"
    r"|#[^\n]*+"
)
# Dotted keys and table headers: tomllib builds a key by adding each part to a tuple and keeps
# every prefix of it with a node of flags for each part (Python 3.11-3.13), so a key of n parts
# costs n**2 (25 kB of ``x.a.a.a...`` held 600 MB for half a minute; 64 kB is gigabytes) and
# each part of every key about a kilobyte. In the structure a key is a run of bare parts, dots
# and blanks (a quoted part left nothing) before ``=`` or ``]``. Counting there, no quote can
# pair with another to hide a key's dots (pass 188: ``{s = "", a.a.a... = ".x="}``), and each
# run starts where its line's blanks and key characters start (the look-behind), so is read
# once: linear (a run that started at every blank of ``a . a . a`` was quadratic).
_KEY_CHARS = r"[A-Za-z0-9_\-. \t]"
_KEY_RUN = re.compile(rf"(?<!{_KEY_CHARS})[A-Za-z0-9_\- \t]*+\.{_KEY_CHARS}*+(?==(?!=)|\])")
MAX_KEY_PARTS = 16  # pixi's deepest headers have 7 parts
MAX_KEY_DOTS = 100_000  # dots in all keys and headers: a lock of 10,000 entries has 20,000
# A number's digits: tomllib's number pattern keeps a frame for each digit (``(?:_?[0-9])*``),
# ~120 bytes, before any value is made (one 16 MB ``x = 1.111...`` held 2.2 GB for 10 s, one
# ``0xfff...`` 2 GB). Real numbers have tens of digits, and a decimal integer past CPython's
# 4,300 is refused after the match (``parse_toml``); a run of hex digits and ``_`` outside
# strings and comments bounds every number's (and every bare key of only those characters).
MAX_TOML_DIGITS = 100_000  # 12 MB of frames, for 20 ms
_LONG_DIGITS = re.compile(rf"(?<![0-9A-Fa-f_])[0-9A-Fa-f_]{{{MAX_TOML_DIGITS + 1}}}")
# The largest real lock (3,000 projects on each platform) is a few MB; tomllib holds 10-25
# times a document's size (64 MB of ``[],`` was 1.7 GB and a minute; 14 MB of ``k0=0`` lines
# 836 MB and 107 s of `lock --check`). Every value it reads follows one of ``[{=,`` outside a
# string or comment: their count bounds what it holds (a lock of 10,000 entries, 20
# dependencies each, has 310,000). Those inside strings are no values (conda's ``>=1,<2``).
MAX_TOML_CHARS = 16 << 20
MAX_TOML_VALUES = 600_000
# an array or inline table as a key's value costs tomllib ~900 bytes (its frozen flags); a lock
# writes three an entry
MAX_TOML_KEYED_CONTAINERS = 60_000
_KEYED_CONTAINER = re.compile(r"=[ \t]*+[\[{]")


def _line(text: str, at: int) -> int:
    """The line of ``text`` holding its structure's character ``at`` (the error path: the
    strings and comments before it are found again)."""
    pos = at
    for inert in _INERT.finditer(text):
        if inert.start() > pos:
            break
        pos += len(inert[0])
    return text.count("\n", 0, pos) + 1


def _key_problem(text: str) -> str | None:
    """Why ``text`` would cost tomllib more than any real document, or None: its size, its
    values, its numbers, its keys. All but the size count outside strings and comments."""
    if len(text) > MAX_TOML_CHARS:
        return f"a document of {len(text):,} characters, more than {MAX_TOML_CHARS:,}"
    structure = _INERT.sub("", text)
    if (values := sum(map(structure.count, "[{=,"))) > MAX_TOML_VALUES:
        return f"{values:,} values, arrays and tables, more than {MAX_TOML_VALUES:,}"
    if (keyed := len(_KEYED_CONTAINER.findall(structure))) > MAX_TOML_KEYED_CONTAINERS:
        return f"{keyed:,} arrays and tables as values, more than {MAX_TOML_KEYED_CONTAINERS:,}"
    if digits := _LONG_DIGITS.search(structure):
        line = _line(text, digits.start())
        return f"a number of more than {MAX_TOML_DIGITS:,} digits (at line {line})"
    dots = 0
    for run in _KEY_RUN.finditer(structure):
        found = run[0].count(".")
        dots += found
        if found >= MAX_KEY_PARTS:
            line = _line(text, run.start())
            return f"a key of more than {MAX_KEY_PARTS} dotted parts (at line {line})"
        if dots > MAX_KEY_DOTS:
            return f"more than {MAX_KEY_DOTS:,} dotted key parts in all"
    return None


def parse_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads`` for any TOML file mlenv reads (the manifest, a lock, an imported
    pyproject.toml): a decimal integer past CPython's digit limit for ``int`` (4,300 digits),
    which tomllib lets out as a bare ValueError, is a ``TOMLDecodeError`` like any other
    malformed value, at its line and column when they can be told; so are keys whose parts
    would cost quadratic work (``_key_problem``). Deep nesting stays a RecursionError for the
    caller, which says so in its own words."""
    if problem := _key_problem(text):
        raise tomllib.TOMLDecodeError(f"{problem}, which no real document has")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except ValueError:  # int() past sys.get_int_max_str_digits(); tomllib raises no other
        limit = sys.get_int_max_str_digits()
        message = f"Integer of more than {limit:,} digits"
        for match in _TOML_INTEGER.finditer(text):
            if sum(char.isdigit() for char in match[1]) > limit:
                pos = match.start(1)
                line = text.count("\n", 0, pos) + 1
                column = pos + 1 if line == 1 else pos - text.rindex("\n", 0, pos)
                message += f" (at line {line}, column {column})"
                break
        raise tomllib.TOMLDecodeError(message) from None


def listed_problem(count: int) -> str | None:
    """Why an array of strings in the manifest or the lock is longer than any real one (both
    readers ask, so `mlenv lock` never writes a lock its reader refuses), or None."""
    if count > MAX_IMPORTED_REQUIREMENTS:
        return f"{count:,} entries, more than {MAX_IMPORTED_REQUIREMENTS:,}, which no real list has"
    return None


def enforce(amount: int, limit: int, what: str, *, where: str) -> None:
    """Refuse ``amount`` of ``what`` when over ``limit``; ``where`` names the URL or package."""
    if amount > limit:
        raise LimitError(
            f"{what}: more than {limit:,} (at least {amount:,})",
            where=where,
            hint="no real index or package comes near this; the source is broken or hostile",
        )


def enforce_requires_dist(lines: Sequence[str], *, where: str) -> None:
    """Bound one distribution's Requires-Dist before any line is parsed: the resolver and
    fetch's METADATA check read the same lines, so both refuse the same METADATA."""
    enforce(len(lines), MAX_REQUIRES_DIST, "Requires-Dist lines", where=where)
    chars = sum(map(len, lines))
    enforce(chars, MAX_REQUIRES_DIST_CHARS, "characters of Requires-Dist", where=where)


def enforce_metadata_lines(data: bytes | str, *, where: str) -> None:
    """Bound METADATA's lines before the email parser reads it (an index's ``.metadata``, a
    wheel's at install): it holds each line as an object (60 MB of ``X-A: b`` lines held
    1.2 GB) and also ends a line at a lone ``\r`` (13 MB of ``X-A: b\r`` lines held 414 MB
    and took 32 s under a count of ``\n``), so every line end counts."""
    if isinstance(data, str):
        lines = data.count("\n") + data.count("\r") - data.count("\r\n")
    else:
        lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    enforce(lines, MAX_METADATA_LINES, "lines of METADATA", where=where)


# Every HTTP exchange (``net.exchange``) and every download (``cache.download``) has a deadline
# as a whole, not only a timeout for each read: a floor (``$MLENV_DOWNLOAD_SECONDS``) plus what
# is sent or received at SLOWEST_RATE.
DEADLINE_ENV = "MLENV_DOWNLOAD_SECONDS"
DEADLINE_FLOOR = 600.0
SLOWEST_RATE = 64 << 10  # bytes per second


def floor_seconds(environ: Mapping[str, str] | None = None) -> float:
    """``$MLENV_DOWNLOAD_SECONDS`` (a positive number of seconds) or ``DEADLINE_FLOOR``."""
    env = os.environ if environ is None else environ
    text = env.get(DEADLINE_ENV, "").strip()
    if not text:
        return DEADLINE_FLOOR
    try:
        floor = float(text)
    except ValueError:
        floor = math.nan
    if not math.isfinite(floor) or floor <= 0:
        raise LimitError(
            f"{DEADLINE_ENV} is {text!r}, not a number of seconds",
            where=DEADLINE_ENV,
            hint=f"set it to a positive number of seconds (default {DEADLINE_FLOOR:g}), or "
            "unset it",
        )
    return floor


def deadline_seconds(size: int, environ: Mapping[str, str] | None = None) -> float:
    """The seconds moving ``size`` bytes (a download's body, an upload's) may take in all: the
    floor (``DEADLINE_ENV``, or ``DEADLINE_FLOOR``) plus the size at ``SLOWEST_RATE``."""
    return floor_seconds(environ) + max(0, size) / SLOWEST_RATE


def shown_seconds(value: float) -> str:
    """A deadline as a message shows it: whole seconds from 10 up, tenths below."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}".removesuffix(".0")


DEADLINE_HINT = (
    "the server is stalling or very slow; retry later, or allow more time with "
    f"{DEADLINE_ENV}=SECONDS (the floor, default {DEADLINE_FLOOR:g}; the size at "
    f"{SLOWEST_RATE >> 10} KiB/s is added). Nothing was stored"
)
