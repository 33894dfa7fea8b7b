"""TOML strings as mlenv writes them into files people review (the lock, mlenv.toml): every
character that is not printable as its escape, so a diff shows what a reader will read."""

from __future__ import annotations

import json


def basic(value: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's, but JSON leaves DEL, C1 controls, line
    separators and format characters (bidi overrides) raw: DEL made a lock `mlenv lock` then
    refused to read, and the others are text a reviewer of the diff never sees."""
    text = json.dumps(value, ensure_ascii=False)
    return text if text.isprintable() else "".join(map(_shown_char, text))


def _shown_char(char: str) -> str:
    if char.isprintable() or "\ud800" <= char <= "\udfff":  # a lone surrogate: no escape
        return char
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"
