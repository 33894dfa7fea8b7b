"""Fifteenth adversary pass: the registry client's repetitions (``oci/patience``) and the
lease's turn (``oci/lease``) against a hostile or broken registry.

A repetition may never change what the registry stores, never be unbounded in requests,
waiting or memory, and never turn a registry's answer into a traceback. Each test names what
it protects and fails if its enforcement is removed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlenv.oci import patience
from mlenv.oci.lease import Clock, coordinated
from mlenv.oci.patience import DELAYS, PatientClient
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import reader
from mlenv.report import MemoryReporter
from tests.support.fake_registry import FakeRegistry

pytestmark = pytest.mark.hostile

RACING = {"errors": [{"code": "DIGEST_INVALID"}]}
DIGEST = "sha256:" + "0" * 64


def _client(handler: httpx.MockTransport, pauses: list[float]) -> PatientClient:
    return PatientClient(base_url="http://registry.test", transport=handler, pause=pauses.append)


@pytest.mark.parametrize("value", ["²", "³", "①", "٣"])
def test_a_retry_after_of_digits_float_cannot_read_is_the_default_delay(value: str) -> None:
    """Attack: Retry-After '²' (or the Latin-1 byte 0xB2, which httpx decodes to it) passes
    ``str.isdigit`` but not ``float``: the ValueError escaped every RegistryError handler as a
    traceback. Expected: only ASCII digits are a delay; anything else is the default one."""
    answers = iter([httpx.Response(503, headers=[(b"Retry-After", value.encode())])])
    transport = httpx.MockTransport(lambda request: next(answers, httpx.Response(200)))
    pauses: list[float] = []
    assert _client(transport, pauses).get("/v2/").status_code == 200
    assert pauses == [DELAYS[0]]


def test_a_latin1_retry_after_through_the_registry_client_is_a_registry_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same attack end to end: a registry that always answers 503 with the raw byte 0xB2
    as Retry-After gives a clear RegistryError naming the URL (exit 1), not a ValueError."""
    monkeypatch.setattr(patience, "DELAYS", (0.0,) * len(DELAYS))
    busy = httpx.Response(503, headers=[(b"Retry-After", b"\xb2")])
    transport = httpx.MockTransport(lambda request: busy)
    with (
        pytest.raises(RegistryError, match="HTTP 503") as caught,
        reader("registry.test/r:t", transport=transport) as session,
    ):
        session.has(DIGEST)
    assert "registry.test" in caught.value.where


@pytest.mark.parametrize(
    "url",
    [
        f"/v2/team/manifests/blobs/uploads/1?digest={DIGEST}",
        f"/v2/r/manifests/upload-1?digest={DIGEST}",  # a Location the registry chose
    ],
)
def test_a_blob_put_in_a_repository_named_manifests_is_never_repeated(url: str) -> None:
    """Attack: the repetition rule matched '/manifests/' anywhere in the path, so the final
    PUT of a blob upload into the valid repository ``team/manifests`` was repeated after a
    5xx or a 400 DIGEST_INVALID, an upload step whose session may have moved on. Expected:
    only ``/v2/<name>/manifests/<reference>`` without a query is a manifest PUT."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(400, json=RACING) if len(seen) == 1 else httpx.Response(500)

    pauses: list[float] = []
    client = _client(httpx.MockTransport(handler), pauses)
    assert client.put(url, content=b"x").status_code == 400
    assert client.put(url, content=b"x").status_code == 500
    assert seen == ["PUT", "PUT"] and pauses == []


def test_a_manifest_put_into_a_repository_named_manifests_is_still_repeated() -> None:
    """The other side of the rule above: a manifest PUT stays repeatable whatever the
    repository is called."""
    answers = iter([httpx.Response(503)])
    transport = httpx.MockTransport(lambda request: next(answers, httpx.Response(201)))
    pauses: list[float] = []
    response = _client(transport, pauses).put("/v2/team/manifests/manifests/t", content=b"{}")
    assert response.status_code == 201 and pauses == [DELAYS[0]]


class _Endless(httpx.SyncByteStream):
    """A blob that never ends; counts how much of it was pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.pulled < 64 << 20:  # the test's own stop: 64 MiB
            self.pulled += 1 << 16
            yield b"x" * (1 << 16)


