"""Attack 76: a corporate HTTP(S) proxy between mlenv and its indexes and registries.

A real loopback forward proxy (tests/support/forward_proxy.py) reaches every host at
127.0.0.1, so an index named ``pkgs.example`` exists only through it; the real CLI locks
through it, and the proxy's log says what it saw."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlenv.net.proxy import proxy_for, shown
from tests.support.cli import run_mlenv
from tests.support.forward_proxy import ForwardProxy
from tests.support.hostile_registry import HostileRegistry
from tests.support.httpserver import IndexServer
from tests.support.siteca import SiteCA, make_ca
from tests.support.wheels import build_wheel, write_simple_index

HOST = "pkgs.example"  # resolvable only through the proxy
PROXY_SECRET = "pr0xy-s3cret"
INDEX_SECRET = "ind3x-s3cret"
_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
BLANK = dict.fromkeys((*_VARIABLES, *(v.upper() for v in _VARIABLES)), "")


@dataclass(frozen=True)
class World:
    tmp: Path
    www: Path
    ca: SiteCA


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("a76")
    write_simple_index(tmp / "www", [build_wheel("lib", "1.0")])
    return World(tmp, tmp / "www", make_ca(tmp / "ca", dns_names=(HOST,)))


def _project(root: Path, index: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "p"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["lib"]\n'
    )
    return root


def _env(world: World, tmp: Path, **extra: str) -> dict[str, str]:
    return {
        **BLANK,
        "MLENV_CACHE_DIR": str(tmp / "cache"),
        "MLENV_CA_BUNDLE": str(world.ca.ca),
        "NETRC": str(tmp / "no-netrc"),
        **extra,
    }


def _named(server: IndexServer) -> str:
    return server.url.replace("127.0.0.1", HOST)


@pytest.fixture
def https_index(world: World) -> Iterator[IndexServer]:
    with IndexServer(world.www, tls=world.ca, auth=("deploy", INDEX_SECRET)) as server:
        yield server


def _secretless(result: subprocess.CompletedProcess[str], *files: Path) -> None:
    for text in (result.stdout, result.stderr, *(f.read_text() for f in files if f.exists())):
        assert PROXY_SECRET not in text and INDEX_SECRET not in text
        assert base64.b64encode(f"corp:{PROXY_SECRET}".encode()).decode() not in text


def test_https_proxy_carries_an_https_index_and_sees_only_a_tunnel(
    world: World, https_index: IndexServer, tmp_path: Path
) -> None:
    """HTTPS_PROXY with user:password: CONNECT with Proxy-Authorization; the index's own
    credentials go inside the tunnel, to the origin only; no secret in output, lock, export."""
    index = _named(https_index).replace("https://", f"https://deploy:{INDEX_SECRET}@")
    root = _project(tmp_path / "p", index + "/simple")
    with ForwardProxy(auth=("corp", PROXY_SECRET)) as proxy:
        env = _env(world, tmp_path, HTTPS_PROXY=proxy.url_with("corp", PROXY_SECRET))
        result = run_mlenv(["-v", "lock"], root, env)
        assert result.returncode == 0, result.stderr
        exported = run_mlenv(["export", "--format", "pylock", "-o", "req.txt"], root, env)
        assert exported.returncode == 0, exported.stderr
    port = https_index.url.rpartition(":")[2]
    assert proxy.seen and {s.target for s in proxy.seen} == {f"{HOST}:{port}"}
    token = base64.b64encode(f"corp:{PROXY_SECRET}".encode()).decode()
    assert all(s.method == "CONNECT" for s in proxy.seen)
    assert {s.proxy_authorization for s in proxy.seen} >= {f"Basic {token}"}
    assert all(s.origin_authorization is None for s in proxy.seen)  # inside the tunnel
    origin = [r.headers.get("authorization") for r in https_index.requests]
    index_token = base64.b64encode(f"deploy:{INDEX_SECRET}".encode()).decode()
    assert origin and set(origin) == {f"Basic {index_token}"}
    assert all("proxy-authorization" not in r.headers for r in https_index.requests)
    _secretless(result, root / "mlenv.lock", root / "req.txt")


def test_http_proxy_forwards_plain_http_and_netrc_stays_home(world: World, tmp_path: Path) -> None:
    """HTTP_PROXY for an http index: the proxy forwards absolute-form GETs; a netrc entry for
    the host is never sent over plain http (the proxy would read it)."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {HOST} login deploy password {INDEX_SECRET}\n")
    netrc.chmod(0o600)
    with IndexServer(world.www) as server, ForwardProxy() as proxy:
        root = _project(tmp_path / "p", _named(server) + "/simple")
        env = _env(world, tmp_path, HTTP_PROXY=proxy.url, NETRC=str(netrc))
        result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert proxy.seen and all(s.method == "GET" for s in proxy.seen)
    assert all(s.target.startswith(f"http://{HOST}:") for s in proxy.seen)
    assert all(s.origin_authorization is None for s in proxy.seen)
    assert "lib" in (root / "mlenv.lock").read_text()


