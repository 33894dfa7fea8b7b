"""One error hierarchy: every failure a user can cause says where it happened and how to fix it.

The CLI maps ``MlenvError`` to exit code 1 and anything else to 2, so raising a subclass here is
the only way an algorithm reports a user-facing failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlenv.echoed import shown, without_secrets

# re-exported: ``hidden_text`` is where they live, ``errors`` where most callers find them
from mlenv.hidden_text import DEFAULT_IGNORABLE as DEFAULT_IGNORABLE
from mlenv.hidden_text import hidden_characters as hidden_characters
from mlenv.hidden_text import hidden_problem as hidden_problem
from mlenv.hidden_text import terminal_text as terminal_text


def printable(value: object, limit: int = 200) -> str:
    """Text a remote party chose (a registry's error message), safe to show: at most ``limit``
    characters, control characters (terminal escape sequences, newlines) as ``?``, and its
    secrets hidden before it is cut, as the CLI hides them (``without_secrets``): cut first, a
    userinfo longer than ``limit`` (a 250-character access token before its '@', or a
    scheme-less ``user:password@proxy``, which ``redact`` alone leaves) lost the '@' that
    marks it, and its start was shown. Control characters become ``?`` after: a URL reader
    drops a tab or line break, so ``to\nken=`` is a secret parameter's name while ``to?ken=``
    is none (``redaction_userinfo.GLUE``)."""
    hidden = without_secrets(str(value))
    text = "".join(char if char.isprintable() else "?" for char in hidden)
    return text[:limit] + ("..." if len(text) > limit else "")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input; several are gathered so users fix them all at once."""

    where: str
    message: str
    hint: str | None = None

    def render(self) -> str:
        where = self.where.replace("\n", "\\n")  # one line: a key's newline forged a "hint:"
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return shown(text)

    def event(self) -> dict[str, str | None]:
        """The problem as a JSON error event's item (``report.emit_json`` hides and cuts each
        string as ``render`` does)."""
        return {"where": self.where, "message": self.message, "hint": self.hint}


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
        lines = [shown(self.message)]
        hints = {p.hint for p in self._problems}
        shared = hints.pop() if len(self._problems) > 1 and len(hints) == 1 else None
        if shared is None:
            lines.extend(p.render() for p in self._problems)
            return "\n".join(lines)
        lines.extend(Problem(p.where, p.message).render() for p in self._problems)
        lines.append(shown(f"hint: {shared}"))
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
