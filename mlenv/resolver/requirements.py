"""A distribution's Requires-Dist lines as the resolver takes them: parsed (a malformed or
direct-URL line is a clear error naming the distribution), decided for the target's markers and
extras, and merged into one requirement per identifier so resolvelib's work stays linear."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.errors import printable
from mlenv.index.model import MetadataError
from mlenv.overrides import EXTRA_TEST
from mlenv.pep508 import marker_holds, marker_text
from mlenv.pep508 import metadata_requirement as parsed
from mlenv.redaction import redact
from mlenv.resolver.model import Candidate, Req, to_req


def applies(requirement: Requirement, markers: Mapping[str, str], extra: str = "") -> bool:
    marker = requirement.marker
    return marker is None or marker_holds(marker, markers, extra)


def _itself(
    release: tuple[NormalizedName, Version], lines: Sequence[tuple[Requirement, bool]]
) -> str | None:
    """Why a release can never be installed: a line for the target (no extra) requires its
    own project at versions without its own, so it is refused, as uv refuses it. Taken, that
    line moved the project's pin (resolvelib's way): ``e 2.0``'s ``e~=1.0`` locked the
    pre-release ``e 1.1a1`` where the final ``e 0.9`` can be taken."""
    name, version = release
    for requirement, base in lines:
        own = base and canonicalize_name(requirement.name) == name
        if own and not requirement.specifier.contains(version, prereleases=True):
            return f"requires {requirement} of itself"
    return None


def _requirement(text: str, origin: str) -> Requirement:
    """A Requires-Dist line of an index's distribution, parsed; a malformed one is a clear
    error naming the distribution and its file (the line and packaging's reason shortened,
    without control characters)."""
    try:
        return parsed(text)
    except InvalidRequirement as exc:
        reason = printable((str(exc).splitlines() or [""])[0], 160)
        raise MetadataError(
            f"a Requires-Dist line is not a PEP 508 requirement: {printable(text)!r} ({reason})",
            where=origin,
            hint="its metadata is broken: exclude this version, or lock from another index",
        ) from None


def _origin(candidate: Candidate) -> str:
    """Which distribution, and which index's file of it, an error of its metadata is about."""
    where = f"{candidate.name} {candidate.version}"
    return f"{where} ({candidate.file.url})" if candidate.file is not None else where


def _dependency(requirement: Requirement, candidate: Candidate) -> Req:
    """A dependency of an index's distribution that applies on the target, by name only: a
    direct reference (``x @ https://...``, ``x @ file:///...``) is refused, naming who declared
    it, as uv and pip do; dropping the URL resolved ``x`` from the indexes instead, a
    dependency the package never named (and a local path is never read on its word)."""
    if requirement.url:
        url = printable(redact(requirement.url), 120)
        raise MetadataError(
            f"{candidate} requires {requirement.name} from a direct URL ({url}), which mlenv "
            "never fetches for a dependency",
            where=_origin(candidate),
            hint=f"pin another version of {candidate.name}, or ask its publisher for a "
            f"release that depends on {requirement.name} by name",
        )
    return to_req(requirement)


def _named_extras(marker: Marker, extras: frozenset[str]) -> Iterable[str]:
    """The extras among ``extras`` a marker can be true for: those it compares ``extra`` with
    by ``==``, or all of them when it tests ``extra`` some other way."""
    text = marker_text(marker)
    named = {canonicalize_name(a or b) for a, b in EXTRA_TEST.findall(text)}
    if text.count("extra") > len(named) or not named:
        return extras
    return extras & named


def _with_bases(deps: list[Req], own: NormalizedName) -> list[Req]:
    """``deps`` with, for each ``c[x]>=1``, the base ``c>=1`` too (as pip's
    SpecifierWithoutExtrasRequirement): a candidate requiring ``c[x]`` requires ``c``, and
    resolvelib's backjumping, which looks for the pin whose dependencies name the conflicting
    identifier ``c``, jumped over one that named only ``c[x]`` and gave up on a resolution
    that existed. Not for ``own`` extras: the candidate is a pin of that name already."""
    bases = [Req(d.name, d.specifier, text=str(d)) for d in deps if d.extras and d.name != own]
    return _merged([*deps, *bases]) if bases else deps


def _intersection(specifiers: Iterable[SpecifierSet]) -> SpecifierSet:
    """All specifiers as one set, built once: ``a &= b`` in a loop copies the growing set each
    time, which is quadratic in the number of requirements."""
    clauses = {str(spec) for specifier in specifiers for spec in specifier}
    return SpecifierSet(",".join(sorted(clauses)))


def _merged(reqs: Sequence[Req]) -> list[Req]:
    """One requirement per identifier, in first-seen order: a package that lists the same
    dependency n times hands resolvelib one requirement, not n (it re-matches candidates
    against every requirement of a name each time one is added)."""
    groups: dict[str, list[Req]] = {}
    for req in reqs:
        groups.setdefault(req.identifier, []).append(req)
    return [
        group[0]
        if len(group) == 1
        else Req(
            group[0].name,
            _intersection(r.specifier for r in group),
            group[0].extras,
            ", ".join(dict.fromkeys(str(r) for r in group)),
        )
        for group in groups.values()
    ]
