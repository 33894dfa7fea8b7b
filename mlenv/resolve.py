"""Resolve PyPI requirements for a target with resolvelib, over any ``Index``.

Nothing here does IO of its own or prints: the index is an interface (a fake in tests), progress
goes to a Reporter, and a failure becomes a ``ResolutionError`` whose text explains the conflict
as a tree of who asked for what.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep, Resolver
from resolvelib.providers import AbstractProvider
from resolvelib.structs import RequirementInformation

from mlenv.errors import MlenvError
from mlenv.index import CoreMetadata, Index, IndexFile
from mlenv.pep508 import marker_holds
from mlenv.pep508 import requirement as parsed
from mlenv.report import Reporter, Task
from mlenv.target import Target

MAX_ROUNDS = 200_000
PREFETCH_WORKERS = 8


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
class Resolution:
    target: Target
    pins: tuple[Pin, ...]

    def by_name(self) -> dict[NormalizedName, Pin]:
        return {pin.name: pin for pin in self.pins}


class CandidatePolicy:
    """Judges files beyond tags and specifiers (the CUDA rules plug in here).

    ``reject`` returns a reason to never pick a file; ``rank`` orders variants of one release
    (lower first) so that, for example, the build for the target CUDA is tried before others;
    ``hint`` is shown when a resolution fails after the policy refused files.
    """

    hint = ""

    def reject(self, file: IndexFile) -> str | None:
        return None

    def rank(self, file: IndexFile) -> int:
        return 0


def _identifier(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def to_req(requirement: Requirement) -> Req:
    """The requirement without its marker, which the caller has already decided."""
    text = str(requirement).split(";", 1)[0].strip()
    extras = frozenset(canonicalize_name(e) for e in requirement.extras)
    return Req(canonicalize_name(requirement.name), requirement.specifier, extras, text)


def applies(requirement: Requirement, markers: Mapping[str, str], extra: str = "") -> bool:
    marker = requirement.marker
    return marker is None or marker_holds(marker, markers, extra)


@dataclass
class _Rejections:
    """Why files of one project were not candidates, for the failure message."""

    versions: set[Version] = field(default_factory=set)
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: dict[Version, str] = field(default_factory=dict)
    by_policy: bool = False

    def add(self, file: IndexFile, reason: str, *, by_policy: bool) -> None:
        self.reasons[reason] += 1
        self.refused.setdefault(file.version, reason)
        self.by_policy |= by_policy

    def add_provided(self, version: Version) -> None:
        self.versions.add(version)
        self.reasons[f"the conda environment provides {version}"] += 1


class _Provider(AbstractProvider[Req, Candidate, str]):
    def __init__(
        self,
        index: Index,
        target: Target,
        policy: CandidatePolicy,
        preferences: Mapping[NormalizedName, Version],
        provided: Mapping[NormalizedName, Version],
        task: Task,
    ) -> None:
        self.index = index
        self.target = target
        self.policy = policy
        self.preferences = preferences
        self.provided = provided
        self.task = task
        self.python = Version(target.python_full_version)
        self.rejections: dict[NormalizedName, _Rejections] = defaultdict(_Rejections)
        self.required_by: dict[NormalizedName, list[Candidate]] = defaultdict(list)
        self.dependencies: dict[Candidate, tuple[Req, ...]] = {}
        self._files: dict[NormalizedName, Future[list[Candidate]]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(PREFETCH_WORKERS, thread_name_prefix="mlenv-prefetch")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- candidates ------------------------------------------------------------------------

    def _candidates(self, name: NormalizedName) -> list[Candidate]:
        """Every installable release of ``name``, newest first, one best wheel per version."""
        with self._lock:
            future = self._files.get(name)
            if future is None:
                future = self._pool.submit(self._load_candidates, name)
                self._files[name] = future
        return future.result()

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        with self._lock:
            for name in names:
                if name not in self._files:
                    self._files[name] = self._pool.submit(self._load_candidates, name)

    def _load_candidates(self, name: NormalizedName) -> list[Candidate]:
        if name in self.provided:  # conda installs it: PyPI must accept that version
            self.rejections[name].add_provided(self.provided[name])
            return [Candidate(name, self.provided[name], None)]
        files = self.index.files(name)
        rejected = self.rejections[name]
        best: dict[Version, tuple[tuple[int, str], IndexFile]] = {}
        for file in files:
            rejected.versions.add(file.version)
            reason = self._reject(file)
            if reason is not None:
                rejected.add(file, reason, by_policy=False)
                continue
            reason = self.policy.reject(file)
            if reason is not None:
                rejected.add(file, reason, by_policy=True)
                continue
            rank = min(self.target.tag_priority.get(tag, 1 << 30) for tag in file.tags)
            key = (rank, file.filename)
            if file.version not in best or key < best[file.version][0]:
                best[file.version] = (key, file)
        # Newest release first; its variants (local versions such as +cu124) in policy order.
        ordered = sorted(
            best.values(),
            key=lambda item: (Version(item[1].version.public), -self.policy.rank(item[1]),
                              item[1].version),
            reverse=True,
        )  # fmt: skip
        if ordered:
            self.index.prefetch([ordered[0][1]])
        return [Candidate(name, file.version, file) for _, file in ordered]

    def _reject(self, file: IndexFile) -> str | None:
        if not file.is_wheel:
            return "only an sdist (mlenv locks wheels only)"
        if not any(tag in self.target.tag_priority for tag in file.tags):
            return "no wheel for the target's tags"
        if file.requires_python:
            try:
                if not SpecifierSet(file.requires_python).contains(self.python, prereleases=True):
                    return f"requires Python {file.requires_python}"
            except InvalidSpecifier:
                return f"unreadable Requires-Python {file.requires_python!r}"
        return None

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
    ) -> list[Candidate]:
        name = canonicalize_name(identifier.split("[")[0])
        extras = frozenset(e for r in requirements[identifier] for e in r.extras)
        reqs = list(requirements[identifier])
        if extras:
            reqs.extend(requirements.get(name, ()))
        bad = {c.version for c in incompatibilities[identifier]}
        allowed = [
            c
            for c in self._candidates(name)
            if c.version not in bad and self._allowed(c, reqs, prereleases=False)
        ]
        if not allowed:  # pip's rule: pre-releases only when nothing else matches
            allowed = [
                c
                for c in self._candidates(name)
                if c.version not in bad and self._allowed(c, reqs, prereleases=True)
            ]
        preferred = self.preferences.get(name)
        if preferred is not None:
            allowed.sort(key=lambda c: c.version != preferred)
        return [Candidate(c.name, c.version, c.file, extras) for c in allowed]

    @staticmethod
    def _allowed(candidate: Candidate, reqs: Sequence[Req], *, prereleases: bool) -> bool:
        combined = SpecifierSet()
        for req in reqs:
            combined &= req.specifier
        # As pip: a pre-release is allowed when a specifier names one, or when asked.
        allow_pre = prereleases or bool(combined.prereleases)
        if not combined.contains(candidate.version, prereleases=allow_pre):
            return False
        if candidate.file is not None and candidate.file.yanked is not None:
            # PEP 592: a yanked file is only chosen when a requirement pins exactly it.
            return any(
                spec.operator in ("==", "===") and Version(spec.version) == candidate.version
                for req in reqs
                for spec in req.specifier
                if "*" not in spec.version
            )
        return True

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        if candidate in self.dependencies:
            return list(self.dependencies[candidate])
        if candidate.file is None:
            return []  # conda's package: its dependencies are conda's business
        metadata = self.index.metadata(candidate.file)  # the index checks name and version
        self.task.advance()
        deps = self._dependencies(candidate, metadata)
        if candidate.extras:
            base = Req(candidate.name, SpecifierSet(f"=={candidate.version}"))
            deps = [base, *deps]
        self.dependencies[candidate] = tuple(deps)
        for dep in deps:
            if dep.name != candidate.name:
                self.required_by[dep.name].append(candidate)
        self.prefetch(dep.name for dep in deps)
        return deps

    def _dependencies(self, candidate: Candidate, metadata: CoreMetadata) -> list[Req]:
        markers = self.target.markers
        wanted = []
        for text in metadata.requires_dist:
            requirement = parsed(text)
            if not candidate.extras:
                if applies(requirement, markers):
                    wanted.append(to_req(requirement))
            # An extra's candidate adds only what its extras bring; the base carries the rest.
            elif not applies(requirement, markers) and any(
                applies(requirement, markers, extra) for extra in candidate.extras
            ):
                wanted.append(to_req(requirement))
        return wanted


class _ResolvelibProgress(BaseReporter[Req, Candidate, str]):
    pass


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
) -> Resolution:
    """Pick one wheel per project so every requirement holds on ``target``.

    ``provided`` names distributions another installer (conda) puts in the environment: they
    are taken at that version, never installed again from PyPI.
    """
    roots = [to_req(r) for r in requirements if applies(r, target.markers)]
    with reporter.task(f"resolving for {target.platform}", unit="packages") as task:
        provider = _Provider(
            index, target, policy or CandidatePolicy(), preferences or {}, provided or {}, task
        )
        try:
            provider.prefetch(req.name for req in roots)
            result = Resolver(provider, _ResolvelibProgress()).resolve(roots, max_rounds=MAX_ROUNDS)
        except ResolutionImpossible as exc:
            raise explain(exc.causes, provider, target, indexes_searched) from None
        except ResolutionTooDeep:
            raise ResolutionError(
                f"gave up after {MAX_ROUNDS} rounds of backtracking for {target.platform}",
                hint="add upper bounds to the requirements that change most between releases",
            ) from None
        finally:
            provider.close()
    deps: dict[NormalizedName, set[NormalizedName]] = defaultdict(set)
    for candidate in result.mapping.values():
        deps[candidate.name].update(r.name for r in provider.dependencies.get(candidate, ()))
    pins = [
        Pin(c.name, c.version, c.file, tuple(sorted(deps[c.name] - {c.name})))
        for c in result.mapping.values()
        if not c.extras and c.file is not None
    ]
    return Resolution(target, tuple(sorted(pins, key=lambda p: p.name)))


def explain(
    causes: Collection[RequirementInformation[Req, Candidate]],
    provider: _Provider,
    target: Target,
    indexes: Sequence[str],
) -> ResolutionError:
    """A readable account of a failed resolution: the chains that conflict, and why."""
    where = f"{target.platform}, CPython {target.python}, glibc {target.glibc}"
    names = sorted({info.requirement.name for info in causes})
    lines = []
    for name in names:
        infos = [info for info in causes if info.requirement.name == name]
        candidates = provider._candidates(name)
        if not candidates:
            lines.append(_nothing_installable(name, provider, indexes))
            for info in infos:
                lines.append(f"  {info.requirement} {_chain(info.parent, provider)}")
            continue
        lines.append(f"{name}: no version satisfies all of")
        for info in infos:
            lines.append(f"  {info.requirement} {_chain(info.parent, provider)}")
        shown = ", ".join(str(c.version) for c in candidates[:8])
        more = f" and {len(candidates) - 8} more" if len(candidates) > 8 else ""
        lines.append(f"  versions available for the target: {shown}{more}")
        refused = provider.rejections[canonicalize_name(name)].refused
        wanted = [
            v
            for v in refused
            if all(info.requirement.specifier.contains(v, True) for info in infos)
        ]
        for version in sorted(wanted, reverse=True)[:5]:
            lines.append(f"  refused: {version}: {refused[version]}")
    summary = f"cannot resolve the PyPI requirements for {where}"
    hint = (
        "relax one of the conflicting requirements in [pypi].dependencies, or add an index "
        "that has a matching version"
    )
    if provider.policy.hint and any(
        provider.rejections[canonicalize_name(name)].by_policy for name in names
    ):
        hint = provider.policy.hint
    return ResolutionError(summary + ":\n" + "\n".join(lines), hint=hint)


def _nothing_installable(name: str, provider: _Provider, indexes: Sequence[str]) -> str:
    rejected = provider.rejections.get(canonicalize_name(name))
    searched = ", ".join(indexes) if indexes else "the configured indexes"
    if rejected is None or not rejected.versions:
        return f"{name}: not found on {searched}"
    reasons = "; ".join(
        f"{count} file(s): {reason}" for reason, count in sorted(rejected.reasons.items())
    )
    versions = ", ".join(str(v) for v in sorted(rejected.versions, reverse=True)[:8])
    return f"{name}: no installable file on {searched} (versions seen: {versions}; {reasons})"


def _chain(parent: Candidate | None, provider: _Provider) -> str:
    """'(from a 1.0 <- b 2.0 <- the manifest)': who asked for a requirement, back to the root."""
    steps = []
    seen = set()
    current = parent
    while current is not None and current.name not in seen:
        seen.add(current.name)
        steps.append(str(current))
        askers = provider.required_by.get(current.name, [])
        current = askers[0] if askers else None
    steps.append("the manifest")
    return "(from " + " <- ".join(steps) + ")"
