"""Whether a platform of a lock holds every package its target and its entries ask for.

The inputs hash covers the manifest, not the entries: a lock whose entries were deleted by
hand still matches, and would build an environment that is not the one resolved. Pure; the
lock reader (``lockfile_consistency.consistency_problems``) calls it for every platform.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from mlenv.conda.records import conda_name, match_spec_name
from mlenv.target import Target

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet

    from mlenv.lockfile import LockedPlatform, LockTarget


def unmet(target: LockTarget, platform: LockedPlatform) -> list[tuple[str, str]]:
    """(where below the platform, what is missing) for each requirement of the target that
    applies to the platform (conda specs apply to all), each dependency of a package and each
    ``depends`` of a conda record, that no entry provides. Conda entries provide PyPI names
    too: the resolver takes a package conda installs from conda (by its PEP 503 name); a
    conda spec is met by a record of its conda name (``conda_name``)."""
    conda = {conda_name(c.name) for c in platform.conda}
    present = {canonicalize_name(c.name) for c in platform.conda}
    present |= {canonicalize_name(p.name) for p in platform.packages}
    found = [
        ("", f"has no entry for {text!r} of [target].requirements")
        for text, name in _roots(target, platform.platform) or []
        if name not in present
    ]
    found += [
        ("", f"has no conda record for {spec!r} of [target].conda-requirements")
        for spec in target.conda_requirements
        if not _provided(spec, conda)
    ]
    for position, record in enumerate(platform.conda):
        where = f".conda[{position}] ({record.name} {record.version})"
        found += [
            (where, f"depends on {spec!r}, which has no conda record on the platform")
            for spec in record.depends
            if not _provided(spec, conda)
        ]
    for position, package in enumerate(platform.packages):
        where = f".package[{position}] ({package.name} {package.version})"
        found += [
            (where, f"depends on {name!r}, which has no entry on the platform")
            for name in package.dependencies
            if canonicalize_name(name) not in present
        ]
    return found


def unreached(target: LockTarget, platform: LockedPlatform) -> list[tuple[str, str]]:
    """(where below the platform, why) for each PyPI entry that no requirement of the target
    applying to the platform reaches through the entries' ``dependencies``, and each conda
    record no spec of [target].conda-requirements reaches through the records' ``depends``: a
    resolution pins only what its roots need, so such an entry was added by hand, and build
    would install a package nothing asked for."""
    roots = _roots(target, platform.platform)
    if roots is None:
        return []
    reached = _reached(
        [name for _, name in roots],
        {canonicalize_name(p.name): p.dependencies for p in platform.packages},
        str,
    )
    # the solve locks exactly the records its specs reach (``locking_conda._solve_conda``)
    conda = _reached(
        target.conda_requirements,
        {conda_name(c.name): c.depends for c in platform.conda},
        lambda spec: match_spec_name(spec) or "",
        conda_name,
    )
    found = [
        (
            f".package[{position}] ({package.name} {package.version})",
            "no requirement of [target].requirements nor any entry's dependencies reaches it",
        )
        for position, package in enumerate(platform.packages)
        if canonicalize_name(package.name) not in reached
    ]
    return found + [
        (
            f".conda[{position}] ({record.name} {record.version})",
            "no spec of [target].conda-requirements nor any record's depends reaches it",
        )
        for position, record in enumerate(platform.conda)
        if conda_name(record.name) not in conda
    ]


def outside(target: LockTarget, platform: LockedPlatform) -> list[tuple[str, str, str]]:
    """(where below the platform, the version, what excludes it) for each PyPI entry whose
    version a [target] requirement, override or constraint applying on the platform excludes,
    or a pre-release under ``prerelease = "disallow"``: the resolution pins only versions they
    allow, and the inputs hash covers them, not the pins, so such an entry was edited by hand.
    Bounds a dependency's METADATA sets are held by fetch (``locked_metadata``)."""
    bounds = _bounds(target, platform.platform)
    if bounds is None:
        return []
    found: list[tuple[str, str, str]] = []
    disallow = target.prerelease == "disallow"
    for position, package in enumerate(platform.packages):
        rules = bounds.get(canonicalize_name(package.name), [])
        if rules or disallow:
            where = f".package[{position}] ({package.name} {package.version})"
            found += _excluded(where, package.version, rules, disallow=disallow)
    return found + _conda_outside(bounds, target, platform)


def _conda_outside(
    bounds: Mapping[NormalizedName, list[tuple[str, str, SpecifierSet]]],
    target: LockTarget,
    platform: LockedPlatform,
) -> list[tuple[str, str, str]]:
    """The same for each conda record of a project the PyPI resolution asks for (a root or an
    entry's dependency): the resolver takes it from conda only at a version its bounds allow
    (``resolver.candidates._Candidates._load_candidates``,
    ``locking_conda.provided_by_conda``: not python, PEP 440)."""
    asked = {name for _, name in _roots(target, platform.platform) or []}
    asked |= {canonicalize_name(d) for p in platform.packages for d in p.dependencies}
    found: list[tuple[str, str, str]] = []
    for position, record in enumerate(platform.conda):
        name = canonicalize_name(record.name)
        if record.name != "python" and name in asked and name in bounds:
            where = f".conda[{position}] ({record.name} {record.version})"
            found += _excluded(where, record.version, bounds[name])
    return found


