"""Regular expressions compiled when first used, not when their module is imported.

The redactor's 39 patterns took 4-5 ms to compile, paid by every process that may show a line
(a remembered lock saying its first run's warning again, ``uptodate``), while a text needs
only the patterns whose scans run over it: a parameter's, a header's or an option's name is
judged only when the text holds one. What a pattern matches is the same either way.
Modules a lock imports hold the same way the patterns a successful lock never uses (driver
reports, conda specs, failure hints): about 1 % of a cold lock's instructions."""

from __future__ import annotations

import re
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

# The one compiled pattern of each LazyPattern, whichever thread compiled it first
# (``dict.setdefault`` is atomic): the redactor tells matches apart by ``match.re is``.
_KEPT: dict[LazyPattern, re.Pattern[str]] = {}


class LazyPattern:
    """``re.compile(pattern, flags)`` on first use; the methods of ``re.Pattern`` the redactor
    calls."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        compiled = self._compiled
        if compiled is None:
            compiled = _KEPT.setdefault(self, re.compile(self.pattern, self.flags))
            self._compiled = compiled
        return compiled

    def match(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.match(text, pos, endpos)

    def fullmatch(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.fullmatch(text, pos, endpos)

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.search(text, pos, endpos)

    def findall(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        return self.compiled.findall(text, pos, endpos)

    def finditer(
        self, text: str, pos: int = 0, endpos: int = sys.maxsize
    ) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text, pos, endpos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str, count: int = 0) -> str:
        return self.compiled.sub(repl, text, count)

    def split(self, text: str, maxsplit: int = 0) -> list[str]:
        return self.compiled.split(text, maxsplit)
