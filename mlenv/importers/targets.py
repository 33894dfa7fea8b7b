"""The targets an imported file's markers are judged on: every platform mlenv builds for by
every Python minor it accepts. The manifest's own platforms and Python are chosen after the
import, so a marker is read as uv's, Poetry's and pip's conditions must be read for any
manifest the import may write."""

from __future__ import annotations

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

from mlenv.manifest import PYTHON_MINORS
from mlenv.platforms import PLATFORMS
from mlenv.target import Target

TARGETS = tuple(Target(p.name, python) for p in PLATFORMS for python in PYTHON_MINORS)
MARKER_ERRORS = (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName)


def on_targets(marker: Marker | None, chosen: bool = True) -> tuple[list[Target], list[Target]]:
    """mlenv's targets (every platform by every Python minor) on which ``marker`` holds, and
    those on which it does not: where uv's and Poetry's per-platform sources are judged."""
    true: list[Target] = []
    false: list[Target] = []
    for target in TARGETS:
        holds = chosen and (marker is None or marker.evaluate(dict(target.markers)))
        (true if holds else false).append(target)
    return true, false


def target_split(true: list[Target], false: list[Target]) -> str:
    """Which of mlenv's targets a condition holds on, in the fewest words that say it."""
    for attribute, label in (("platform", "on "), ("python", "for Python ")):
        yes = list(dict.fromkeys(getattr(target, attribute) for target in true))
        no = list(dict.fromkeys(getattr(target, attribute) for target in false))
        if not set(yes) & set(no):
            return f"true {label}{', '.join(yes)} and false {label}{', '.join(no)}"
    pairs = ", ".join(f"{target.platform} Python {target.python}" for target in true)
    return f"true on {pairs} only"
