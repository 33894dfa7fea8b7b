"""The provider's candidates: each project's page and each file's METADATA read once across
the resolver's, the prefetch's and the lookahead's threads, and a file only its METADATA can
judge settled by the policy when it could be the next one tried. A mixin of the provider."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from itertools import groupby
from typing import Any, TypeVar

from packaging.utils import NormalizedName
from packaging.version import Version

from mlenv.index import CoreMetadata, IndexFile
from mlenv.limits import MAX_PROJECTS, enforce
from mlenv.lookahead import Lookahead
from mlenv.resolver.model import Candidate, Req
from mlenv.resolver.pages import _Offer, _Pages
from mlenv.resolver.refusals import _Rejections
from mlenv.variants import in_try_order

T = TypeVar("T")
K = TypeVar("K")
PREFETCH_WORKERS = 8  # threads that hide an index's latency; 0 loads candidates inline


class _Inline(Executor):
    """Runs each task at once in the caller: for indexes on this machine, where reading is
    CPU work under the GIL and prefetch threads only add switching (a tenth of a lock's CPU
    on 2 cores). The result or error waits in the future, as with a thread pool."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # raised again by result(), like a pool's worker error
            future.set_exception(exc)
        return future


class _Candidates(_Pages):
    """The candidate loading of ``_Provider``, which sets this state."""

    preferences: Mapping[NormalizedName, Version]
    provided: Mapping[NormalizedName, Version]
    rejections: dict[NormalizedName, _Rejections]
    required_by: dict[NormalizedName, list[Candidate]]
    _offers: dict[NormalizedName, Future[_Offer]]
    _read: dict[IndexFile, Future[CoreMetadata]]
    _reads_lock: threading.Lock
    _judged: dict[IndexFile, tuple[int, str | None]]
    _withdrawn: set[IndexFile]
    _files: dict[NormalizedName, Future[list[Candidate]]]
    _lock: threading.Lock
    _pool: Executor
    _ahead: Lookahead | None

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.stop()
        # a read still under way is one nobody will use: a held page must not hold the lock
        self._pool.shutdown(wait=False, cancel_futures=True)

    def look_ahead(self, wanted: Iterable[Req]) -> None:
        """Start reading what ``wanted`` most likely brings, before the resolver asks."""
        if self._ahead is not None:
            self._ahead.want(wanted)

    def _shared(self, table: dict[K, Future[T]], key: K, read: Callable[[], T]) -> T:
        """``read()`` once for ``key`` across threads: the first asker reads in its own thread
        and the others wait for its answer, an error included; never a task queued behind
        others, so a worker waiting cannot starve the pool."""
        with self._reads_lock:
            future = table.get(key)
            mine = future is None
            if future is None:
                future = table[key] = Future()
        if mine:
            try:
                future.set_result(read())
            except BaseException as exc:  # waiters get it too; an interrupt still propagates
                future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
        return future.result()

    def _candidates(self, name: NormalizedName) -> list[Candidate]:
        """Every installable release of ``name``, newest first, one best wheel per version: a
        file the policy refused once tried gives way to its release's next best one."""
        with self._lock:
            future = self._load(name)
        found = future.result()
        if not self._withdrawn:
            return found
        return [standing for c in found if (standing := self._standing(c)) is not None]

    def _standing(self, candidate: Candidate) -> Candidate | None:
        """``candidate``, or the next best file of its release when the policy refused its
        file once tried (``_settle``); None when it refused every file of the release."""
        file = candidate.file
        if file is None or file not in self._withdrawn:
            return candidate
        after = self._offer(candidate.name).after
        while file is not None and file in self._withdrawn:
            file = after.get(file)
        return None if file is None else dataclasses.replace(candidate, file=file)

    def _deferred(self, candidate: Candidate) -> bool:
        return candidate.file is not None and self.policy.deferred(candidate.file)

    def _unsettled(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` goes through ``_settle`` before it is tried: its file is
        deferred and not judged yet, or refused since it was offered (a stand-in goes)."""
        file = candidate.file
        if file is None:
            return False
        return file in self._withdrawn or (file not in self._judged and self._deferred(candidate))

    def _policy_rank(self, candidate: Candidate) -> int:
        file = candidate.file
        if file is None:
            return 0
        judged = self._judged.get(file)
        return self.policy.rank(file) if judged is None else judged[0]

    def _settle(self, candidate: Candidate) -> Candidate | None:
        """The one place the policy sees METADATA: a deferred file that could be the next
        candidate tried is judged from it (the read ``runs`` and ``get_dependencies`` share),
        so the reads follow the candidates tried, never the length of a page. A refusal is
        recorded as one from the page was, and the release's next file stands in."""
        file = candidate.file
        if file is not None and file not in self._judged:
            verdict = self._judged[file] = self.policy.judge(file, self._metadata(file))
            if (reason := verdict[1]) is not None:
                self.rejections[candidate.name].add(file, reason, by_policy=True)
                self._withdrawn.add(file)
        return self._standing(candidate)

    def _in_try_order(
        self,
        allowed: Sequence[Candidate],
        preferred: Version | None,
        keep: Callable[[Candidate], bool],
    ) -> Iterator[Candidate]:
        """``allowed`` (sorted by ``find_matches``) with each release's variants in the
        policy's order, deferred ones judged as they come up (``variants.in_try_order``); a
        file standing in for a refused one must pass ``keep`` (a yanked one may not)."""
        if not any(self._deferred(c) for c in allowed):
            yield from allowed  # nothing deferred: ``_rank`` sorted the variants already
            return

        def settle(candidate: Candidate) -> Candidate | None:
            settled = self._settle(candidate)
            return settled if settled is candidate or settled is None or keep(settled) else None

        for _, variants in groupby(allowed, lambda c: (c.version == preferred, c.version.public)):
            yield from in_try_order(
                list(variants), lambda c: c.version, self._policy_rank, self._unsettled, settle
            )

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        with self._lock:
            for name in names:
                self._load(name)

    def _load(self, name: NormalizedName) -> Future[list[Candidate]]:
        """The reading of ``name``'s candidates, started once (holding ``_lock``); the one
        place a resolution meets a new project, so the one place their number is bounded."""
        future = self._files.get(name)
        if future is None:
            enforce(
                len(self._files) + 1,
                MAX_PROJECTS,
                "distinct projects in one resolution",
                where=f"{name} (required by {self.required_by[name][0]})"
                if self.required_by.get(name)
                else name,
            )
            future = self._files[name] = self._pool.submit(self._load_candidates, name)
        return future

    def _load_candidates(self, name: NormalizedName) -> list[Candidate]:
        if name in self.provided:  # conda installs it: PyPI must accept that version
            version = self.provided[name]
            bound = self.constraints.get(name)
            if bound is not None and not bound[0].contains(version, prereleases=True):
                # the environment would hold a version the constraint refuses: none to take
                self.rejections[name].add_provided(version, self._outside(bound[1]))
                return []
            self.rejections[name].add_provided(version)
            return [Candidate(name, version, None)]
        offer = self._offer(name)
        rejected = self.rejections[name]
        rejected.versions.update(offer.versions)
        for file, reason, by_policy in offer.refused:
            rejected.add(file, reason, by_policy=by_policy)
        ordered = offer.ordered
        if ordered and self._ahead is None:
            self.index.prefetch([ordered[0]])
        return [Candidate(name, file.version, file) for file in ordered]

    def _offer(self, name: NormalizedName) -> _Offer:
        return self._shared(self._offers, name, lambda: self._rank(name))

    def _guesses(self, name: NormalizedName) -> list[IndexFile]:
        """``name``'s candidate files in the order ``find_matches`` offers them, before any
        requirement narrows them: the lookahead's guesses."""
        preferred = self.preferences.get(name)
        fallback = self.prerelease == "fallback"
        return sorted(
            self._offer(name).ordered,
            key=lambda f: (f.version != preferred, fallback and f.version.is_prerelease),
        )

    def _metadata(self, file: IndexFile) -> CoreMetadata:
        """The index's metadata of ``file``, read once: ``runs`` reads it before
        ``get_dependencies`` does, and the lookahead may have read it before either."""
        return self._shared(self._read, file, lambda: self.index.metadata(file))
