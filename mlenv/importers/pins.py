"""A requirements file that pins one project twice, incompatibly (``init --from``).

pip (20.3 and newer, the resolvelib resolver) keeps every root requirement and intersects those
of one project, named by its PEP 503 normalised name (``Numpy`` and ``numpy`` are one project,
``num_py`` another): ``numpy==1.0`` with ``numpy==2.0``, in one file or across ``-r`` includes,
ends in "Cannot install numpy==1.0 and numpy==2.0 because these package versions have
conflicting dependencies" (pip ``resolution/resolvelib/factory.py``); uv refuses a constraint
no pin meets alike. mlenv refuses the pair at import instead, naming both lines, before the
manifest keeps both.

Two requirements collide where both apply, judged on mlenv's targets (``importers.targets``:
every platform by every Python mlenv builds, so ``sys_platform == "linux"`` or
``platform_system != "Windows"`` is no marker there), when one is an exact pin (``==V`` or
``===V``) and no pinned version of either satisfies both (``==1.0`` and ``==1.0+cu118`` agree:
the pin without a local label admits the local one). A pair that collides on every target is
refused at once; one that collides on some (``python_version < "3.12"`` beside no marker) is
refused by ``clashes`` only when the written manifest's platforms and Python are among them.
Two ranges collide only when their bounds leave no version (``>=2`` beside ``<2``, as a uv
constraint often reads); any other pair of ranges is left to the resolver, which names them:
whether they leave a version depends on the versions an index holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.errors import Problem
from mlenv.importers.targets import MARKER_ERRORS, TARGETS, on_targets
from mlenv.target import Target

_EVERY = frozenset((target.platform, target.python) for target in TARGETS)


@dataclass(frozen=True)
class Collision:
    """Two pins of one project that no version meets, on the (platform, Python) targets
    ``on`` where both apply."""

    problem: Problem
    on: frozenset[tuple[str, str]]


def _pins(requirement: Requirement) -> list[str]:
    return [
        spec.version
        for spec in requirement.specifier
        if spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*"))
    ]


# ordered operators that bound versions from below and above, each with whether it admits
# the bound itself (``~=2.1`` is ``>=2.1`` and more)
_LOWER = {">=": True, ">": False, "~=": True}
_UPPER = {"<=": True, "<": False}


def _room(one: Requirement, other: Requirement) -> bool:
    """Whether the ordered bounds of both leave room for a version (``>=2`` beside ``<2``
    leave none). Every other operator only narrows what the bounds admit, so bounds that
    admit nothing prove that no version meets both, whatever an index holds."""
    lows: list[tuple[Version, bool]] = []
    highs: list[tuple[Version, bool]] = []
    for spec in (*one.specifier, *other.specifier):
        if spec.operator in _LOWER:
            lows.append((Version(spec.version), _LOWER[spec.operator]))
        elif spec.operator in _UPPER:
            highs.append((Version(spec.version), _UPPER[spec.operator]))
    if not lows or not highs:
        return True
    low, low_in = max(lows, key=lambda bound: (bound[0], not bound[1]))
    high, high_in = min(highs, key=lambda bound: (bound[0], bound[1]))
    return low < high or (low == high and low_in and high_in)


def _agree(one: Requirement, other: Requirement) -> bool:
    """Whether some pinned version of either satisfies both; when neither pins, whether
    their bounds leave room for one."""
    candidates = _pins(one) + _pins(other)
    if not candidates:
        return _room(one, other)
    return any(
        one.specifier.contains(version, prereleases=True)
        and other.specifier.contains(version, prereleases=True)
        for version in candidates
    )


def _holds(requirement: Requirement) -> frozenset[tuple[str, str]] | None:
    """The (platform, Python) targets on which ``requirement`` applies, ``None`` when its
    marker cannot be judged there."""
    try:
        true, _ = on_targets(requirement.marker)
    except MARKER_ERRORS:
        return None
    return frozenset((target.platform, target.python) for target in true)


def conflicting_pins(seen: Sequence[tuple[str, Requirement]]) -> list[Collision]:
    """For each requirement, its widest collision with an earlier one of its project (two
    spelt with one marker collide everywhere, as pip reads them); the problem names both
    lines. ``seen`` is (where, requirement) in the order pip reads them."""
    collisions: list[Collision] = []
    earlier: dict[str, list[tuple[str, Requirement, frozenset[tuple[str, str]]]]] = {}
    for where, requirement in seen:
        if (on := _holds(requirement)) is None:
            continue
        name = canonicalize_name(requirement.name)
        found: list[Collision] = []
        for first_where, first, first_on in earlier.get(name, []):
            both = _EVERY if str(first.marker) == str(requirement.marker) else on & first_on
            if both and not _agree(first, requirement):
                said = (f"{requirement} contradicts {first} at {first_where}: no version is "
                        "both (pip and uv refuse the pair)")  # fmt: skip
                found.append(Collision(Problem(where, said, "keep one of the two lines"), both))
        if found:
            collisions.append(max(found, key=lambda collision: len(collision.on)))
        earlier.setdefault(name, []).append((where, requirement, on))
    return collisions


def certain(collisions: Sequence[Collision]) -> list[Problem]:
    """The problems of the collisions on every target, whatever manifest is written."""
    return [collision.problem for collision in collisions if collision.on == _EVERY]


def clashes(collisions: Sequence[Collision], targets: Sequence[Target]) -> list[Problem]:
    """The problems of ``collisions`` on the written manifest's ``targets``, each naming
    them."""
    problems: list[Problem] = []
    for collision in collisions:
        hit = [t for t in targets if (t.platform, t.python) in collision.on]
        if hit:
            on = ", ".join(f"{target.platform} Python {target.python}" for target in hit)
            problems.append(
                Problem(
                    collision.problem.where,
                    f"{collision.problem.message}, where both apply: on {on}",
                    "keep one of the two lines, or give them markers that never hold together",
                )
            )
    return problems


def constraint_extras(read: Sequence[tuple[str, Requirement]]) -> list[Problem]:
    """A ``-c`` file's lines with extras, which pip refuses ("Constraints cannot have extras"):
    an extra asks for dependencies, and a constraint never adds one."""
    return [
        Problem(
            where,
            f"{requirement} is a constraint with extras, which add dependencies a "
            "constraint never adds",
            "drop the [extras] here and require them in a requirements file",
        )
        for where, requirement in read
        if requirement.extras
    ]
