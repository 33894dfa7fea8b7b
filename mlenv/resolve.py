"""Resolve PyPI requirements for a target with resolvelib, over any ``Index``.

Nothing here does IO of its own or prints: the index is an interface (a fake in tests), progress
goes to a Reporter, and a failure becomes a ``ResolutionError`` whose text explains the conflict
as a tree of who asked for what.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import groupby, pairwise
from typing import TYPE_CHECKING, Any, TypeVar

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep
from resolvelib.providers import AbstractProvider
from resolvelib.resolvers import Criterion
from resolvelib.structs import RequirementInformation

from mlenv.backtrack import resolve_or_retry
from mlenv.cycles import Cycling
from mlenv.dropped_extras import MissingExtra, dropped_extras, missing_extras, walked_back
from mlenv.errors import MlenvError, printable
from mlenv.exclude_newer import EXCLUDE_NEWER, excluded, nothing_before
from mlenv.index import CoreMetadata, Index, IndexFile, IndexGroup
from mlenv.index.model import MetadataError
from mlenv.index.urls import file_url_to_path, is_file_url
from mlenv.inputs import Prerelease
from mlenv.limits import (
    FREE_CLAUSES,
    MAX_DEPENDENCIES,
    MAX_EXTRA_SETS,
    MAX_EXTRAS,
    MAX_MARKER_EVALUATIONS,
    MAX_PROJECTS,
    MAX_SPECIFIER_WORK,
    enforce,
    enforce_requires_dist,
)
from mlenv.lookahead import Lookahead, Speculative
from mlenv.overrides import EXTRA_TEST, counts
from mlenv.pep508 import lenient, marker_holds, marker_text
from mlenv.pep508 import metadata_requirement as parsed
from mlenv.redaction import redact
from mlenv.report import Reporter, Task
from mlenv.requires_python import python_floor
from mlenv.target import Target, build_preference
from mlenv.variants import in_try_order

if TYPE_CHECKING:  # the failure accounts import these when a resolution fails
    from mlenv.dead_ends import World

T = TypeVar("T")
K = TypeVar("K")
MAX_ROUNDS = 200_000
PREFETCH_WORKERS = 8  # threads that hide an index's latency; 0 loads candidates inline
DISALLOWED = 'a pre-release ([pypi] prerelease = "disallow")'  # why _reject refused a file
CONSTRAINED = "([pypi] constraints)"  # the end of _reject's reason for a constrained version
SDIST_ONLY = "only an sdist (mlenv locks wheels only)"  # _reject's reason for a non-wheel


class _Inline(Executor):
    """Runs each task at once in the caller: for indexes on this machine, where reading is
    CPU work under the GIL and prefetch threads only add switching (a tenth of a lock's CPU
    on 2 cores). The result or error waits in the future, as with a thread pool."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # raised again by result(), like a pool's worker error
            future.set_exception(exc)
        return future


class ResolutionError(MlenvError):
    """The requirements cannot be satisfied together for the target."""


@dataclass(frozen=True)
class Req:
    """A requirement as the resolver sees it: markers already decided for the target."""

    name: NormalizedName
    specifier: SpecifierSet
    extras: frozenset[str] = frozenset()
    text: str = ""

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def __str__(self) -> str:
        return self.text or f"{self.name}{self.specifier}"


@dataclass(frozen=True)
class Candidate:
    """A release to try; ``file`` is None for one another installer (conda) provides."""

    name: NormalizedName
    version: Version
    file: IndexFile | None
    extras: frozenset[str] = frozenset()

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Pin:
    """One resolved distribution and the names it depends on for this target."""

    name: NormalizedName
    version: Version
    file: IndexFile
    dependencies: tuple[NormalizedName, ...]


@dataclass(frozen=True)
class Refusal:
    """One file that was never a candidate, and the rule that refused it."""

    file: IndexFile
    reason: str


@dataclass(frozen=True)
class Resolution:
    """One platform's pins, with what was refused and offered for later checks."""

    target: Target
    pins: tuple[Pin, ...]
    # every refused file of each project the resolution looked at, for checks after it
    refused: Mapping[NormalizedName, tuple[Refusal, ...]] = field(default_factory=dict)
    # the candidate files (one per release) of each pinned project, chosen or not
    offered: Mapping[NormalizedName, tuple[IndexFile, ...]] = field(default_factory=dict)
    # what the roots, the constraints and the pins' dependencies allow of each project: a newer
    # release outside it was out of reach whatever refused it
    allowed: Mapping[NormalizedName, SpecifierSet] = field(default_factory=dict)

    def by_name(self) -> dict[NormalizedName, Pin]:
        return {pin.name: pin for pin in self.pins}


class CandidatePolicy:
    """Judges files beyond tags and specifiers (the CUDA rules plug in here).

    ``reject`` returns a reason to never pick a file; ``rank`` orders variants of one release
    (lower first) so that, for example, the build for the target CUDA is tried before others;
    ``hint`` is shown when a resolution fails after the policy refused files. Both see what
    the index page says alone: a file only its METADATA can judge is ``deferred`` (``rank`` is
    then the lowest it can get), and the resolver hands that METADATA to ``judge`` when the
    file could be the next candidate it tries, never for a file a page merely lists.
    """

    hint = ""

    def reject(self, file: IndexFile) -> str | None:
        return None

    def rank(self, file: IndexFile) -> int:
        return 0

    def deferred(self, file: IndexFile) -> bool:
        return False

    def judge(self, file: IndexFile, metadata: CoreMetadata) -> tuple[int, str | None]:
        """A deferred file's rank and reason to refuse it, from its METADATA."""
        return self.rank(file), self.reject(file)

    def source(self, name: str, version: Version) -> tuple[str, str | None] | None:
        """Where a build of this version that no index searched has is published, when the
        policy knows, and the index that place is, if it is one (a +cu128 torch: PyTorch's
        CUDA 12.8 index)."""
        return None


