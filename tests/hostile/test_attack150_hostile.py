"""Attack 150: the resolver's lookahead (issue #16) reads pages and METADATA the resolution may
never use, from guesses an index chooses. What it meets there must never reach the lock: a
page that fails or lies, METADATA no parser reads, a guess that would exceed the resolver's own
limits. Each scenario resolves with the lookahead on and off against a real loopback server,
and the pins must be the same, with the bad page really asked for (so the walk met it)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from mlenv.index import HttpClient, SimpleIndex
from mlenv.report import MemoryReporter
from mlenv.resolver.model import Resolution
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.httpserver import IndexServer
from tests.support.wheels import build_wheel, write_simple_index

X86_311 = Target("linux-64", "3.11", "2.28")


@pytest.fixture
def http() -> Iterator[HttpClient]:
    with HttpClient(retries=1, backoff=0.01, netrc_path=Path("/nonexistent")) as client:
        yield client


def _lock(url: str, http: HttpClient, roots: Sequence[str], *, ahead: bool) -> Resolution:
    return resolve(
        [Requirement(r) for r in roots],
        X86_311,
        SimpleIndex(f"{url}/simple/", http=http),
        reporter=MemoryReporter(),
        lookahead=ahead,
    )


def _pins(resolution: Resolution) -> dict[str, str]:
    return {pin.name: str(pin.version) for pin in resolution.pins}


# lib 2.0 is the walk's guess for ``app``'s ``lib``; the root ``lib<2`` makes the resolver
# take lib 1.0, so nothing lib 2.0 brings is ever the resolver's business. The root ``gate``
# keeps the resolution from ending (its page is held) until the walk has asked for ``evil``.
ROOTS = ["app", "lib<2", "gate"]
PINS = {"app": "1.0", "lib": "1.0", "gate": "1.0"}


def _guessed_wrong(root: Path) -> None:
    write_simple_index(
        root,
        [
            build_wheel("app", "1.0", requires_dist=["lib"]),
            build_wheel("lib", "1.0"),
            build_wheel("lib", "2.0", requires_dist=["evil>=1", "other"]),
            build_wheel("other", "1.0"),
            build_wheel("gate", "1.0"),
        ],
    )


@pytest.mark.parametrize("status", [500, 403, 429])
def test_a_failing_page_behind_a_wrong_guess_never_fails_the_lock(
    tmp_path: Path, http: HttpClient, status: int
) -> None:
    """Input: the page of ``evil``, brought only by the walk's guess, answers an error.
    Wrong would be: the lock failing on a project the resolution never needed."""
    _guessed_wrong(tmp_path)
    with IndexServer(tmp_path) as server:
        server.fail("/simple/evil/", status, times=None)
        server.hold("/simple/gate/", until="/simple/evil/")
        ahead = _lock(server.url, http, ROOTS, ahead=True)
        asked = [r.status for r in server.requests_for("/simple/evil/")]
        without = _lock(server.url, http, ROOTS, ahead=False)
    assert server.released == {"/simple/gate/": True}  # the walk met it
    assert asked and set(asked) == {status}
    assert ahead.pins == without.pins
    assert _pins(ahead) == PINS
    assert "evil" not in ahead.refused and "evil" not in ahead.offered


def test_a_page_that_is_not_a_page_behind_a_wrong_guess_never_fails_the_lock(
    tmp_path: Path, http: HttpClient
) -> None:
    """Input: ``evil``'s page is garbage claiming to be JSON. Wrong would be: its parse error
    (an ``IndexPageError``) escaping the walk into the lock."""
    _guessed_wrong(tmp_path)
    page = tmp_path / "simple" / "evil"
    page.mkdir(parents=True)
    (page / "index.json").write_text('{"meta": {"api-version": "9.0"}, "files": 7}')
    with IndexServer(tmp_path) as server:
        server.hold("/simple/gate/", until="/simple/evil/")
        ahead = _lock(server.url, http, ROOTS, ahead=True)
        asked = [r.status for r in server.requests_for("/simple/evil/")]
    assert server.released == {"/simple/gate/": True}  # the walk read it
    assert asked == [200]
    assert _pins(ahead) == PINS


def test_unreadable_metadata_of_a_wrong_guess_is_only_the_resolvers_business(
    tmp_path: Path, http: HttpClient
) -> None:
    """Input: the guessed release's METADATA has a line no parser reads, a marker that
    cannot be evaluated and a direct URL. Wrong would be: the walk raising, following the
    URL, or the error (which the resolver reports when it takes that release) appearing in a
    lock that does not take it; when the resolver does take it, the same error as without
    the walk."""
    write_simple_index(
        tmp_path,
        [
            build_wheel("app", "1.0", requires_dist=["lib"]),
            build_wheel("lib", "1.0"),
            build_wheel(
                "lib",
                "2.0",
                requires_dist=[
                    "not a requirement ((",
                    "weird; python_version > 'x.y'",
                    "direct @ http://127.0.0.1:9/direct-1.0-py3-none-any.whl",
                    "other",
                ],
            ),
            build_wheel("other", "1.0"),
            build_wheel("weird", "1.0"),
            build_wheel("direct", "1.0"),
            build_wheel("gate", "1.0"),
        ],
    )
    with IndexServer(tmp_path) as server:
        server.hold("/simple/gate/", until="/simple/other/")
        ahead = _lock(server.url, http, ROOTS, ahead=True)
        pages = {r.path for r in server.requests}
        taken = [_error(server.url, http, ["app"], ahead=flag) for flag in (True, False)]
    assert server.released == {"/simple/gate/": True}  # the walk read lib 2.0's lines
    assert _pins(ahead) == PINS
    assert "/simple/direct/" not in pages and not any("direct-1.0" in p for p in pages)
    # taken, lib 2.0 is passed over for its broken line (uv's and pip's reading) both ways
    assert taken[0] == taken[1]


def _error(url: str, http: HttpClient, roots: Sequence[str], *, ahead: bool) -> str:
    try:
        return str(sorted(_pins(_lock(url, http, roots, ahead=ahead)).items()))
    except Exception as exc:  # the resolver's own verdict, compared both ways
        return f"{type(exc).__name__}: {exc}"


def test_a_guess_with_a_flood_of_dependencies_reads_no_page_of_them(
    tmp_path: Path, http: HttpClient
) -> None:
    """Input: the guessed release lists 3,000 dependencies, over the resolver's own limit of
    distinct dependencies. Wrong would be: the walk reading thousands of pages for a release
    the resolver would refuse anyway (``limits``), hammering the index."""
    flood = [f"dep{n}" for n in range(3_000)]
    write_simple_index(
        tmp_path,
        [
            build_wheel("app", "1.0", requires_dist=["lib"]),
            build_wheel("lib", "1.0"),
            build_wheel("lib", "2.0", requires_dist=flood),
            build_wheel("dep0", "1.0"),
            build_wheel("gate", "1.0"),
        ],
    )
    with IndexServer(tmp_path) as server:
        # the resolution cannot end before the gate's page: a walk that follows the flood
        # asks for dep0 meanwhile (and opens the gate); one that refuses it waits it out
        server.hold("/simple/gate/", until="/simple/dep0/", longest=2.0)
        ahead = _lock(server.url, http, ROOTS, ahead=True)
        pages = {r.path for r in server.requests if r.path.startswith("/simple/")}
        read = server.requests_for("/files/lib-2.0-py3-none-any.whl.metadata")
    assert server.released == {"/simple/gate/": False}
    assert read  # the walk did read the flood
    assert _pins(ahead) == PINS
    assert pages == {"/simple/app/", "/simple/lib/", "/simple/gate/"}
