"""What an error may echo of a value the user gave: its secrets hidden and its length bounded.
Every problem passes here when it is shown (``errors.Problem``, the CLI's usage and JSON
errors), so no reader, importer or option has to remember to. docs/security.md, invariant 5."""

from __future__ import annotations

import re

from mlenv.lazy_pattern import LazyPattern
from mlenv.redaction import redact
from mlenv.redaction_userinfo import BLANK, PORT_COLON

# A quoted value longer than this is cut (a 128 KiB ``python`` was printed whole); a line of
# text no quote marks as a value is cut at ``LINE_LIMIT``.
VALUE_LIMIT = 200
LINE_LIMIT = 2000
# A userinfo with no scheme before it (``user:pw@host``, ``https//u:pw@h``, ``:pw@host``, a
# pasted ``__token__:pypi-...@host``), which ``redact`` leaves: it reads userinfo after a
# ``://``. It lies in one word (no blank, quote or '/'; a C0 control, which a URL reader
# drops or keeps in the userinfo, joins a word: ``redaction_userinfo.GLUE``; a line that ends
# a word and a next line that starts one are so joined, both hidden), starts at the word's
# start or after one of ``_STARTS``, has a colon (also ``%3A``, or U+FF1A, which a URL
# parser keeps in the user) before its first '@', and runs to the last '@' of the word that
# is a host's. An ``@`` then a scheme (``name@https://``, a PEP 508 reference) or a digest
# (``image:tag@sha256:...``, a pinned base image) is no host. Each word is walked once
# (``_unpassworded``): a regex tried from each '=' of ``a=a=a=...`` read the rest of the
# word again, 128 KiB in minutes.
_WORD = LazyPattern(r"[^\"'`/" + BLANK + "]+")
_STARTS = LazyPattern(r"[=(\[<,;|]")
_COLON = LazyPattern(PORT_COLON + r"|\uff1a|%3[Aa]")  # a port at a line's end is none
_NOT_HOST = LazyPattern(r"[A-Za-z][A-Za-z0-9+.-]*:/|[A-Za-z0-9]+:[0-9A-Fa-f]{16}")
# Not after '=' (a token's own '=' would restart it), nor inside a run of ``_TOKEN_CHAR`` but
# after one control that follows no token character (``(x)\ntoken@h``): one start a run.
_TOKEN_CLASS = r"A-Za-z0-9_.~+=\x00-\x1f-"  # a token's characters, controls joining it
_START = (
    r"(?:(?<![^\s\"'`/(\[<,;|])(?<![" + _TOKEN_CLASS + "])"
    r"|(?<=[^" + _TOKEN_CLASS + r"][\x00-\x1f]))"
)
# A user alone that is a credential: a token's length and alphabet, with a letter and a digit
# (``pypi-AgEI...``, ``ghp_...``, a hex key), or a user named for one (``__token__``,
# ``api-key``). ``git@host`` and ``me@example.com`` are kept: a fixed user or an address. No
# run crosses a start (``_START``): each character is read a bounded number of times.
# A control joins a token as ``GLUE`` says, raw or as a repr escapes it (alternatives that
# share no character: overlapping ones backtracked exponentially).
_TOKEN_CHAR = r"(?:[" + _TOKEN_CLASS + r"]|\\(?:[tnr]|x[0-9A-Fa-f]{2}))"
# A user named for a credential is a short one: found only where an '@' ends the run within
# 256 characters (a possessive look first); tried from each start, a run of ``x-api-key-`` or
# ``!\x00`` with no '@' was read back and forth to its end, quadratic (80,000: 97 s).
_USER_CHAR = r"[^\s\"'`/@:(\[<,;|]"
_TOKEN_USER = LazyPattern(
    _START
    + f"(?:(?={_TOKEN_CHAR}*[0-9])(?={_TOKEN_CHAR}*[A-Za-z]){_TOKEN_CHAR}{{16,}}"
    + rf"|(?={_USER_CHAR}{{0,256}}+@){_USER_CHAR}*(?i:token|secret|passw|apikey|api-key|api_key)"
    + rf"{_USER_CHAR}*)"
    + r"@(?![A-Za-z][A-Za-z0-9+.-]*:/|[A-Za-z0-9]+:[0-9A-Fa-f]{16})"
)
# A quoted value: a repr's or a hint's quotes, not prose's apostrophe (``don't``), nor an
# escaped quote (``\"``): a scan that found no closing quote restarted at each escaped one of
# its line, so ``"\"\"\"...`` was quadratic (100,000 characters: 32 s).
_QUOTED = LazyPattern(r"(?<![A-Za-z0-9\\])(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")")


def shown(text: str) -> str:
    """``text`` as an error, a warning or a note may show it: ``hidden``, then each quoted
    value and each line cut (hidden first: a cut token lost the '@' that marks it)."""
    hidden = without_secrets(text)
    cut_values = _QUOTED.sub(lambda match: cut(match[0], VALUE_LIMIT, quotes=2), hidden)
    return "\n".join(cut(line, LINE_LIMIT) for line in cut_values.split("\n"))


def without_secrets(text: str) -> str:
    """``text`` with every secret ``redact`` knows and every bare userinfo hidden, whole: what
    a record kept to be shown later holds (``report.Recorder``)."""
    redacted = redact(text)
    unpassworded = _WORD.sub(lambda word: _unpassworded(word, redacted), redacted)
    return _TOKEN_USER.sub("***@", unpassworded)


def cut(text: str, limit: int, quotes: int = 0) -> str:
    """``text`` itself, or its first ``limit`` characters, an ellipsis and its full length
    (less the ``quotes`` around it): what was typed stays recognisable, and how much of it
    the message left out is said."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - quotes:,} characters)"


def _unpassworded(word: re.Match[str], text: str) -> str:
    """The word with its bare userinfo, if any, as ``***@`` (see ``_WORD``): linear, each
    '@' and each segment between two read once."""
    found, offset = word[0], word.start()
    last = found.rfind("@")
    while last >= 0 and _NOT_HOST.match(text, offset + last + 1):
        last = found.rfind("@", 0, last)
    segment = 0
    while 0 <= segment < last:
        end = found.find("@", segment)
        after = _STARTS.search(found, segment, end) if segment else None
        user = 0 if not segment else None if after is None else after.end()
        if user is not None and _COLON.search(found, user, end) is not None:
            return f"{found[:user]}***@{found[last + 1 :]}"
        segment = end + 1
    return found