def _excluded(
    where: str,
    pinned: str,
    rules: Sequence[tuple[str, str, SpecifierSet]],
    *,
    disallow: bool = False,
) -> list[tuple[str, str, str]]:
    """(where, the version, what excludes it) for each bound of ``rules`` the pinned version is
    outside, and ``disallow``'s for a pre-release; none for a version that is no PEP 440 one
    (the lock's reader refuses it on PyPI; the resolver takes no such conda record)."""
    from packaging.version import InvalidVersion, Version

    try:
        version = Version(pinned)
    except InvalidVersion:
        return []
    found: list[tuple[str, str, str]] = []
    if disallow and version.is_prerelease:
        found.append((where, pinned, '[target].prerelease = "disallow"'))
    return found + [
        (where, pinned, f"{text!r} of [target].{key}")
        for key, text, allowed in rules
        if not allowed.contains(version, prereleases=True)
    ]


def _bounds(
    target: LockTarget, platform: str
) -> dict[NormalizedName, list[tuple[str, str, SpecifierSet]]] | None:
    """Each project's (key, requirement, specifier) of the [target] requirements (but those an
    override replaces), overrides and constraints whose marker holds on the platform; None for
    a damaged target (check_fresh refuses it as stale)."""
    try:
        markers = Target(platform, target.python, target.glibc).markers
    except (LookupError, ValueError):
        return None
    from packaging.requirements import InvalidRequirement

    from mlenv.overrides import held
    from mlenv.pep508 import marker_holds, requirement

    overridden = held(target.overrides or (), markers)
    bounds: dict[NormalizedName, list[tuple[str, str, SpecifierSet]]] = {}
    for key, texts in (
        ("requirements", target.requirements),
        ("overrides", target.overrides or ()),
        ("constraints", target.constraints or ()),
    ):
        for text in texts:
            try:
                parsed = requirement(text)
                holds = parsed.marker is None or marker_holds(parsed.marker, markers)
            except (InvalidRequirement, ValueError):  # the manifest's reader refuses it
                continue
            name = canonicalize_name(parsed.name)
            if holds and not (key == "requirements" and name in overridden):
                bounds.setdefault(name, []).append((key, text, parsed.specifier))
    return bounds


def _reached(
    roots: Iterable[str],
    edges: Mapping[str, Sequence[str]],
    name: Callable[[str], str],
    key: Callable[[str], str] = canonicalize_name,
) -> set[str]:
    """The names ``roots`` reach through ``edges`` (each entry's requirements, which ``name``
    turns into the name they ask for, compared by ``key``: PEP 503 or ``conda_name``)."""
    todo = list(roots)
    reached: set[str] = set()
    while todo:
        found = key(name(todo.pop()))
        if found in edges and found not in reached:
            reached.add(found)
            todo += edges[found]
    return reached


def _provided(spec: str, conda: set[str]) -> bool:
    """Whether a conda match spec is met by a record of the platform, by name as `mlenv add
    --conda` reads it; a virtual package (``__glibc``, ``__cuda``) the target offers is no
    record, so it is met."""
    name = match_spec_name(spec) or spec
    return name.startswith("__") or conda_name(name) in conda


def _roots(target: LockTarget, platform: str) -> list[tuple[str, str]] | None:
    """(requirement, normalised name) of each [target] requirement whose marker holds on the
    platform (on a project [target].overrides names: that an override requires there); one
    that does not parse is its own name (the manifest's reader refuses it).
    None for a damaged target, which no root can be judged on: check_fresh refuses it as
    stale."""
    try:
        markers = Target(platform, target.python, target.glibc).markers
    except (LookupError, ValueError):
        return None
    if not target.requirements:
        return []
    from packaging.requirements import InvalidRequirement

    from mlenv.overrides import counts, held
    from mlenv.pep508 import marker_holds, requirement

    # [pypi] overrides replace a requirement, marker included (uv's rule, as resolved)
    overridden = held(target.overrides or (), markers)
    roots: list[tuple[str, str]] = []
    for text in target.requirements:
        try:
            parsed = requirement(text)
            name = canonicalize_name(parsed.name)
            if name in overridden:
                if overridden[name] and counts(parsed, overridden, True):
                    roots.append((text, name))
                continue
            if parsed.marker is not None and not marker_holds(parsed.marker, markers):
                continue
        except (InvalidRequirement, ValueError):  # ValueError: a marker it cannot compare
            roots.append((text, text))
            continue
        roots.append((text, canonicalize_name(parsed.name)))
    return roots
