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

import pytest

from mlenv.exchange import DeadlineTransport
from mlenv.index import HttpClient, HttpError
from mlenv.origins import UnsafeUrlError
from tests.support.httpserver import IndexServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexServer]:
    root = tmp_path_factory.mktemp("served")
    (root / "admin").mkdir()
    (root / "admin" / "index.html").write_bytes(b"local secrets")
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
