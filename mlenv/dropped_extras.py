"""A manifest extra that the resolved release does not have, under a CUDA target.

``jax[cuda12]`` on a CUDA 13 fleet: every release whose ``cuda12`` extra pulls
``jax-cuda12-plugin`` is refused, so the resolver walks back to jax 0.4.21, whose metadata has
no ``cuda12`` extra at all. pip and uv only warn about a missing extra; the lock then held
jax without jaxlib or any CUDA library, a silent CPU fallback the CUDA rules exist to stop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.errors import MlenvError
from mlenv.index import CoreMetadata
from mlenv.lazy_pattern import LazyPattern

_EXTRA_NAMED = LazyPattern(r"""\bextra\s*==\s*['"]([^'"]+)['"]|['"]([^'"]+)['"]\s*==\s*extra\b""")


@dataclass(frozen=True)
class DroppedExtra:
    """One extra a root requirement asks for that its pinned release does not define."""

    name: NormalizedName
    version: Version
    extra: str


def defines(metadata: CoreMetadata, extra: str) -> bool:
    """Whether the release declares ``extra``: Provides-Extra, or a Requires-Dist marker that
    names it (old wheels list extras only there)."""
    wanted = canonicalize_name(extra)
    if wanted in metadata.provides_extra:
        return True
    for line in metadata.requires_dist:
        _, _, marker = line.partition(";")
        for found in _EXTRA_NAMED.findall(marker):
            if canonicalize_name(found[0] or found[1]) == wanted:
                return True
    return False


def dropped_extras(
    asked: Iterable[tuple[NormalizedName, frozenset[str]]],
    pinned: Callable[[NormalizedName], tuple[Version, CoreMetadata] | None],
) -> Sequence[DroppedExtra]:
    """The extras the manifest asks for (``asked``: name and extras of each root requirement)
    that the pinned release of that name does not define."""
    found: list[DroppedExtra] = []
    for name, extras in asked:
        pin = pinned(name)
        if pin is None:
            continue
        version, metadata = pin
        found += [
            DroppedExtra(name, version, extra)
            for extra in sorted(extras)
            if not defines(metadata, extra)
        ]
    return found


def walked_back(
    dropped: DroppedExtra, releases: Iterable[tuple[Version, Callable[[], CoreMetadata]]]
) -> bool:
    """Whether a release newer than the pin defines the extra (``releases``: each version with
    a reader of its metadata): the resolver walked back from it, the CUDA rule's case. When
    none does, the project dropped the extra itself (nvidia-modelopt 0.47 made torch a plain
    dependency), which pip and uv lock with a warning. Unreadable metadata counts as defining
    it, so a doubt keeps the error."""
    newer = sorted((r for r in releases if r[0] > dropped.version), key=lambda r: r[0])
    for _, read in reversed(newer):
        try:
            if defines(read(), dropped.extra):
                return True
        except MlenvError:
            return True
    return False


@dataclass(frozen=True)
class MissingExtra:
    """An extra some requirement asks for that the pinned release does not define, with who
    asked: pip and uv lock without it and warn, and so does mlenv (outside the CUDA rule)."""

    name: NormalizedName
    version: Version
    extra: str
    askers: tuple[str, ...]

    def warning(self, platform: str) -> str:
        return (
            f"{self.name} {self.version} ({platform}) does not provide the extra "
            f"{self.extra!r} (asked by {', '.join(self.askers)}); locked without it"
        )


def missing_extras(
    asked: Iterable[tuple[NormalizedName, str, str]],
    pinned: Callable[[NormalizedName], tuple[Version, CoreMetadata] | None],
) -> Sequence[MissingExtra]:
    """Each (name, extra) of ``asked`` (name, PEP 685-normalised extra, who asked) that the
    pinned release of that name does not define, once, with every asker."""
    askers: dict[tuple[NormalizedName, str], dict[str, None]] = {}
    for name, extra, asker in asked:
        askers.setdefault((name, canonicalize_name(extra)), {})[asker] = None
    found: list[MissingExtra] = []
    for (name, extra), who in sorted(askers.items()):
        pin = pinned(name)
        if pin is not None and not defines(pin[1], extra):
            found.append(MissingExtra(name, pin[0], extra, tuple(who)))
    return found
