"""The variants of one release (torch 2.5.1, 2.5.1+cu124, 2.5.1+cpu) in the order the resolver
tries them, when a policy can rank some of them only from their METADATA.

Ranking every file of a page up front read the METADATA of every untagged GPU release it
listed: locking vllm against a page of 40 untagged releases asked for 40 where 2 were needed,
and a hostile page set how many requests mlenv sent to its server. Here a deferred variant is
judged only once it could be the next one tried, so the reads follow the candidates the
resolver takes, in preference order, never the length of a page.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from packaging.version import Version

T = TypeVar("T")


def in_try_order(
    variants: Sequence[T],
    version: Callable[[T], Version],
    rank: Callable[[T], int],
    pending: Callable[[T], bool],
    settle: Callable[[T], T | None],
) -> Iterator[T]:
    """``variants`` lowest ``rank`` first and, within a rank, the higher version first (the
    resolver's order for one release). A ``pending`` variant's rank is only its floor until
    ``settle`` judges it, which happens when it reaches the front: it then goes back in at its
    own rank, as the variant ``settle`` returns (itself, another file of its release standing
    in for it, or None when the policy refused them all)."""
    newest = {v: i for i, v in enumerate(sorted({version(x) for x in variants}, reverse=True))}

    def key(item: T) -> tuple[int, int]:
        return rank(item), newest[version(item)]

    left = sorted(variants, key=key)
    while left:
        first = left.pop(0)
        if not pending(first):
            yield first
            continue
        settled = settle(first)
        if settled is not None:
            bisect.insort(left, settled, key=key)
