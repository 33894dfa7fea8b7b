"""Network: an index that lies about what it serves, fails, loops or stalls gives a clear error
naming the URL, through the real CLI, and leaves no lock and no cached bytes behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlenv.cache.artifacts import ArtifactCache
from mlenv.cache.download import UrlOpener, fetch
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.index import HttpClient, HttpError
from mlenv.lockfile_read import loads as load_lock
from mlenv.net.origins import LocalRoots
from mlenv.report import MemoryReporter
from tests.support.cli import run_mlenv
from tests.support.fetch_project import WHEELS, make_project
from tests.support.httpserver import JSON_TYPE, Fault, IndexServer
from tests.support.trickle import TrickleServer
from tests.support.wheels import write_simple_index

pytestmark = pytest.mark.hostile

PAGE = "/simple/app/"
LOGIN_PAGE = b"<!DOCTYPE html><html><body><form>Sign in</form></body></html>"


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        pytest.param(
            Fault(200, body=LOGIN_PAGE, headers={"Content-Type": JSON_TYPE}, times=None),
            "the page claims to be the JSON simple API but is not valid JSON",
            id="html-instead-of-json",
        ),
        pytest.param(Fault(500, times=None), "HTTP 500 Internal Server Error", id="error-500"),
        pytest.param(Fault(302, location=PAGE, times=None), "more than 10 redirects", id="loop"),
    ],
)
def test_a_bad_index_answer_is_a_clear_error(tmp_path: Path, fault: Fault, says: str) -> None:
    write_simple_index(tmp_path / "www", WHEELS, json=True)
    with IndexServer(tmp_path / "www") as server:
        root = make_project(tmp_path, f"{server.url}/simple")
        server.fault(PAGE, fault)
        result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 1, result.stderr
        assert says in result.stderr and f"{server.url}{PAGE}" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (root / "mlenv.lock").exists()
        if fault.status == 302:
            assert len(server.requests_for(PAGE)) == 11  # the first and ten redirects


def test_a_download_that_stalls_midway_times_out_and_stores_nothing(tmp_path: Path) -> None:
    """The server sends a first chunk, then waits longer than the read timeout between chunks."""
    write_simple_index(tmp_path / "www", WHEELS)
    with TrickleServer(tmp_path / "www", chunk=64 * 1024, delay=3.0) as server:
        root = make_project(tmp_path, f"{server.url}/simple")
        server.delay = 0
        assert run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "c")}).returncode == 0
        server.delay = 3.0
        artifacts = [
            a for a in artifacts_of(load_lock((root / "mlenv.lock").read_text())) if "lib" in a.name
        ]
        cache = ArtifactCache(tmp_path / "cache")
        started = time.monotonic()
        with (
            HttpClient(read_timeout=0.3, retries=0) as http,
            pytest.raises(HttpError, match="broke off: ReadTimeout") as caught,
        ):
            fetch(
                artifacts,
                cache,
                UrlOpener(http, root, LocalRoots(loopback=True)),  # the index is on loopback
                reporter=MemoryReporter(),
                attempts=2,
                sleep=lambda _: None,
            )
        # A stall guard, not a speed target: without the read timeout each attempt waits 3 s
        # per chunk; with it the two attempts end in about 0.8 s here, 6x under the bound.
        assert time.monotonic() - started < 5
        assert caught.value.where == artifacts[0].url
        assert [p for p in (cache.root / "artifacts-v1").rglob("*") if p.is_file()] == []
