"""A requirements file line's words as pip's ``shlex.split`` reads them, in linear time.

``shlex`` builds each word a character at a time (``token = token + char``), quadratic in
its length: one 800 KB word took 12 s, a 64 MiB file hours. This reads the same words
(POSIX rules: ``'...'`` literal, ``"..."`` with ``\\"`` and ``\\\\`` escapes, ``\\`` escaping
outside quotes, words split at shlex's whitespace) a piece at a time, and refuses what shlex
refuses with shlex's words (tests hold it to ``shlex.split``).
"""

from __future__ import annotations

import re

_PIECE = re.compile(
    r"""(?P<run>[^'"\\]+)
    |'(?P<single>[^']*)'
    |"(?P<double>[^"\\]*(?:\\.[^"\\]*)*)"
    |\\(?P<escaped>.)""",
    re.VERBOSE | re.DOTALL,
)
_SPACES = re.compile(r"[ \t\r\n]+")  # shlex's whitespace, and only it
_WORD = re.compile(r"[^ \t\r\n]+")
_QUOTING = re.compile(r"['\"\\]")
_OPEN_DOUBLE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_QUOTED_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def split_words(line: str) -> list[str]:
    """``shlex.split(line)``, in time linear in the line's length; ValueError as shlex's.

    A stretch without quotes or backslashes is split by one regex call, not a word at a time:
    millions of short words are as cheap as one long one."""
    if not _QUOTING.search(line):
        return _WORD.findall(line)
    words: list[str] = []
    pieces: list[str] | None = None  # the word being read, None between words
    at = 0
    while at < len(line):
        match = _PIECE.match(line, at)
        if match is None:
            raise ValueError(_unfinished(line, at))
        at = match.end()
        if (run := match["run"]) is not None:  # plain text and spaces up to the next quote
            first, *rest = _SPACES.split(run)
            if first:  # appended, never copied: a word may have a million pieces
                if pieces is None:
                    pieces = []
                pieces.append(first)
            if rest:  # a space ended the word being read; the last part starts the next
                if pieces is not None:
                    words.append("".join(pieces))
                words.extend(rest[:-1])
                pieces = [rest[-1]] if rest[-1] else None
            continue
        pieces = [] if pieces is None else pieces
        if match["double"] is not None:  # inside "...", \ escapes only " and \ (POSIX shlex)
            pieces.append(_QUOTED_ESCAPE.sub(_unescape, match["double"]))
        else:
            pieces.append(match["single"] if match["escaped"] is None else match["escaped"])
    if pieces is not None:
        words.append("".join(pieces))
    return words


def _unescape(match: re.Match[str]) -> str:
    return match[1] if match[1] in '"\\' else match[0]


def _unfinished(line: str, at: int) -> str:
    """shlex's words for a line that ends inside a quote or right after a backslash."""
    if line[at] == '"' and (opened := _OPEN_DOUBLE.match(line, at)) and opened.end() < len(line):
        return "No escaped character"  # a lone \ ends the line inside "..."
    return "No escaped character" if line[at] == "\\" else "No closing quotation"
