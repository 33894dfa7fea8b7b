"""Extras a resolution asked for that its pinned release lacks: uv's warning for any lock, and
under a CUDA policy an error when a newer release that has the extra could not be resolved (a
``jax[cuda12]`` locked without its extra is a silent CPU lock)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

from packaging.utils import NormalizedName
from packaging.version import Version
from resolvelib.resolvers import Criterion

from mlenv.dropped_extras import MissingExtra, dropped_extras, missing_extras, walked_back
from mlenv.index import CoreMetadata
from mlenv.resolver.model import Candidate, Pin, Req, ResolutionError
from mlenv.resolver.provider import _Provider
from mlenv.target import Target


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
