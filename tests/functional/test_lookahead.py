"""The resolver's lookahead against a real loopback index: which pages and METADATA it asks
for, and when, counted on the server; and that it never changes a pin."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.index import CoreMetadata, HttpClient, IndexFile, SimpleIndex
from mlenv.lookahead import Lookahead
from mlenv.report import MemoryReporter
from mlenv.resolver.model import Req, Resolution
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.httpserver import IndexServer
from tests.support.index_files import plain_wheel_file
from tests.support.wheels import build_wheel, write_simple_index

X86_311 = Target("linux-64", "3.11", "2.28")
T = TypeVar("T")


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with HttpClient(retries=1, backoff=0.01, netrc_path=Path("/nonexistent")) as client:
        yield client


def _lock(
    url: str, http: HttpClient, roots: Sequence[str], *, workers: int = 8, ahead: bool = True
) -> Resolution:
    return resolve(
        [Requirement(r) for r in roots],
        X86_311,
        SimpleIndex(f"{url}/simple/", http=http),
        reporter=MemoryReporter(),
        workers=workers,
        lookahead=ahead,
    )


def _pages(server: IndexServer) -> list[str]:
    return [r.path.split("/")[2] for r in server.requests if r.path.startswith("/simple/")]


def _metadata_asked(server: IndexServer) -> set[str]:
    return {
        r.path.rsplit("/", 1)[1].split("-")[0] + "-" + r.path.rsplit("/", 1)[1].split("-")[1]
        for r in server.requests
        if r.path.endswith(".metadata")
    }


def _pins(resolution: Resolution) -> dict[str, str]:
    return {pin.name: str(pin.version) for pin in resolution.pins}


def test_a_dependency_page_is_asked_before_the_resolver_pins_its_parent(
    tmp_path: Path, http: HttpClient
) -> None:
    """Protects the point of the lookahead (issue #16): ``b``'s dependency ``c`` is asked for
    as soon as b's METADATA is known, and c's ``d`` as soon as c's is, while the resolver
    still waits for ``a``'s page (held by the server until d is asked for). Without the
    lookahead c is asked only once b is pinned, which needs a's page first: a is answered
    when the server's wait runs out, before d is asked."""
    write_simple_index(
        tmp_path,
        [
            build_wheel("a", "1.0"),
            build_wheel("b", "1.0", requires_dist=["c>=1"]),
            build_wheel("c", "1.0", requires_dist=["d"]),
            build_wheel("d", "1.0"),
        ],
    )
    with IndexServer(tmp_path) as server:
        server.hold("/simple/a/", until="/simple/d/")
        result = _lock(server.url, http, ["a", "b"])
        pages = _pages(server)
    assert _pins(result) == {"a": "1.0", "b": "1.0", "c": "1.0", "d": "1.0"}
    assert server.released == {"/simple/a/": True}  # d, two levels down b's tree, came first
    assert sorted(pages) == ["a", "b", "c", "d"]  # each page once


def test_the_lookahead_reads_only_the_likely_releases_and_what_they_bring(
    tmp_path: Path, http: HttpClient
) -> None:
    """Protects the bound: pages of the dependencies of the release the resolver will try
    first (newest in range), whose markers can hold on the target, and of the extras asked
    for; never a page of an older release's dependency, of a line for another platform or an
    extra nobody asked for, nor of a project nothing names."""
    write_simple_index(
        tmp_path,
        [
            build_wheel("app", "1.0", requires_dist=["lib[fast]>=1"]),
            build_wheel("lib", "1.0", requires_dist=["old-dep"]),
            build_wheel(
                "lib",
                "2.0",
                requires_dist=[
                    "x",
                    "winonly; sys_platform == 'win32'",
                    "speedup; extra == 'fast'",
                    "testing; extra == 'test'",
                ],
            ),
            build_wheel("x", "1.0"),
            build_wheel("speedup", "1.0"),
            build_wheel("old-dep", "1.0"),
            build_wheel("winonly", "1.0"),
            build_wheel("testing", "1.0"),
            build_wheel("unrelated", "1.0"),
        ],
    )
    with IndexServer(tmp_path) as server:
        result = _lock(server.url, http, ["app"])
        pages = _pages(server)
        metadata = _metadata_asked(server)
    assert _pins(result) == {"app": "1.0", "lib": "2.0", "speedup": "1.0", "x": "1.0"}
    assert sorted(pages) == ["app", "lib", "speedup", "x"]
    assert metadata == {"app-1.0", "lib-2.0", "speedup-1.0", "x-1.0"}


def _backtracking_index(root: Path) -> None:
    write_simple_index(
        root,
        [
            build_wheel("a", "1.0", requires_dist=["b>=1", "c"]),
            build_wheel("a", "2.0", requires_dist=["b>=2", "c>=3"]),
            build_wheel("b", "1.0", requires_dist=["e"]),
            build_wheel("b", "2.0", requires_dist=["c<2", "f"]),
            build_wheel("b", "3.0", requires_dist=["c<3", "g; extra == 'x'"]),
            build_wheel("c", "1.0"),
            build_wheel("c", "2.0", requires_dist=["h"]),
            build_wheel("c", "3.0", requires_python=">=3.12"),
            build_wheel("d", "1.0", requires_dist=["b<3", "b[x]"]),
            build_wheel("e", "1.0"),
            build_wheel("f", "1.0"),
            build_wheel("g", "1.0"),
            build_wheel("h", "1.0"),
        ],
    )


@pytest.mark.parametrize("roots", [["a", "d"], ["d", "a"], ["a", "c>=2"], ["b[x]", "a<2"]])
def test_pins_and_refusals_are_the_same_with_the_lookahead_on_and_off(
    tmp_path: Path, http: HttpClient, roots: list[str]
) -> None:
    """Protects determinism: the lookahead guesses (b 3.0, c 3.0) the resolver then
    backtracks from or refuses, yet the resolution (pins, dependencies, refused and offered
    files) equals the one without it, with threads and inline."""
    _backtracking_index(tmp_path)
    with IndexServer(tmp_path) as server:
        ahead = _lock(server.url, http, roots)
        without = _lock(server.url, http, roots, ahead=False)
        inline = _lock(server.url, http, roots, workers=0)
    assert ahead.pins == without.pins == inline.pins
    assert ahead.refused == without.refused == inline.refused
    assert ahead.offered == without.offered == inline.offered


class _Now(Executor):
    """Runs each task at once, in the caller: the whole walk has happened when ``want``
    returns, so what it asked for is known without waiting on threads."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _file(name: NormalizedName) -> IndexFile:
    return plain_wheel_file(name, f"memory://x/{name}-1.0-py3-none-any.whl", "memory://x")


def _read(file: IndexFile) -> CoreMetadata:
    return CoreMetadata(file.name, file.version, (), None, ())


def _req(name: str) -> Req:
    return Req(canonicalize_name(name), SpecifierSet())


def test_the_walk_stops_at_its_limit_of_projects() -> None:
    """Protects the bound on a hostile chain (each project depends on the next, 200 deep):
    the walk reads at most ``limit`` pages, however long the chain."""
    asked: list[NormalizedName] = []

    def offered(name: NormalizedName) -> list[IndexFile]:
        asked.append(name)
        return [_file(name)]

    def needs(meta: CoreMetadata, extras: frozenset[str], own: bool) -> list[Req]:
        number = int(meta.name.removeprefix("p"))
        return [_req(f"p{number + 1}")] if number < 200 else []

    walk = Lookahead(_Now(), offered, _read, needs, limit=10)
    walk.want([_req("p0")])
    assert asked == [f"p{n}" for n in range(10)]
    assert walk.projects == {f"p{n}" for n in range(10)}


def test_a_stopped_walk_asks_for_nothing_more() -> None:
    """Protects cancellation: once the resolution ends (``stop``, here while the first page is
    being read), the walk reads no METADATA and no page after the read under way."""
    asked: list[str] = []

    def offered(name: NormalizedName) -> list[IndexFile]:
        asked.append(name)
        walk.stop()
        return [_file(name)]

    def read(file: IndexFile) -> CoreMetadata:
        asked.append(file.filename)
        return _read(file)

    walk = Lookahead(_Now(), offered, read, lambda meta, extras, own: [_req("next")])
    walk.want([_req("first")])
    walk.want([_req("other")])
    assert asked == ["first"]


def test_a_release_is_guessed_at_most_twice_per_project() -> None:
    """Protects the bound on candidates: requirements naming ever older releases of one
    project (``<5``, ``<4``, ``<3``...) make the walk read at most ``guesses`` releases."""
    read: list[str] = []

    def offered(name: NormalizedName) -> list[IndexFile]:
        return [
            dataclasses.replace(_file(name), version=Version(f"{n}.0"), filename=f"{name}-{n}")
            for n in range(9, 0, -1)
        ]

    def reading(file: IndexFile) -> CoreMetadata:
        read.append(str(file.version))
        return _read(file)

    walk = Lookahead(_Now(), offered, reading, lambda meta, extras, own: [], guesses=2)
    walk.want(Req(canonicalize_name("lib"), SpecifierSet(f"<{n}")) for n in range(9, 1, -1))
    assert read == ["8.0", "7.0"]
