"""A Poetry union (``^1 || ^2``) as one PEP 440 range, when it is one.

Each alternative, already translated by ``importers.poetry``, must be a plain interval: lower
and upper bounds from ``>=``, ``>``, ``<=``, ``<``, an exact pin ``==V`` or a compatible
release ``~=V`` (``~=1.2`` is ``>=1.2,<2``: PEP 440 defines it as ``>=1.2,==1.*``, and both
leave out 2's pre-releases), each bound a final release (no pre-, post-, dev-release or local
label, whose PEP 440 rules differ at the bound). The intervals are merged when they overlap or
meet. ``<V`` meets ``>=V``: each side leaves out V's pre-releases (PEP 440's exclusive ``<V``),
but Poetry merges the two into one range, which admits them (poetry-core 2.1.3 reads ``^1 ||
^2`` as ``>=1,<3`` and allows 2.0.0rc1 and 2.0.0.dev0), and so does the merged specifier.
``<=V`` and ``>V`` leave V's post-releases between them (``>V`` excludes them), and ``<V`` and
``>V`` leave V. Any of those gaps, ``!=`` and ``==1.*`` raise ``UnionError`` with a hint naming
what keeps the union from being one range.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, Specifier
from packaging.version import Version


class UnionError(ValueError):
    """A union no PEP 440 specifier states exactly; ``hint`` says why."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Bound:
    """One end of an interval: the version, its text and whether it is included."""

    version: Version
    text: str
    inclusive: bool


@dataclass(frozen=True)
class Interval:
    """Versions between ``lower`` and ``upper`` (None: unbounded on that side)."""

    lower: Bound | None
    upper: Bound | None

    def specifier(self) -> str:
        low, high = self.lower, self.upper
        if low and high and low.version == high.version:  # both inclusive: one version
            return f"=={low.text}"
        parts = [f">{'=' if low.inclusive else ''}{low.text}"] if low else []
        parts += [f"<{'=' if high.inclusive else ''}{high.text}"] if high else []
        return ",".join(parts)


def _lower_key(bound: Bound | None) -> tuple[int, Version | None, int]:
    return (0, None, 0) if bound is None else (1, bound.version, 0 if bound.inclusive else 1)


def _higher(one: Bound | None, other: Bound | None) -> Bound | None:
    """The upper bound that reaches further (None reaches furthest)."""
    if one is None or other is None:
        return None
    if one.version != other.version:
        return one if one.version > other.version else other
    return one if one.inclusive else other


def _interval(specifiers: str, constraint: str) -> Interval:
    """``specifiers`` (one alternative, translated) as an interval, or UnionError."""
    lower: Bound | None = None
    upper: Bound | None = None
    for text in (s for s in specifiers.split(",") if s):
        try:
            spec = Specifier(text)
        except InvalidSpecifier:
            spec = None
        operators = ("==", ">=", ">", "<=", "<", "~=")
        if spec is None or spec.operator not in operators or "*" in text:
            raise UnionError(
                f"{constraint!r} is a union of ranges, which a PEP 440 specifier cannot express",
                f'{text!r} is not a plain range; write one range, e.g. ">=1.2,<3"',
            )
        version = Version(spec.version)
        if version.is_prerelease or version.is_postrelease or version.local is not None:
            raise UnionError(
                f"{constraint!r} is a union of ranges, which mlenv does not merge",
                f"{text!r} names a pre-, post- or local release, whose PEP 440 rules differ "
                "at the bound; write one range",
            )
        op = spec.operator
        if op == "~=":  # >=V and ==V's release without its last part, .*
            stem = (*version.release[:-2], version.release[-2] + 1)
            epoch = f"{version.epoch}!" if version.epoch else ""
            upper_text = epoch + ".".join(map(str, stem))
            candidate = Bound(Version(upper_text), upper_text, False)
            if upper is None or _higher(candidate, upper) is upper:
                upper = candidate
            op = ">="
        if op in ("==", ">=", ">"):
            candidate = Bound(version, spec.version, op != ">")
            if lower is None or _lower_key(candidate) > _lower_key(lower):
                lower = candidate
        if op in ("==", "<=", "<"):
            candidate = Bound(version, spec.version, op != "<")
            if upper is None or _higher(candidate, upper) is upper:
                upper = candidate
    if (
        lower
        and upper
        and (
            lower.version > upper.version
            or (lower.version == upper.version and not (lower.inclusive and upper.inclusive))
        )
    ):
        raise UnionError(
            f"{constraint!r}: the alternative {specifiers!r} allows no version",
            "drop that alternative",
        )
    return Interval(lower, upper)


def _gap(upper: Bound, lower: Bound) -> str:
    """The versions between the end of one interval and the start of the next."""
    if upper.version == lower.version:
        if upper.inclusive:  # <=V then >V: only V's post-releases are between
            return f"post-releases of {upper.text} (such as {upper.text}.post1) are excluded"
        return f"version {upper.text} is excluded"
    if not upper.inclusive and lower.inclusive and upper.version.epoch == lower.version.epoch:
        start, end = upper.version.release, lower.version.release
        size = max(len(start), len(end))
        start, end = start + (0,) * (size - len(start)), end + (0,) * (size - len(end))
        keep = max((i + 1 for i in range(size) if start[i] or end[i]), default=1)
        if start[: keep - 1] == end[: keep - 1] and end[keep - 1] == start[keep - 1] + 1:
            return f"versions {'.'.join(map(str, start[:keep]))}.x are excluded"  # <2.0.0, >=3
    low = f">{'' if upper.inclusive else '='}{upper.text}"
    high = f"<{'' if lower.inclusive else '='}{lower.text}"
    return f"versions {low},{high} are excluded"


def merge(alternatives: list[str], constraint: str) -> str:
    """The translated ``alternatives`` of ``constraint`` as one specifier set ("" for any)."""
    intervals = sorted(
        (_interval(a, constraint) for a in alternatives), key=lambda i: _lower_key(i.lower)
    )
    merged = intervals[0]
    for interval in intervals[1:]:
        end, start = merged.upper, interval.lower
        if (
            end is not None
            and start is not None
            and (
                start.version > end.version
                or (start.version == end.version and not start.inclusive)
            )
        ):
            raise UnionError(
                f"{constraint!r} is a union of ranges, which a PEP 440 specifier cannot express",
                f'{_gap(end, start)}; write one range, e.g. ">=1.2,<3"',
            )
        merged = Interval(merged.lower, _higher(end, interval.upper))
    return merged.specifier()
