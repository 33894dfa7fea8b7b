"""uv's rule for ``[pypi] overrides``: which requirements on an overridden project an override
replaces, shared by the resolver and fetch's check of each wheel's METADATA against the lock.

uv replaces such a requirement whole, its marker included: only the extra it sits under is
kept (an extra's dependency stays the extra's), and the override's own marker decides where it
applies. So ``b; sys_platform == "win32"`` overridden by ``b>=1`` requires b on linux too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from mlenv.lazy_pattern import LazyPattern
from mlenv.pep508 import marker_holds
from mlenv.pep508 import requirement as parsed

# ``extra == "gpu"`` in a marker's text: which extras a candidate's lines are tried with
EXTRA_TEST = LazyPattern(r"""\bextra\s*==\s*['"]([^'"]*)['"]|['"]([^'"]*)['"]\s*==\s*extra\b""")


def top_extras(marker: Marker | None) -> frozenset[str]:
    """The extras (normalised) a requirement under ``marker`` is optional for, as an override
    of it keeps them (uv's rule): those the marker names when every way of meeting it tests
    ``extra == "..."``; none when some way needs no extra (``extra == "x" or sys_platform ==
    "linux"``, which uv reads as a base requirement)."""
    if marker is None:
        return frozenset()
    bare, named = _extras(marker._markers)
    return frozenset() if bare else frozenset(named)


def _extras(markers: Sequence[Any]) -> tuple[bool, set[str]]:
    """Whether some conjunction of the disjunctive form of ``markers`` (packaging's parsed
    list: atoms and nested lists joined by "and" and "or", "and" binding tighter) tests no
    ``extra == "..."``, and the extras tested anywhere: a group of "and" is bare when each of
    its atoms is, an "or" when any of its groups is."""
    groups: list[bool] = [True]
    named: set[str] = set()
    for item in markers:
        if item == "or":
            groups.append(True)
        elif isinstance(item, list):
            bare, inner = _extras(item)
            groups[-1] = groups[-1] and bare
            named |= inner
        elif isinstance(item, tuple):
            # serialize() quotes a value, so a variable ``extra`` is told from a value "extra"
            left, op, right = (part.serialize() for part in item)
            if op == "==" and "extra" in (left, right):
                groups[-1] = False
                named.add(canonicalize_name(str(item[2] if left == "extra" else item[0])))
    return any(groups), named


def counts(
    requirement: Requirement,
    overridden: Collection[NormalizedName],
    holds: bool,
    extras: Collection[str] = (),
) -> bool:
    """Whether a requirement (``holds``: its marker is true on the target) counts for a
    candidate with ``extras`` (none: the base). One on an ``overridden`` project counts
    whatever the rest of its marker says: where it names no extra (for the base), or names one
    of ``extras``; the override that replaces it decides the rest."""
    if not overridden or canonicalize_name(requirement.name) not in overridden:
        return holds  # no overrides, the usual lock: no name normalised per line
    named = top_extras(requirement.marker)
    if not extras:
        return not named
    return bool(named & {canonicalize_name(e) for e in extras})


def held(overrides: Iterable[str], markers: Mapping[str, str]) -> dict[NormalizedName, bool]:
    """Each project the lock's overrides name, and whether any of them applies where
    ``markers`` hold (none: the project is required nowhere there)."""
    named: dict[NormalizedName, bool] = {}
    for text in overrides:
        try:
            override = parsed(text)
        except InvalidRequirement:  # a lock edited by hand: stale, and said so elsewhere
            continue
        name = canonicalize_name(override.name)
        holds = override.marker is None or marker_holds(override.marker, markers)
        named[name] = named.get(name, False) or holds
    return named
