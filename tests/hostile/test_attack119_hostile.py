"""Hundred-and-nineteenth adversary pass: the HEAD `mlenv lock` sends to learn a file's size.

Two guarantees, in shapes the first tests of the HEAD (attack 113) did not try: the index's
secret (userinfo in its URL, or a netrc entry for its host) is never sent on a HEAD to a file
another server holds, nor after that HEAD is redirected to another origin; and a stated size
that lies (smaller, zero) never lets fetch store bytes other than the lock's sha256 names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.httpserver import Fault, IndexServer
from tests.support.siteca import make_ca
from tests.support.wheels import build_wheel, write_simple_index

USER, SECRET = "ci", "s3cr3t-token-119"
_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
BLANK = dict.fromkeys((*_VARIABLES, *(v.upper() for v in _VARIABLES)), "")


def _project(root: Path, index_url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "p"\npython = "3.12"\n[pypi]\n'
        f'index-url = "{index_url}"\ndependencies = ["demo"]\n'
    )
    return root


def _env(tmp_path: Path, netrc: Path | None = None) -> dict[str, str]:
    return {
        **BLANK,
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "NETRC": str(netrc or tmp_path / "no-netrc"),
    }


def _netrc(tmp_path: Path, host: str) -> Path:
    path = tmp_path / "netrc"
    path.write_text(f"machine {host} login {USER} password {SECRET}\n")
    path.chmod(0o600)
    return path


def _link_page(root: Path, name: str, data: bytes, file_url: str) -> None:
    """The project page of an HTML index that links its file on another server by absolute
    URL (a CDN, an object store: how PyPI itself and many mirrors serve files)."""
    page = root / "simple" / "demo" / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    page.write_text(
        f'<html><body><a href="{file_url}#sha256={digest}" data-core-metadata="true">'
        f"{name}</a></body></html>"
    )


def _credentialed(tmp_path: Path, index: IndexServer, how: str) -> tuple[str, Path | None]:
    host = index.url.removeprefix("http://")
    if how == "userinfo":
        return f"http://{USER}:{SECRET}@{host}/simple", None
    return f"http://{host}/simple", _netrc(tmp_path, "127.0.0.1")


def _no_secret_reached(other: IndexServer, result_text: str, lock: Path | None = None) -> None:
    assert other.requests, "the other host was never asked"
    for request in other.requests:
        assert "authorization" not in request.headers, (request.method, request.path)
        assert SECRET not in request.path
    assert SECRET not in result_text
    assert lock is None or SECRET not in lock.read_text()


@pytest.mark.parametrize("how", ["userinfo", "netrc"])
def test_head_to_a_file_on_another_host_carries_no_index_secret(tmp_path: Path, how: str) -> None:
    name, data = build_wheel("demo", "1.0")
    write_simple_index(tmp_path / "files-host", [(name, data)])
    www = tmp_path / "www"
    with (
        IndexServer(www, auth=(USER, SECRET), json_api=False) as index,
        IndexServer(tmp_path / "files-host", hostname="localhost") as other,
    ):
        _link_page(www, name, data, f"{other.url}/files/{name}")
        url, netrc = _credentialed(tmp_path, index, how)
        project = _project(tmp_path / "p", url)
        result = run_mlenv(["lock"], project, _env(tmp_path, netrc))
        assert result.returncode == 0, result.stderr
        ((_, locked),) = load_lock((project / "mlenv.lock").read_text()).packages()
        assert locked.size == len(data)
        assert [r.method for r in other.requests_for(f"/files/{name}")] == ["HEAD"]
        assert any("authorization" in r.headers for r in index.requests)  # the secret was used
        fetched = run_mlenv(["fetch"], project, _env(tmp_path, netrc))
        assert fetched.returncode == 0, fetched.stderr
        _no_secret_reached(
            other, result.stdout + result.stderr + fetched.stderr, project / "mlenv.lock"
        )


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("how", ["userinfo", "netrc"])
def test_a_redirected_head_carries_no_index_secret_to_another_origin(
    tmp_path: Path, how: str, status: int
) -> None:
    """The index's own file URL answers the HEAD with a redirect to another host and port (a
    signed CDN URL): that server never sees the Authorization header, on HEAD or GET."""
    name, data = build_wheel("demo", "1.0")
    write_simple_index(tmp_path / "www", [(name, data)])
    with (
        IndexServer(tmp_path / "www", auth=(USER, SECRET), json_api=False) as index,
        IndexServer(tmp_path / "www", hostname="localhost") as other,
    ):
        index.redirect(f"/files/{name}", f"{other.url}/files/{name}", status=status)
        url, netrc = _credentialed(tmp_path, index, how)
        project = _project(tmp_path / "p", url)
        result = run_mlenv(["lock"], project, _env(tmp_path, netrc))
        assert result.returncode == 0, result.stderr
        ((_, locked),) = load_lock((project / "mlenv.lock").read_text()).packages()
        assert locked.size == len(data)
        assert [r.method for r in other.requests_for(f"/files/{name}")] == ["HEAD"]
        fetched = run_mlenv(["fetch"], project, _env(tmp_path, netrc))
        assert fetched.returncode == 0, fetched.stderr
        _no_secret_reached(
            other, result.stdout + result.stderr + fetched.stderr, project / "mlenv.lock"
        )


@pytest.mark.parametrize("tls", [False, True])
def test_userinfo_stays_with_its_scheme_host_and_port(tmp_path: Path, tls: bool) -> None:
    """Userinfo belongs to the index's origin, not its host: a HEAD redirected to the same
    host on another port (and, from an https index, in clear text) goes without it."""
    name, data = build_wheel("demo", "1.0")
    write_simple_index(tmp_path / "www", [(name, data)])
    ca = make_ca(tmp_path / "ca") if tls else None
    with (
        IndexServer(tmp_path / "www", auth=(USER, SECRET), json_api=False, tls=ca) as index,
        IndexServer(tmp_path / "www") as other,
    ):
        index.redirect(f"/files/{name}", f"{other.url}/files/{name}", status=307)
        scheme, host = index.url.split("://")
        project = _project(tmp_path / "p", f"{scheme}://{USER}:{SECRET}@{host}/simple")
        env = _env(tmp_path) | ({"MLENV_CA_BUNDLE": str(ca.ca)} if ca else {})
        result = run_mlenv(["lock"], project, env)
        assert result.returncode == 0, result.stderr
        assert [r.method for r in other.requests_for(f"/files/{name}")] == ["HEAD"]
        fetched = run_mlenv(["fetch"], project, env)
        _no_secret_reached(
            other, result.stdout + result.stderr + fetched.stderr, project / "mlenv.lock"
        )


@pytest.mark.parametrize("stated", ["smaller", "empty"])
def test_a_head_size_that_lies_never_stores_other_bytes(tmp_path: Path, stated: str) -> None:
    """A HEAD that states one byte less than the file: the lock records it, and fetch must
    refuse the file by name rather than store a cut copy; a HEAD stating 0 is no size at all,
    so the lock measures the file itself and fetch stores exactly it."""
    name, data = build_wheel("demo", "1.0")
    index = tmp_path / "index"
    write_simple_index(index, [(name, data)])
    with IndexServer(index, json_api=False) as server:
        body = data[:-1] if stated == "smaller" else b""
        server.fault(f"/files/{name}", Fault(status=200, body=body))
        project = _project(tmp_path / "p", f"{server.url}/simple")
        assert run_mlenv(["lock"], project, _env(tmp_path)).returncode == 0
        ((_, locked),) = load_lock((project / "mlenv.lock").read_text()).packages()
        assert locked.sha256 == hashlib.sha256(data).hexdigest()
        fetched = run_mlenv(["fetch"], project, _env(tmp_path))
        assert "Traceback" not in fetched.stderr
        stored = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
        if stated == "smaller":
            assert locked.size == len(data) - 1
            assert fetched.returncode == 1 and name in fetched.stderr, fetched.stderr
            assert not [p for p in stored if p.read_bytes() == data[:-1]]
            assert not list((tmp_path / "cache").rglob(name))
        else:
            assert locked.size == len(data)
            assert fetched.returncode == 0, fetched.stderr
            assert [p for p in stored if p.read_bytes() == data]


def test_same_length_other_bytes_are_refused_by_name(tmp_path: Path) -> None:
    """The HEAD states the true length, then the GET serves as many other bytes: the size
    check passes, so the sha256 must stop them; nothing is stored."""
    name, data = build_wheel("demo", "1.0")
    index = tmp_path / "index"
    write_simple_index(index, [(name, data)])
    with IndexServer(index, json_api=False) as server:
        project = _project(tmp_path / "p", f"{server.url}/simple")
        assert run_mlenv(["lock"], project, _env(tmp_path)).returncode == 0
        forged = bytes(b ^ 0xFF for b in data)
        server.fault(f"/files/{name}", Fault(status=200, body=forged))
        fetched = run_mlenv(["fetch"], project, _env(tmp_path))
        assert fetched.returncode == 1 and name in fetched.stderr, fetched.stderr
        assert "Traceback" not in fetched.stderr
        stored = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
        assert not [p for p in stored if p.read_bytes() == forged]


@pytest.mark.parametrize(
    "shape",
    ["{index}@{other}", "{other}\\@{index}", "{other}#@{index}", "{other}?@{index}"],
)
def test_a_redirect_that_names_the_index_but_is_another_host(tmp_path: Path, shape: str) -> None:
    """Locations that put the index's host:port in the userinfo, or behind a backslash, a
    fragment or a query: URL parsers disagree on the host of some, so the host the secret is
    judged for must be the host the request goes to. Either way the secret stays home."""
    name, data = build_wheel("demo", "1.0")
    write_simple_index(tmp_path / "www", [(name, data)])
    with (
        IndexServer(tmp_path / "www", auth=(USER, SECRET), json_api=False) as index,
        IndexServer(tmp_path / "www", hostname="localhost") as other,
    ):
        here, there = index.url.removeprefix("http://"), other.url.removeprefix("http://")
        location = "http://" + shape.format(index=here, other=there) + f"/files/{name}"
        index.redirect(f"/files/{name}", location, status=302)
        project = _project(tmp_path / "p", f"http://{USER}:{SECRET}@{here}/simple")
        result = run_mlenv(["lock"], project, _env(tmp_path))
        fetched = run_mlenv(["fetch"], project, _env(tmp_path))
        assert "Traceback" not in result.stderr + fetched.stderr
        for request in other.requests + [r for r in index.requests if "files" in r.path]:
            if request.headers.get("host") != here:
                assert "authorization" not in request.headers, (location, request)
        for request in other.requests:
            assert "authorization" not in request.headers, (location, request)
        assert SECRET not in result.stderr + fetched.stderr
