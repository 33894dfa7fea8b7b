"""Kubernetes label selectors (``kubectl get nodes -l``), so ``verify --nodes`` picks nodes the
way users already write it.

Grammar and meaning after the Kubernetes documentation, "Labels and Selectors": requirements
are joined by commas (AND); ``key=value``, ``key==value`` and ``key!=value`` (equality;
``!=`` also holds when the key is absent); ``key in (a,b)`` and ``key notin (a,b)`` (set;
``notin`` also holds when absent); ``key`` (exists) and ``!key`` (does not exist). Keys are
qualified names (an optional DNS-subdomain prefix and ``/``, then at most 63 characters), values
are at most 63 characters. Anything else is an error that says where and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn

from mlenv.errors import UsageError

Operator = Literal["=", "!=", "in", "notin", "exists", "!exists"]

_TOKEN = re.compile(r"\s*(?:(?P<punct>==|!=|=|!|,|\(|\))|(?P<word>[^\s!=,()<>]+)|(?P<bad>\S))")
_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(
    rf"(?:(?P<prefix>[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?)/)?(?P<name>{_NAME})", re.ASCII
)
_VALUE = re.compile(f"(?:{_NAME})?", re.ASCII)
_WHERE = "--selector"
_HINT = "write it as for kubectl -l, e.g. 'nvidia.com/gpu.present=true,pool in (a100,h100)'"


class SelectorError(UsageError):
    """A label selector that does not follow the Kubernetes syntax."""


@dataclass(frozen=True)
class Requirement:
    """One comma-separated part of a selector."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "exists":
            return present
        if self.operator == "!exists":
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator in ("=", "in") else not inside


@dataclass(frozen=True)
class Selector:
    """All requirements must hold; the empty selector selects every node."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


@dataclass(frozen=True)
class _Token:
    kind: str  # a punctuation mark itself, "word" or "end"
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    tokens = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        assert match is not None  # the pattern accepts any non-space character
        if match["bad"] is not None:
            _fail(text, match.start("bad"), f"unexpected {match['bad']!r}")
        kind = "word" if match["word"] is not None else match["punct"]
        start = match.start("word" if kind == "word" else "punct")
        tokens.append(_Token(kind, match[0].strip(), start))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _fail(text: str, at: int, message: str) -> NoReturn:
    raise SelectorError(f"{message} at character {at + 1} of {text!r}", where=_WHERE, hint=_HINT)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str, what: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            found = "the end" if token.kind == "end" else repr(token.text)
            _fail(self.text, token.at, f"expected {what}, found {found}")
        return token

    def key(self) -> str:
        token = self.expect("word", "a label key")
        if token.text in ("in", "notin"):
            _fail(self.text, token.at, f"expected a label key, found the keyword {token.text!r}")
        match = _KEY.fullmatch(token.text)
        if match is None or len(match["prefix"] or "") > 253:
            _fail(
                self.text,
                token.at,
                f"{token.text!r} is not a label key (an optional DNS prefix and '/', then up to "
                "63 letters, digits, '-', '_' or '.' starting and ending alphanumeric)",
            )
        return token.text

    def value(self, token: _Token) -> str:
        if _VALUE.fullmatch(token.text) is None:
            _fail(
                self.text,
                token.at,
                f"{token.text!r} is not a label value (up to 63 letters, digits, '-', '_' or '.' "
                "starting and ending alphanumeric)",
            )
        return token.text

    def requirement(self) -> Requirement:
        if self.peek().kind == "!":
            self.take()
            return Requirement(self.key(), "!exists")
        key = self.key()
        token = self.peek()
        if token.kind in (",", "end"):
            return Requirement(key, "exists")
        self.take()
        if token.kind in ("=", "==", "!="):
            following = self.peek()
            value = self.value(self.take()) if following.kind == "word" else ""
            if following.kind not in ("word", ",", "end"):
                _fail(self.text, following.at, f"expected a value, found {following.text!r}")
            return Requirement(key, "!=" if token.kind == "!=" else "=", (value,))
        if token.kind == "word" and token.text in ("in", "notin"):
            return Requirement(key, "in" if token.text == "in" else "notin", self.value_set())
        found = "the end" if token.kind == "end" else repr(token.text)
        _fail(self.text, token.at, f"expected =, ==, !=, in or notin after {key!r}, found {found}")

    def value_set(self) -> tuple[str, ...]:
        self.expect("(", "'(' to open the value set")
        values = [self.value(self.expect("word", "a value"))]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value(self.expect("word", "a value after ','")))
        self.expect(")", "',' or ')' in the value set")
        return tuple(dict.fromkeys(values))

    def selector(self) -> Selector:
        if self.peek().kind == "end":
            return Selector()
        requirements = [self.requirement()]
        while self.peek().kind == ",":
            self.take()
            requirements.append(self.requirement())
        self.expect("end", "',' between requirements")
        return Selector(tuple(requirements))


def parse(text: str) -> Selector:
    """The selector ``text``, or a ``SelectorError`` naming the character where it goes wrong."""
    return _Parser(text).selector()
