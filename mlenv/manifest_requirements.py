"""A manifest's PyPI requirement lines, judged as ``[pypi]`` and the importers take them: a
PEP 508 requirement on a name, no direct URL, and a constraint with no extras."""

from __future__ import annotations

from collections.abc import Sequence

from packaging.requirements import InvalidRequirement

from mlenv import hints
from mlenv.names import PROJECT_NAME
from mlenv.pep508 import requirement as parsed_requirement
from mlenv.spelled import wheel_pin


def requirement_problem(value: str) -> str | None:
    try:
        requirement = parsed_requirement(value)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        return f"not a PEP 508 requirement ({first})"
    # packaging takes "numpy_" and "numpy[foo_]" (its names end at a word boundary), PEP 508
    # and uv not: an extra "foo_" asked for "foo-", which nothing provides, and locked without it
    names = (requirement.name, *requirement.extras)
    if not all(PROJECT_NAME.fullmatch(name) for name in names):
        return "not a PEP 508 requirement (a name ends with a letter or digit)"
    if requirement.url:
        return "direct URL requirements are not supported; put the wheel in [pypi].find-links"
    return None


def constraint_problem(value: str) -> str | None:
    """A requirement that bounds versions only: an extra would ask for dependencies, which a
    constraint never adds (pip and uv ignore one there)."""
    if (problem := requirement_problem(value)) is not None:
        return problem
    if parsed_requirement(value).extras:
        return "a constraint bounds versions only: drop the [extras] (list it in dependencies)"
    return None


def requirement_hint(value: str) -> str | None:
    """The fix for a requirement written another tool's way (pip's options, a URL, pixi's
    ``*``), or the pin that takes a direct URL's wheel from find-links."""
    if not _parses(value):
        return hints.requirement(value, _parses)
    url = parsed_requirement(value).url
    return wheel_pin(url) if url else None


def _parses(value: str) -> bool:
    try:
        parsed_requirement(value)
    except InvalidRequirement:
        return False
    return True


def direct_names(lines: Sequence[object]) -> list[str]:
    """The names of the requirements that carry a URL (refused themselves:
    ``requirement_problem``)."""
    names = []
    for line in lines:
        try:
            requirement = parsed_requirement(line) if isinstance(line, str) else None
        except InvalidRequirement:
            continue
        if requirement is not None and requirement.url:
            names.append(requirement.name)
    return names


def same_requirement(line: str) -> object:
    """What makes two lines one requirement: PEP 503 names (``NumPy`` is ``numpy``), with the
    same specifiers, extras and marker; a line that does not parse is only itself."""
    try:
        return parsed_requirement(line)
    except InvalidRequirement:
        return line


def once(lines: Sequence[str]) -> list[str]:
    """The lines with each requirement kept at its first spelling (an importer's files may
    list ``numpy`` and ``NumPy``, which the manifest refuses as one requirement twice)."""
    first: dict[object, str] = {}
    for line in lines:
        first.setdefault(same_requirement(line), line)
    return list(first.values())
