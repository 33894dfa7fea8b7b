"""The Reporter interface: algorithms describe progress here and never print.

Three renderings exist: quiet (warnings only) and human (rich progress bars on a terminal,
plain lines otherwise), both in ``mlenv.report_human``, and JSON lines for machines.
``MemoryReporter`` records events for tests.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import IO, Protocol

from mlenv.echoed import shown, without_secrets

# re-exported: callers find every reporter here (a remembered lock's replay imports only those)
from mlenv.report_human import CountingTask
from mlenv.report_human import HumanReporter as HumanReporter
from mlenv.report_human import QuietReporter as QuietReporter
from mlenv.report_human import human_bytes as human_bytes


class Task(Protocol):
    def advance(self, amount: int = 1) -> None: ...


class Reporter(Protocol):
    def info(self, text: str) -> None: ...
    def warning(self, text: str) -> None: ...
    def debug(self, text: str) -> None:
        """Detail for ``-v`` (what the resolver pinned, rejected, backtracked on)."""
        ...

    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> AbstractContextManager[Task]: ...


def emit_json(stream: IO[str], **event: object) -> None:
    """One event as a JSON line, each string in it redacted as the human line is. Redacting
    the dump instead read JSON's escapes as text: ``\u00e9://a&token=S@CRET``'s ``u00e9``
    passed for a scheme and ``CRET`` was shown, which the human line hides."""
    print(json.dumps(_redacted(event), sort_keys=True), file=stream, flush=True)


def _redacted(value: object) -> object:
    """``value`` with every string in it (keys too) passed through ``echoed.shown``: a note
    or a warning echoes what a file said as an error does."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class JsonReporter:
    """One JSON object per line on stderr, so wrappers can follow progress without parsing prose."""

    def __init__(self, stream: IO[str] | None = None, *, verbose: int = 0) -> None:
        self._stream = stream or sys.stderr
        self._verbose = verbose

    def _emit(self, **event: object) -> None:
        emit_json(self._stream, **event)

    def info(self, text: str) -> None:
        self._emit(event="info", message=text)

    def debug(self, text: str) -> None:
        if self._verbose:
            self._emit(event="debug", message=text)

    def warning(self, text: str) -> None:
        self._emit(event="warning", message=text)

    @contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        counter = CountingTask()
        self._emit(event="task-start", task=description, total=total, unit=unit)
        yield counter
        self._emit(event="task-end", task=description, done=counter.done, unit=unit)


@dataclass
class MemoryReporter:
    """Records every event; the fake that tests hand to algorithms."""

    events: list[tuple[str, str]] = field(default_factory=list)

    def info(self, text: str) -> None:
        self.events.append(("info", text))

    def warning(self, text: str) -> None:
        self.events.append(("warning", text))

    def debug(self, text: str) -> None:
        self.events.append(("debug", text))

    @contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        counter = CountingTask()
        self.events.append(("task-start", description))
        yield counter
        self.events.append(("task-end", f"{description}: {counter.done} {unit}"))

    def messages(self, kind: str) -> list[str]:
        return [text for k, text in self.events if k == kind]


class Recorder:
    """Passes every event on and keeps a copy, redacted as shown, for the lock memo to replay
    (``replay``): a remembered lock says what its first run said."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.events: list[tuple[str, ...]] = []

    def info(self, text: str) -> None:
        self.inner.info(text)
        self.events.append(("info", without_secrets(text)))

    def warning(self, text: str) -> None:
        self.inner.warning(text)
        self.events.append(("warning", without_secrets(text)))

    def debug(self, text: str) -> None:
        self.inner.debug(text)  # never replayed: a verbose run neither keeps nor recalls

    @contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        with self.inner.task(description, total, unit) as inner:
            counter = CountingTask(inner)
            yield counter
        size = "-" if total is None else str(total)
        self.events.append(("task", without_secrets(description), unit, size, str(counter.done)))
