"""A requirements file that pins one project twice, incompatibly (``init --from``).

pip (20.3 and newer, the resolvelib resolver) keeps every root requirement and intersects those
of one project, named by its PEP 503 normalised name (``Numpy`` and ``numpy`` are one project,
``num_py`` another): ``numpy==1.0`` with ``numpy==2.0``, in one file or across ``-r`` includes,
ends in "Cannot install numpy==1.0 and numpy==2.0 because these package versions have
conflicting dependencies" (pip ``resolution/resolvelib/factory.py``). mlenv refuses the pair at
import instead, naming both lines, before the manifest keeps both.

Only what is certain is refused: two requirements under the same markers, one an exact pin
(``==V`` or ``===V``), when no pinned version of either satisfies both (``==1.0`` and
``==1.0+cu118`` agree: the pin without a local label admits the local one). Requirements that
differ in markers, or are both ranges, are left to the resolver.
"""

from __future__ import annotations

from collections.abc import Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv.errors import Problem


def _pins(requirement: Requirement) -> list[str]:
    return [
        spec.version
        for spec in requirement.specifier
        if spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*"))
    ]


def _agree(one: Requirement, other: Requirement) -> bool:
    """Whether some pinned version of either satisfies both; True when neither pins."""
    candidates = _pins(one) + _pins(other)
    if not candidates:
        return True
    return any(
        one.specifier.contains(version, prereleases=True)
        and other.specifier.contains(version, prereleases=True)
        for version in candidates
    )


def conflicting_pins(seen: Sequence[tuple[str, Requirement]]) -> list[Problem]:
    """One problem for each requirement that no earlier one of its project agrees with; it
    names both lines. ``seen`` is (where, requirement) in the order pip reads them."""
    problems: list[Problem] = []
    earlier: dict[tuple[str, str], list[tuple[str, Requirement]]] = {}
    for where, requirement in seen:
        key = (canonicalize_name(requirement.name), str(requirement.marker or ""))
        for first_where, first in earlier.get(key, []):
            if not _agree(first, requirement):
                problems.append(
                    Problem(
                        where,
                        f"{requirement} contradicts {first} at {first_where}: no version is "
                        "both (pip refuses the pair: conflicting dependencies)",
                        "keep one of the two lines",
                    )
                )
                break
        earlier.setdefault(key, []).append((where, requirement))
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
