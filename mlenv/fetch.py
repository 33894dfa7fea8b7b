"""Gather every artifact of a lock into the cache, verified, in parallel; or a bundle to carry.

The bundle is a directory with the manifest, the lock, every artifact in the cache layout (so
it *is* a cache) and ``bundle.json``, a canonical index of every file with sha256 and size.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

from mlenv.atomic import replace_dir, work_dir
from mlenv.cache import (
    Artifact,
    ArtifactCache,
    CacheError,
    IntegrityError,
    hash_file,
    relative_path,
)
from mlenv.errors import MlenvError, Problem, ProblemsError
from mlenv.index.http import HttpError
from mlenv.index.urls import file_url_to_path, is_file_url
from mlenv.lock import Lock, LockedConda, LockedPackage
from mlenv.oci import canonical_json
from mlenv.origins import LocalRoots, UnsafeUrlError, follow
from mlenv.report import QuietReporter, Reporter, Task

CHUNK = 1 << 20
BUNDLE_INDEX = "bundle.json"
BUNDLE_VERSION = 1


class MissingArtifactsError(ProblemsError):
    """Artifacts the lock needs are not in the cache, and mlenv may not download them."""


class Opener(Protocol):
    def open(self, url: str) -> AbstractContextManager[BinaryIO]: ...


def artifacts_of(lock: Lock, platforms: Sequence[str] | None = None) -> list[Artifact]:
    """Every file the lock needs (for the chosen platforms), once, in a stable order."""
    chosen = set(platforms) if platforms else {p.platform for p in lock.platforms}
    unknown = sorted(chosen - {p.platform for p in lock.platforms})
    if unknown:
        raise MlenvError(
            f"the lock has no platform {', '.join(unknown)}",
            where="--platform",
            hint=f"platforms in the lock: {', '.join(p.platform for p in lock.platforms)}",
        )
    found: dict[str, Artifact] = {}
    for platform in lock.platforms:
        if platform.platform in chosen:
            packages: list[LockedPackage | LockedConda] = [*platform.packages, *platform.conda]
            for package in packages:
                name = f"{package.name} {package.version}"
                found.setdefault(
                    package.sha256, Artifact(name, package.url, package.sha256, package.size)
                )
    return sorted(found.values(), key=lambda a: (a.name, a.sha256))


def missing_from(cache: ArtifactCache, artifacts: Sequence[Artifact]) -> list[Artifact]:
    return [a for a in artifacts if not cache.has(a)]


def missing_error(missing: Sequence[Artifact], where: str) -> MissingArtifactsError:
    return MissingArtifactsError(
        f"{len(missing)} artifact(s) of the lock are not in {where}",
        [
            Problem(a.name, f"missing ({a.size} bytes from {a.url})",
                    "run `mlenv fetch` on a connected machine and bring the cache or a "
                    "bundle (`mlenv fetch --bundle DIR`) here")
            for a in missing
        ],
    )  # fmt: skip


class UrlOpener:
    """Opens lock URLs: http(s) through the index client (credentials, retries), file:// and
    paths relative to the project (relative find-links) from disk, but only inside the local
    directories the manifest names (``local``): a lock is no licence to read any file."""

    def __init__(self, http: Opener, base_dir: Path, local: LocalRoots) -> None:
        self.http = http
        self.base_dir = base_dir
        self.local = local

    def resolve(self, url: str, where: str) -> str:
        """The absolute URL a lock entry names, if mlenv may read it (``origins.follow``)."""
        if not urlsplit(url).scheme:  # a path relative to the project: a relative URL
            url = url.replace(" ", "%20")  # that a find-links directory may have in its name
        base = self.base_dir.absolute().as_uri() + "/"
        return follow(url, base=base, local=self.local, where=where)

    def check(self, artifacts: Sequence[Artifact]) -> None:
        """Every artifact's URL judged before any download; all refusals reported at once."""
        problems = []
        for artifact in artifacts:
            try:
                self.resolve(artifact.url, artifact.name)
            except UnsafeUrlError as exc:
                problems.append(Problem(artifact.name, exc.message, exc.hint))
        if problems:
            raise ProblemsError(
                f"the lock names {len(problems)} artifact URL(s) mlenv may not read", problems
            )

    def open(self, url: str) -> AbstractContextManager[BinaryIO]:
        url = self.resolve(url, url)
        if not is_file_url(url):
            return self.http.open(url)
        path = file_url_to_path(url)
        try:
            return path.open("rb")
        except OSError as exc:
            raise CacheError(
                f"cannot read {path}: {exc.strerror or exc}",
                where=url,
                hint="the local index or find-links directory the lock points at is gone",
            ) from None


def is_transient(exc: BaseException) -> bool:
    """The network failed, not the data: worth another try."""
    if isinstance(exc, HttpError):
        return exc.status is None or exc.status == 429 or exc.status >= 500
    return isinstance(exc, OSError)


@dataclass(frozen=True)
class FetchResult:
    fetched: int
    already: int
    bytes_fetched: int


