"""A Requires-Python read as uv reads it: by the lowest Python its range admits."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version


def python_floor(requires_python: SpecifierSet) -> SpecifierSet:
    """The lowest Python a Requires-Python admits, as uv reads it: ``<4`` or ``<=3.8`` says
    "not tested there" far more often than "broken there", so upper bounds never refuse a wheel
    (its tags still must fit the target's CPython). An exclusion counts only where it lifts
    that lowest Python: ``>=3.11,!=3.11.0`` starts above 3.11.0 (so a 3.11 target, judged at
    3.11.0, is refused), ``>=3.11,!=3.11.*`` at 3.12, while ``>=3.10,!=3.11.*`` starts at 3.10."""
    try:
        bound = _lower_bound(requires_python)
    except InvalidVersion:  # "===" with an arbitrary string: no usable floor
        return SpecifierSet()
    if bound is None:
        return SpecifierSet()
    version, inclusive = bound
    return SpecifierSet(f"{'>=' if inclusive else '>'}{version}")


def _lower_bound(requires_python: SpecifierSet) -> tuple[Version, bool] | None:
    """(the lowest version, whether it is admitted itself), or None for no lower bound."""
    bounds = []
    for spec in requires_python:
        version = Version(spec.version.removesuffix(".*"))
        if spec.operator in (">=", "==", "~=", "==="):
            bounds.append((version, True))
        elif spec.operator == ">":
            bounds.append((version, False))
    if not bounds:
        return None
    bound = max(bounds, key=lambda b: (b[0], not b[1]))
    exclusions = [spec.version for spec in requires_python if spec.operator == "!="]
    lifted = True
    while lifted:  # each lift may meet another exclusion: >=3.11,!=3.11.*,!=3.12.*
        lifted = False
        for excluded in exclusions:
            moved = _lifted(bound, excluded)
            if moved != bound:
                bound, lifted = moved, True
    return bound


def _lifted(bound: tuple[Version, bool], excluded: str) -> tuple[Version, bool]:
    """``bound`` moved past what ``!=excluded`` takes from its bottom."""
    version, inclusive = bound
    if not excluded.endswith(".*"):
        return (version, False) if inclusive and version == Version(excluded) else bound
    prefix = Version(excluded[:-2])
    width = len(prefix.release)
    release = (*version.release, *(0,) * width)[:width]
    if version.epoch != prefix.epoch or release != prefix.release:
        return bound
    following = ".".join(str(part) for part in (*prefix.release[:-1], prefix.release[-1] + 1))
    epoch = f"{prefix.epoch}!" if prefix.epoch else ""
    return Version(f"{epoch}{following}.dev0"), True
