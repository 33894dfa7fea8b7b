"""resolvelib's provider: matching candidates to requirements (pre-releases last, yanked
files only by an exact pin) within a bounded specifier work, and the order names are pinned in.
Its page reading, candidate loading and METADATA reading are the mixins it builds on."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib.providers import AbstractProvider
from resolvelib.structs import RequirementInformation

from mlenv.index import Index
from mlenv.inputs import Prerelease
from mlenv.limits import FREE_CLAUSES, MAX_EXTRA_SETS, MAX_SPECIFIER_WORK, enforce
from mlenv.lookahead import Lookahead, Speculative
from mlenv.report import Task
from mlenv.resolver.candidates import PREFETCH_WORKERS, _Inline
from mlenv.resolver.dependencies import _Dependencies
from mlenv.resolver.model import Candidate, Req, to_req
from mlenv.resolver.policy import CandidatePolicy
from mlenv.resolver.pypi_rules import OptIns, _bounds
from mlenv.resolver.refusals import _Rejections
from mlenv.resolver.requirements import _intersection, applies
from mlenv.target import Target


class _Provider(_Dependencies, AbstractProvider[Req, Candidate, str]):
    """What resolvelib asks of a resolution, over the mixins that read and judge."""

    def __init__(
        self,
        index: Index,
        target: Target,
        policy: CandidatePolicy,
        preferences: Mapping[NormalizedName, Version],
        provided: Mapping[NormalizedName, Version],
        task: Task,
        roots: Sequence[Req] = (),
        workers: int = PREFETCH_WORKERS,
        prerelease: Prerelease = "fallback",
        constraints: Sequence[Requirement] = (),
        overrides: Mapping[NormalizedName, tuple[Req, ...]] | None = None,
        lookahead: bool = True,
        exclude_newer: datetime | None = None,
    ) -> None:
        self.index = index
        self.exclude_newer = exclude_newer
        self.prerelease = prerelease
        self.constraints = _bounds(constraints, target)
        self.overrides = overrides or {}
        self.target = target
        self.policy = policy
        self.preferences = preferences
        self.provided = provided
        self.task = task
        self.python = Version(target.python_full_version)
        self.roots = tuple(roots)
        # a constraint's or an applied override's exact pin opts into a yanked release as a
        # requirement's does, and so does the earlier lock's pin (uv)
        bounds = [to_req(c) for c in constraints if applies(c, target.markers)]
        replacing = [r for listed in self.overrides.values() for r in listed]
        self.opt_ins = OptIns.of((*roots, *bounds, *replacing), preferences)
        self.rejections = defaultdict(_Rejections)
        self.required_by = defaultdict(list)
        self.dependencies = {}
        self._satisfied: dict[tuple[int, Version], tuple[Req, bool]] = {}
        self._narrowing: dict[int, tuple[Req, bool]] = {}
        self._extra_sets: dict[NormalizedName, set[frozenset[str]]] = defaultdict(set)
        self._parsed = {}
        # (name, version) -> why its METADATA's Requires-Python refuses the target, or None
        self.metadata_refusals = {}
        # each project's releases passed over for a Requires-Dist line no parser reads
        self.unreadable = {}
        # releases taken as if their unreadable lines were absent: would the lock resolve then?
        self.assumed = frozenset()
        # each project's offer and each file's metadata, read once by whichever thread asks
        # first (the resolver's, a prefetch, the lookahead) while the others wait for it
        self._offers = {}
        self._read = {}
        self._reads_lock = threading.Lock()
        # the policy's verdicts on deferred files the resolver reached, and those it refused
        self._judged = {}
        self._withdrawn = set()
        self.markers_evaluated = 0
        self.work = 0  # specifier clauses evaluated: tests bound it to prove the cost linear
        self._files = {}
        self._lock = threading.Lock()
        self._pool = (
            Speculative(workers, "mlenv-prefetch")  # never waited for once the lock is decided
            if workers
            else _Inline()
        )
        # inline (local indexes) there is no waiting to hide: reading ahead would only add work
        self._ahead = (
            Lookahead(
                self._pool,
                self._guesses,
                self._metadata,
                self._needs,
                skip=lambda name: name in self.provided,
            )
            if workers and lookahead
            else None
        )

    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[RequirementInformation[Req, Candidate]]],
        backtrack_causes: Sequence[RequirementInformation[Req, Candidate]],
    ) -> Any:
        infos = list(information[identifier])
        pinned = any(
            spec.operator in ("==", "===") and "*" not in spec.version
            for info in infos
            for spec in info.requirement.specifier
        )
        in_conflict = any(c.requirement.name == identifier.split("[")[0] for c in backtrack_causes)
        from_root = any(info.parent is None for info in infos)
        return (not pinned, not in_conflict, not from_root, identifier)

    def reads(self, identifier: str) -> tuple[str, ...]:
        """The names whose requirements ``find_matches`` reads for ``identifier``: its own, and
        for ``b[x]`` also ``b``'s (whoever limits ``b`` can leave ``b[x]`` without a release)."""
        base = identifier.split("[")[0]
        return (identifier, base) if base != identifier else (identifier,)

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Req]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Callable[[], Iterator[Candidate]]:
        name = canonicalize_name(identifier.split("[")[0])
        reqs = list(requirements[identifier])
        extras = frozenset(e for r in reqs for e in r.extras)
        if extras:
            reqs.extend(r for key in self.reads(identifier)[1:] for r in requirements.get(key, ()))
            self._extra_sets[name].add(extras)
            enforce(len(self._extra_sets[name]), MAX_EXTRA_SETS, "extras combinations", where=name)
        # One intersection per call, not one per candidate: with n requirements and c
        # candidates that is O(n + c) specifier work instead of O(n * c) set building.
        combined = _intersection(req.specifier for req in reqs)
        bad = {c.version for c in incompatibilities[identifier]}
        every = self._candidates(name)
        exact = self.opt_ins.pins.get(name, frozenset())
        allowed = [c for c in every if c.version not in bad and self._allowed(c, combined, exact)]
        # every final release before any pre-release (uv since 0.12): a pre-release is taken
        # only where no final release in range can be (the sort is stable: newest first within);
        # with prerelease = "allow" (pip --pre) the newest in range, pre-release or not
        preferred = self.preferences.get(name)
        fallback = self.prerelease == "fallback"
        allowed.sort(key=lambda c: (c.version != preferred, fallback and c.version.is_prerelease))
        return lambda: (
            Candidate(c.name, c.version, c.file, extras)
            for c in self._in_try_order(
                allowed, preferred, lambda c: self._allowed(c, combined, exact)
            )
            if self.runs(c)
        )

    def _allowed(
        self,
        candidate: Candidate,
        combined: SpecifierSet,
        exact: frozenset[Version],
    ) -> bool:
        self._spend(len(combined), candidate.name)
        if not combined.contains(candidate.version, prereleases=True):
            return False
        return _unyanked(candidate, exact)

    def _spend(self, clauses: int, where: str) -> None:
        """Count the specifier clauses one check evaluates past ``FREE_CLAUSES``, within their
        budget: a Requires-Dist line of 100,000 distinct clauses (1 MiB) against a page of
        200,000 files was hours. A real range's few clauses are free: deep backtracking checks
        them millions of times, bounded by MAX_ROUNDS as any resolution's rounds are."""
        self.work += max(0, clauses - FREE_CLAUSES)
        enforce(self.work, MAX_SPECIFIER_WORK, "specifier clauses evaluated", where=where)

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        """Memoized by identity (a SpecifierSet's hash is recomputed on every call): resolvelib
        asks again for every pinned name in every round. The entry keeps ``requirement``
        alive, so its id cannot be reused."""
        key = (id(requirement), candidate.version)
        known = self._satisfied.get(key)
        if known is None:
            self._spend(len(requirement.specifier), candidate.name)
            verdict = requirement.specifier.contains(candidate.version, prereleases=True)
            known = self._satisfied[key] = (requirement, verdict)
        return known[1]

    def narrows(self, requirement: Req) -> bool:
        """Whether ``requirement`` leaves out a release of its project (``mlenv.backtrack``: one
        admitting every release cannot be why a conflict over the project left it none).
        Memoized by identity as ``is_satisfied_by`` is; a release withdrawn later only makes
        a kept "it does" err on the side that undoes more. A yanked release no pin opts into
        is never a candidate, so leaving it out is no narrowing (askers of ``z<3`` beside a
        yanked ``z 3.0`` undid every combination of their versions again)."""
        known = self._narrowing.get(id(requirement))
        if known is None:
            exact = self.opt_ins.pins.get(canonicalize_name(requirement.name), frozenset())
            releases = [c for c in self._candidates(requirement.name) if _unyanked(c, exact)]
            verdict = not all(self.is_satisfied_by(requirement, c) for c in releases)
            known = self._narrowing[id(requirement)] = (requirement, verdict)
        return known[1]


def _unyanked(candidate: Candidate, exact: frozenset[Version]) -> bool:
    """PEP 592: a yanked file is a candidate only when the manifest (or the earlier lock) pins
    exactly its version. Not a yanked 1.0+cu124 through ``==1.0`` (PEP 440 matches it, but the
    pin names 1.0): uv allows a yank only for the very version an ==/=== names."""
    return candidate.file is None or candidate.file.yanked is None or candidate.version in exact