def test_loopback_is_never_proxied(world: World, tmp_path: Path) -> None:
    """NO_PROXY unset: an index on 127.0.0.1 is reached direct, as Go's and Docker's clients
    do (httpx alone sent it to the proxy, whose 127.0.0.1 is another machine)."""
    with IndexServer(world.www) as server, ForwardProxy(mode="502") as proxy:
        root = _project(tmp_path / "p", server.url + "/simple")
        env = _env(world, tmp_path, HTTP_PROXY=proxy.url, ALL_PROXY=proxy.url)
        result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert proxy.seen == []


@pytest.mark.parametrize("no_proxy", [HOST, ".example", "*.example", "*", "example"])
def test_no_proxy_bypasses_and_says_so(
    world: World, https_index: IndexServer, tmp_path: Path, no_proxy: str
) -> None:
    """A bypassed host goes direct: ``pkgs.example`` does not resolve, so the lock fails on
    the name, never through the proxy."""
    root = _project(tmp_path / "p", _named(https_index) + "/simple")
    with ForwardProxy() as proxy:
        env = _env(world, tmp_path, HTTPS_PROXY=proxy.url, NO_PROXY=no_proxy)
        result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert proxy.seen == [] and "via proxy" not in result.stderr


def _proxy_url(proxy: ForwardProxy | None) -> str:
    """The running proxy's URL with credentials, or one nobody answers at."""
    if proxy is not None:
        return proxy.url_with("corp", PROXY_SECRET)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://corp:{PROXY_SECRET}@127.0.0.1:{port}"


@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize("mode", ["407", "502", "close", "unreachable"])
def test_a_failing_proxy_is_named_redacted_with_the_target_and_a_hint(
    world: World, tmp_path: Path, mode: str, scheme: str
) -> None:
    tls = world.ca if scheme == "https" else None
    running = ForwardProxy(mode="forward" if mode == "unreachable" else mode)
    with IndexServer(world.www, tls=tls) as server, running:
        proxy_url = _proxy_url(None if mode == "unreachable" else running)
        root = _project(tmp_path / "p", _named(server) + "/simple")
        env = _env(world, tmp_path, ALL_PROXY=proxy_url)
        result = run_mlenv(["-v", "lock"], root, env)
    message = result.stderr
    assert result.returncode == 1, message
    assert "Traceback" not in message, message
    if mode == "502" and scheme == "http":  # the proxy answers for the origin: a status
        assert "HTTP 502" in message and HOST in message, message
    else:
        assert f"via proxy {shown(proxy_url)}" in message, message
        assert HOST in message and "HTTPS_PROXY" in message, message
    _secretless(result)


