"""Shared pieces of the benchmark harnesses: timing alternated runs and writing results."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))


@dataclass
class Case:
    """One command timed repeatedly; ``prepare`` runs untimed before each repetition."""

    name: str
    command: Callable[[], Sequence[str]]
    env: dict[str, str]
    prepare: Callable[[], None] = lambda: None
    cwd: Path | None = None
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def run_alternating(cases: Sequence[Case], repeats: int) -> None:
    """Round-robin over the cases so drift on the machine hits every tool alike."""
    for _ in range(repeats):
        for case in cases:
            case.prepare()
            started = time.perf_counter()
            result = subprocess.run(
                list(case.command()), env=case.env, cwd=case.cwd, capture_output=True, text=True
            )
            elapsed = time.perf_counter() - started
            if result.returncode != 0:
                raise SystemExit(f"{case.name} failed:\n{result.stderr[-3000:]}")
            case.times.append(elapsed)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform(terse=True)}"
    )


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def timings(cases: Sequence[Case], digits: int = 2) -> str:
    """The table every benchmark prints: median and each run, per command."""
    rows = [
        [c.name, f"{c.median:.{digits}f}", ", ".join(f"{t:.{digits}f}" for t in c.times)]
        for c in cases
    ]
    return table(rows, ["command", "median (s)", "runs (s)"])


def publish(filename: str, title: str, intro: str, *blocks: str) -> None:
    """Write a result page to bench/results/ (and print it): title, intro, then the blocks."""
    text = f"# {title}\n\n{intro}\n\n" + "\n\n".join(blocks) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / filename).write_text(text)
    print(text)
