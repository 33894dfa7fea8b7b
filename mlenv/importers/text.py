"""The text of a requirements file as pip reads it: its encoding (UTF-8, or what a byte-order
mark names) and its logical lines (continuations joined, comments removed). Kept apart from
the option and requirement readers of ``importers`` so each stays one concept. A TOML file
that fails to parse where an inline table spans lines is said to be TOML 1.1."""

from __future__ import annotations

import codecs
import re
import tomllib
from collections.abc import Iterator
from typing import Any

from mlenv.limits import parse_toml


def decode_text(data: bytes) -> str:
    """UTF-8, or the encoding a byte-order mark names, as pip reads a requirements file:
    PowerShell's `pip freeze > requirements.txt` writes UTF-16 with a BOM."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):  # fmt: skip
        if data.startswith(bom):
            return data.decode(encoding)
    if (nul := data.find(b"\0")) >= 0:  # valid UTF-8, but UTF-16 saved without its BOM
        raise UnicodeDecodeError("utf-8 text (UTF-16 without a byte-order mark?)", data, nul,
                                 nul + 1, "a NUL byte")  # fmt: skip
    return data.decode("utf-8")


# What ``str.splitlines`` (pip's reader) ends a line at besides "\n" and "\r\n": a line pip
# reads in two there (``--index-url https://u:pa\rss@h``) turns a password's tail into a
# requirement whose name a message shows, and no redactor knows that name for a secret.
_ODD_BREAK = re.compile(r"\r(?!\n)|[\v\f\x1c-\x1e\x85\u2028\u2029]")


def odd_line_break(text: str) -> tuple[int, str] | None:
    """(line, code point) of the first line end of ``text`` other than "\n" and "\r\n"."""
    found = _ODD_BREAK.search(text)
    if found is None:
        return None
    return text.count("\n", 0, found.start()) + 1, f"U+{ord(found[0]):04X}"


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) as pip's req_file reads them: backslash continuations joined
    first (a comment line ends one), then comments removed, so ``x  # note \\`` comments out
    the next line too, as it does for pip."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate([*text.splitlines(), ""], 1):
        if not pending:
            start = number
        comment = re.match(r"\s*#", raw) is not None
        if raw.endswith("\\") and not comment:
            pending.append(raw.strip("\\"))
            continue
        raw = f" {raw}" if comment else raw
        # pip's ``(^|\s+)#.*$``, without the backtracking that made a long run of spaces
        # quadratic (100 KB of them took 40 s); the spaces before ``#`` go with .strip()
        joined = re.sub(r"(?:^|(?<=\s))#.*$", "", "".join([*pending, raw])).strip()
        pending = []
        if joined:
            yield start, joined


def dangling_backslash(line: str) -> tuple[str, str] | None:
    """(problem, hint) for a logical line that ends in a backslash: ``x==1 \\  # note``. pip
    joins the next line only to a line whose last character is the backslash; here spaces or
    a comment followed it, so pip removes the comment and refuses what is left (``Invalid
    requirement: 'x==1 \\'``, or ``Could not split options`` for an option line)."""
    if not line.endswith("\\"):
        return None
    refuses = "cannot split the options" if line.startswith("-") else "refuses the requirement"
    return (
        f"the backslash does not continue the line: spaces or a comment follow it, so pip "
        f"{refuses} {line!r} (a backslash continues a line only as its last character)",
        "end the line with the backslash and put the comment on a line of its own, "
        "or delete the backslash",
    )


class HintedError(ValueError):
    """A parse error that knows its likely cause, said as ``_read``'s hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


# an inline table left open at the end of its line: TOML 1.1 (pixi reads it), not TOML 1.0
_OPEN_INLINE = re.compile(r"^[^#\n]*=\s*\{[^}\n]*$", re.MULTILINE)


def parse_toml_hinted(text: str) -> dict[str, Any]:
    """``parse_toml``; a file that fails where an inline table spans lines is named as TOML
    1.1 (pixi's own docs write them so), which tomllib, TOML 1.0, does not read."""
    try:
        return parse_toml(text)
    except tomllib.TOMLDecodeError as exc:
        opened = _OPEN_INLINE.search(text)
        if opened is None:
            raise
        line = text.count("\n", 0, opened.start()) + 1
        raise HintedError(str(exc), f"the inline table at line {line} spans lines, which is "
                           "TOML 1.1 (pixi reads it; mlenv reads TOML 1.0): write each "
                           "{ ... } table on one line") from None  # fmt: skip


# A PEP 508 quoted string (no escapes in the grammar), or a run of whitespace outside one.
_QUOTED_OR_BLANK = re.compile(r"\"[^\"]*\"|'[^']*'|\s+")


def squeeze(text: str) -> str:
    """A requirement's text with each run of whitespace outside its quoted strings written as
    one space. A marker's string literal is compared byte for byte (``platform_release ==
    "5.15  x"``), so collapsing the blanks inside it made another requirement."""
    return _QUOTED_OR_BLANK.sub(lambda m: " " if m[0][0] not in "'\"" else m[0], text.strip())


def option_cut(line: str) -> tuple[str, str]:
    """A requirement line as pip's break_args_options cuts it: the options start at the first
    word (split at whitespace, quotes not read) that starts with "-"; a marker's quoted "-1"
    is no option. The requirement's text is kept as written up to there."""
    for word in re.finditer(r"\S+", line):
        if word[0][:1] == "-":
            return line[: word.start()].rstrip(), line[word.start() :]
    return line, ""