def test_the_registry_client_goes_through_the_proxy(world: World, tmp_path: Path) -> None:
    """fetch --from an oci:// registry named reg.example: the proxy carries it, and a 407
    from it is named with the proxy hint."""
    with IndexServer(world.www) as server:
        root = _project(tmp_path / "p", server.url + "/simple")
        locked = run_mlenv(["lock"], root, _env(world, tmp_path))
        assert locked.returncode == 0, locked.stderr
    with HostileRegistry() as registry, ForwardProxy(auth=("corp", PROXY_SECRET)) as proxy:
        port = registry.host.rpartition(":")[2]
        ref = f"oci://reg.example:{port}/team/app:1"
        good = _env(world, tmp_path, HTTP_PROXY=proxy.url_with("corp", PROXY_SECRET))
        result = run_mlenv(["fetch", "--from", ref, "--insecure"], root, good)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert proxy.seen and all(f"reg.example:{port}" in s.target for s in proxy.seen)
        assert "HTTP 404" in result.stderr or "404" in result.stderr, result.stderr
        _secretless(result)
        proxy.seen.clear()
        bad = _env(world, tmp_path, HTTP_PROXY=proxy.url_with("corp", "wrong"))
        refused = run_mlenv(["fetch", "--from", ref, "--insecure"], root, bad)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "via proxy http://***@127.0.0.1" in refused.stderr, refused.stderr
    assert "HTTPS_PROXY" in refused.stderr and "wrong" not in refused.stderr


# --- NO_PROXY against curl, the reference ---------------------------------------------------

_CASES = [
    (HOST, HOST, 8443),
    (".example", HOST, 8443),
    ("example", HOST, 8443),
    ("xpkgs.example", HOST, 8443),
    ("10.0.0.0/8", "10.1.2.3", 8443),
    ("10.0.0.0/8", "11.1.2.3", 8443),
    ("other.example, pkgs.example", HOST, 8443),
    ("PKGS.EXAMPLE", HOST, 8443),
    ("*", HOST, 8443),
]


@pytest.mark.parametrize(("no_proxy", "host", "port"), _CASES)
def test_no_proxy_matches_as_curl_does(no_proxy: str, host: str, port: int) -> None:
    """curl 7.86+ is the reference: whether it asks the proxy for the URL decides the case."""
    with ForwardProxy(mode="502") as proxy:
        environment = {**os.environ, **BLANK, "http_proxy": proxy.url, "no_proxy": no_proxy}
        subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--max-time", "3", f"http://{host}:{port}/"],
            env=environment,
            check=False,
            timeout=30,
        )
        curl_proxied = bool(proxy.seen)
    url = f"http://{host}:{port}/"
    assert (proxy_for(url, {"http_proxy": "http://p:3128", "no_proxy": no_proxy}) is not None) == (
        curl_proxied
    )


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"), [(f"{HOST}:8443", True), (f"{HOST}:9999", False)]
)
def test_a_no_proxy_port_bypasses_that_port_only(no_proxy: str, bypassed: bool) -> None:
    """curl 7.88 ignores a port in NO_PROXY (it never matches); Go, Docker and httpx bypass
    that port only, which is what a user writing one means: mlenv follows them."""
    env = {"https_proxy": "http://p:3128", "no_proxy": no_proxy}
    assert (proxy_for(f"https://{HOST}:8443/simple/", env) is None) == bypassed
    assert proxy_for(f"https://{HOST}/simple/", env) is not None


def test_shown_hides_the_proxy_userinfo() -> None:
    assert shown(f"http://corp:{PROXY_SECRET}@proxy.corp:3128") == "http://***@proxy.corp:3128"
    assert shown("http://proxy.corp:3128") == "http://proxy.corp:3128"


@pytest.mark.parametrize(
    "proxy_url",
    [f"ftp://corp:{PROXY_SECRET}@127.0.0.1:21", f"http://corp:{PROXY_SECRET}@[bad"],
)
def test_an_unusable_proxy_url_is_an_error_not_a_traceback(
    world: World, tmp_path: Path, proxy_url: str
) -> None:
    """A scheme httpx cannot proxy through, or a malformed URL, crashed in httpx (ImportError,
    ValueError) before; now an error naming the proxy without its password."""
    root = _project(tmp_path / "p", f"https://{HOST}/simple")
    result = run_mlenv(["lock"], root, _env(world, tmp_path, HTTPS_PROXY=proxy_url))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"via proxy {shown(proxy_url)}" in result.stderr, result.stderr
    _secretless(result)
