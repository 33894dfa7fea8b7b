"""How a function's time grows with its input, for tests that guard against super-linear work
on hostile text without a bound in seconds (which a slow or loaded runner breaks)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

# 4x the input: linear work takes about 4x as long, quadratic 16x; the bound leaves room for a
# loaded runner and for caches that a longer input outgrows.
LINEAR_BOUND = 12


def growth(
    work: Callable[[str], object], make: Callable[[int], str], small: int = 25_000, times: int = 4
) -> float:
    """How much longer ``work`` takes on ``make(times * small)`` than on ``make(small)``: the
    best of seven runs each, the two sizes alternated so that a runner's load falls on both
    alike. A smaller ``small`` for shapes whose old form was cubic."""
    texts = (make(small), make(times * small))
    spans: tuple[list[float], list[float]] = ([], [])
    for _ in range(7):
        for text, taken in zip(texts, spans, strict=True):
            taken.append(fastest(functools.partial(work, text), runs=1))
    return min(spans[1]) / max(min(spans[0]), 1e-4)


def fastest(work: Callable[[], object], runs: int = 5) -> float:
    """The shortest of ``runs`` timings of ``work()``, in CPU seconds of this process (another
    process's load on a shared runner does not count in them): only to compare with another
    timing taken on the same machine in the same test (the best of several runs is the one a
    loaded runner disturbed least), never with a fixed number of seconds."""
    spans = []
    for _ in range(runs):
        started = time.process_time()
        work()
        spans.append(time.process_time() - started)
    return min(spans)
