"""Attack 167: a remote index points mlenv at this machine by an address that is no loopback.

``origins.follow`` refuses loopback under every spelling, and ``origins.connect_to`` a *name*
resolving to loopback, but this machine has other addresses: its LAN address, a container's
bridge address, a second address on ``lo``, the host's own name in a container's /etc/hosts. A
service bound to every interface (``0.0.0.0``, ``::``: a dev server, a notebook, a local
registry) answers there as on loopback, and a remote index's page, PEP 691 ``url``,
``<base href>`` or redirect to such an address, literal or named, made ``lock`` read from it.
``connect_to`` now judges an address an interface of this machine carries (``here.assigned_here``,
the kernel's own route answer) like loopback. Those tests run inside a private network and mount
namespace whose ``lo`` carries such addresses (``tests.support.own_address``); the page is the
user's own index, on another of the machine's addresses, so only the link's target is judged.

Three more holes of the same pass, each below its own test: netrc's ``default`` entry sent to a
host named ``default`` (invariant 5); a localhost index's page redirected to a remote server
lending that server's links the local vouch; a link-local source lending every remote page's
links its vouch for cloud metadata (invariant 3's and 5's "vouches only for what it hands out").
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from mlenv.index import FindLinks, HttpClient, SimpleIndex
from mlenv.net.exchange import DeadlineTransport
from mlenv.net.origins import UnsafeUrlError, connect_to, handed_out
from tests.support.cli import run_mlenv
from tests.support.forward_proxy import ForwardProxy
from tests.support.httpserver import IndexServer, Request
from tests.support.own_address import INDEX_V4, OWN_NAME, OWN_V4, OWN_V6, ran_inside
from tests.support.siteca import make_ca
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

APP = build_wheel("app", "1.0", files={"app/__init__.py": b"x = 1\n"})
# Every spelling of an address of this machine that is not loopback, as a page hands it out.
SPELLINGS = {
    "v4": OWN_V4,
    "v6": f"[{OWN_V6}]",
    "v6-expanded": "[2001:0db8:0:0:0:0:0:7]",
    "mapped": f"[::ffff:{OWN_V4}]",
    "decimal": str(int.from_bytes(bytes(int(p) for p in OWN_V4.split(".")), "big")),
    "hex": "0x" + bytes(int(p) for p in OWN_V4.split(".")).hex(),
    "name": OWN_NAME,
    "name-upper": OWN_NAME.upper(),
}


def _served(tmp_path: Path, body: str, *, json_page: bool = False) -> Path:
    """The user's index: app's page holding ``body`` (``{port}`` filled in when served), its
    wheel under /files/ on every address of the machine."""
    www = tmp_path / "www"
    (www / "files").mkdir(parents=True)
    (www / "files" / APP[0]).write_bytes(APP[1])
    page = www / "simple" / "app"
    page.mkdir(parents=True)
    (page / ("index.json" if json_page else "index.html")).write_text(body)
    return www


def _lock(tmp_path: Path, server: IndexServer) -> tuple[int, str, list[Request]]:
    """``mlenv lock`` of a project needing app from the index at ``INDEX_V4``; exit code,
    stderr, and the requests that reached the machine by any other address."""
    port = server.url.rsplit(":", 1)[1]
    page = next(server.root.glob("simple/app/index.*"))
    page.write_text(page.read_text().replace("{port}", port))
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "h"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\nindex-url = "http://{INDEX_V4}:{port}/simple"\ndependencies = ["app"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "c")})
    elsewhere = [r for r in server.requests if r.headers.get("host") != f"{INDEX_V4}:{port}"]
    return result.returncode, result.stderr, elsewhere


def _refused(code: int, stderr: str, elsewhere: list[Request], shown: str) -> None:
    assert code == 1, stderr
    assert "is this machine, and no host the configuration names" in stderr, stderr
    assert shown in stderr
    assert "Traceback" not in stderr
    assert elsewhere == [], "the service on this machine was asked"


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_a_page_link_to_an_address_of_this_machine_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path, spelling: str
) -> None:
    if ran_inside(request, tmp_path):
        return
    host = SPELLINGS[spelling]
    body = f'<a href="http://{host}:{{port}}/files/{APP[0]}">{APP[0]}</a>'
    with IndexServer(_served(tmp_path, body), bind="::", json_api=False) as server:
        _refused(*_lock(tmp_path, server), shown=f"/files/{APP[0]}")


@pytest.mark.parametrize("shape", ["json", "base-href", "network-path"])
def test_every_way_a_page_names_a_url_is_judged_alike(
    request: pytest.FixtureRequest, tmp_path: Path, shape: str
) -> None:
    if ran_inside(request, tmp_path):
        return
    if shape == "json":
        entry = {"filename": APP[0], "url": f"http://{OWN_V4}:{{port}}/files/{APP[0]}"}
        files = json.dumps({"meta": {"api-version": "1.0"}, "name": "app", "files": [entry]})
        www = _served(tmp_path, files, json_page=True)
    else:
        base = f'<base href="http://{OWN_NAME}:{{port}}/files/">'
        link = APP[0] if shape == "base-href" else f"//{OWN_V4}:{{port}}/files/{APP[0]}"
        www = _served(tmp_path, f'{base if shape == "base-href" else ""}<a href="{link}">a</a>')
    with IndexServer(www, bind="::", json_api=shape == "json") as server:
        _refused(*_lock(tmp_path, server), shown=f"/files/{APP[0]}")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("target", ["v4", "v6", "name"])
def test_a_redirect_to_an_address_of_this_machine_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path, status: int, target: str
) -> None:
    if ran_inside(request, tmp_path):
        return
    body = f'<a href="/files/{APP[0]}">{APP[0]}</a>'
    with IndexServer(_served(tmp_path, body), bind="::", json_api=False) as server:
        port = server.url.rsplit(":", 1)[1]
        server.redirect(
            "/simple/app/", f"http://{SPELLINGS[target]}:{port}/simple/app/", status=status
        )
        _refused(*_lock(tmp_path, server), shown="/simple/app/")


def test_the_users_own_index_on_an_address_of_this_machine_still_locks(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The host the manifest names may be this machine: its own links are followed. The lock
    edited to read the same wheel at another address of the machine: ``fetch`` refuses it."""
    if ran_inside(request, tmp_path):
        return
    body = f'<a href="http://{INDEX_V4}:{{port}}/files/{APP[0]}">{APP[0]}</a>'
    with IndexServer(_served(tmp_path, body), bind="::", json_api=False) as server:
        code, stderr, elsewhere = _lock(tmp_path, server)
        assert code == 0, stderr
        assert elsewhere == []
        lock = tmp_path / "p" / "mlenv.lock"
        port = server.url.rsplit(":", 1)[1]
        wheel = f"{port}/files/{APP[0]}"
        lock.write_text(lock.read_text().replace(f"{INDEX_V4}:{wheel}", f"{OWN_V4}:{wheel}"))
        env = {"MLENV_CACHE_DIR": str(tmp_path / "c2")}
        fetched = run_mlenv(["fetch"], tmp_path / "p", env)
    assert fetched.returncode == 1, fetched.stderr
    assert f"{OWN_V4} is this machine" in fetched.stderr and "Traceback" not in fetched.stderr
    assert [r for r in server.requests if OWN_V4 in r.headers.get("host", "")] == []


