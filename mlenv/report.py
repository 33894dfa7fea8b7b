"""The Reporter interface: algorithms describe progress here and never print.

Three renderings exist: quiet (warnings only), human (rich progress bars on a terminal, plain
lines otherwise) and JSON lines for machines. ``MemoryReporter`` records events for tests.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Protocol

from mlenv.errors import terminal_text
from mlenv.redaction import redact

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


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


class _NullTask:
    def advance(self, amount: int = 1) -> None:
        pass


class QuietReporter:
    """Only warnings, on stderr: for scripts that want silence unless something is off."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr

    def info(self, text: str) -> None:
        pass

    def warning(self, text: str) -> None:
        print(terminal_text(redact(f"warning: {text}")), file=self._stream)

    def debug(self, text: str) -> None:
        pass

    @contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        yield _NullTask()


class _RichTask:
    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, amount: int = 1) -> None:
        self._progress.advance(self._id, amount)


class _CountingTask:
    def __init__(self, inner: Task | None = None) -> None:
        self.done = 0
        self._inner = inner

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        if self._inner is not None:
            self._inner.advance(amount)


class HumanReporter:
    """Progress bars when stderr is a terminal, one plain line per finished task otherwise.

    Messages are plain lines; rich is imported only for a live bar, so a command that prints
    one line does not pay for it.
    """

    def __init__(
        self, stream: IO[str] | None = None, *, terminal: bool | None = None, verbose: int = 0
    ) -> None:
        self._stream = stream or sys.stderr
        self._terminal = self._stream.isatty() if terminal is None else terminal
        self._verbose = verbose

    def info(self, text: str) -> None:
        print(terminal_text(redact(text)), file=self._stream, flush=True)

    def warning(self, text: str) -> None:
        self.info(f"warning: {text}")

    def debug(self, text: str) -> None:
        if self._verbose:
            self.info(f"debug: {text}")

    @contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        if not self._terminal:
            counter = _CountingTask()
            started = time.monotonic()
            yield counter
            elapsed = time.monotonic() - started
            amount = f"{counter.done} {unit}" if unit != "bytes" else human_bytes(counter.done)
            self.info(f"{description}: {amount} in {elapsed:.1f}s")
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns.append(BarColumn())
            columns.append(DownloadColumn() if unit == "bytes" else MofNCompleteColumn())
            if unit == "bytes":
                columns.append(TransferSpeedColumn())
        columns.append(TimeElapsedColumn())
        console = Console(file=self._stream, force_terminal=True)
        with Progress(*columns, console=console, transient=True) as progress:
            yield _RichTask(
                progress, progress.add_task(terminal_text(redact(description)), total=total)
            )
        self.info(f"{description}: done")


def emit_json(stream: IO[str], **event: object) -> None:
    """One event as a JSON line, each string in it redacted as the human line is. Redacting
    the dump instead read JSON's escapes as text: ``\u00e9://a&token=S@CRET``'s ``u00e9``
    passed for a scheme and ``CRET`` was shown, which the human line hides."""
    print(json.dumps(_redacted(event), sort_keys=True), file=stream, flush=True)


def _redacted(value: object) -> object:
    """``value`` with every string in it (keys too) passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
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
        counter = _CountingTask()
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
        counter = _CountingTask()
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
        self.events.append(("info", redact(text)))

    def warning(self, text: str) -> None:
        self.inner.warning(text)
        self.events.append(("warning", redact(text)))

    def debug(self, text: str) -> None:
        self.inner.debug(text)  # never replayed: a verbose run neither keeps nor recalls

    @contextmanager
    def task(
        self, description: str, total: int | None = None, unit: str = "items"
    ) -> Iterator[Task]:
        with self.inner.task(description, total, unit) as inner:
            counter = _CountingTask(inner)
            yield counter
        size = "-" if total is None else str(total)
        self.events.append(("task", redact(description), unit, size, str(counter.done)))


def replay(reporter: Reporter, events: Iterable[tuple[str, ...]]) -> None:
    """Say again what a ``Recorder`` kept (a memo checks each event's shape when it reads it)."""
    for kind, *fields in events:
        if kind == "info":
            reporter.info(fields[0])
        elif kind == "warning":
            reporter.warning(fields[0])
        else:
            description, unit, total, done = fields
            with reporter.task(description, None if total == "-" else int(total), unit) as task:
                task.advance(int(done))


def human_bytes(n: int) -> str:
    value = float(n)
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or suffix == "GiB":
            return f"{value:.1f} {suffix}" if suffix != "B" else f"{n} B"
        value /= 1024
    raise AssertionError("unreachable")
