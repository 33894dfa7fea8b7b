"""Invariants 3, 5 and 7 through the real CLI: a remote index cannot point mlenv at the local
machine, credentials stay with their origin, and oversized input fails fast and clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_mlenv
from tests.support.httpserver import IndexServer
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

APP = build_wheel("app", "1.0", files={"app/__init__.py": b"x = 1\n"})
USER, SECRET = "alice", "s3cret-T0ken"


def _project(root: Path, pypi: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "h"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\n{pypi}\ndependencies = ["app"]\n'
    )
    return root


@pytest.mark.parametrize(
    "href",
    ["{file}", "{file_upper}", " {file}", "{base_href}"],
)
def test_lock_refuses_an_index_page_that_points_at_local_files(tmp_path: Path, href: str) -> None:
    """Protects invariant 3 end to end: a loopback http index whose page links to a real wheel
    on this machine (file:, FILE:, padded, via <base href>) makes `lock` exit 1 naming the
    page; no lock is written and the local file is never read."""
    write_simple_index(tmp_path / "www", [APP])
    planted = tmp_path / "home" / "app-1.0-py3-none-any.whl"
    planted.parent.mkdir()
    planted.write_bytes(APP[1])
    page = tmp_path / "www" / "simple" / "app" / "index.html"
    file_url = planted.as_uri()
    if href == "{base_href}":
        body = f'<base href="{planted.parent.as_uri()}/"><a href="{planted.name}">a</a>'
    else:
        link = href.format(file=file_url, file_upper=file_url.replace("file:", "FILE:", 1))
        body = f'<a href="{link}">app</a>'
    page.write_text(f"<html><body>{body}</body></html>")
    with IndexServer(tmp_path / "www", json_api=False, hostname="localhost") as server:
        root = _project(tmp_path / "p", f'index-url = "{server.url}/simple"')
        before = planted.stat().st_atime_ns
        result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 1, result.stderr
    assert "refusing to follow" in result.stderr and "/simple/app/" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / "mlenv.lock").exists()
    assert planted.stat().st_atime_ns == before


def test_fetch_refuses_a_lock_url_outside_the_manifest_local_sources(tmp_path: Path) -> None:
    """Protects invariant 3 for locks: a lock from a find-links directory, edited to read the
    very same bytes from elsewhere on the machine (hash intact), is refused by `fetch` naming
    the package and the URL; nothing is read or stored."""
    wheels = tmp_path / "p" / "wheels"
    wheels.mkdir(parents=True)
    (wheels / APP[0]).write_bytes(APP[1])
    root = _project(tmp_path / "p", 'find-links = ["wheels"]\nindex-url = "file:///nonexistent"')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "c")}
    locked = run_mlenv(["lock"], root, env)
    assert locked.returncode == 0, locked.stderr
    outside = tmp_path / "elsewhere" / APP[0]
    outside.parent.mkdir()
    outside.write_bytes(APP[1])
    lock = root / "mlenv.lock"
    text = lock.read_text()
    assert f'"wheels/{APP[0]}"' in text
    for url in (outside.as_uri(), f"../elsewhere/{APP[0]}", str(outside)):
        lock.write_text(text.replace(f'"wheels/{APP[0]}"', json.dumps(url)))
        result = run_mlenv(["fetch"], root, env)
        assert result.returncode == 1, result.stderr
        assert "app 1.0" in result.stderr and url in result.stderr
        assert "may not read" in result.stderr
        assert not (tmp_path / "c" / "artifacts-v1").exists()


def test_credentials_do_not_follow_a_page_redirect_to_another_origin(tmp_path: Path) -> None:
    """Protects invariant 5 end to end: the credentialed index redirects its project page to
    another origin (same machine, other host name and port); that server never sees the
    Authorization header, and no output (-vv, JSON log) nor the lock holds the secret."""
    write_simple_index(tmp_path / "www", [APP])
    with (
        IndexServer(tmp_path / "www", auth=(USER, SECRET)) as index,
        IndexServer(tmp_path / "www", hostname="localhost") as other,
    ):
        index.redirect("/simple/app/", f"{other.url}/simple/app/?token={SECRET}")
        host = index.url.removeprefix("http://")
        root = _project(tmp_path / "p", f'index-url = "http://{USER}:{SECRET}@{host}/simple"')
        env = {"MLENV_CACHE_DIR": str(tmp_path / "c")}
        result = run_mlenv(["-vv", "--log-format", "json", "lock"], root, env)
        assert result.returncode == 0, result.stderr
        fetched = run_mlenv(["-vv", "fetch"], root, env)
        assert fetched.returncode == 0, fetched.stderr
    assert index.requests and all("authorization" in r.headers for r in index.requests)
    assert other.requests and all("authorization" not in r.headers for r in other.requests)
    for text in (result.stdout, result.stderr, fetched.stderr, (root / "mlenv.lock").read_text()):
        assert SECRET not in text and f"{USER}:" not in text


def test_lock_refuses_a_package_with_too_many_requirements_before_resolving_them(
    tmp_path: Path,
) -> None:
    """Protects invariant 7 end to end: a wheel with 10,001 Requires-Dist lines makes `lock`
    exit 1, naming the package and the limit, before any of them is looked up: counted on
    the index, not timed (the index sees no request for any of the 10,001 projects)."""
    requires = [f"dep{i}>=1" for i in range(10_001)]
    write_simple_index(tmp_path / "www", [build_wheel("app", "1.0", requires_dist=requires)])
    with IndexServer(tmp_path / "www") as server:
        root = _project(tmp_path / "p", f'index-url = "{server.url}/simple"')
        result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    assert server.requests
    assert not [r.path for r in server.requests if "/dep" in r.path]
    assert result.returncode == 1, result.stderr
    assert "app 1.0" in result.stderr and "Requires-Dist lines: more than 10,000" in result.stderr
    assert "Traceback" not in result.stderr