def test_connect_to_judges_an_interface_address_like_loopback(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The gate itself, for every form an address list holds; named hosts and a source on
    loopback still vouch, and an address no interface carries stays a remote one."""
    if ran_inside(request, tmp_path):
        return
    for found in ([OWN_V4], [OWN_V6], [f"::ffff:{OWN_V4}"], ["192.0.2.1", OWN_V4]):
        with pytest.raises(UnsafeUrlError, match="is this machine"):
            connect_to("files.example", found, own=("pypi.example",), where="x")
        with pytest.raises(UnsafeUrlError, match="is this machine"):
            connect_to(found[-1], found, own=("pypi.example",), where="x")
    connect_to("files.example", [OWN_V4], own=("files.example",), where="x")
    connect_to(OWN_V4, [OWN_V4], own=(OWN_V4,), where="x")
    connect_to("files.example", [OWN_V4], own=("localhost",), where="x")
    connect_to("files.example", ["198.51.100.8", "2001:db8::8"], own=(), where="x")


DEFAULT_SECRET = "n3trc-default-s3cret"


@pytest.mark.parametrize("host", ["default", "DEFAULT"])
def test_the_netrc_default_entry_never_goes_to_a_host_named_default(
    tmp_path: Path, host: str
) -> None:
    """Invariant 5: Python's netrc files the ``default`` entry (credentials meant for no host in
    particular, which mlenv never sends) under the key "default", and mlenv looked hosts up
    there: a remote index that redirected its page to ``https://default/`` (a single label the
    search domain completes: a Service named ``default`` in a Kubernetes namespace) was sent
    them. Both hosts are reached through a real loopback proxy (``pkgs.example``, ``default``);
    the index's own ``machine`` entry still goes to the index."""
    write_simple_index(tmp_path / "www", [APP])
    ca = make_ca(tmp_path / "ca", dns_names=("pkgs.example", "default"))
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine pkgs.example login deploy password idx\n"
        f"default login me password {DEFAULT_SECRET}\n"
    )
    netrc.chmod(0o600)
    with (
        IndexServer(tmp_path / "www", tls=ca) as index,
        IndexServer(tmp_path / "www", tls=ca) as other,
        ForwardProxy() as proxy,
    ):
        named = index.url.replace("127.0.0.1", "pkgs.example")
        moved = other.url.replace("127.0.0.1", host)
        index.redirect("/simple/app/", f"{moved}/simple/app/")
        root = tmp_path / "p"
        root.mkdir()
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "h"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
            f'[pypi]\nindex-url = "{named}/simple"\ndependencies = ["app"]\n'
        )
        env = {
            "MLENV_CACHE_DIR": str(tmp_path / "c"),
            "MLENV_CA_BUNDLE": str(ca.ca),
            "NETRC": str(netrc),
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "",
            "no_proxy": "",
        }
        result = run_mlenv(["-vv", "lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert other.requests, "the redirect was followed"
    default_token = base64.b64encode(f"me:{DEFAULT_SECRET}".encode()).decode()
    sent = [r.headers.get("authorization") for r in (*index.requests, *other.requests)]
    assert f"Basic {default_token}" not in sent
    assert [r.headers.get("authorization") for r in other.requests] == [None] * len(other.requests)
    own = base64.b64encode(b"deploy:idx").decode()
    assert all(r.headers.get("authorization") == f"Basic {own}" for r in index.requests)
    lock_text = (root / "mlenv.lock").read_text()
    for text in (result.stdout, result.stderr, lock_text):
        assert DEFAULT_SECRET not in text and default_token not in text


def _here(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]  # every name: the test server stands for each host (no DNS query)


@pytest.mark.parametrize("read", ["size", "metadata", "open"])
@pytest.mark.parametrize("kind", ["simple-html", "simple-json", "find-links"])
def test_a_local_sources_page_redirected_to_a_remote_server_lends_its_links_no_vouch(
    tmp_path: Path, read: str, kind: str
) -> None:
    """Invariant 3: the user's index on localhost redirects a page to a remote server (a shim
    in front of a public index). ``follow`` judged that page's links as the remote server's
    (a ``127.0.0.1`` link refused), but its files were read as handed out by the index's own
    URL, whose loopback vouch let a link to a *name* resolving here (a rebinding attacker's)
    reach the local service. Files are now judged as the page that listed them."""
    link = f"http://rebind.attacker.example:{{port}}/admin/{APP[0]}"
    (tmp_path / "remote" / "app").mkdir(parents=True)
    if kind == "simple-json":
        entry = {"filename": APP[0], "url": link, "core-metadata": True}
        page = json.dumps({"meta": {"api-version": "1.0"}, "name": "app", "files": [entry]})
    else:
        page = f'<a href="{link}" data-core-metadata="true">{APP[0]}</a>'
    served = tmp_path / "remote" / "app" / ("index.json" if kind == "simple-json" else "index.html")
    (tmp_path / "admin").mkdir()
    for name in (APP[0], f"{APP[0]}.metadata"):
        (tmp_path / "admin" / name).write_bytes(b"local secrets")
    with IndexServer(tmp_path, json_api=kind == "simple-json") as server:
        port = server.url.rsplit(":", 1)[1]
        served.write_text(page.replace("{port}", port))
        local = f"http://localhost:{port}/{'links' if kind == 'find-links' else 'simple'}"
        moved = "/links" if kind == "find-links" else "/simple/app/"
        server.redirect(moved, f"http://pypi-shim.example:{port}/remote/app/")
        client = HttpClient(
            transport=DeadlineTransport(resolve=_here), own_hosts=("localhost",), retries=0
        )
        with client:
            index: SimpleIndex | FindLinks = (
                FindLinks(local, http=client)
                if kind == "find-links"
                else SimpleIndex(local, http=client)
            )
            (file,) = index.files(canonicalize_name("app"))
            with pytest.raises(UnsafeUrlError, match="is this machine"):
                if read == "size":
                    index.size(file)
                elif read == "metadata":
                    index.metadata(file)
                else:
                    with index.open(file):
                        pass
    assert [r for r in server.requests if r.path.startswith("/admin")] == []


def _metadata_here(host: str, port: int) -> list[str]:
    """The user's index resolves here (the test server); every other name to the link."""
    return ["127.0.0.1"] if host == "index.corp" else ["169.254.169.254"]


@pytest.mark.parametrize("shape", ["redirect", "link"])
@pytest.mark.parametrize("target", ["metadata.attacker.example", "169.254.169.254"])
def test_a_link_local_source_vouches_only_for_what_it_hands_out(
    tmp_path: Path, shape: str, target: str
) -> None:
    """Invariant 5's link rule: a manifest that also names a source on the link (a conda
    channel at ``169.254.10.5``) let every remote index's redirect or page link reach cloud
    instance metadata, as the loopback vouch had before attack 129. Refused before any
    connection; the user's own link-local source still vouches for its own hops."""
    page = tmp_path / "simple" / "app"
    page.mkdir(parents=True)
    metadata = f"http://{target}/latest/meta-data/{APP[0]}"
    page.joinpath("index.html").write_text(f'<a href="{metadata}">{APP[0]}</a>')
    with IndexServer(tmp_path, json_api=False) as server:
        port = server.url.rsplit(":", 1)[1]
        if shape == "redirect":
            server.redirect("/simple/app/", metadata)
        client = HttpClient(
            transport=DeadlineTransport(resolve=_metadata_here),
            own_hosts=("index.corp", "169.254.10.5"),
            retries=0,
        )
        with client, pytest.raises(UnsafeUrlError, match="link-local or cloud") as caught:
            index = SimpleIndex(f"http://index.corp:{port}/simple", http=client)
            (file,) = index.files(canonicalize_name("app"))
            with index.open(file):
                pass
    assert "/latest/meta-data/" in caught.value.where


def test_handed_out_keeps_a_link_local_vouch_for_the_link_only() -> None:
    own = ("index.corp", "169.254.10.5", "localhost")
    assert handed_out(own, "https://index.corp/simple/app/") == ("index.corp",)
    assert handed_out(own, "http://169.254.10.5/channel/") == ("index.corp", "169.254.10.5")
    assert handed_out(own, "http://localhost:8080/simple/") == own
    assert handed_out(own, "") == own
