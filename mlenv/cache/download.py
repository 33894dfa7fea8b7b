"""Gather every artifact of a lock into the cache, verified, in parallel, retrying what the
network broke; the lock's URLs are judged (``origins.follow``) before any download."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

from mlenv.cache.artifacts import Artifact, ArtifactCache, CacheError, IntegrityError
from mlenv.cache.lock_artifacts import missing_error, missing_from, missing_hint
from mlenv.errors import MlenvError, Problem, ProblemsError
from mlenv.index.http import HttpError
from mlenv.index.urls import file_url_to_path, is_file_url
from mlenv.limits import DEADLINE_HINT, deadline_seconds, shown_seconds
from mlenv.net.origins import LocalRoots, UnsafeUrlError, follow
from mlenv.redaction import redact
from mlenv.report import Reporter, Task
from mlenv.userfiles import open_input

CHUNK = 1 << 20


class DownloadTimeout(CacheError):
    """A download ran past its whole-file deadline (``limits.deadline_seconds``: a 2 GiB wheel
    on a slow link still gets 9 hours); never retried: the server is stalling."""


class Opener(Protocol):
    def open(self, url: str) -> AbstractContextManager[BinaryIO]: ...


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
        try:  # a FIFO or a device in a local index never blocks the fetch
            return open_input(path, "local artifact")
        except MlenvError as error:
            raise CacheError(error.message, where=url, hint=error.hint) from None
        except OSError as exc:
            raise CacheError(
                f"cannot read {path}: {exc.strerror or exc}",
                where=url,
                hint="the local index or find-links directory the lock points at is gone",
            ) from None


def is_transient(exc: BaseException) -> bool:
    """The network failed, not the data: worth another try."""
    if isinstance(exc, HttpError):
        return exc.transient
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
        raise missing_error(missing, cache, missing_hint("fetch --offline", cache))
    if not missing:  # "fetching 0 file(s)" announced work there was none of
        return FetchResult(0, len(artifacts), 0)
    try:
        sizes = _fetch_missing(missing, cache, opener, reporter, jobs, attempts, transient, sleep)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM: say what the next fetch will not download
        kept = sum(1 for artifact in missing if cache.has(artifact))
        reporter.warning(
            f"interrupted: {kept} of {len(missing)} file(s) fetched and kept in the cache "
            f"{cache.root}; `mlenv fetch` again fetches only the {len(missing) - kept} left"
        )
        raise
    return FetchResult(sum(1 for s in sizes if s), len(artifacts) - len(missing), sum(sizes))


def _fetch_missing(
    missing: Sequence[Artifact],
    cache: ArtifactCache,
    opener: Opener,
    reporter: Reporter,
    jobs: int,
    attempts: int,
    transient: Callable[[BaseException], bool],
    sleep: Callable[[float], None],
) -> list[int]:
    """The bytes of each download (0: another process fetched it meanwhile)."""
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
            return list(pool.map(one, missing))


def _named(error: MlenvError, artifact: Artifact) -> None:
    """``error`` saying which artifact it is about, unless it already does: a registry's or an
    index's error names a digest or a URL, the user knows the package (or the base image)."""
    if artifact.name not in error.message and artifact.name not in error.where:
        error.about(artifact.name)


def _download(
    artifact: Artifact,
    cache: ArtifactCache,
    opener: Opener,
    task: Task,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    with cache.locked(artifact.sha256):
        if cache.has(artifact):
            task.advance(artifact.size)
            return 0  # another process fetched it while we waited
        limit = deadline_seconds(artifact.size)
        ends = clock() + limit
        try:
            with opener.open(artifact.url) as stream:
                cache.add(artifact, _chunks(stream, task, artifact, limit, ends, clock))
        except MlenvError as error:
            _named(error, artifact)
            raise
    return artifact.size


def _chunks(
    stream: BinaryIO,
    task: Task,
    artifact: Artifact,
    limit: float,
    ends: float,
    clock: Callable[[], float],
) -> Iterator[bytes]:
    """The stream's bytes as they come (``read1``: one network read each, so a trickle is
    seen between reads, not after a whole chunk), until the whole download's deadline."""
    read = getattr(stream, "read1", stream.read)
    count = 0
    while True:
        if clock() > ends:
            raise DownloadTimeout(
                f"the download of {artifact.name} took more than {shown_seconds(limit)} s "
                f"({count} of {artifact.size} bytes came)",
                where=redact(artifact.url),
                hint=DEADLINE_HINT,
            )
        chunk = read(CHUNK)
        if not chunk:
            return
        count += len(chunk)
        task.advance(len(chunk))
        yield chunk
