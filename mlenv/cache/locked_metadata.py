"""What a lock took from a wheel's metadata, held against the wheel the lock pins.

At lock time a wheel's METADATA comes from HTTP range requests into the wheel or from a
``.metadata`` file: bytes the index serves apart from the download the lock's sha256 pins, so
no locked hash covers them. A hostile or broken index can serve one METADATA to those reads and
another wheel to the download. ``fetch`` therefore re-reads the METADATA of every locked wheel
from the cache, once the cache holds the locked bytes, and holds the lock to it (security
invariant 2): the name, the version and the dependencies the resolver took from it.
Requires-Python is not compared: the resolver reads it from the index page, as the lock does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import BinaryIO

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.errors import MlenvError, Problem, ProblemsError, printable
from mlenv.index.model import CoreMetadata, IndexFile, parse_core_metadata
from mlenv.index.wheelmeta import metadata_member
from mlenv.limits import enforce_requires_dist
from mlenv.lockfile import Lock, LockedPackage
from mlenv.overrides import counts, held
from mlenv.pep508 import marker_holds, marker_text
from mlenv.pep508 import metadata_requirement as parsed
from mlenv.target import Target

HINT = (
    "the index served metadata that the wheel it serves contradicts (to the range requests or "
    "the .metadata file the lock read): lock against another index and report it to the "
    "index's operator"
)
_QUOTED = re.compile(r"""['"]([^'"]*)['"]""")
_MAX_EXTRAS = 100  # a marker naming more is taken as possible, not evaluated for each


class LockedMetadataError(ProblemsError):
    """A locked wheel's own METADATA contradicts what the lock took from the index."""


def check_locked_metadata(
    lock: Lock, cache: ArtifactCache, platforms: Sequence[str] | None = None
) -> None:
    """Every locked wheel (of ``platforms``) in ``cache`` against its lock entry, every
    contradiction at once."""
    read: dict[str, CoreMetadata | str] = {}  # sha256 -> metadata, or why it cannot be read
    problems = []
    for platform in lock.platforms:
        if platforms and platform.platform not in platforms:
            continue
        target = Target(platform.platform, lock.target.python, lock.target.glibc)
        overridden = held(lock.target.overrides or (), target.markers)
        for package in platform.packages:
            if package.sha256 not in read:
                read[package.sha256] = _metadata(package, cache)
            meta = read[package.sha256]
            if isinstance(meta, str):
                problem: str | None = meta
            else:
                problem = metadata_problem(package, meta, target, overridden)
            if problem is not None:
                # This user's own files are read in place, unhashed (hashing every wheel on
                # every fetch costs seconds): what contradicts the lock is blamed on the index
                # only once it is the locked bytes; a cache file changed since it was stored
                # fails here (CacheError).
                cache.copy_verified(_artifact(package), None)
                where = f"{platform.platform}: {package.name} {package.version} ({package.url})"
                problems.append(Problem(where, problem, HINT))
    if problems:
        raise LockedMetadataError(
            f"{len(problems)} locked wheel(s) contradict what the lock took from their metadata",
            problems,
        )


def metadata_problem(
    package: LockedPackage,
    meta: CoreMetadata,
    target: Target,
    overridden: Mapping[NormalizedName, bool] | None = None,
) -> str | None:
    """How the wheel's own METADATA ``meta`` contradicts its lock entry for ``target``: another
    name or version, a dependency it always has that the lock lacks, or one the lock holds
    that none of its Requires-Dist lines can give on the target (with any extra); each line on
    a project the lock's overrides name (``overridden``: whether one applies on the target)
    read as the resolver read it (``mlenv.overrides``)."""
    try:
        same = meta.name == canonicalize_name(package.name) and meta.version == Version(
            package.version
        )
    except InvalidVersion:
        same = False
    if not same:
        return f"the wheel's METADATA describes {meta.name} {meta.version}"
    always, possible = _dependency_names(meta, target, overridden or {})
    locked = {canonicalize_name(name) for name in package.dependencies}
    lacking = sorted(always - locked - {meta.name})
    foreign = sorted(locked - possible)
    if not lacking and not foreign:
        return None
    said = [
        *([f"the wheel requires {', '.join(lacking)}, which the lock does not"] if lacking else []),
        *([f"the lock depends on {', '.join(foreign)}, which the wheel never requires"]
          if foreign else []),
    ]  # fmt: skip
    return "; ".join(said)


def _dependency_names(
    meta: CoreMetadata, target: Target, overridden: Mapping[NormalizedName, bool]
) -> tuple[set[NormalizedName], set[NormalizedName]]:
    """The names the wheel requires on ``target`` without an extra, and those it may require
    with some extra (tried with each string its marker names: ``extra == "gpu"``)."""
    always: set[NormalizedName] = set()
    possible: set[NormalizedName] = set()
    for requirement in _requirements(meta):
        name = canonicalize_name(requirement.name)
        if name in overridden:  # the override's marker decides, not this line's
            if overridden[name]:
                possible.add(name)
                if counts(requirement, overridden, False):
                    always.add(name)
            continue
        if requirement.marker is None or marker_holds(requirement.marker, target.markers):
            always.add(name)
            possible.add(name)
            continue
        extras = set(_QUOTED.findall(marker_text(requirement.marker)))  # the extras it names
        if len(extras) > _MAX_EXTRAS or any(
            marker_holds(requirement.marker, target.markers, extra) for extra in extras
        ):
            possible.add(name)
    return always, possible


def _requirements(meta: CoreMetadata) -> Iterable[Requirement]:
    for line in meta.requires_dist:
        try:
            yield parsed(line)
        except InvalidRequirement:
            raise MlenvError(
                f"a Requires-Dist line is not a PEP 508 requirement: {printable(line)!r}"
            ) from None


def _artifact(package: LockedPackage) -> Artifact:
    return Artifact(f"{package.name} {package.version}", package.url, package.sha256, package.size)


def locked_metadata_member(package: LockedPackage, handle: BinaryIO, url: str) -> bytes:
    """The METADATA bytes of the locked wheel ``package`` read from ``handle`` (found at
    ``url``, which errors name)."""
    file = IndexFile(
        name=canonicalize_name(package.name),
        version=Version(package.version),
        filename=package.filename,
        url=url,
        index_url=package.index,
        sha256=package.sha256,
        size=package.size,
        requires_python=None,
        yanked=None,
        tags=frozenset(),
        is_wheel=True,
        has_metadata=False,
        metadata_sha256=None,
    )
    return metadata_member(handle, file)


def _metadata(package: LockedPackage, cache: ArtifactCache) -> CoreMetadata | str:
    """The METADATA of the cached wheel, or why it cannot be read: from bytes only this user
    could have put there, or hashed to the lock's sha256 (``ArtifactCache.locked_bytes``)."""
    try:
        with cache.locked_bytes(_artifact(package)) as handle:
            raw = locked_metadata_member(package, handle, package.url)
        meta = parse_core_metadata(raw, where=package.filename)
        # The resolver's bound, before any line is parsed: this METADATA is not the one it read.
        enforce_requires_dist(meta.requires_dist, where=package.url)
        list(_requirements(meta))
    except MlenvError as error:
        return f"its METADATA cannot be read: {error.message}"
    return meta
