"""The renderings a person reads: quiet (warnings only) and human (rich progress bars on a
terminal, plain lines otherwise), and ``replay`` of what a ``report.Recorder`` kept.

Apart from ``mlenv.report`` (the interface, JSON lines, the test fake), whose ``typing``,
``dataclasses`` and ``json`` a remembered lock saying its first run's lines again (``uptodate``)
does not need: they were a third of its time.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from mlenv.echoed import shown
from mlenv.hidden_text import terminal_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import IO

    from rich.progress import Progress, TaskID

    from mlenv.report import Reporter, Task


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
        print(terminal_text(shown(f"warning: {text}")), file=self._stream)

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


class CountingTask:
    """Counts what was done (and passes it on to ``inner``)."""

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
        print(terminal_text(shown(text)), file=self._stream, flush=True)

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
            counter = CountingTask()
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
                progress, progress.add_task(terminal_text(shown(description)), total=total)
            )
        self.info(f"{description}: done")


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
