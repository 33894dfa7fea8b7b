"""One error hierarchy: every failure a user can cause says where it happened and how to fix it.

The CLI maps ``MlenvError`` to exit code 1 and anything else to 2, so raising a subclass here is
the only way an algorithm reports a user-facing failure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from mlenv.redaction import redact


def printable(value: object, limit: int = 200) -> str:
    """Text a remote party chose (a registry's error message), safe to show: at most ``limit``
    characters, control characters (terminal escape sequences, newlines) as ``?``, and its
    secrets hidden before it is cut (``redact``): cut first, a userinfo longer than ``limit``
    (a 250-character access token before its '@') lost the '@' that marks it, and its start
    was shown."""
    text = redact(str(value))
    shown = "".join(char if char.isprintable() else "?" for char in text[:limit])
    return shown + ("..." if len(text) > limit else "")


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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input; several are gathered so users fix them all at once."""

    where: str
    message: str
    hint: str | None = None

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return redact(text)


class MlenvError(Exception):
    """Root of every error a user can cause or fix; carries where and a hint."""

    exit_code = 1
    label = "error"  # how the CLI introduces the message
    shown = False  # True when the command already reported it (the CLI then prints nothing)

    def __init__(self, message: str, *, where: str = "", hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def about(self, name: str) -> None:
        """Say which thing the user knows (a package, a layer) this error is about, when its
        message names only a digest or a URL; its type stays (retry decisions read it)."""
        self.message = f"{name}: {self.message}"
        self.args = (self.message,)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return (Problem(self.where, self.message, self.hint),)

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)

    def __str__(self) -> str:
        return self.render()


class ProblemsError(MlenvError):
    """Several independent problems found in one pass over an input."""

    def __init__(self, summary: str, problems: Iterable[Problem]) -> None:
        self._problems = tuple(problems)
        super().__init__(summary)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self._problems

    def render(self) -> str:
        """The summary and each problem; a hint every problem shares is said once, at the end
        (19 missing wheels are one fix, not 19)."""
        lines = [redact(self.message)]
        hints = {p.hint for p in self._problems}
        shared = hints.pop() if len(self._problems) > 1 and len(hints) == 1 else None
        if shared is None:
            lines.extend(p.render() for p in self._problems)
            return "\n".join(lines)
        lines.extend(Problem(p.where, p.message).render() for p in self._problems)
        lines.append(redact(f"hint: {shared}"))
        return "\n".join(lines)


class ManifestError(ProblemsError):
    """The manifest cannot be read or does not describe a valid environment."""


class UsageError(MlenvError):
    """The command line or the project state does not allow the requested action."""


class VerdictError(MlenvError):
    """A check ran and said no; its report is already on screen, only the exit code is left."""

    shown = True


class CannotJudgeError(MlenvError):
    """A check could not reach a verdict (no driver found, no node labelled): exit 3, so a
    deploy script tells "cannot run here" (1) from "could not look" (3)."""

    exit_code = 3
    label = "cannot judge"


class StdoutClosed(MlenvError):
    """The reader of stdout went away (``mlenv inspect … | head``): what it wanted it has, so
    every command ends as it would have, exit 0 and no message, as ``git log | head`` does."""

    exit_code = 0
    shown = True
