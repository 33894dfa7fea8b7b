"""What an error may echo of a value the user gave: its secrets hidden and its length bounded.
Every problem passes here when it is shown (``errors.Problem``, the CLI's usage and JSON
errors), so no reader, importer or option has to remember to. docs/security.md, invariant 5."""

from __future__ import annotations

from mlenv.lazy_pattern import LazyPattern
from mlenv.redaction import redact

# A quoted value longer than this is cut (a 128 KiB ``python`` was printed whole); a line of
# text no quote marks as a value is cut at ``LINE_LIMIT``.
VALUE_LIMIT = 200
LINE_LIMIT = 1000
# A userinfo with no scheme before it (``user:pw@host``, ``https//u:pw@h``, a pasted
# ``__token__:pypi-...@host``), which ``redact`` leaves: it reads userinfo after a ``://``.
# It starts where a word does (a blank, a quote, a '/', '=' or a bracket before it) and runs
# to the last '@' before a '/' or a blank, so a scan never restarts inside one: linear. An
# ``@`` then a scheme (``name@https://``, a PEP 508 reference) or a digest
# (``image:tag@sha256:...``, a pinned base image) is no host, and kept.
_START = r"(?<![^\s\"'`/=(\[<,;|])"
_HOST = r"@(?![A-Za-z][A-Za-z0-9+.-]*:/|[A-Za-z0-9]+:[0-9A-Fa-f]{16})"
_BARE_PASSWORD = LazyPattern(_START + r"[^\s\"'`/@:]+:[^\s\"'`/]*" + _HOST)
# A user alone that is a credential: a token's length and alphabet, with a letter and a digit
# (``pypi-AgEI...``, ``ghp_...``, a hex key), or a user named for one (``__token__``,
# ``api-key``). ``git@host`` and ``me@example.com`` are kept: a fixed user or an address.
_TOKEN_USER = LazyPattern(
    _START
    + r"(?:(?=[A-Za-z0-9_.~+=-]*[0-9])(?=[A-Za-z0-9_.~+=-]*[A-Za-z])[A-Za-z0-9_.~+=-]{16,}"
    + r"|[^\s\"'`/@:]*(?i:token|secret|passw|apikey|api-key|api_key)[^\s\"'`/@:]*)"
    + _HOST
)
# A quoted value: a repr's or a hint's quotes, not prose's apostrophe (``don't``).
_QUOTED = LazyPattern(r"(?<![A-Za-z0-9])(?:'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")")


def shown(text: str) -> str:
    """``text`` as an error may show it: every secret ``redact`` knows and every bare
    userinfo hidden, then each quoted value and each line cut (hidden first: a cut token
    lost the '@' that marks it)."""
    hidden = _TOKEN_USER.sub("***@", _BARE_PASSWORD.sub("***@", redact(text)))
    cut_values = _QUOTED.sub(lambda match: cut(match[0], VALUE_LIMIT, quotes=2), hidden)
    return "\n".join(cut(line, LINE_LIMIT) for line in cut_values.split("\n"))


def cut(text: str, limit: int, quotes: int = 0) -> str:
    """``text`` itself, or its first ``limit`` characters, an ellipsis and its full length
    (less the ``quotes`` around it): what was typed stays recognisable, and how much of it
    the message left out is said."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - quotes:,} characters)"