def test_a_blob_download_is_streamed_not_read_whole_by_the_auth_flow() -> None:
    """Attack: an endless (or multi-GB) blob. The auth flow declared
    ``requires_response_body``, so httpx read every answer whole before handing it back,
    the blob download too: memory grew with whatever the registry sent. Expected: the blob
    reaches the caller's verified write as a stream, barely read."""
    body = _Endless()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(200, stream=body)

    with (
        reader("registry.test/r:t", transport=httpx.MockTransport(handler)) as session,
        session.blob(DIGEST) as stream,
    ):
        assert len(stream.read(1 << 16)) == 1 << 16
    assert body.pulled <= 1 << 20


def test_a_401_then_token_still_works_once_bodies_are_not_pre_read() -> None:
    """The auth flow reads the token answer itself (it no longer has httpx read every body):
    a Bearer challenge still yields a token and a second, authorised request."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(200, json={"token": "t0k"})
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "Bearer t0k":
            challenge = 'Bearer realm="https://auth.test/token",service="registry.test"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(200)

    with reader("registry.test/r:t", transport=httpx.MockTransport(handler)) as session:
        assert session.has(DIGEST)
    assert seen == [None, "Bearer t0k"]


def test_the_waiting_of_one_session_is_bounded_whatever_the_registry_answers() -> None:
    """Attack: a registry (past fetch's probe) answers every request 503 with Retry-After 10.
    Each request then cost 40 s of pauses, and a fetch sends one per artifact (its HEAD): a
    lock of 100 wheels held a runner over an hour. Expected: one session's pauses add up to
    at most ``patience.BUDGET``; after that the registry's answer is the caller's at once."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(503, headers={"Retry-After": "10"})

    pauses: list[float] = []
    client = _client(httpx.MockTransport(handler), pauses)
    for _ in range(100):
        assert client.head(f"/v2/r/blobs/{DIGEST}").status_code == 503
    assert sum(pauses) <= patience.BUDGET <= 60.0
    assert len(seen) <= 100 + patience.BUDGET / min(DELAYS)


class _StoresThenFails(FakeRegistry):
    """Stores each manifest PUT, then answers it 500 until the client's patience is spent
    (a registry whose answer is lost after the write landed)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        is_put = request.method == "PUT" and "/manifests/" in request.url.path
        if is_put and response.status_code == 201 and self.failed <= len(DELAYS):
            self.failed += 1
            return httpx.Response(500)
        return response


class _Clock:
    def __init__(self) -> None:
        self.time = 1_000_000.0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds


def test_a_lease_claim_stored_but_answered_with_an_error_is_not_waited_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Attack: the registry stores the lease this runner writes but answers the PUT 500 (5
    times). The turn began again, read its own live lease, and waited for itself to publish
    for the whole TTL (15 minutes) before fetching. Expected: a round that reads this runner's
    own held lease holds it; the turn ends at once, and the lease is released after."""
    monkeypatch.setattr(patience, "DELAYS", (0.0,) * len(DELAYS))
    auth = {"auths": {"registry.test": {"auth": base64.b64encode(b"ci:pw").decode()}}}
    (tmp_path / "config.json").write_text(json.dumps(auth))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    fake, clock, reporter = _StoresThenFails(), _Clock(), MemoryReporter()
    with coordinated(
        "oci://registry.test/fleet/cache", "lease-" + "0" * 32, [DIGEST], claim=True,
        insecure=False, reporter=reporter, clock=Clock(clock.now, clock.sleep),
        transport=fake.transport(),
    ) as held:  # fmt: skip
        assert held is True
    assert clock.time - 1_000_000.0 < 10
    assert b'"released"' in fake.manifests["lease-" + "0" * 32]
    assert not [text for kind, text in reporter.events if kind == "warning"]


def test_slow_busy_answers_cannot_multiply_a_sessions_time() -> None:
    """Attack: a registry that answers 503 only after 59 s (just inside the read timeout).
    Only pauses were counted, so each request was sent 5 times, 5 minutes a request, for the
    first 16 requests of a session. Expected: the failed attempts' own time counts against
    ``patience.BUDGET``; the registry cannot make repetition cost more than about that."""
    now = [0.0]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        now[0] += 59.0
        return httpx.Response(503)

    client = PatientClient(
        base_url="http://registry.test",
        transport=httpx.MockTransport(handler),
        pause=lambda seconds: now.__setitem__(0, now[0] + seconds),
        clock=lambda: now[0],
    )
    for _ in range(20):
        assert client.head(f"/v2/r/blobs/{DIGEST}").status_code == 503
    assert len(seen) <= 20 + 2
    assert now[0] - 20 * 59.0 <= patience.BUDGET + 59.0
