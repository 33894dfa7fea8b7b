"""TOML string items for documents mlenv edits in place (``mlenv add``, ``mlenv import``).

Apart from ``toml_strings`` so that writing a lock, which needs only ``basic``, does not
import tomlkit."""

from __future__ import annotations

import tomlkit
from tomlkit.items import String, StringType, Trivia

from mlenv.toml_strings import basic


def item(value: str, *, literal: bool = False) -> String:
    """``value`` as a tomlkit string item for an edited document: a literal string when asked
    and it can be one (printable, no quote), else a basic string escaped as ``basic`` (tomlkit
    writes U+2028, C1 controls and bidi overrides raw)."""
    if literal and value.isprintable() and "'" not in value:
        return tomlkit.string(value, literal=True)
    return String(StringType.SLB, value, basic(value)[1:-1], Trivia())