def _identifier(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def to_req(requirement: Requirement) -> Req:
    """The requirement without its marker, which the caller has already decided."""
    text = str(requirement).split(";", 1)[0].strip()
    extras = frozenset(canonicalize_name(e) for e in requirement.extras)
    return Req(canonicalize_name(requirement.name), requirement.specifier, extras, text)


def _bounds(
    constraints: Iterable[Requirement], target: Target
) -> dict[NormalizedName, tuple[SpecifierSet, str]]:
    """Each constrained project's versions on ``target`` (the constraints whose markers hold
    there, intersected) and the constraints' text, for the reason a version is refused."""
    found: dict[NormalizedName, list[Requirement]] = defaultdict(list)
    for constraint in constraints:
        if applies(constraint, target.markers):
            found[canonicalize_name(constraint.name)].append(constraint)
    return {
        name: (
            _intersection(c.specifier for c in listed),
            ", ".join(str(c).split(";", 1)[0].strip() for c in listed),
        )
        for name, listed in found.items()
    }


OVERRIDDEN = "([pypi] overrides)"  # after an override's text where a resolution names it


def _replacements(
    overrides: Iterable[Requirement], target: Target
) -> dict[NormalizedName, tuple[Req, ...]]:
    """Each overridden project's requirements on ``target``: those whose markers hold there
    (none: the project is required nowhere on it, as uv drops it)."""
    found: dict[NormalizedName, list[Req]] = {}
    for override in overrides:
        req = to_req(override)
        listed = found.setdefault(req.name, [])
        if applies(override, target.markers):
            listed.append(dataclasses.replace(req, text=f"{req.text} {OVERRIDDEN}"))
    return {name: tuple(listed) for name, listed in found.items()}


def _overridden(
    requirements: Iterable[Requirement],
    replacing: Mapping[NormalizedName, tuple[Req, ...]],
    taking: Callable[[Requirement], Req] = to_req,
) -> list[Req]:
    """The requirements as the resolver takes them (``taking``), each on a project that
    ``[pypi] overrides`` names replaced by its overrides, once (uv's rule: wherever it comes
    from, the manifest or a dependency's metadata)."""
    if not replacing:  # the usual lock: no name normalised per requirement
        return [taking(requirement) for requirement in requirements]
    taken: list[Req] = []
    replaced: set[NormalizedName] = set()
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in replacing:
            taken.append(taking(requirement))
        elif name not in replaced:
            replaced.add(name)
            taken += replacing[name]
    return taken


def applies(requirement: Requirement, markers: Mapping[str, str], extra: str = "") -> bool:
    marker = requirement.marker
    return marker is None or marker_holds(marker, markers, extra)


def fit(file: IndexFile, target: Target) -> tuple[int, int, str]:
    """How well a file fits the target, lower first: a wheel with the target's tags (by tag
    rank), then wheels only a newer glibc floor would take, then other platforms, then sdists."""
    if not file.is_wheel:
        return 2, 0, file.filename
    ranks = [target.tag_priority[tag] for tag in file.tags if tag in target.tag_priority]
    if ranks:
        return 0, min(ranks), file.filename
    return 1, 0 if target.glibc_above(file.tags) else 1, file.filename


def best_refusal(refusals: Iterable[Refusal], target: Target) -> Refusal:
    """The refusal to report for a release: that of the file closest to the target (the CUDA
    refusal of the x86_64 wheel, not the tag refusal of the aarch64 one)."""
    return min(refusals, key=lambda r: fit(r.file, target))


@dataclass(frozen=True)
class _Offer:
    """A project's page judged for the target (``_Provider._rank``)."""

    versions: frozenset[Version]  # of every file listed, refused or not
    refused: tuple[tuple[IndexFile, str, bool], ...]  # file, reason, by the policy
    ordered: tuple[IndexFile, ...]  # one file per release, in the order they are tried
    # a deferred file -> its release's next best file, which stands in if the policy refuses it
    after: Mapping[IndexFile, IndexFile] = field(default_factory=dict)


@dataclass
class _Rejections:
    """Why files of one project were not candidates: every file's reason is kept."""

    versions: set[Version] = field(default_factory=set)
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    files: list[Refusal] = field(default_factory=list)
    by_policy: bool = False

    def add(self, file: IndexFile, reason: str, *, by_policy: bool) -> None:
        self.reasons[reason] += 1
        self.files.append(Refusal(file, reason))
        self.by_policy |= by_policy

    def refused(self, target: Target) -> dict[Version, str]:
        """Each refused release with the reason of its best-fitting file."""
        by_version: dict[Version, list[Refusal]] = defaultdict(list)
        for refusal in self.files:
            by_version[refusal.file.version].append(refusal)
        return {v: best_refusal(found, target).reason for v, found in by_version.items()}

    def add_provided(self, version: Version, refused: str = "") -> None:
        """``refused``: why the resolution cannot take conda's version (a constraint)."""
        self.versions.add(version)
        because = f", {refused}" if refused else ""
        self.reasons[f"the conda environment provides {version}{because}"] += 1


class _Provider(AbstractProvider[Req, Candidate, str]):
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
        # requirement's does (uv)
        bounds = [to_req(c) for c in constraints if applies(c, target.markers)]
        replacing = [r for listed in self.overrides.values() for r in listed]
        self.opt_ins = OptIns.of((*roots, *bounds, *replacing))
        self.rejections: dict[NormalizedName, _Rejections] = defaultdict(_Rejections)
        self.required_by: dict[NormalizedName, list[Candidate]] = defaultdict(list)
        self.dependencies: dict[Candidate, tuple[Req, ...]] = {}
        self._satisfied: dict[tuple[int, Version], tuple[Req, bool]] = {}
        self._extra_sets: dict[NormalizedName, set[frozenset[str]]] = defaultdict(set)
        self._parsed: dict[tuple[NormalizedName, Version], list[tuple[Requirement, bool]]] = {}
        # (name, version) -> why its METADATA's Requires-Python refuses the target, or None
        self.metadata_refusals: dict[tuple[NormalizedName, Version], str | None] = {}
        # each project's releases passed over for a Requires-Dist line no parser reads
        self.unreadable: dict[NormalizedName, list[tuple[Version, MetadataError]]] = {}
        # releases taken as if their unreadable lines were absent: would the lock resolve then?
        self.assumed: frozenset[tuple[NormalizedName, Version]] = frozenset()
        # each project's offer and each file's metadata, read once by whichever thread asks
        # first (the resolver's, a prefetch, the lookahead) while the others wait for it
        self._offers: dict[NormalizedName, Future[_Offer]] = {}
        self._read: dict[IndexFile, Future[CoreMetadata]] = {}
        self._reads_lock = threading.Lock()
        # the policy's verdicts on deferred files the resolver reached, and those it refused
        self._judged: dict[IndexFile, tuple[int, str | None]] = {}
        self._withdrawn: set[IndexFile] = set()
        self.markers_evaluated = 0
        self.work = 0  # specifier clauses evaluated: tests bound it to prove the cost linear
        self._files: dict[NormalizedName, Future[list[Candidate]]] = {}
        self._lock = threading.Lock()
        self._pool: Executor = (
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

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.stop()
        # a read still under way is one nobody will use: a held page must not hold the lock
        self._pool.shutdown(wait=False, cancel_futures=True)

    def look_ahead(self, wanted: Iterable[Req]) -> None:
        """Start reading what ``wanted`` most likely brings, before the resolver asks."""
        if self._ahead is not None:
            self._ahead.want(wanted)

    def _shared(self, table: dict[K, Future[T]], key: K, read: Callable[[], T]) -> T:
        """``read()`` once for ``key`` across threads: the first asker reads in its own thread
        and the others wait for its answer, an error included; never a task queued behind
        others, so a worker waiting cannot starve the pool."""
        with self._reads_lock:
            future = table.get(key)
            mine = future is None
            if future is None:
                future = table[key] = Future()
        if mine:
            try:
                future.set_result(read())
            except BaseException as exc:  # waiters get it too; an interrupt still propagates
                future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
        return future.result()

    # -- candidates ------------------------------------------------------------------------

    def _candidates(self, name: NormalizedName) -> list[Candidate]:
        """Every installable release of ``name``, newest first, one best wheel per version: a
        file the policy refused once tried gives way to its release's next best one."""
        with self._lock:
            future = self._load(name)
        found = future.result()
        if not self._withdrawn:
            return found
        return [standing for c in found if (standing := self._standing(c)) is not None]

    def _standing(self, candidate: Candidate) -> Candidate | None:
        """``candidate``, or the next best file of its release when the policy refused its
        file once tried (``_settle``); None when it refused every file of the release."""
        file = candidate.file
        if file is None or file not in self._withdrawn:
            return candidate
        after = self._offer(candidate.name).after
        while file is not None and file in self._withdrawn:
            file = after.get(file)
        return None if file is None else dataclasses.replace(candidate, file=file)

    def _deferred(self, candidate: Candidate) -> bool:
        return candidate.file is not None and self.policy.deferred(candidate.file)

    def _unsettled(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` goes through ``_settle`` before it is tried: its file is
        deferred and not judged yet, or refused since it was offered (a stand-in goes)."""
        file = candidate.file
        if file is None:
            return False
        return file in self._withdrawn or (file not in self._judged and self._deferred(candidate))

    def _policy_rank(self, candidate: Candidate) -> int:
        file = candidate.file
        if file is None:
            return 0
        judged = self._judged.get(file)
        return self.policy.rank(file) if judged is None else judged[0]

    def _settle(self, candidate: Candidate) -> Candidate | None:
        """The one place the policy sees METADATA: a deferred file that could be the next
        candidate tried is judged from it (the read ``runs`` and ``get_dependencies`` share),
        so the reads follow the candidates tried, never the length of a page. A refusal is
        recorded as one from the page was, and the release's next file stands in."""
        file = candidate.file
        if file is not None and file not in self._judged:
            verdict = self._judged[file] = self.policy.judge(file, self._metadata(file))
            if (reason := verdict[1]) is not None:
                self.rejections[candidate.name].add(file, reason, by_policy=True)
                self._withdrawn.add(file)
        return self._standing(candidate)

    def _in_try_order(
        self,
        allowed: Sequence[Candidate],
        preferred: Version | None,
        keep: Callable[[Candidate], bool],
    ) -> Iterator[Candidate]:
        """``allowed`` (sorted by ``find_matches``) with each release's variants in the
        policy's order, deferred ones judged as they come up (``variants.in_try_order``); a
        file standing in for a refused one must pass ``keep`` (a yanked one may not)."""
        if not any(self._deferred(c) for c in allowed):
            yield from allowed  # nothing deferred: ``_rank`` sorted the variants already
            return

        def settle(candidate: Candidate) -> Candidate | None:
            settled = self._settle(candidate)
            return settled if settled is candidate or settled is None or keep(settled) else None

        for _, variants in groupby(allowed, lambda c: (c.version == preferred, c.version.public)):
            yield from in_try_order(
                list(variants), lambda c: c.version, self._policy_rank, self._unsettled, settle
            )

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        with self._lock:
            for name in names:
                self._load(name)

    def _load(self, name: NormalizedName) -> Future[list[Candidate]]:
        """The reading of ``name``'s candidates, started once (holding ``_lock``); the one
        place a resolution meets a new project, so the one place their number is bounded."""
        future = self._files.get(name)
        if future is None:
            enforce(
                len(self._files) + 1,
                MAX_PROJECTS,
                "distinct projects in one resolution",
                where=f"{name} (required by {self.required_by[name][0]})"
                if self.required_by.get(name)
                else name,
            )
            future = self._files[name] = self._pool.submit(self._load_candidates, name)
        return future

    def _load_candidates(self, name: NormalizedName) -> list[Candidate]:
        if name in self.provided:  # conda installs it: PyPI must accept that version
            version = self.provided[name]
            bound = self.constraints.get(name)
            if bound is not None and not bound[0].contains(version, prereleases=True):
                # the environment would hold a version the constraint refuses: none to take
                self.rejections[name].add_provided(version, self._outside(bound[1]))
                return []
            self.rejections[name].add_provided(version)
            return [Candidate(name, version, None)]
        offer = self._offer(name)
        rejected = self.rejections[name]
        rejected.versions.update(offer.versions)
        for file, reason, by_policy in offer.refused:
            rejected.add(file, reason, by_policy=by_policy)
        ordered = offer.ordered
        if ordered and self._ahead is None:
            self.index.prefetch([ordered[0]])
        return [Candidate(name, file.version, file) for file in ordered]

    def _offer(self, name: NormalizedName) -> _Offer:
        return self._shared(self._offers, name, lambda: self._rank(name))

    def _rank(self, name: NormalizedName) -> _Offer:
        """``name``'s page read and judged: the files refused and why, and one candidate file
        per release in the order the resolver tries them. Records nothing: the lookahead reads
        offers of projects the resolver may never ask about."""
        files = self.index.files(name)
        refused: list[tuple[IndexFile, str, bool]] = []
        fitting: dict[Version, list[tuple[tuple[bool, int, tuple[int, ...], str], IndexFile]]]
        fitting = defaultdict(list)
        for file in files:
            reason = self._reject(file)
            if reason is not None:
                refused.append((file, reason, False))
                continue
            reason = self.policy.reject(file)
            if reason is not None:
                refused.append((file, reason, True))
                continue
            rank = min(self.target.tag_priority.get(tag, 1 << 30) for tag in file.tags)
            # PEP 592 yanks files: a release's unyanked wheel stands for it before a yanked one
            # of better tags (which made the whole release look yanked), as pip and uv read it.
            # then the highest build tag, as pip (an equal tag rebuilt as -1-, -2-: PEP 427)
            key = (file.yanked is not None, rank, build_preference(file.filename), file.filename)
            fitting[file.version].append((key, file))
        best = []
        after: dict[IndexFile, IndexFile] = {}
        for found in fitting.values():
            found.sort(key=lambda item: item[0])  # stable: the first listed of equal keys
            best.append(found[0])
            if self.policy.deferred(found[0][1]):  # its METADATA may refuse it when tried
                after.update(pairwise(f for _, f in found))
        # Newest release first; its variants (local versions such as +cu124) in policy order
        # (a deferred variant's rank is a floor: find_matches places it once it is judged).
        ordered = sorted(
            best,
            key=lambda item: (Version(item[1].version.public), -self.policy.rank(item[1]),
                              item[1].version),
            reverse=True,
        )  # fmt: skip
        return _Offer(
            frozenset(file.version for file in files),
            tuple(refused),
            tuple(file for _, file in ordered),
            after,
        )

    def _guesses(self, name: NormalizedName) -> list[IndexFile]:
        """``name``'s candidate files in the order ``find_matches`` offers them, before any
        requirement narrows them: the lookahead's guesses."""
        preferred = self.preferences.get(name)
        fallback = self.prerelease == "fallback"
        return sorted(
            self._offer(name).ordered,
            key=lambda f: (f.version != preferred, fallback and f.version.is_prerelease),
        )

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

    def _reject(self, file: IndexFile) -> str | None:
        cutoff = self.exclude_newer
        if cutoff is not None and not self._own_wheel(file) and (cut := excluded(file, cutoff)):
            return cut
        bound = self.constraints.get(file.name)
        if bound is not None and not bound[0].contains(file.version, prereleases=True):
            return self._outside(bound[1])
        if self.prerelease == "disallow" and file.version.is_prerelease:
            return DISALLOWED
        if not file.is_wheel:
            return SDIST_ONLY
        if not any(tag in self.target.tag_priority for tag in file.tags):
            if glibc := self.target.glibc_above(file.tags):
                return f"built for glibc {glibc}, above [environment] glibc {self.target.glibc}"
            return "no wheel for the target's tags"
        if file.requires_python:
            return self._python_refusal(file.requires_python)
        return None

    def _own_wheel(self, file: IndexFile) -> bool:
        """Whether ``file`` came from a find-links location, which no cutoff filters."""
        return isinstance(self.index, IndexGroup) and self.index.from_find_links(file)

    @staticmethod
    def _outside(constraints: str) -> str:
        return f"outside the constraint {constraints} {CONSTRAINED}"

    def _python_refusal(self, requires_python: str) -> str | None:
        """Why a Requires-Python (a page's, or a wheel's METADATA) refuses the target."""
        # The page's text goes into the lock as it is: packaging reads ">=3.8\u2028" (any
        # Unicode blank around a clause), which put a line separator or a C1 control there.
        if not _PRINTABLE_ASCII.fullmatch(requires_python):
            return f"unreadable Requires-Python {printable(requires_python, 80)}"
        try:
            floor = python_floor(SpecifierSet(lenient(requires_python)))
            runs = floor.contains(self.python, prereleases=True)
        except ValueError:  # InvalidSpecifier, or a number past int's digit limit
            return f"unreadable Requires-Python {printable(requires_python, 80)}"
        return None if runs else f"requires Python {requires_python}"

    def _metadata(self, file: IndexFile) -> CoreMetadata:
        """The index's metadata of ``file``, read once: ``runs`` reads it before
        ``get_dependencies`` does, and the lookahead may have read it before either."""
        return self._shared(self._read, file, lambda: self.index.metadata(file))

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

    # -- resolvelib protocol ---------------------------------------------------------------

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
            reqs.extend(requirements.get(name, ()))
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
        if candidate.file is not None and candidate.file.yanked is not None:
            # PEP 592: a yanked file only when the manifest pins exactly its version. Not a
            # yanked 1.0+cu124 through ``==1.0`` (PEP 440 matches it, but the pin names 1.0):
            # uv allows a yank only for the very version an ==/=== pin names.
            return candidate.version in exact
        return True

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


_PRINTABLE_ASCII = re.compile(r"[ -~]*")


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


@dataclass(frozen=True)
class OptIns:
    """What only the manifest's own requirements can opt into, as uv decides it: a dependency
    deep in the tree cannot pull a yanked file (PEP 592) into the environment. A yanked file is
    taken only when a manifest requirement, a constraint or an applied ``[pypi] overrides``
    entry (uv's rule) pins exactly its version (``==1.0``, not ``==1.*``, nor a local
    ``1.0+cu124`` through ``==1.0``).

    Pre-releases need no opt-in: ``find_matches`` offers every final release in range before any
    pre-release (uv since 0.12), so one is locked only where no final release can be; the
    manifest's ``[pypi] prerelease`` sets that rule for every project (``Prerelease``).
    """

    pins: Mapping[NormalizedName, frozenset[Version]]

    @classmethod
    def of(cls, roots: Iterable[Req]) -> OptIns:
        pins = defaultdict(set)
        for req in roots:
            for spec in req.specifier:
                if spec.operator in ("==", "===") and "*" not in spec.version:
                    with suppress(InvalidVersion):  # "===" takes any string
                        pins[req.name].add(Version(spec.version))
        return cls({name: frozenset(v) for name, v in pins.items()})


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


class _ResolvelibProgress(BaseReporter[Req, Candidate, str]):
    """resolvelib's events as ``-v`` detail: what was pinned, rejected and backtracked on."""

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def pinning(self, candidate: Candidate) -> None:
        self._reporter.debug(f"pinned {candidate}")

    def rejecting_candidate(self, criterion: Any, candidate: Candidate) -> None:
        self._reporter.debug(f"rejected {candidate}: it conflicts with what is already pinned")

    def resolving_conflicts(self, causes: Any) -> None:
        wanted = ", ".join(sorted({str(cause.requirement) for cause in causes}))
        self._reporter.debug(f"backtracking over {wanted}")


def resolve(
    requirements: Sequence[Requirement],
    target: Target,
    index: Index,
    *,
    reporter: Reporter,
    policy: CandidatePolicy | None = None,
    preferences: Mapping[NormalizedName, Version] | None = None,
    provided: Mapping[NormalizedName, Version] | None = None,
    indexes_searched: Sequence[str] = (),
    workers: int = PREFETCH_WORKERS,
    prerelease: Prerelease = "fallback",
    constraints: Sequence[Requirement] = (),
    overrides: Sequence[Requirement] = (),
    lookahead: bool = True,
    exclude_newer: datetime | None = None,
) -> Resolution:
    """Pick one wheel per project so every requirement holds on ``target``.

    ``provided`` names distributions another installer (conda) puts in the environment: they
    are taken at that version, never installed again from PyPI. ``workers`` threads read
    candidates ahead of the resolver; with 0 they are read when first asked for or prefetched,
    in this thread (the same reads, so the same result). With threads, ``lookahead`` also
    walks the likely dependency tree ahead of the resolver (``mlenv.lookahead``); the pins
    are the same without it.
    """
    replacing = _replacements(overrides, target)
    roots = _overridden(
        [r for r in requirements if counts(r, replacing, applies(r, target.markers))],
        replacing,
    )
    with reporter.task(f"resolving for {target.platform}", unit="packages") as task:

        def new_provider() -> _Provider:
            return _Provider(
                index,
                target,
                policy or CandidatePolicy(),
                preferences or {},
                provided or {},
                task,
                roots,
                workers,
                prerelease,
                constraints,
                replacing,
                lookahead,
                exclude_newer,
            )

        provider = new_provider()
        try:
            provider.prefetch(req.name for req in roots)
            provider.look_ahead(roots)
            state = resolve_or_retry(provider, _ResolvelibProgress(reporter), roots, MAX_ROUNDS)
            pinned = _reachable(state.mapping, state.criteria)
            missing = _missing_extras(pinned, state.criteria, provider)
        except (ResolutionImpossible, Cycling) as exc:
            cause = _unreadable_cause(exc.causes, provider)
            if cause is None:
                raise explain(exc.causes, provider, target, indexes_searched) from None
            # The resolver may have stopped before reading a requirement that excludes the
            # release anyway (a's b!=3.0): its broken line is the cause only if the lock
            # resolves when the release is taken without it; else that conflict is the error.
            again = new_provider()
            again.assumed = frozenset({cause[0]})
            try:
                resolve_or_retry(again, _ResolvelibProgress(reporter), roots, MAX_ROUNDS)
            except (ResolutionImpossible, Cycling) as other:
                # still stopped by a broken line (another project's): report this one
                if _unreadable_cause(other.causes, again) is None:
                    raise explain(other.causes, again, target, indexes_searched) from None
            except ResolutionTooDeep:
                pass
            finally:
                again.close()
            raise cause[1] from None
        except ResolutionTooDeep:
            raise ResolutionError(
                f"gave up after {MAX_ROUNDS} rounds of backtracking for {target.platform}",
                hint="add upper bounds to the requirements that change most between releases",
            ) from None
        finally:
            provider.close()
    deps: dict[NormalizedName, set[NormalizedName]] = defaultdict(set)
    for candidate in pinned:
        deps[candidate.name].update(r.name for r in provider.dependencies.get(candidate, ()))
    pins = [
        Pin(c.name, c.version, c.file, tuple(sorted(deps[c.name] - {c.name})))
        for c in pinned
        if not c.extras and c.file is not None
    ]
    if policy is not None and policy.hint:
        _refuse_dropped_extras(roots, pins, provider, target)
    for passed in provider.unreadable.values():  # pip's warning: "has invalid metadata"
        reporter.warning(f"passed over {passed[0][1].where}: {passed[0][1].message}")
    for extra in missing:  # pip's and uv's warning: the lock holds the release without it
        reporter.warning(extra.warning(target.platform))
    refused = {
        name: tuple(rejections.files)
        for name, rejections in sorted(provider.rejections.items())
        if rejections.files
    }
    offered = {
        pin.name: tuple(c.file for c in provider._candidates(pin.name) if c.file is not None)
        for pin in pins
    }
    # what the requirements admit; not an extra's own pin of its base (``===`` the locked
    # release), which would admit nothing newer and hide every walk back past an unread release
    allowed: dict[NormalizedName, SpecifierSet] = defaultdict(SpecifierSet)
    asked = (r for c in pinned for r in provider.dependencies.get(c, ()) if r.name != c.name)
    for req in (*roots, *asked):
        allowed[req.name] &= req.specifier
    for name, (bound, _text) in provider.constraints.items():
        allowed[name] &= bound
    ordered = tuple(sorted(pins, key=lambda p: p.name))
    return Resolution(target, ordered, refused, offered, dict(allowed))


def _unreadable_cause(
    causes: Collection[RequirementInformation[Req, Candidate]], provider: _Provider
) -> tuple[tuple[NormalizedName, Version], MetadataError] | None:
    """The release (and its metadata error) the resolution passed over for a project it then
    could not resolve, when that release is what the failing requirements left (it satisfies each
    of them): the error names the broken distribution and its line, as when the lock stopped
    at the first one. A release the conflict's own requirements exclude is not its cause: a's
    ``b<2`` beside ``b>=2`` is reported as that conflict, not as b 3.0's broken line."""
    for name, passed in provider.unreadable.items():
        specs = [
            info.requirement.specifier
            for info in causes
            if canonicalize_name(info.requirement.name) == name
        ]
        for version, error in passed if specs else ():
            if all(spec.contains(version, prereleases=True) for spec in specs):
                return (name, version), error
    return None


def _missing_extras(
    pinned: Sequence[Candidate],
    criteria: Mapping[str, Criterion[Req, Candidate]],
    provider: _Provider,
) -> Sequence[MissingExtra]:
    """The extras any requirement (the manifest's or a dependency's) asks for that the pinned
    release does not define, with who asked for each."""
    base = {c.name: c.file for c in pinned if not c.extras and c.file is not None}
    asked = [
        (c.name, extra, "the manifest" if info.parent is None else str(info.parent))
        for c in pinned
        if c.extras
        for info in criteria[c.identifier].information
        for extra in sorted(info.requirement.extras)
    ]

    def pin(name: NormalizedName) -> tuple[Version, CoreMetadata] | None:
        file = base.get(name)
        return None if file is None else (file.version, provider._metadata(file))

    return missing_extras(asked, pin)


def _releases(
    provider: _Provider, name: NormalizedName
) -> list[tuple[Version, Callable[[], CoreMetadata]]]:
    """Every wheel release of ``name`` the index offered, the refused ones too, each with a
    reader of its metadata (one wheel per version)."""
    files = {c.version: c.file for c in provider._candidates(name) if c.file is not None}
    for refusal in provider.rejections[name].files:
        if refusal.file.is_wheel:
            files.setdefault(refusal.file.version, refusal.file)
    return [(version, partial(provider._metadata, file)) for version, file in files.items()]


def _refuse_dropped_extras(
    roots: Sequence[Req], pins: Sequence[Pin], provider: _Provider, target: Target
) -> None:
    """Under a CUDA target, an extra the user wrote that the pinned release lacks is an error,
    not uv's warning: ``jax[cuda12]`` resolved to a jax without that extra is a silent CPU
    lock. The user writes extras in the manifest's requirements and in ``[pypi] overrides``,
    which replace a dependency's requirement as much as a root's."""
    by_name = {pin.name: pin for pin in pins}

    def pinned(name: NormalizedName) -> tuple[Version, CoreMetadata] | None:
        pin = by_name.get(name)
        return None if pin is None else (pin.version, provider._metadata(pin.file))

    asked = [r for r in roots if r.extras and r.name not in provider.overrides]
    asked += [r for listed in provider.overrides.values() for r in listed if r.extras]
    dropped = dict.fromkeys(
        d
        for d in dropped_extras(((r.name, r.extras) for r in asked), pinned)
        if walked_back(d, _releases(provider, d.name))
    )
    if not dropped:
        return
    keys = sorted(
        {"overrides" if d.name in provider.overrides else "dependencies" for d in dropped}
    )
    lines = [
        f"  {d.name} {d.version} has no extra {d.extra!r}: "
        f"{'[pypi] overrides ask' if d.name in provider.overrides else 'the manifest asks'} "
        f"for {d.name}[{d.extra}], and the newer releases that have it could not be resolved "
        "for the target"
        for d in dropped
    ]
    raise ResolutionError(
        f"the lock for {target.platform} would drop extras the manifest asks for:\n"
        + "\n".join(lines),
        hint=f"{provider.policy.hint}; or drop the extra from "
        + " or ".join(f"[pypi].{key}" for key in keys),
    )


def _reachable(
    mapping: Mapping[str, Candidate], criteria: Mapping[str, Criterion[Req, Candidate]]
) -> list[Candidate]:
    """The pins a manifest requirement leads to through pinned parents, as resolvelib's
    ``Resolver`` keeps them (a pin left over from backtracking is dropped), but walked from
    the root with a visited set: resolvelib's recursive walk never ends on a cycle of pins
    that does not reach the root, and a lock that had resolved died in a RecursionError."""
    key_of = {id(candidate): key for key, candidate in mapping.items()}
    children: dict[str | None, list[str]] = defaultdict(list)
    for key, criterion in criteria.items():
        for parent in criterion.iter_parent():
            if parent is None:
                children[None].append(key)
            elif id(parent) in key_of:
                children[key_of[id(parent)]].append(key)
    seen: set[str | None] = {None}
    todo: list[str | None] = [None]
    while todo:
        for child in children[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return [candidate for key, candidate in mapping.items() if key in seen]


def explain(
    causes: Collection[RequirementInformation[Req, Candidate]],
    provider: _Provider,
    target: Target,
    indexes: Sequence[str],
) -> ResolutionError:
    """A readable account of a failed resolution: the chains that conflict, and why."""
    where = f"{target.platform}, CPython {target.python}, glibc {target.glibc}"
    names = sorted({info.requirement.name for info in causes})
    lines: list[str] = []
    absent: dict[str, bool] = {}  # a name no index lists: asked by the manifest itself?
    sdists: list[str] = []  # names whose every release is an sdist here (tensorrt-cu12)
    foreign: dict[str, Version] = {}  # a pin to a local build no index here has (+cu128)
    searched = ", ".join(indexes) if indexes else "the configured indexes"
    from mlenv.dead_ends import dead_ends
    from mlenv.nearest import (
        Pinned,
        base_roots,
        exclusive_misses,
        foreign_local_pins,
        missing_pins,
    )
    from mlenv.passed_over import passed_over

    world = _known_world(provider)  # one, so every name's account shares dead_ends.WORK
    for name in names:
        infos = [info for info in causes if info.requirement.name == name]
        infos += base_roots(infos, provider.roots)
        candidates = provider._candidates(name)
        rejected = provider.rejections[canonicalize_name(name)]
        seen = rejected.versions | {c.version for c in candidates}
        header = len(lines)
        if candidates:
            lines.append(f"{name}: no version satisfies all of")
        else:
            lines.append(_nothing_installable(name, provider, indexes))
            if lines[-1].startswith(f"{name}: not found on "):
                absent[name] = any(info.parent is None for info in infos)
        lines += _asked(infos, provider)
        lines += _limiting_parents(infos, provider)
        asked = [Pinned(i.requirement.name, i.requirement.specifier) for i in infos]
        lines += missing_pins(asked, seen, searched)
        foreign.update((name, v) for v in foreign_local_pins(asked, seen)[:1])
        if candidates:
            shown = ", ".join(
                f"{c.version}{' (yanked)' if yank_reason(c.file) is not None else ''}"
                for c in candidates[:8]
            )
            more = f" and {len(candidates) - 8} more" if len(candidates) > 8 else ""
            lines.append(f"  versions available for the target: {shown}{more}")
        offered = {c.version for c in candidates}
        refused = {v: r for v, r in rejected.refused(target).items() if v not in offered}
        refused.update({c.version: y for c in candidates if (y := yank_reason(c.file)) is not None})
        refused.update(
            {
                c.version: r
                for c in candidates
                if (r := provider.metadata_refusals.get((c.name, c.version)))
            }
        )
        if any(
            all(info.requirement.specifier.contains(c.version, True) for info in infos)
            for c in candidates
            if c.version not in refused
        ):  # a release meets them all: the askers were ruled out by something else
            below = dead_ends(
                ((i.parent.name, i.parent.version) for i in infos if i.parent is not None), world
            )
            if below:
                lines[header] = f"{name}: a version meets all of these, but each asker is ruled out"
                lines += below
        wanted = [
            v
            for v in refused
            if all(info.requirement.specifier.contains(v, True) for info in infos)
        ]
        if wanted and all(refused[v] == SDIST_ONLY for v in wanted):
            sdists.append(name)  # tensorflow 2.15's tensorrt==8.6.1.post1
        for version in sorted(wanted, reverse=True)[:5]:
            lines.append(f"  refused: {version}: {refused[version]}")
        lines += exclusive_misses(
            [Pinned(i.requirement.name, i.requirement.specifier) for i in infos],
            offered - set(refused),
        )
    lines += _went_back(causes, provider, world)
    lines += passed_over(
        ((i.parent.name, i.parent.version) for i in causes if i.parent is not None),
        lambda name: provider.rejections[canonicalize_name(name)].refused(target),
        lambda name, version: _never_offered(provider, name, version),
    )
    summary = f"cannot resolve the PyPI requirements for {where}"
    hint = (
        "relax one of the conflicting requirements in [pypi].dependencies, or add an index "
        "that has a matching version"
    )
    if foreign:
        hint = _local_build_hint(foreign, provider.policy, searched)
    elif provider.policy.hint and any(
        provider.rejections[canonicalize_name(name)].by_policy for name in names
    ):
        hint = provider.policy.hint
    elif any(DISALLOWED in line for line in lines):
        hint = 'set [pypi] prerelease = "fallback" (or "allow") to take a pre-release; ' + hint
    elif any(CONSTRAINED in line for line in lines):
        hint = "relax [pypi] constraints, or " + hint
    elif any(EXCLUDE_NEWER in line for line in lines):
        hint = "move [pypi] exclude-newer later (or drop it), or " + hint
    elif absent and len(absent) == len(names):
        hint = _absent_hint(absent, indexes)
    elif sdists:
        hint = (
            f"{', '.join(sdists)}: every release that fits is an sdist here, and mlenv locks "
            "wheels only (an sdist's build runs code and depends on the build host): add the "
            "index that serves its wheels to [pypi] extra-index-urls (some vendors publish "
            "only a wrapper sdist on PyPI), or build the wheel once (`pip wheel --no-deps`) "
            "into a [pypi] find-links directory"
        )
    return ResolutionError(summary + ":\n" + "\n".join(lines), hint=hint)


def _local_build_hint(
    foreign: Mapping[str, Version], policy: CandidatePolicy, searched: str
) -> str:
    """A pin to a local build (``torch==2.7.0+cu128``) where the indexes have none: its
    maker's index is missing, and no requirement to relax will find it."""
    name, version = min(foreign.items())
    lead = f"{searched} has no builds with a local label like {name} {version}: "
    place, index = policy.source(name, version) or (None, None)
    if place is not None and index is None:  # a release asset, a wheel page, advice: no index
        return lead + place
    return (
        f"{lead}{place or f'add the index that publishes +{version.local} builds'}, as "
        f'[pypi] sources = {{ {name} = "{index or "<that index>"}" }} (then '
        f"{name} comes from that index alone)"
    )


def _known_world(provider: _Provider) -> World:
    """The releases and dependencies the failed resolution read, for ``dead_ends``."""
    from mlenv.dead_ends import Need, World

    needs = {
        (c.name, c.version): tuple(Need(r.name, r.specifier, str(r)) for r in reqs)
        for c, reqs in provider.dependencies.items()
        if not c.extras
    }
    return World(
        lambda name: [
            c.version
            for c in provider._candidates(name)
            if not provider.metadata_refusals.get((c.name, c.version))
        ],
        lambda name, version: needs.get((name, version)),
    )


def _absent_hint(absent: dict[str, bool], indexes: Sequence[str]) -> str:
    """No conflict to relax when no index lists the project: a misspelt name, a local index
    that is not there (every project "not found", its path never named), or a missing index."""
    gone = [url for url in indexes if is_file_url(url) and not file_url_to_path(url).is_dir()]
    if gone:
        return (
            f"{', '.join(gone)}: no such directory; correct the file:// URL in [pypi] "
            "index-url or extra-index-urls (a local index is a directory per project)"
        )
    listed = ", ".join(absent)
    where = "add an index that has it ([pypi] extra-index-urls or find-links)"
    if all(absent.values()):
        return f"check the spelling of {listed} in [pypi].dependencies, or {where}"
    return where


SHOWN_PER_ASKER = 5  # conflicting requirements listed from the releases of one package


def _asked(
    infos: Sequence[RequirementInformation[Req, Candidate]], provider: _Provider
) -> list[str]:
    """Each conflicting requirement with who asked; one line for many versions of one parent
    asking the same thing (200 nightly pre-releases of a each needing ``b<2`` listed 200)."""
    groups: dict[tuple[str, str | None], list[Candidate | None]] = defaultdict(list)
    for info in infos:
        parent = info.parent
        groups[str(info.requirement), parent.name if parent else None].append(parent)
    lines = []
    # lines by asking package: 1,000 releases of one each pinning another version are a few
    # lines and a count, not 1,000 lines (uv's issue 19672)
    per_asker: dict[str, int] = defaultdict(int)
    for (text, name), parents in groups.items():
        versions = sorted({p.version for p in parents if p is not None})
        if name is None or len(versions) <= 3:
            for parent in dict.fromkeys(parents):
                if parent is not None:
                    per_asker[parent.name] += 1
                    if per_asker[parent.name] > SHOWN_PER_ASKER:
                        continue
                lines.append(f"  {text} {_chain(parent, provider)}")
            continue
        span = f"{len(versions)} versions of {name} from {versions[0]} to {versions[-1]}"
        above = _askers(parents[0], provider)[1:]  # who asked for the parent, as for any one
        lines.append(f"  {text} (from {' <- '.join([span, *above])})")
    return lines + [
        f"  and {n - SHOWN_PER_ASKER} more from other releases of {who}"
        for who, n in per_asker.items()
        if n > SHOWN_PER_ASKER
    ]


def _limiting_parents(
    infos: Sequence[RequirementInformation[Req, Candidate]], provider: _Provider
) -> list[str]:
    """The manifest's own limits on the packages that asked: with ``a!=2.0.0`` in the manifest,
    the conflict over ``b`` between a 1.0.0 and a 3.0.0 is only half the story."""
    parents = {info.parent.name for info in infos if info.parent is not None}
    return [
        f"  {root} (from the manifest) rules out other versions of {root.name}"
        for root in provider.roots
        if root.name in parents
        and any(
            not root.specifier.contains(c.version, prereleases=True)
            for c in provider._candidates(root.name)
        )
    ]


def yank_reason(file: IndexFile | None) -> str | None:
    """PEP 592: a yanked file is its own reason, with the index's yank reason when given."""
    if file is None or file.yanked is None:
        return None
    because = f" ({file.yanked})" if file.yanked else ""
    pin = f"=={file.version}"  # the exact version: ==1.0 does not select 1.0+cu124
    return f"{file.version} is yanked{because}; only a manifest pin {pin} selects it"


def _nothing_installable(name: str, provider: _Provider, indexes: Sequence[str]) -> str:
    from mlenv.reason_tally import tally_reasons

    rejected = provider.rejections.get(canonicalize_name(name))
    if isinstance(provider.index, IndexGroup) and (source := provider.index.source_of(name)):
        indexes = (f"{source} (its only index: [pypi] sources)",)
    searched = ", ".join(indexes) if indexes else "the configured indexes"
    if (rejected is None or not rejected.versions) and provider.index.knows(
        canonicalize_name(name)
    ):
        if provider.index.status(canonicalize_name(name)) == "quarantined":
            return (
                f"{name}: quarantined on {searched}, which withholds every file of it "
                "(PEP 792: judged unsafe to install, e.g. malware); do not take it elsewhere"
            )
        return (
            f"{name}: listed on {searched}, but with no wheel or sdist mlenv can read "
            "(under first-index, the first index that lists a project is its only source)"
        )
    if rejected is None or not rejected.versions:
        return f"{name}: not found on {searched}"
    if provider.exclude_newer is not None and (
        cut := nothing_before(
            name, searched, provider.exclude_newer, ((r.file, r.reason) for r in rejected.files)
        )
    ):
        return cut
    reasons = tally_reasons(rejected.reasons, ((r.file.version, r.reason) for r in rejected.files))
    versions = ", ".join(str(v) for v in sorted(rejected.versions, reverse=True)[:8])
    return f"{name}: no installable file on {searched} (versions seen: {versions}; {reasons})"


def _never_offered(provider: _Provider, name: str, version: Version) -> bool:
    """A refused release the manifest allows that no other file of it made a candidate."""
    roots = [root for root in provider.roots if root.name == canonicalize_name(name)]
    return all(root.specifier.contains(version, True) for root in roots) and all(
        c.version != version for c in provider._candidates(canonicalize_name(name))
    )


def _chain(parent: Candidate | None, provider: _Provider) -> str:
    """'(from a 1.0 <- b 2.0 <- the manifest)': who asked for a requirement, back to the root."""
    return "(from " + " <- ".join(_askers(parent, provider)) + ")"


def _askers(parent: Candidate | None, provider: _Provider) -> list[str]:
    """``parent``, who asked for it, and so on back to "the manifest"."""
    return [str(step) for step, _ in _ancestry(parent, provider)] + ["the manifest"]


def _ancestry(
    parent: Candidate | None, provider: _Provider
) -> list[tuple[Candidate, tuple[SpecifierSet, ...]]]:
    """``parent``, who asked for it, and so on up to a manifest requirement; each with the
    ranges its asker (or the manifest) gave it."""
    steps = []
    seen = set()
    current = parent
    while current is not None and current.name not in seen:
        seen.add(current.name)
        askers = provider.required_by.get(current.name, [])
        # the asker whose range holds this release: menu 15 asked dropdown>=2 and menu 10
        # dropdown<2, so dropdown 1 came from menu 10, whichever asked first
        asker = next((a for a in askers if _range(provider.dependencies[a], current)), None)
        ranges = (
            _range(provider.dependencies[asker], current)
            if asker
            else _range(provider.roots, current)
        )
        steps.append((current, ranges))
        current = asker
    return steps


def _range(needs: Sequence[Req], release: Candidate) -> tuple[SpecifierSet, ...]:
    """The ranges ``needs`` give ``release``'s package, if every one of them holds it."""
    ranges = tuple(need.specifier for need in needs if need.name == release.name)
    return ranges if all(r.contains(release.version, True) for r in ranges) else ()


def _went_back(
    causes: Collection[RequirementInformation[Req, Candidate]], provider: _Provider, world: World
) -> list[str]:
    """``went_back`` over the chains of the conflicting requirements."""
    from mlenv.went_back import Step, went_back, within

    steps = [
        Step(release.name, release.version, ranges)
        for info in causes
        for release, ranges in _ancestry(info.parent, provider)
    ]
    reported = {(i.parent.name, i.parent.version) for i in causes if i.parent is not None}
    limits = [(r.name, r.specifier) for r in provider.roots]
    return went_back(steps, within(world, limits), reported)
