"""How a function's time grows with its input, for tests that guard against super-linear work
on hostile text without a bound in seconds (which a slow or loaded runner breaks)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

# 4x the input: linear work takes about 4x as long, quadratic 16x; the bound leaves room for a
# loaded runner and for caches that a longer input outgrows.
LINEAR_BOUND = 12


def growth(work: Callable[[str], object], make: Callable[[int], str], small: int = 25_000) -> float:
    """How much longer ``work`` takes on ``make(4 * small)`` than on ``make(small)`` (the best
    of five runs each). A smaller ``small`` for shapes whose old form was cubic."""
    spans = []
    for size in (small, 4 * small):
        text = make(size)
        spans.append(fastest(functools.partial(work, text)))
    return spans[1] / max(spans[0], 1e-4)


def fastest(work: Callable[[], object], runs: int = 5) -> float:
    """The shortest of ``runs`` timings of ``work()``, in seconds: only to compare with another
    timing taken on the same machine in the same test (the best of several runs is the one a
    loaded runner disturbed least), never with a fixed number of seconds."""
    spans = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        spans.append(time.perf_counter() - started)
    return min(spans)
