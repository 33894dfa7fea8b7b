"""Attack 129: the loopback vouch of ``origins.connect_to`` reaches past the source it is for.

Pass 128 lets a name that resolves to this machine through when the user named a source on
this machine (a local find-links server beside a remote index). That vouch held for every
request of the session: a *remote* index's redirect to ``127.0.0.1.nip.io`` reached a local
service as soon as the manifest also named any loopback source, while ``follow`` refuses the
same redirect to ``127.0.0.1`` itself from that remote hop. A hop handed out by a source that
is not on this machine is now judged without the local sources' vouch. Names resolve through
the exchange's ``Resolver`` parameter: no DNS query.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name

from mlenv.errors import ManifestError
from mlenv.index import HttpClient, HttpError, SimpleIndex
from mlenv.manifest_read import loads
from mlenv.net.exchange import DeadlineTransport
from mlenv.net.origins import UnsafeUrlError
from mlenv.oci.auth import ChallengeAuth, guard_request
from mlenv.oci.credentials import Credentials
from tests.support.httpserver import Fault, IndexServer
from tests.support.manifests import MINIMAL


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("served")
    (root / "admin").mkdir()
    (root / "admin" / "index.html").write_bytes(b"local secrets")
    (root / "v2").mkdir()
    (root / "v2" / "index.html").write_bytes(b"{}")
    with IndexServer(root) as running:
        yield running


def _port(server: IndexServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _here(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]  # every name: the test server stands for each host


def test_a_remote_hops_redirect_here_is_not_vouched_for_by_a_local_source(
    server: IndexServer,
) -> None:
    """The manifest names a remote index and a find-links server on localhost; the remote
    index redirects to a name that resolves here. The local source vouches for its own links,
    not for what a remote server hands out: refused, and the local service never asked."""
    server.clear_log()
    port = _port(server)
    client = HttpClient(
        transport=DeadlineTransport(resolve=_here),
        own_hosts=("index.corp", "localhost"),  # [pypi] index-url and find-links
        retries=0,
    )
    server.redirect("/simple/", f"http://127.0.0.1.nip.io:{port}/admin/")
    with client, pytest.raises((UnsafeUrlError, HttpError)) as caught:
        client.get(f"http://index.corp:{port}/simple/")
    assert "this machine" in str(caught.value)
    assert all(not r.path.startswith("/admin") for r in server.requests)


def test_a_local_sources_redirect_to_a_name_here_is_still_followed(server: IndexServer) -> None:
    """The vouch still holds for the source it is for: a find-links server on localhost that
    redirects to the machine's own name (its file server) is followed."""
    server.clear_log()
    port = _port(server)
    client = HttpClient(
        transport=DeadlineTransport(resolve=_here),
        own_hosts=("index.corp", "localhost"),
        retries=0,
    )
    server.redirect("/links/", f"http://devbox:{port}/admin/")
    with client:
        answer = client.get(f"http://localhost:{port}/links/")
    assert answer.content == b"local secrets"
    assert answer.url == f"http://devbox:{port}/admin/"


def test_the_users_own_host_is_reached_from_a_remote_redirect(server: IndexServer) -> None:
    """A host the user named is theirs wherever the link came from: a remote index that
    redirects to the user's mirror (in /etc/hosts, here) is followed."""
    port = _port(server)
    client = HttpClient(
        transport=DeadlineTransport(resolve=_here),
        own_hosts=("index.corp", "mirror.corp", "localhost"),
        retries=0,
    )
    server.redirect("/moved/", f"http://Mirror.Corp.:{port}/admin/")
    with client:
        assert client.get(f"http://index.corp:{port}/moved/").content == b"local secrets"


def _listing(tmp_path: Path, link: str) -> IndexServer:
    page = tmp_path / "simple" / "pkg"
    page.mkdir(parents=True)
    anchor = f'<a href="{link}" data-dist-info-metadata="true">pkg-1.0-py3-none-any.whl</a>'
    (page / "index.html").write_text(f"<html><body>{anchor}</body></html>")
    (tmp_path / "admin").mkdir()
    (tmp_path / "admin" / "pkg-1.0-py3-none-any.whl").write_bytes(b"local secrets")
    (tmp_path / "admin" / "pkg-1.0-py3-none-any.whl.metadata").write_bytes(b"local secrets")
    return IndexServer(tmp_path)


@pytest.mark.parametrize("read", ["size", "metadata", "open"])
def test_a_remote_pages_file_link_to_a_name_here_is_refused_beside_a_local_source(
    tmp_path: Path, read: str
) -> None:
    """A remote index's page lists a wheel at a name that resolves here; the manifest also
    names a find-links server on localhost. Measuring the wheel (HEAD), reading its metadata
    or opening it must not reach the local service: the page was not on this machine."""
    with _listing(
        tmp_path, "http://127.0.0.1.nip.io:{port}/admin/pkg-1.0-py3-none-any.whl"
    ) as server:
        port = _port(server)
        (tmp_path / "simple" / "pkg" / "index.html").write_text(
            (tmp_path / "simple" / "pkg" / "index.html").read_text().replace("{port}", str(port))
        )
        client = HttpClient(
            transport=DeadlineTransport(resolve=_here),
            own_hosts=("index.corp", "localhost"),
            retries=0,
        )
        with client:
            index = SimpleIndex(f"http://index.corp:{port}/simple", http=client)
            (file,) = index.files(canonicalize_name("pkg"))
            with pytest.raises(UnsafeUrlError, match="this machine"):
                if read == "size":
                    index.size(file)
                if read == "metadata":
                    index.metadata(file)
                with index.open(file):
                    pass
        assert all(not r.path.startswith("/admin") for r in server.requests)


