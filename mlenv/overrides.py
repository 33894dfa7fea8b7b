"""uv's rule for ``[pypi] overrides``: which requirements on an overridden project an override
replaces, shared by the resolver and fetch's check of each wheel's METADATA against the lock.

uv replaces such a requirement whole, its marker included: only the extra it sits under is
kept (an extra's dependency stays the extra's), and the override's own marker decides where it
applies. So ``b; sys_platform == "win32"`` overridden by ``b>=1`` requires b on linux too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from mlenv.pep508 import marker_holds, marker_text
from mlenv.pep508 import requirement as parsed

EXTRA_TEST = re.compile(r"""\bextra\s*==\s*['"]([^'"]*)['"]|['"]([^'"]*)['"]\s*==\s*extra\b""")


def extras_named(marker: Marker | None) -> frozenset[str]:
    """The extras a marker tests (``extra == "gpu"``), normalised; a test of ``extra`` made
    any other way adds ``"*"``: a requirement under it is no base one."""
    if marker is None:
        return frozenset()
    text = marker_text(marker)
    named = {canonicalize_name(a or b) for a, b in EXTRA_TEST.findall(text)}
    return frozenset(named) if text.count("extra") == len(named) else frozenset({*named, "*"})


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
    if canonicalize_name(requirement.name) not in overridden:
        return holds
    named = extras_named(requirement.marker)
    if not extras:
        return not named
    return "*" in named or bool(named & {canonicalize_name(e) for e in extras})


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
