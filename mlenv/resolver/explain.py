"""The account of a failed resolution: for each conflicting project, what was asked and by
whom, what the indexes offered and why the rest was refused, and a hint at what to change.
Imported only when a resolution fails."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import Version
from resolvelib.structs import RequirementInformation

from mlenv.exclude_newer import EXCLUDE_NEWER, nothing_before
from mlenv.index import IndexGroup
from mlenv.resolver.askers import _asked, _limiting_parents, _went_back
from mlenv.resolver.failure_hints import _absent_hint, _local_build_hint
from mlenv.resolver.model import Candidate, Req, ResolutionError
from mlenv.resolver.pages import CONSTRAINED, DISALLOWED, NO_WHEEL, OTHER_PYTHON, SDIST_ONLY
from mlenv.resolver.provider import _Provider
from mlenv.resolver.refusals import yank_reason
from mlenv.target import Target

if TYPE_CHECKING:  # the failure accounts import these when a resolution fails
    from mlenv.dead_ends import World


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
    older: list[str] = []  # names whose every release has wheels for other Pythons only
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
        if any(refused[v].startswith(OTHER_PYTHON) for v in wanted) and all(
            refused[v].startswith(OTHER_PYTHON) or refused[v] in (SDIST_ONLY, NO_WHEEL)
            for v in wanted
        ):  # numpy<1.24 on CPython 3.12 (1.10.0: an sdist and Windows wheels)
            older.append(name)
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
    elif older:
        hint = (
            f"{', '.join(older)}: no release that fits has a wheel for CPython {target.python}: "
            "allow a release built for it, or set [environment] python to one its wheels are "
            "built for"
        )
    elif sdists:
        hint = (
            f"{', '.join(sdists)}: every release that fits is an sdist here, and mlenv locks "
            "wheels only (an sdist's build runs code and depends on the build host): add the "
            "index that serves its wheels to [pypi] extra-index-urls (some vendors publish "
            "only a wrapper sdist on PyPI), or build the wheel once (`pip wheel --no-deps`) "
            "into a [pypi] find-links directory"
        )
    return ResolutionError(summary + ":\n" + "\n".join(lines), hint=hint)


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
