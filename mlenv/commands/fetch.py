"""The fetch use case: every artifact of the lock into the cache, from the indexes, a
registry bundle or the fleet's shared cache; the base image; and, on request, a bundle to carry
into an air gap or push to a registry."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlenv.cache.artifacts import Artifact
from mlenv.cache.bundle import bundle_destination, write_bundle
from mlenv.cache.download import FetchResult
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.commands.session import Session
from mlenv.errors import UsageError
from mlenv.frozen import judge_lock
from mlenv.manifest import Manifest


@dataclass(frozen=True)
class FetchRequest:
    """What ``mlenv fetch`` was asked for (see its options)."""

    platforms: tuple[str, ...]
    bundle: str | None
    source: str | None
    push_cache: bool
    insecure: bool
    mount_from: tuple[str, ...]
    offline: bool
    jobs: int
    frozen: bool = False  # --frozen: the lock as it is (frozen.judge_lock)


def fetch(session: Session, request: FetchRequest) -> str | None:
    """Fill the cache for the lock; the ``REF@DIGEST`` of a bundle pushed to a registry, if
    one was."""
    from mlenv.cache.locked_metadata import check_locked_metadata
    from mlenv.oci.base import pinned_base, pull_base, registry_base
    from mlenv.oci.bundle import cache_registry, cache_tag, fetch_from, is_registry, push_bundle

    platforms, bundle, source = request.platforms, request.bundle, request.source
    push_cache, insecure, mount_from = request.push_cache, request.insecure, request.mount_from
    offline, jobs = request.offline, request.jobs
    manifest = session.load_manifest()
    lock_ = session.load_lock()
    judge_lock(session, lock_, manifest, frozen=request.frozen, bundled=bundle is not None)
    artifacts = artifacts_of(lock_, platforms)
    cache = session.artifact_cache()
    if bundle is not None and not is_registry(bundle):
        bundle_destination(Path(bundle), session.manifest_path, cache)  # before any download
    shared = cache_registry(manifest.cache.registry, os.environ)
    if push_cache and shared is None:
        raise UsageError(
            "--push-cache needs a shared cache",
            hint='set [cache] registry = "oci://REGISTRY/REPOSITORY" or $MLENV_CACHE_REGISTRY',
        )
    if offline and (source or push_cache or (bundle is not None and is_registry(bundle))):
        raise UsageError(
            "--offline cannot talk to a registry",
            hint="drop --offline; offline, a bundle directory works as --cache DIR",
        )

    def publish(what: str, target: str) -> str:
        pushed = push_bundle(
            target,
            session.manifest_path,
            session.lock_path,
            artifacts,
            cache,
            insecure=insecure,
            reporter=session.reporter,
            manifest_bytes=session.manifest_bytes(),
            mount_from=[*mount_from, *([shared] if shared else [])],
        )
        session.reporter.info(
            f"pushed {what} {target}: {pushed.pushed_blobs} blob(s) uploaded "
            f"({pushed.bytes_pushed} bytes){pushed.mounted_note}, {pushed.skipped_blobs} "
            "already there"
        )
        return pushed.digest

    if source is not None:
        if not is_registry(source):
            raise UsageError(
                "--from takes an oci:// registry bundle",
                where="--from",
                hint="write --from oci://REGISTRY/REPO:TAG; a bundle directory works as --cache",
            )
        turn: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        turn = _fleet_turn(session, None if offline else shared, artifacts, push_cache, insecure)
    with turn:  # a lease on the shared cache is released once what it lacked is published
        if source is not None:
            result = fetch_from(
                source, artifacts, cache, insecure=insecure, reporter=session.reporter, jobs=jobs
            )
        else:
            result = _fetch_indexes(session, manifest, artifacts, offline, jobs, shared, insecure)
        check_locked_metadata(lock_, cache, platforms)  # before anything is published
        if push_cache and shared is not None:
            publish("shared cache", f"{shared}:{cache_tag(session.lock_bytes())}")
    session.reporter.info(
        f"{len(artifacts)} artifact(s) in {cache.root}: {result.fetched} fetched "
        f"({result.bytes_fetched} bytes), {result.already} already there"
    )
    if registry_base(manifest.build.base_image) is not None and offline:
        pinned_base(manifest, cache)  # offline: the base image must be in the cache already
    elif registry_base(manifest.build.base_image) is not None:
        layout = pull_base(
            str(manifest.build.base_image),
            platforms or lock_.target.platforms,
            cache,
            insecure=insecure,
            reporter=session.reporter,
            jobs=jobs,
        )
        session.reporter.info(f"base image {manifest.build.base_image} in {layout}")

    if bundle is not None and is_registry(bundle):
        digest = publish("bundle", bundle)
        return f"{bundle.partition('@')[0]}@{digest}"
    if bundle is not None:
        write_bundle(
            Path(bundle), session.manifest_path, session.lock_path, artifacts, cache,
            session.manifest_bytes(),
        )  # fmt: skip
        lock_sha = hashlib.sha256(session.lock_bytes()).hexdigest()  # verify says it too
        session.reporter.info(
            f"wrote bundle {bundle} for mlenv.lock sha256 {lock_sha} (verify it with "
            "`mlenv verify --bundle`)"
        )
    return None


def _fleet_turn(
    session: Session,
    shared: str | None,
    artifacts: Sequence[Artifact],
    claim: bool,
    insecure: bool,
) -> contextlib.AbstractContextManager[object]:
    """With a shared cache, cold runners take turns: one fetches and publishes what the cache
    lacks, the others wait for it (``registry_lease``); without one, nothing to coordinate."""
    from mlenv.cache.lock_artifacts import missing_from
    from mlenv.oci.lease import coordinated, lease_tag

    missing = missing_from(session.artifact_cache(), artifacts)
    if shared is None or not missing or not session.lock_path.is_file():
        return contextlib.nullcontext()
    return coordinated(
        shared,
        lease_tag(session.lock_bytes()),
        [f"sha256:{a.sha256}" for a in missing],
        claim=claim,
        insecure=insecure,
        reporter=session.reporter,
    )


def _fetch_indexes(
    session: Session,
    manifest: Manifest,
    artifacts: Sequence[Artifact],
    offline: bool,
    jobs: int,
    shared: str | None,
    insecure: bool,
) -> FetchResult:
    """Every artifact the cache lacks from the indexes and channels the lock was made from,
    or from the fleet's shared cache in front of them."""
    from mlenv.cache.download import UrlOpener
    from mlenv.cache.download import fetch as fetch_artifacts
    from mlenv.cache.lock_artifacts import missing_from
    from mlenv.locking_sources import local_roots
    from mlenv.oci.bundle import fetch_shared

    cache = session.artifact_cache()
    with session.http(offline, manifest) as http:
        for url in (
            manifest.pypi.index_url,
            *manifest.pypi.extra_index_urls,
            *(url for _, url in manifest.pypi.sources),
            *(url for url in manifest.pypi.find_links if "://" in url),  # lock read them too
            *manifest.conda.channels,
        ):
            http.add_credentials(url)  # the lock holds URLs without them
        base_dir = session.manifest_path.parent
        opener = UrlOpener(http, base_dir, local_roots(manifest, base_dir))
        opener.check(missing_from(cache, artifacts))  # the URLs fetch would read
        if shared is not None and not offline:
            found = fetch_shared(
                shared,
                artifacts,
                cache,
                opener,
                insecure=insecure,
                reporter=session.reporter,
                jobs=jobs,
            )
            session.reporter.info(
                f"{found.from_registry} artifact(s) from the shared cache {shared}"
            )
            return found.fetched
        return fetch_artifacts(
            artifacts, cache, opener, reporter=session.reporter, offline=offline, jobs=jobs
        )
