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
Pins under markers true on no target (``sys_platform == "win32"``) never collide: mlenv
installs neither.
Two ranges collide only when their bounds, read as an order of versions, leave no version
(``>=2`` beside ``<2``, as a uv constraint often reads); any other pair of ranges is left to
the resolver, which names them: whether they leave a version depends on the versions an index
holds, and on PEP 440's exclusions (``>2.0`` beside ``<2.0.post2`` leaves none, as ``>V`` never
admits V's post-releases, yet the order has room: left to the resolver too).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from packaging.markers import Marker
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
_Bound = tuple[Version, bool]  # a version, and whether the bound admits it


@dataclass(frozen=True, eq=False)  # one per line read: compared by identity
class _Read:
    """A requirement as the pair rule compares it, worked out once: a file may name one
    project hundreds of times."""

    where: str
    requirement: Requirement
    marker: str
    on: frozenset[tuple[str, str]]
    pins: tuple[str, ...]
    low: _Bound | None  # the tightest lower bound of its ordered specifiers
    high: _Bound | None


def _low_key(bound: _Bound) -> tuple[Version, bool]:
    """Larger is tighter: at one version, excluding it is tighter than admitting it."""
    return bound[0], not bound[1]


_Kind = tuple[frozenset[tuple[str, "str | Version"]], frozenset[tuple[str, str]]]


def _kind(read: _Read) -> _Kind:
    """What a line admits, and where: lines alike in both are one line to the pair rule
    (1,200 pins ``x==1.0`` under as many markers true on every target, or spelt ``==1.0.0``,
    were each compared with every other: 62x the time for 8x the lines). An ordered or exact
    version is compared as a version (``1.0`` is ``1.0.0``); ``~=``, ``===`` and wildcards as
    written, where the spelling is the meaning."""
    clauses = frozenset(
        (spec.operator, spec.version)
        if spec.operator in ("~=", "===") or spec.version.endswith(".*")
        else (spec.operator, Version(spec.version))
        for spec in read.requirement.specifier
    )
    return clauses, read.on


def _tightest_low(bounds: Iterable[_Bound]) -> _Bound | None:
    return max(bounds, key=_low_key, default=None)


def _tightest_high(bounds: Iterable[_Bound]) -> _Bound | None:
    return min(bounds, default=None)  # smaller is tighter, and excluding (False) first


def _read(where: str, requirement: Requirement) -> _Read | None:
    """``None`` when its marker cannot be judged on mlenv's targets."""
    marker = str(requirement.marker or "")
    if (on := _holds(marker)) is None:
        return None
    specs = list(requirement.specifier)
    return _Read(
        where,
        requirement,
        marker,
        on,
        tuple(_pins(requirement)),
        _tightest_low(
            (Version(s.version), _LOWER[s.operator]) for s in specs if s.operator in _LOWER
        ),
        _tightest_high(
            (Version(s.version), _UPPER[s.operator]) for s in specs if s.operator in _UPPER
        ),
    )


def _room(one: _Read, other: _Read) -> bool:
    """Whether the ordered bounds of both leave room for a version (``>=2`` beside ``<2``
    leave none). Every other operator only narrows what the bounds admit, so bounds that
    admit nothing prove that no version meets both, whatever an index holds."""
    low = _tightest_low(bound for bound in (one.low, other.low) if bound is not None)
    high = _tightest_high(bound for bound in (one.high, other.high) if bound is not None)
    if low is None or high is None:
        return True
    return low[0] < high[0] or (low[0] == high[0] and low[1] and high[1])


def _agree(one: _Read, other: _Read) -> bool:
    """Whether some pinned version of either satisfies both; when neither pins, whether
    their bounds leave room for one."""
    candidates = one.pins + other.pins
    if not candidates:
        return _room(one, other)
    return any(
        one.requirement.specifier.contains(version, prereleases=True)
        and other.requirement.specifier.contains(version, prereleases=True)
        for version in candidates
    )


@functools.lru_cache(maxsize=1024)
def _holds(marker: str) -> frozenset[tuple[str, str]] | None:
    """The (platform, Python) targets on which a requirement with ``marker`` applies,
    ``None`` when the marker cannot be judged there."""
    try:
        true, _ = on_targets(Marker(marker) if marker else None)
    except MARKER_ERRORS:
        return None
    return frozenset((target.platform, target.python) for target in true)


@dataclass
class _Project:
    """The requirements of one project read so far, kept so that each new one is compared
    with few: a pin with every one, a range with every pin and, on each target, with the one
    whose lower or upper bound is the tightest there (two ranges collide by their bounds)."""

    every: list[_Read] = field(default_factory=list)
    pinned: list[_Read] = field(default_factory=list)
    highest_low: dict[tuple[str, str], tuple[_Bound, _Read]] = field(default_factory=dict)
    lowest_high: dict[tuple[str, str], tuple[_Bound, _Read]] = field(default_factory=dict)
    kinds: set[_Kind] = field(default_factory=set)  # the lines read, by what they admit where

    def compared(self, read: _Read) -> list[_Read]:
        if read.pins:
            return self.every
        tightest = [held[1] for held in map(self.highest_low.get, read.on) if held is not None]
        tightest += [held[1] for held in map(self.lowest_high.get, read.on) if held is not None]
        return [*self.pinned, *dict.fromkeys(tightest)]

    def add(self, read: _Read) -> None:
        self.every.append(read)
        if read.pins:
            self.pinned.append(read)
        self.kinds.add(_kind(read))
        for target in read.on:
            low, high = self.highest_low.get(target), self.lowest_high.get(target)
            if read.low is not None and (low is None or _low_key(read.low) > _low_key(low[0])):
                self.highest_low[target] = (read.low, read)
            if read.high is not None and (high is None or read.high < high[0]):
                self.lowest_high[target] = (read.high, read)


def conflicting_pins(seen: Sequence[tuple[str, Requirement]]) -> list[Collision]:
    """The collisions of each requirement with earlier ones of its project, until they cover
    every target where it applies; each problem names both lines. ``seen`` is (where,
    requirement) in the order pip reads them. A line spelt as an earlier one's is that line
    again."""
    collisions: list[Collision] = []
    projects: dict[str, _Project] = {}
    for where, requirement in seen:
        read = _read(where, requirement)
        project = projects.setdefault(canonicalize_name(requirement.name), _Project())
        if read is None or _kind(read) in project.kinds:
            continue
        covered: frozenset[tuple[str, str]] = frozenset()
        for first in project.compared(read):
            both = read.on & first.on
            if both - covered and not _agree(first, read):
                said = (f"{requirement} contradicts {first.requirement} at {first.where}: no "
                        "version is both (pip and uv refuse the pair)")  # fmt: skip
                collisions.append(
                    Collision(Problem(where, said, "keep one of the two lines"), both)
                )
                covered |= both
                if covered == read.on:
                    break
        project.add(read)
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
