"""Who asked for a conflicting requirement, back to the manifest: the chains a failure's
account prints, grouped per asker so a thousand releases are a few lines, and why each package
on a chain was taken at an older release (``went_back``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from resolvelib.structs import RequirementInformation

from mlenv.resolver.model import Candidate, Req
from mlenv.resolver.provider import _Provider

if TYPE_CHECKING:  # the failure accounts import these when a resolution fails
    from mlenv.dead_ends import World

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
