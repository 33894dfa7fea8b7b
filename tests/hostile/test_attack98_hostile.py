"""Attack 98: a registry or index steers mlenv to cloud instance metadata by a host *name*.

The link-local rule was judged on a URL's host text: ``169.254.169.254`` and its spellings were
refused, but ``metadata.google.internal``, ``instance-data.ec2.internal`` or an attacker's name
with an A record 169.254.169.254 (AAAA fe80::1, fd00:ec2::254) passed, and a token realm so
named got the registry's credentials. The exchange now judges the addresses it is about to
connect to (``origins.connect_to``). Every test resolves through the exchange's ``Resolver``
parameter (no DNS query): a name answers the test server's 127.0.0.1 first and the link-local
address after it, so before the fix the request reached the server (and the test fails on
what the server saw), never the metadata service.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.commands.session import Session
from mlenv.errors import MlenvError
from mlenv.index import HttpClient
from mlenv.net.exchange import DeadlineTransport
from mlenv.net.origins import OWN_HOSTS, UnsafeUrlError, own_hosts
from mlenv.oci import registry
from mlenv.oci.auth import ChallengeAuth, guard_request
from mlenv.oci.credentials import Credentials
from mlenv.report import MemoryReporter
from tests.support.httpserver import Fault, IndexServer

NAMES = st.sampled_from(
    [
        "metadata.google.internal",
        "instance-data.ec2.internal",
        "metadata.attacker.example",
        "xn--bcher-kva.example",
        "files.example.",
    ]
)
_V4 = st.integers(0, 0xFFFF).map(lambda n: str(ipaddress.IPv4Address(0xA9FE0000 | n)))
_V6 = st.integers(0, (1 << 118) - 1).map(
    lambda n: str(ipaddress.IPv6Address((0b1111111010 << 118) | n))  # fe80::/10
)
_NAT64 = int(ipaddress.IPv6Address("64:ff9b::"))
# what a resolver may answer for a name that leads to the link or to instance metadata
LINKED = st.one_of(
    _V4,
    _V6,
    _V6.map(lambda a: f"{a}%eth0"),  # getaddrinfo's scoped form
    _V4.map(lambda a: f"::ffff:{a}"),
    _V4.map(lambda a: str(ipaddress.IPv6Address(_NAT64 | int(ipaddress.IPv4Address(a))))),
    st.sampled_from(["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"]),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("served")
    (root / "latest").mkdir()
    (root / "latest" / "meta-data").write_bytes(b"iam/security-credentials/admin")
    (root / "simple").mkdir()
    (root / "simple" / "index.html").write_bytes(b"<html>pkgs</html>")
    with IndexServer(root) as running:
        yield running


def _port(server: IndexServer) -> int:
    return httpx.URL(server.url).port or 0


def _secrets_asked(server: IndexServer) -> list[str]:
    return [r.path for r in server.requests if "meta-data" in r.path or "token" in r.path]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=NAMES, linked=LINKED)
def test_a_name_that_resolves_to_the_link_is_never_connected_to(
    server: IndexServer, name: str, linked: str
) -> None:
    server.clear_log()
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", linked])
    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeUrlError) as caught:
        client.get(f"http://{name}:{_port(server)}/latest/meta-data")
    assert server.requests == [], "judged before any address is connected to"
    assert linked in caught.value.message and isinstance(caught.value, MlenvError)
    assert caught.value.hint and caught.value.where.endswith("/latest/meta-data")


@pytest.mark.parametrize("spelled", ["0xa9fea9fe", "2852039166", "0xa9.0xfe.0xa9.0xfe"])
def test_numeric_spellings_httpx_hands_the_resolver_are_judged_by_the_address(
    server: IndexServer, spelled: str
) -> None:
    """httpx passes these on as names; getaddrinfo reads them as 169.254.169.254 (inet_aton
    does here, with no query)."""
    server.clear_log()

    def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1", socket.inet_ntoa(socket.inet_aton(host))]

    with (
        httpx.Client(transport=DeadlineTransport(resolve=resolve)) as client,
        pytest.raises(UnsafeUrlError, match=re.escape("169.254.169.254")),
    ):
        client.get(f"http://{spelled}:{_port(server)}/latest/meta-data")
    assert server.requests == []


def test_the_where_names_the_url_with_its_password_hidden(server: IndexServer) -> None:
    transport = DeadlineTransport(resolve=lambda host, port: ["169.254.169.254"])
    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeUrlError) as caught:
        client.get(f"http://ci:hunter2@metadata.google.internal:{_port(server)}/x")
    assert "hunter2" not in caught.value.where + caught.value.message
    assert "metadata.google.internal" in caught.value.where


@pytest.mark.parametrize(
    "url",
    [
        "http://[fe80::1%25eth0]:{port}/latest/meta-data",
        "http://[fe80::a9fe:a9fe%251]:{port}/latest/meta-data",
        "http://[::ffff:169.254.169.254]:{port}/latest/meta-data",
        "http://[fd00:ec2::254]:{port}/latest/meta-data",
    ],
)
def test_literals_with_a_zone_or_mapped_are_refused_before_connecting(
    server: IndexServer, url: str
) -> None:
    def never(host: str, port: int) -> list[str]:
        raise AssertionError(f"a literal is not resolved: {host}")

    with (
        httpx.Client(transport=DeadlineTransport(resolve=never), timeout=2) as client,
        pytest.raises(UnsafeUrlError),
    ):
        client.get(url.format(port=_port(server)))


def test_the_users_own_host_on_the_link_is_still_reached(server: IndexServer) -> None:
    """The user's own registry or index may be on the link; another name that resolves there
    is still refused, unless the user named a link-local address (its storage may be too)."""
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", "169.254.10.5"])
    url = f"http://registry.corp:{_port(server)}/simple/"
    with httpx.Client(transport=transport) as client:
        mine = client.get(url, extensions={OWN_HOSTS: own_hosts([url])})
        assert mine.status_code == 200 and mine.content == b"<html>pkgs</html>"
        with pytest.raises(UnsafeUrlError):
            client.get(
                url.replace("registry.corp", "other.corp"),
                extensions={OWN_HOSTS: ("registry.corp",)},
            )
        linked = client.get(  # 127.0.0.1 stands for storage the user's own source is beside
            url.replace("registry.corp", "storage.corp"),
            extensions={OWN_HOSTS: ("169.254.10.5", "127.0.0.1")},
        )
        assert linked.status_code == 200


def _registry_client(server: IndexServer, linked: str) -> httpx.Client:
    """A client with the registry's own hooks (``oci.registry_session._Session``) over the
    exchange."""
    return httpx.Client(
        base_url=server.url,
        auth=ChallengeAuth(server.url, Credentials("ci", "s3cret"), ("repository:x:pull",)),
        transport=DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", linked]),
        follow_redirects=True,
        event_hooks={"request": [lambda request: guard_request(server.url, request)]},
    )


@given(linked=LINKED)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_registry_redirect_to_a_metadata_name_is_refused(
    server: IndexServer, linked: str
) -> None:
    server.clear_log()
    blob = "/v2/x/blobs/sha256:" + "0" * 64
    target = f"http://metadata.google.internal:{_port(server)}/latest/meta-data"
    server.fault(blob, Fault(status=307, location=target, times=1))
    with _registry_client(server, linked) as client, pytest.raises(UnsafeUrlError):
        client.get(blob)
    assert _secrets_asked(server) == []


def test_a_token_realm_named_into_the_link_gets_neither_request_nor_credentials(
    server: IndexServer,
) -> None:
    server.clear_log()
    realm = f"http://instance-data.ec2.internal:{_port(server)}/token"
    challenge = f'Bearer realm="{realm}",service="registry"'
    server.fault("/v2/", Fault(status=401, headers={"WWW-Authenticate": challenge}, times=1))
    with _registry_client(server, "fd00:ec2::254") as client, pytest.raises(UnsafeUrlError):
        client.get("/v2/")
    assert _secrets_asked(server) == []
    assert all(r.headers.get("authorization") is None for r in server.requests)


def test_an_index_redirect_to_a_metadata_name_is_refused_and_not_retried(
    server: IndexServer, tmp_path: Path
) -> None:
    """The index client had no link-local rule at all: a redirect to 169.254.169.254 was
    followed. Its own index (named in the manifest) may resolve to the link."""
    server.clear_log()
    target = f"http://instance-data.ec2.internal:{_port(server)}/latest/meta-data"
    server.fault("/simple/pkg/", Fault(status=302, location=target, times=None))
    index = f"http://pkgs.corp:{_port(server)}/simple/"
    client = HttpClient(
        transport=DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", "169.254.3.3"]),
        own_hosts=own_hosts([index]),
        sleep=lambda seconds: None,
    )
    with client:
        assert client.get(index).content == b"<html>pkgs</html>"
        with pytest.raises(UnsafeUrlError, match=re.escape("instance-data.ec2.internal")):
            client.get(index + "pkg/")
    assert len(server.requests_for("/simple/pkg/")) == 1, "refused, not retried"
    assert _secrets_asked(server) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data",
        "http://[fe80::1%25eth0]/latest/meta-data",
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://2852039166/latest/meta-data",
    ],
)
def test_through_a_proxy_the_origin_is_judged_by_its_name(server: IndexServer, url: str) -> None:
    """The proxy resolves the origin, so mlenv never sees its address: a literal (any
    spelling) is still refused before the proxy is asked to reach it."""
    server.clear_log()
    transport = DeadlineTransport(proxy=httpx.Proxy(server.url))
    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeUrlError):
        client.get(url)
    assert server.requests == []


def test_own_hosts_reads_only_web_urls() -> None:
    assert own_hosts(
        ["https://PKGS.corp/simple", "file:///srv/wheels", "./wheels", "http://[::1", "conda-forge"]
    ) == ("pkgs.corp",)


def test_the_registry_client_reaches_its_own_host_on_the_link_but_not_a_redirect_there(
    server: IndexServer,
) -> None:
    """Through ``registry.reader`` itself: the registry the user names resolves to the link
    and is reached; the blob's redirect to a metadata name is refused, credentials or not."""
    server.clear_log()
    blob = "/v2/team/x/blobs/sha256:" + "1" * 64
    target = f"http://metadata.google.internal:{_port(server)}/latest/meta-data"
    server.fault(blob, Fault(status=307, location=target, times=1))
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", "169.254.10.5"])
    ref = f"registry.corp:{_port(server)}/team/x:latest"
    with (
        registry.reader(ref, insecure=True, auth=Credentials("ci", "pw"), transport=transport) as s,
        pytest.raises(UnsafeUrlError) as caught,
        s.blob("sha256:" + "1" * 64),
    ):
        pass
    assert "metadata.google.internal" in caught.value.where
    assert [r.path for r in server.requests] == [blob], "its own host was reached, once"


def test_every_host_the_manifest_names_is_the_users_own(tmp_path: Path) -> None:
    """The index client's own hosts are every host the manifest names (indexes, find-links,
    conda channels; direct references are refused by the manifest) and nothing else: a host
    only an index page names is not the user's."""
    manifest = tmp_path / "mlenv.toml"
    manifest.write_text(
        '[environment]\nname = "t"\npython = "3.11"\n'
        '[conda]\nchannels = ["https://conda.corp/ch"]\ndependencies = ["zlib"]\n'
        '[pypi]\nindex-url = "https://pypi.corp/simple"\n'
        'extra-index-urls = ["https://extra.corp/simple"]\n'
        'find-links = ["https://links.corp/wheels/", "http://169.254.7.7/w/"]\n'
        'dependencies = ["torch"]\n'
    )
    session = Session(manifest, MemoryReporter(), 0, tmp_path / "cache")
    with session.http(offline=True, manifest=session.load_manifest()) as http:
        assert set(http.own_hosts) == {
            "conda.corp", "pypi.corp", "extra.corp", "links.corp", "169.254.7.7"
        }  # fmt: skip
    with session.http(offline=True) as http:
        assert http.own_hosts == ()
