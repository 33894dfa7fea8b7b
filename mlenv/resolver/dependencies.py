"""The provider's reading of a release's METADATA: whether the resolver may take it (its own
Requires-Python, every line readable, none requiring another version of itself) and the
dependencies it brings on the target, bounded in the marker evaluations they cost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.index import CoreMetadata
from mlenv.index.model import MetadataError
from mlenv.limits import (
    MAX_DEPENDENCIES,
    MAX_EXTRAS,
    MAX_MARKER_EVALUATIONS,
    enforce,
    enforce_requires_dist,
)
from mlenv.overrides import counts
from mlenv.pep508 import metadata_requirement as parsed
from mlenv.report import Task
from mlenv.resolver.candidates import _Candidates
from mlenv.resolver.model import Candidate, Req
from mlenv.resolver.pypi_rules import _overridden
from mlenv.resolver.requirements import (
    _dependency,
    _itself,
    _merged,
    _named_extras,
    _origin,
    _requirement,
    _with_bases,
    applies,
)


class _Dependencies(_Candidates):
    """The METADATA reading of ``_Provider``, which sets this state."""

    task: Task
    overrides: Mapping[NormalizedName, tuple[Req, ...]]
    dependencies: dict[Candidate, tuple[Req, ...]]
    _parsed: dict[tuple[NormalizedName, Version], list[tuple[Requirement, bool]]]
    metadata_refusals: dict[tuple[NormalizedName, Version], str | None]
    unreadable: dict[NormalizedName, list[tuple[Version, MetadataError]]]
    assumed: frozenset[tuple[NormalizedName, Version]]
    markers_evaluated: int

    def runs(self, candidate: Candidate) -> bool:
        """Whether the wheel's METADATA lets the resolver take it: its Requires-Python, also
        where its index page said another (pip and uv judge the wheel's own, and pip refuses
        to install a wheel whose METADATA refuses the Python), and every Requires-Dist line
        readable. A release with a line no parser reads is passed over, as uv and pip do, and
        the next one tried: failing the lock there failed locks that an older release
        resolved. Asked lazily, candidate by candidate, so only the wheels the resolver tries
        are read."""
        file = candidate.file
        if file is None:
            return True  # conda's
        key = (candidate.name, candidate.version)
        if key not in self.metadata_refusals:
            metadata = self._metadata(file)
            stated = metadata.requires_python
            if stated == file.requires_python:  # the page's: judged by _reject
                stated = None
            reason = self._python_refusal(stated) if stated else None
            if reason is None:
                try:
                    if key not in self.assumed:
                        lines = self._lines(metadata, _origin(candidate))
                        reason = None if candidate.name in self.overrides else _itself(key, lines)
                except MetadataError as exc:
                    self.unreadable.setdefault(candidate.name, []).append((candidate.version, exc))
                    reason = exc.message
            if reason is not None:
                self.rejections[candidate.name].add(file, reason, by_policy=False)
            self.metadata_refusals[key] = reason
        return self.metadata_refusals[key] is None

    def _needs(self, metadata: CoreMetadata, extras: frozenset[str], own: bool) -> list[Req] | None:
        """What a release most likely brings on the target, for the lookahead: its lines that
        hold there (``own``) and those of ``extras``, overridden as the resolver takes them;
        None when its METADATA's Requires-Python refuses the target. Unreadable lines are
        skipped, nothing is counted: the resolver reads them again and judges them itself."""
        if metadata.requires_python and self._python_refusal(metadata.requires_python):
            return None
        enforce_requires_dist(metadata.requires_dist, where=f"{metadata.name}")
        markers = self.target.markers
        found = []
        for text in metadata.requires_dist:
            try:
                requirement = parsed(text)
                holds = (own and applies(requirement, markers)) or any(
                    applies(requirement, markers, extra) for extra in extras
                )
            except Exception:  # the resolver reads the line again
                continue
            if holds and not requirement.url:
                found.append(requirement)
        if len({canonicalize_name(r.name) for r in found}) > MAX_DEPENDENCIES:
            return []  # the resolver refuses such a release: no page of it is worth a request
        return _overridden(found, self.overrides)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        if candidate in self.dependencies:
            return list(self.dependencies[candidate])
        if candidate.file is None:
            return []  # conda's package: its dependencies are conda's business
        metadata = self._metadata(candidate.file)  # the index checks name and version
        self.task.advance()
        where = f"{candidate.name} {candidate.version}"
        deps = _merged(self._dependencies(candidate, metadata))
        names = {dep.name for dep in deps}
        enforce(len(names), MAX_DEPENDENCIES, "distinct dependencies", where=where)
        for dep in deps:
            enforce(len(dep.extras), MAX_EXTRAS, f"extras in {dep.text!r}"[:200], where=where)
        deps = _with_bases(deps, candidate.name)
        if candidate.extras:
            # exactly its base's version: ``==1.0`` also admits 1.0+cu1, another release
            base = Req(candidate.name, SpecifierSet(f"==={candidate.version}"))
            deps = [base, *deps]
        self.dependencies[candidate] = tuple(deps)
        for dep_name in dict.fromkeys(dep.name for dep in deps):
            if dep_name != candidate.name:
                self.required_by[dep_name].append(candidate)
        self.prefetch(dep.name for dep in deps)
        self.look_ahead(deps)
        return deps

    def _dependencies(self, candidate: Candidate, metadata: CoreMetadata) -> list[Req]:
        if (candidate.name, candidate.version) in self.assumed:
            return []
        lines = self._lines(metadata, _origin(candidate))
        if not candidate.extras:
            return self._replaced(
                (r for r, base in lines if counts(r, self.overrides, base, ())),
                candidate,
            )
        # An extra's candidate adds only what its extras bring; the base carries the rest.
        # Only the extras a marker names are tried: linear, however many extras.
        wanted = []
        where = str(candidate)
        for requirement, base in lines:
            if base or requirement.marker is None:
                continue
            if self.overrides and canonicalize_name(requirement.name) in self.overrides:
                if counts(requirement, self.overrides, False, candidate.extras):
                    wanted.append(requirement)
                continue
            for extra in _named_extras(requirement.marker, candidate.extras):
                self._evaluate(where)
                if applies(requirement, self.target.markers, extra):
                    wanted.append(requirement)
                    break
        return self._replaced(wanted, candidate)

    def _replaced(self, requirements: Iterable[Requirement], candidate: Candidate) -> list[Req]:
        return _overridden(requirements, self.overrides, lambda r: _dependency(r, candidate))

    def _lines(self, metadata: CoreMetadata, origin: str) -> list[tuple[Requirement, bool]]:
        """Each Requires-Dist line parsed, and whether it applies without an extra: once per
        distribution, not once per extras combination that asks for its dependencies."""
        key = (metadata.name, metadata.version)
        known = self._parsed.get(key)
        if known is None:
            known = []
            where = f"{metadata.name} {metadata.version}"
            # bounded before any line is parsed (``runs`` reads them before get_dependencies)
            enforce_requires_dist(metadata.requires_dist, where=where)
            for text in metadata.requires_dist:
                requirement = _requirement(text, origin)
                self._evaluate(where)
                known.append((requirement, applies(requirement, self.target.markers)))
            self._parsed[key] = known
        return known

    def _evaluate(self, where: str) -> None:
        """Count one marker evaluation against the budget for the whole resolution."""
        self.markers_evaluated += 1
        enforce(
            self.markers_evaluated,
            MAX_MARKER_EVALUATIONS,
            "marker evaluations in this resolution",
            where=where,
        )
