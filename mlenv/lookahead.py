"""Reading ahead of the resolver: the pages and METADATA it will most likely ask for next.

An index that answers one request at a time (pypiserver, a small devpi or Nexus) is only as
fast as it is kept busy. The resolver asks for a project's page when it pins a release that
depends on it, so pages went out in waves, one per pin, and the index waited between them
(issue #16: uv kept pypiserver busy and locked the data stack in 5.1 s against 7.4 s). Here,
as soon as a release's METADATA is known, the pages of its dependencies (the Requires-Dist
lines whose markers can hold on the target) are queued, and as soon as a page is known, the
METADATA of the release the resolver will most likely try first: the walk runs down the
dependency tree of the likely pins while the resolver is still at its top.

What the walk reads reaches the resolver only through the provider's memoised reads, which
the resolver would make itself in the same way, so the pins cannot depend on it. It is bounded
(``limit`` projects, ``guesses`` releases of each), does no IO of its own (the provider's
readers do, in the pool's threads), swallows every error (the resolver meets the same one when
it asks) and stops when the resolution ends: nothing queued after ``stop`` runs, and nothing
under way is waited for (``Speculative``): a guess the resolver did not take may have asked an
index for a page that never answers, and the lock must not wait out its deadline for it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, Future
from typing import Any, ParamSpec, Protocol, TypeVar

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName

from mlenv.index.model import CoreMetadata, IndexFile

P = ParamSpec("P")
T = TypeVar("T")
MAX_AHEAD = 1_000  # projects one walk may read pages of (MAX_PROJECTS bounds a resolution)
GUESSES = 2  # releases of one project whose METADATA the walk may read


class Wanted(Protocol):
    """A requirement as the walk follows it (the resolver's ``Req``)."""

    @property
    def name(self) -> NormalizedName: ...

    @property
    def specifier(self) -> SpecifierSet: ...

    @property
    def extras(self) -> frozenset[str]: ...


# The provider's readers, each memoised there and shared with the resolver:
Offered = Callable[[NormalizedName], Sequence[IndexFile]]  # candidates, in the resolver's order
Read = Callable[[IndexFile], CoreMetadata]
# the requirements a release brings on the target (its own lines when the bool is True, and
# those of each extra named); None when the resolver would pass over the release
Needs = Callable[[CoreMetadata, frozenset[str], bool], Sequence[Wanted] | None]


class Lookahead:
    """A bounded walk of the likely dependency tree, in ``pool``'s threads."""

    def __init__(
        self,
        pool: Executor,
        offered: Offered,
        read: Read,
        needs: Needs,
        *,
        skip: Callable[[NormalizedName], bool] = lambda name: False,
        limit: int = MAX_AHEAD,
        guesses: int = GUESSES,
    ) -> None:
        self._pool = pool
        self._offered = offered
        self._read = read
        self._needs = needs
        self._skip = skip
        self._limit = limit
        self._guesses = guesses
        self._lock = threading.Lock()
        self._stopped = False
        self._asked: set[tuple[NormalizedName, str, frozenset[str]]] = set()
        self._projects: set[NormalizedName] = set()
        # per project: each release whose METADATA the walk read, and the extras it followed
        self._followed: dict[NormalizedName, dict[IndexFile, set[str]]] = {}

    @property
    def projects(self) -> frozenset[NormalizedName]:
        """The projects whose pages the walk asked for."""
        with self._lock:
            return frozenset(self._projects)

    def want(self, wanted: Iterable[Wanted]) -> None:
        """Queue a walk from each requirement not walked from before."""
        for req in wanted:
            key = (req.name, str(req.specifier), req.extras)
            with self._lock:
                if self._stopped or key in self._asked or self._skip(req.name):
                    continue
                if req.name not in self._projects and len(self._projects) >= self._limit:
                    continue
                self._asked.add(key)
                self._projects.add(req.name)
            try:
                self._pool.submit(self._walk, req)
            except RuntimeError:  # the pool shut down between the check and the submit
                return

    def stop(self) -> None:
        """No walk starts after this; one under way ends at its next read."""
        with self._lock:
            self._stopped = True

    def _walk(self, req: Wanted) -> None:
        try:
            self._step(req)
        except Exception:  # the resolver meets the same error when it asks
            return

    def _step(self, req: Wanted) -> None:
        if self._halted():
            return
        tried = 0
        for file in self._offered(req.name):
            if file.yanked is not None or not req.specifier.contains(file.version, True):
                continue
            taken = None if tried >= self._guesses else self._take(req.name, file, req.extras)
            if taken is None:
                return
            tried += 1
            base, extras = taken
            if not base and not extras:
                return
            if self._halted():
                return
            needs = self._needs(self._read(file), extras, base)
            if needs is not None:  # else the resolver passes over it: guess the next one
                self.want(needs)
                return

    def _halted(self) -> bool:
        with self._lock:
            return self._stopped

    def _take(
        self, name: NormalizedName, file: IndexFile, extras: frozenset[str]
    ) -> tuple[bool, frozenset[str]] | None:
        """None when the walk may not read ``file``'s METADATA (a new release past the
        guesses); else whether the release's own lines are still to follow, and which of
        ``extras``. One hold of the lock, so two walks never read past the guesses."""
        with self._lock:
            releases = self._followed.setdefault(name, {})
            first = file not in releases
            if first and len(releases) >= self._guesses:
                return None
            done = releases.setdefault(file, set())
            new = extras - done
            done |= new
            return first, frozenset(new)


_Task = tuple[Future[Any], Callable[[], Any]]


class Speculative(Executor):
    """A pool of daemon threads whose shutdown never waits for a task under way.

    The resolver's prefetches and the lookahead run here: once the resolution has ended, every
    read still under way is one nobody will use. ``ThreadPoolExecutor`` joins its threads at
    shutdown and again at interpreter exit, so a page held by a hostile index (answered at its
    deadline, 600 s) kept ``mlenv lock`` waiting after the lock was decided. A read the
    resolver waits for is waited for as before, through its future.
    """

    def __init__(self, workers: int, name: str) -> None:
        self._workers = workers
        self._name = name
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._tasks.put((future, lambda: fn(*args, **kwargs)))
            if len(self._threads) < self._workers:
                name = f"{self._name}_{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, call = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # the waiter meets it, as with a pool's worker
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new tasks, cancel the queued ones when asked, and let every thread end
        after its task; only ``wait`` waits for them (the resolution's close does not)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    task = self._tasks.get_nowait()
                except queue.Empty:
                    break
                if task is not None:
                    task[0].cancel()
        for _ in threads:
            self._tasks.put(None)
        if wait:
            for thread in threads:
                thread.join()
