"""Parsed PEP 508 requirements, memoised: the resolver and the CUDA rules read the same
Requires-Dist lines (cuda-toolkit alone has hundreds), and parsing dominates a cold lock."""

from __future__ import annotations

from functools import lru_cache

from packaging.requirements import Requirement


@lru_cache(maxsize=8192)
def requirement(text: str) -> Requirement:
    """The parsed requirement; callers must not mutate it (it is shared)."""
    return Requirement(text)
