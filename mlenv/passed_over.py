"""Why a failed resolution was looking at old releases of the packages that asked.

Locking ``vllm`` from PyPI for a CUDA 12 fleet refuses every release whose CUDA mlenv cannot
read (0.7 to 0.34), so the resolver walks back to 0.6.6 and then 0.5.2, whose pins have no
wheel for CPython 3.12. The conflict it reports is about ``vllm-flash-attn`` and
``xformers``; without these lines nothing says why the resolver was at vllm 0.5.2 at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from packaging.version import Version

SHOWN = 3


def passed_over(
    parents: Iterable[tuple[str, Version]],
    refused_of: Callable[[str], Mapping[Version, str]],
    allowed: Callable[[str, Version], bool],
) -> list[str]:
    """Lines naming the newest refused releases above the newest release of each asking
    package that the conflict involves; nothing when no newer release was refused."""
    newest: dict[str, Version] = {}
    for name, version in parents:
        if name not in newest or version > newest[name]:
            newest[name] = version
    lines: list[str] = []
    for name in sorted(newest):
        tried = newest[name]
        refused = refused_of(name)
        above = sorted(
            (v for v in refused if v > tried and allowed(name, v)),
            reverse=True,
        )
        if not above:
            continue
        lines.append(
            f"{name}: the resolver went back to {name} {tried} because "
            f"{len(above)} newer release(s) were never candidates"
        )
        lines += [f"  refused: {version}: {refused[version]}" for version in above[:SHOWN]]
        if len(above) > SHOWN:
            lines.append(f"  and {len(above) - SHOWN} older refused release(s)")
    return lines
