"""The artifacts a lock needs, and whether a cache holds them verified: what ``fetch`` fills,
``build`` copies and ``verify --cache`` re-hashes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlenv.cache import is_bundle
from mlenv.cache.artifacts import Artifact, ArtifactCache, CacheError
from mlenv.conda.records import CondaRecord
from mlenv.errors import MlenvError, Problem, ProblemsError
from mlenv.lockfile import Lock, LockedPackage
from mlenv.platforms import unknown_platform_hint
from mlenv.report import QuietReporter, Reporter


class MissingArtifactsError(ProblemsError):
    """Artifacts the lock needs are not in the cache, and mlenv may not download them."""


def artifacts_of(lock: Lock, platforms: Sequence[str] | None = None) -> list[Artifact]:
    """Every file the lock needs (for the chosen platforms), once, in a stable order."""
    chosen = set(platforms) if platforms else {p.platform for p in lock.platforms}
    # A target platform with nothing pinned has no table in the lock, and needs no artifact.
    unknown = sorted(chosen - {p.platform for p in lock.platforms} - set(lock.target.platforms))
    if unknown:
        raise MlenvError(
            f"the lock has no platform {', '.join(unknown)}",
            where="--platform",
            hint=unknown_platform_hint(unknown[0], lock.target.platforms),
        )
    found: dict[str, Artifact] = {}
    for platform in lock.platforms:
        if platform.platform in chosen:
            packages: list[LockedPackage | CondaRecord] = [*platform.packages, *platform.conda]
            for package in packages:
                name = f"{package.name} {package.version}"
                found.setdefault(
                    package.sha256, Artifact(name, package.url, package.sha256, package.size)
                )
    return sorted(found.values(), key=lambda a: (a.name, a.sha256))


def missing_from(cache: ArtifactCache, artifacts: Sequence[Artifact]) -> list[Artifact]:
    return [a for a in artifacts if not cache.has(a)]


def require_cached(
    cache: ArtifactCache, artifacts: Sequence[Artifact], command: str, manifest_dir: Path
) -> None:
    """Refuse ``mlenv command`` before any work when the cache lacks an artifact. A manifest
    inside a bundle the cache is not (one carried into the site, mlenv run inside it) is
    told to name that bundle as the cache."""
    missing = missing_from(cache, artifacts)
    if not missing:
        return
    carried = is_bundle(manifest_dir)
    bundle = manifest_dir if carried and cache.root.resolve() != manifest_dir.resolve() else None
    raise missing_error(missing, cache, missing_hint(command, cache, bundle))


def missing_hint(command: str, cache: ArtifactCache, bundle: Path | None = None) -> str:
    """How to get the artifacts ``mlenv command`` lacks (``bundle``: see ``require_cached``;
    a bundle that is the cache: ``ArtifactCache.repair_hint``)."""
    if bundle is not None:
        return (
            f"the manifest is in a bundle, use it as the cache: `mlenv --cache {bundle} {command}`"
        )
    return cache.repair_hint(
        "run `mlenv fetch` on a connected machine (for an air gap: `mlenv fetch --bundle DIR` "
        f"there, then `mlenv --cache DIR {command}` here)"
    )


def missing_error(
    missing: Sequence[Artifact], source: ArtifactCache | str, hint: str
) -> MissingArtifactsError:
    """Every artifact ``source`` (a cache, or a registry bundle's location) lacks, each with
    its size and URL, or what a cache holds in its place; the one fix said once (``hint``)."""
    where = source if isinstance(source, str) else f"the cache {source.root}"
    return MissingArtifactsError(
        f"{len(missing)} artifact(s) of the lock are not in {where}",
        [
            Problem(a.name, a.missing if isinstance(source, str) else source.absent(a), hint)
            for a in missing
        ],
    )


def check_cache(
    cache: ArtifactCache,
    artifacts: Sequence[Artifact],
    reporter: Reporter | None = None,
    *,
    copy_to: Path | None = None,
    share: bool = False,
) -> list[Problem]:
    """Re-hash every artifact of the lock in the cache (parallel: hashing releases the GIL).

    With ``copy_to``, each is also copied to ``copy_to/<sha256>`` by the read that hashes it:
    those copies, never the cache files, are what a build installs (``share``: see
    ``ArtifactCache.copy_verified``)."""

    def one(artifact: Artifact) -> Problem | None:
        try:
            dest = None if copy_to is None else copy_to / artifact.sha256
            cache.copy_verified(artifact, dest, share=share)
        except CacheError as exc:
            # the cache file it names (its message names the package): which file to delete
            return Problem(exc.where or artifact.name, exc.message, exc.hint)
        return None

    problems = []
    with (
        (reporter or QuietReporter()).task("verifying artifacts", len(artifacts), "files") as task,
        ThreadPoolExecutor(os.cpu_count() or 2) as pool,
    ):
        for problem in pool.map(one, artifacts):
            task.advance()
            if problem is not None:
                problems.append(problem)
    return problems


def verified_copies(
    artifacts: Sequence[Artifact], cache: ArtifactCache, into: Path, reporter: Reporter
) -> None:
    """Every artifact copied from the cache into the build's private ``into`` by the read that
    hashes it: the build installs these copies, so a cache file swapped after the check can
    never reach a layer or archive."""
    if not artifacts:
        return
    problems = check_cache(cache, artifacts, reporter, copy_to=into, share=True)
    if problems:
        raise MissingArtifactsError(
            f"{len(problems)} artifact(s) in the cache do not match the lock", problems
        )