def fetch(
    artifacts: Sequence[Artifact],
    cache: ArtifactCache,
    opener: Opener,
    *,
    reporter: Reporter,
    offline: bool = False,
    jobs: int = 4,
    attempts: int = 4,
    transient: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Download what the cache lacks; a transient failure is retried with backoff, a hash
    mismatch never is (the same bytes would come back)."""
    missing = missing_from(cache, artifacts)
    if offline and missing:
        raise missing_error(missing, f"the cache {cache.root}")
    total = sum(a.size for a in missing)
    with reporter.task(f"fetching {len(missing)} file(s)", total, "bytes") as task:

        def one(artifact: Artifact) -> int:
            for attempt in range(attempts):
                try:
                    return _download(artifact, cache, opener, task)
                except IntegrityError:
                    raise
                except Exception as exc:
                    if attempt + 1 == attempts or not transient(exc):
                        raise
                    sleep(min(30.0, 0.5 * 2**attempt))
            raise AssertionError("unreachable")

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            sizes = list(pool.map(one, missing))
    return FetchResult(sum(1 for s in sizes if s), len(artifacts) - len(missing), sum(sizes))


def _download(artifact: Artifact, cache: ArtifactCache, opener: Opener, task: Task) -> int:
    with cache.locked(artifact.sha256):
        if cache.has(artifact):
            task.advance(artifact.size)
            return 0  # another process fetched it while we waited
        with opener.open(artifact.url) as stream:
            cache.add(artifact, _chunks(stream, task))
    return artifact.size


def _chunks(stream: BinaryIO, task: Task) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        task.advance(len(chunk))
        yield chunk


# ---------------------------------------------------------------------------------------------
# Bundles


def write_bundle(
    dest: Path,
    manifest: Path,
    lock_path: Path,
    artifacts: Sequence[Artifact],
    cache: ArtifactCache,
) -> Path:
    """A complete bundle at ``dest``, or the previous one: it is built beside and swapped in."""
    dest = dest.absolute()
    with work_dir(dest) as scratch:
        work = scratch / "bundle"
        work.mkdir()
        shutil.copyfile(manifest, work / "mlenv.toml")
        shutil.copyfile(lock_path, work / "mlenv.lock")
        for artifact in artifacts:
            source = cache.get(artifact)
            target = work / relative_path(artifact.sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        entries = [
            {"path": "mlenv.toml", "sha256": hash_file(work / "mlenv.toml"),
             "size": (work / "mlenv.toml").stat().st_size},
            {"path": "mlenv.lock", "sha256": hash_file(work / "mlenv.lock"),
             "size": (work / "mlenv.lock").stat().st_size},
        ] + [
            {"path": relative_path(a.sha256), "sha256": a.sha256, "size": a.size, "package": a.name}
            for a in artifacts
        ]  # fmt: skip
        entries.sort(key=lambda e: str(e["path"]))
        index = {"bundle-version": BUNDLE_VERSION, "files": entries}
        (work / BUNDLE_INDEX).write_bytes(canonical_json(index) + b"\n")
        replace_dir(work, dest)
    return dest


@dataclass(frozen=True)
class BundleProblem:
    kind: str  # missing | extra | corrupted | unlisted-artifact | index
    path: str
    detail: str


def check_bundle(root: Path, lock: Lock | None = None) -> list[BundleProblem]:
    """Every missing, extra or corrupted file of a bundle, all at once."""
    index_path = root / BUNDLE_INDEX
    try:
        index = json.loads(index_path.read_bytes())
        listed = {str(e["path"]): (str(e["sha256"]), int(e["size"])) for e in index["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [BundleProblem("index", BUNDLE_INDEX, f"unreadable bundle index: {exc}")]
    problems = []
    present = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != BUNDLE_INDEX
    }
    for path in sorted(present - listed.keys()):
        problems.append(BundleProblem("extra", path, "not listed in bundle.json"))
    with ThreadPoolExecutor(2) as pool:
        checks = pool.map(lambda item: _check_file(root, *item), sorted(listed.items()))
        problems.extend(p for p in checks if p is not None)
    if lock is not None:
        for artifact in artifacts_of(lock):
            if relative_path(artifact.sha256) not in listed:
                problems.append(
                    BundleProblem("unlisted-artifact", relative_path(artifact.sha256),
                                  f"{artifact.name} is in the lock but not in the bundle")
                )  # fmt: skip
    return problems


def _check_file(root: Path, path: str, expected: tuple[str, int]) -> BundleProblem | None:
    full = root / path
    if not full.is_file():
        return BundleProblem("missing", path, "listed in bundle.json but absent")
    size = full.stat().st_size
    if size != expected[1]:
        return BundleProblem("corrupted", path, f"{size} bytes, bundle.json says {expected[1]}")
    actual = hash_file(full)
    if actual != expected[0]:
        return BundleProblem("corrupted", path, f"sha256 {actual}, bundle.json says {expected[0]}")
    return None


def check_cache(
    cache: ArtifactCache, artifacts: Sequence[Artifact], reporter: Reporter | None = None
) -> list[Problem]:
    """Re-hash every artifact of the lock in the cache (parallel: hashing releases the GIL)."""

    def one(artifact: Artifact) -> Problem | None:
        try:
            cache.get(artifact, verify=True)
        except CacheError as exc:
            return Problem(artifact.name, exc.message, exc.hint)
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
