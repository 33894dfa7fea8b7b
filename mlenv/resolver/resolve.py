"""The entry point: ``resolve`` runs resolvelib over the provider for one target and turns its
state into a ``Resolution``, or its failure into a ``ResolutionError`` (the account is imported
only when a resolution fails)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import BaseReporter, ResolutionImpossible, ResolutionTooDeep
from resolvelib.resolvers import Criterion
from resolvelib.structs import RequirementInformation

from mlenv.backtrack import resolve_or_retry
from mlenv.cycles import Cycling
from mlenv.index import Index
from mlenv.index.model import MetadataError
from mlenv.inputs import Prerelease
from mlenv.overrides import counts
from mlenv.report import Reporter
from mlenv.resolver.candidates import PREFETCH_WORKERS
from mlenv.resolver.extras import _missing_extras, _refuse_dropped_extras
from mlenv.resolver.model import Candidate, Pin, Req, Resolution, ResolutionError
from mlenv.resolver.policy import CandidatePolicy
from mlenv.resolver.provider import _Provider
from mlenv.resolver.pypi_rules import _overridden, _replacements
from mlenv.resolver.requirements import applies
from mlenv.target import Target

MAX_ROUNDS = 200_000


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
            from mlenv.resolver.explain import explain  # the account: only a failure needs it

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
    return Resolution(target, ordered, provider.opt_ins, refused, offered, dict(allowed))


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
