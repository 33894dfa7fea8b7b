"""Attack 128: a remote source steers mlenv to a service on this machine by a *name*.

``origins.follow`` refuses a loopback host by its text (``localhost``, ``127.1``, ``[::1]``), but a
name whose A or AAAA record is 127.0.0.1 (``127.0.0.1.nip.io``, ``localtest.me``, a rebinding
attacker's name, the host's own name in /etc/hosts) passed: an index page or redirect could make
``lock`` or ``fetch`` ask a local service. The exchange now judges the addresses it is about to
connect to (``origins.connect_to``): a name that resolves to this machine is refused unless the
user named that host, or named a source on this machine. Every test resolves through the
exchange's ``Resolver`` parameter (no DNS query), so before the fix the local test server was
reached and the tests fail on what it saw.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlenv.index import HttpClient, HttpError
from mlenv.net.exchange import DeadlineTransport
from mlenv.net.origins import OWN_HOSTS, UnsafeUrlError, connect_to
from tests.support.httpserver import IndexServer

# what a resolver may answer for a name that leads back to this machine
HERE = st.one_of(
    st.integers(0, (1 << 24) - 1).map(lambda n: str(ipaddress.IPv4Address((127 << 24) | n))),
    st.sampled_from(["::1", "::ffff:127.0.0.1", "0.0.0.0", "::"]),
)
NAMES = st.sampled_from(
    ["127.0.0.1.nip.io", "localtest.me", "rebind.attacker.example", "vm", "files.example."]
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("served")
    (root / "admin").mkdir()
    (root / "admin" / "index.html").write_bytes(b"local secrets")
    with IndexServer(root) as running:
        yield running


def _port(server: IndexServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, here=HERE)
def test_a_name_that_resolves_here_is_never_connected_to(
    server: IndexServer, name: str, here: str
) -> None:
    server.clear_log()
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1", here])
    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeUrlError) as caught:
        client.get(
            f"http://{name}:{_port(server)}/admin/",
            extensions={OWN_HOSTS: ("pypi.example", "169.254.1.1")},  # neither vouches for here
        )
    assert server.requests == [], "judged before any address is connected to"
    assert "this machine" in caught.value.message and caught.value.hint
    assert caught.value.where.endswith("/admin/")


def test_the_users_own_name_and_sources_here_are_still_reached(server: IndexServer) -> None:
    """A host the manifest names may resolve here (a mirror in /etc/hosts), and a source the
    user put on this machine may link to another local name (its file server)."""
    transport = DeadlineTransport(resolve=lambda host, port: ["127.0.0.1"])
    url = f"http://mirror.corp:{_port(server)}/admin/"
    with httpx.Client(transport=transport) as client:
        assert client.get(url, extensions={OWN_HOSTS: ("mirror.corp",)}).status_code == 200
        assert client.get(url, extensions={OWN_HOSTS: ("MIRROR.corp.",)}).status_code == 200
        assert client.get(url, extensions={OWN_HOSTS: ("127.0.0.1",)}).status_code == 200
        assert client.get(url, extensions={OWN_HOSTS: ("localhost",)}).status_code == 200
    with httpx.Client(transport=transport) as fresh, pytest.raises(UnsafeUrlError):
        fresh.get(url, extensions={OWN_HOSTS: ("mirror.corp.example",)})


def test_an_index_redirect_to_a_name_here_is_refused_and_not_retried(server: IndexServer) -> None:
    """The index client's hop to a rebinding name ends the request with the refusal (exit 1),
    not a retried network failure, and the local service is never asked."""
    server.clear_log()
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    # the index itself is the user's (named); its redirect's host is not
    client = HttpClient(
        transport=DeadlineTransport(resolve=resolve), own_hosts=("index.corp",), retries=3
    )
    port = _port(server)
    index = f"http://index.corp:{port}/redirect/"
    server.redirect("/redirect/", f"http://rebind.attacker.example:{port}/admin/")
    with client, pytest.raises((UnsafeUrlError, HttpError)) as caught:
        client.get(index)
    assert "this machine" in str(caught.value)
    assert asked.count("rebind.attacker.example") == 1, "never retried"
    assert all(not r.path.startswith("/admin") for r in server.requests)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2", "::1", "ip6-localhost"])
def test_a_loopback_literal_is_judged_by_follow_not_by_the_exchange(host: str) -> None:
    """``follow`` has already weighed a literal against the source that handed it out (a
    loopback mirror's own links), so the exchange lets it through."""
    connect_to(host, ["127.0.0.1"], own=(), where=host)
