"""What text may reach a terminal: the characters a terminal acts on or draws as nothing,
found (``hidden_characters``, ``hidden_problem``), shown as ``?`` (``terminal_text``) or, in a
value a message quotes, escaped (``controls_escaped``). Apart from ``mlenv.errors`` so a
remembered lock saying a warning again (``uptodate``) does not import the error classes and
their ``dataclasses``."""

from __future__ import annotations

import re
import unicodedata

from mlenv.lazy_pattern import LazyPattern

_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), the unassigned ones too:
# drawn as nothing (the Hangul fillers, the combining grapheme joiner, variation selectors, tags,
# ones a later Unicode assigns), so a name holding one looks like another; str.isprintable()
# calls some printable, and unicodedata calls the unassigned ones neither format nor control.
DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN or DEFAULT_IGNORABLE.match(char) is not None


def hidden_characters(text: str) -> list[str]:
    """The characters of ``text`` a terminal would act on or hide (newline and tab too)."""
    if _shown(text):  # most text, by two scans in C (a wheel's 15,000 paths: 0.4 s otherwise)
        return []
    return [char for char in text if _hidden(char)]


def _shown(text: str) -> bool:
    """No character of ``text`` is hidden: ``isprintable`` is False for every category of
    ``_HIDDEN`` (and for unassigned ones, which ``DEFAULT_IGNORABLE`` may then name)."""
    return text.isprintable() and not DEFAULT_IGNORABLE.search(text)


_KINDS = {"Cc": "control character", "Zl": "line separator", "Zp": "paragraph separator"}


def hidden_problem(text: str) -> str | None:
    """The first character of ``text`` a review of the file does not see, by kind, code point,
    name and position (from 1): a control, bidi override, zero-width or other format character
    in text mlenv carries into the lock, the SBOM and the image hides or reorders what a pull
    request shows. A tab is whitespace, as in TOML and PEP 508. Accents, CJK and emoji pass: a
    zero-width joiner between symbols and a variation selector after one draw as the emoji."""
    if _shown(text):
        return None
    for position, char in enumerate(text):
        if char == "\t" or not _hidden(char) or _in_emoji(text, position):
            continue
        kind = _KINDS.get(unicodedata.category(char), "format character")
        name = unicodedata.name(char, "")
        named = f" ({name})" if name else ""
        return f"the {kind} U+{ord(char):04X}{named} at position {position + 1}"
    return None


def _in_emoji(text: str, position: int) -> bool:
    """Whether the joiner or variation selector at ``position`` is part of an emoji sequence
    (👩‍💻, ❤️): after a symbol and, for a joiner, before one; a keycap's (1️⃣: a digit, ``#``
    or ``*``, the selector, U+20E3); or a joiner after a virama (क्‍ष), as Unicode's
    identifiers (UAX #31) allow one: there it chooses the half form, which is drawn."""
    char = text[position]
    before = text[position - 1] if position else ""
    after = text[position + 1] if position + 1 < len(text) else ""
    if char in "\ufe0e\ufe0f":
        return _symbol(before) or (before in _KEYCAPS and after == "\u20e3")
    if char in "\u200c\u200d" and before and unicodedata.combining(before) == _VIRAMA:
        return (
            _script(text[position - 2] if position > 1 else "")
            == _script(before)
            == (_script(after))
            != ""
        )
    if char == "\u200d":
        return (
            _symbol(before) or before == "\ufe0f" or "\U0001f3fb" <= before <= "\U0001f3ff"
        ) and (_symbol(after))
    return False


_KEYCAPS = frozenset("#*0123456789")
_VIRAMA = 9  # the canonical combining class of every script's virama (्, ്, ্ ...)


def _script(char: str) -> str:
    """The script a letter or mark is named for (DEVANAGARI, MALAYALAM), "" for none: a joiner
    after a virama counts as drawn only between letters of the virama's own script."""
    name = unicodedata.name(char, "") if char else ""
    return name.split(" ", 1)[0] if unicodedata.category(char or " ")[0] in "LM" else ""


def _symbol(char: str) -> bool:
    return bool(char) and unicodedata.category(char) == "So"


def terminal_text(text: str) -> str:
    """``text`` as it may reach the terminal: every control or format character but newline
    and tab (escape sequences, carriage returns, backspaces, bidi overrides, line separators)
    as ``?``. Whatever a node list, an index, a lock or a registry put in a name, it cannot
    clear the screen, retitle the terminal, rewrite a line already shown or reorder one. The
    last step of every line mlenv prints (the CLI's output and errors, every reporter)."""
    if _shown(text):
        return text
    return "".join(char if char in "\n\t" or not _hidden(char) else "?" for char in text)


_CONTROL = LazyPattern(r"[\x00-\x1f\x7f]")  # only a refusal reads it


def controls_escaped(text: str) -> str:
    """``text`` with each ASCII control character as its Python escape (``\\t``, ``\\n``): a
    user value quoted in a message stays one word, so ``echoed.without_secrets`` still finds
    the userinfo a tab split, and a line break in it cannot begin a line of its own."""
    return _CONTROL.sub(lambda char: repr(char[0])[1:-1], text)
