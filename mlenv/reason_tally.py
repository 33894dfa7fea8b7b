"""The one-line tally of why a project's files were refused, kept to a readable length.

A GPU package whose CUDA mlenv cannot read (``vllm``, ``xformers`` from PyPI) is refused
release by release, and each reason names its release, so an uncapped tally of forty
releases made a single error line of ten kilobytes. The tally keeps the most common
reasons, newest release first among equals, and counts the rest; the per-release
``refused:`` lines under it still name each reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.version import Version

MAX_REASONS = 4


@dataclass(frozen=True)
class _Tallied:
    """One reason, how many releases it refused, and the newest of them."""

    reason: str
    count: int
    newest: Version | None


def tally_reasons(
    reasons: Mapping[str, int],
    refused: Iterable[tuple[Version, str]],
    *,
    limit: int = MAX_REASONS,
) -> str:
    """``"436 file(s): no wheel for the target's tags; 1 file(s): …"``, at most ``limit`` reasons.

    ``refused`` pairs each refused file's version with its reason, to put the reasons of
    the newest releases first among reasons of equal count.
    """
    newest: dict[str, Version] = {}
    for version, reason in refused:
        if reason not in newest or version > newest[reason]:
            newest[reason] = version
    tallied = sorted(
        (_Tallied(reason, count, newest.get(reason)) for reason, count in reasons.items()),
        key=lambda t: t.reason,
    )
    # stable sorts: most files first, then the newest release, then the reason's text
    tallied.sort(key=lambda t: (t.newest is not None, t.newest or Version("0")), reverse=True)
    tallied.sort(key=lambda t: t.count, reverse=True)
    shown = [f"{t.count} file(s): {t.reason}" for t in tallied[:limit]]
    rest = tallied[limit:]
    if rest:
        files = sum(t.count for t in rest)
        shown.append(
            f"and {len(rest)} other reason(s) for {files} file(s), named per release below"
        )
    return "; ".join(shown)