def test_a_local_pages_file_link_to_a_name_here_is_still_read(tmp_path: Path) -> None:
    """The same page served by the user's index on localhost: its link to the machine's own
    name is followed (the local source vouches for what it hands out)."""
    with _listing(tmp_path, "http://devbox:{port}/admin/pkg-1.0-py3-none-any.whl") as server:
        port = _port(server)
        (tmp_path / "simple" / "pkg" / "index.html").write_text(
            (tmp_path / "simple" / "pkg" / "index.html").read_text().replace("{port}", str(port))
        )
        client = HttpClient(
            transport=DeadlineTransport(resolve=_here),
            own_hosts=("localhost",),
            retries=0,
        )
        with client:
            index = SimpleIndex(f"http://localhost:{port}/simple", http=client)
            (file,) = index.files(canonicalize_name("pkg"))
            with index.open(file) as handle:
                assert handle.read() == b"local secrets"


def test_a_connection_a_local_source_opened_is_not_reused_for_a_remote_hops_redirect(
    server: IndexServer,
) -> None:
    """The vouch now differs from request to request of one client: a keep-alive connection to
    ``devbox`` that the local source's redirect opened must not carry a remote hop's redirect
    to the same name and port, which a fresh connection would refuse."""
    port = _port(server)
    client = HttpClient(
        transport=DeadlineTransport(resolve=_here),
        own_hosts=("index.corp", "localhost"),
        retries=0,
    )
    server.redirect("/local/", f"http://devbox:{port}/admin/")
    server.redirect("/remote/", f"http://devbox:{port}/admin/")
    with client:
        assert client.get(f"http://localhost:{port}/local/").content == b"local secrets"
        server.clear_log()
        with pytest.raises((UnsafeUrlError, HttpError)) as caught:
            client.get(f"http://index.corp:{port}/remote/")
    assert "this machine" in str(caught.value)
    assert all(not r.path.startswith("/admin") for r in server.requests)


def _registry(registry: str) -> httpx.Client:
    """A client with the registry's own hooks (``oci.registry_session._Session``) over the
    exchange."""
    return httpx.Client(
        base_url=registry,
        auth=ChallengeAuth(registry, Credentials("ci", "s3cret"), ("repository:x:pull",)),
        transport=DeadlineTransport(resolve=_here),
        follow_redirects=True,
        event_hooks={"request": [lambda request: guard_request(registry, request)]},
    )


def test_a_registry_named_by_a_name_here_is_reached_and_its_realm_elsewhere_here_is_not(
    server: IndexServer,
) -> None:
    """`mlenv push registry.corp:PORT/...` with registry.corp in /etc/hosts: the registry is
    the user's and is reached; a token realm it names at another name that resolves here is
    not, and the registry's credentials never leave for it."""
    port = _port(server)
    registry = f"http://registry.corp:{port}"
    server.clear_log()
    with _registry(registry) as client:
        assert client.get("/v2/").status_code == 200
    realm = f"http://127.0.0.1.nip.io:{port}/admin/"
    challenge = f'Bearer realm="{realm}",service="registry"'
    server.fault("/v2/", Fault(status=401, headers={"WWW-Authenticate": challenge}, times=1))
    server.clear_log()
    with _registry(registry) as client, pytest.raises(UnsafeUrlError, match="this machine"):
        client.get("/v2/")
    assert [r.path for r in server.requests] == ["/v2/"]


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1/simple",
        "https://[::g]/simple",
        "http://user:S3CRET@[127.0.0.1/simple",
        "file://[wheels/simple",  # the file:// branch split it unguarded before d4fda92 too
    ],
)
@pytest.mark.parametrize(
    ("table", "line"),
    [
        ("[pypi]", "index-url = {url!r}"),
        ("[pypi]", "find-links = [{url!r}]"),
        ("[conda]", "channels = [{url!r}]\ndependencies = ['numpy']"),
    ],
)
def test_a_bracketed_host_left_open_or_no_address_is_a_manifest_problem(
    url: str, table: str, line: str
) -> None:
    """d4fda92 reads each http(s) URL's host and port when the manifest is read; urlsplit
    raises on a bracket left open or one holding no IP address, and `show` or `lock` ended
    as an internal error. It is the manifest's problem, named with its key, password hidden."""
    with pytest.raises(ManifestError) as caught:
        loads(f"{MINIMAL}{table}\n{line.format(url=url)}\n", source="m.toml")
    problems = [p.render() for p in caught.value.problems]
    key = line.split(" =")[0]
    assert any(key in p and "not a URL" in p for p in problems), problems
    assert "S3CRET" not in "".join(problems)
