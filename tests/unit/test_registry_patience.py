"""The registry client's one retry rule (`mlenv.oci.patience`): what a busy registry asked to
be repeated is repeated a bounded number of times; nothing whose repetition could change what
the registry stores is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.oci import registry_session
from mlenv.oci.credentials import Credentials
from mlenv.oci.patience import DELAYS, MAX_RETRY_AFTER, PatientClient
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import push
from mlenv.oci.write import ImageResult
from mlenv.report import MemoryReporter
from tests.support.fake_registry import FakeRegistry

BUSY = [429, 500, 502, 503, 504]
RACING = {"errors": [{"code": "DIGEST_INVALID"}, {"code": "MANIFEST_BLOB_UNKNOWN"}]}


class Script:
    """A registry that answers from a list, then 200; records what it was sent."""

    def __init__(self, answers: Sequence[httpx.Response | type[httpx.TransportError]]) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.read()))
        answer = self.answers.pop(0) if self.answers else httpx.Response(200)
        if isinstance(answer, httpx.Response):
            return answer
        raise answer("dropped", request=request)


def client(script: Script, pauses: list[float]) -> PatientClient:
    return PatientClient(
        base_url="http://registry.test", transport=httpx.MockTransport(script), pause=pauses.append
    )


@given(st.lists(st.sampled_from(BUSY), max_size=6), st.sampled_from(["GET", "HEAD"]))
def test_a_busy_answer_to_a_read_is_repeated_up_to_the_bound(
    statuses: list[int], method: str
) -> None:
    """Guards the bound: each busy answer costs one repetition, until ``len(DELAYS)`` of
    them; then the busy answer itself is the caller's, as it was before retries."""
    script, pauses = Script([httpx.Response(s) for s in statuses]), list[float]()
    response = client(script, pauses).request(method, "/v2/r/blobs/sha256:00")
    sent = min(len(statuses), len(DELAYS)) + 1
    assert len(script.seen) == sent
    assert pauses == list(DELAYS[: sent - 1])
    expected = statuses[len(DELAYS)] if len(statuses) > len(DELAYS) else 200
    assert response.status_code == expected


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_an_upload_step_is_never_repeated(method: str) -> None:
    """Guards uploads: a POST/PATCH/DELETE (and a blob's PUT, below) belongs to an upload
    session that may have moved on; sending it again could store other bytes."""
    script, pauses = Script([httpx.Response(503)]), list[float]()
    response = client(script, pauses).request(method, "/v2/r/blobs/uploads/1", content=b"x")
    assert response.status_code == 503 and len(script.seen) == 1 and pauses == []


def test_a_blob_put_is_never_repeated_even_when_racing() -> None:
    script, pauses = Script([httpx.Response(400, json=RACING)]), list[float]()
    url = "/v2/r/blobs/uploads/1?digest=sha256:00"
    response = client(script, pauses).put(url, content=b"x")
    assert response.status_code == 400 and len(script.seen) == 1


def test_a_manifest_put_meeting_a_blob_being_committed_is_sent_again_with_its_bytes() -> None:
    """Guards the race Debian's docker-registry shows when runners push the same blob at
    once: "digest invalid"/"blob unknown" to a manifest PUT passes once the commit is done.
    The same bytes go out again."""
    script, pauses = Script([httpx.Response(400, json=RACING), httpx.Response(500)]), list[float]()
    response = client(script, pauses).put("/v2/r/manifests/t", content=b"{manifest}")
    assert response.status_code == 200
    assert script.seen == [("PUT", b"{manifest}")] * 3
    assert pauses == list(DELAYS[:2])


@pytest.mark.parametrize(
    "body",
    [
        {"errors": [{"code": "MANIFEST_INVALID"}]},
        {"errors": [{"code": "DENIED"}, "DIGEST_INVALID"]},
        {"errors": {"code": "DIGEST_INVALID"}},
        {"errors": 7},
        [],
    ],
)
def test_a_manifest_refused_for_itself_is_not_repeated(body: object) -> None:
    """Guards that a refusal about the manifest itself (or an error body that names no race)
    fails at once, with the registry's answer."""
    script, pauses = Script([httpx.Response(400, json=body)]), list[float]()
    response = client(script, pauses).put("/v2/r/manifests/t", content=b"{}")
    assert response.status_code == 400 and len(script.seen) == 1 and pauses == []


@pytest.mark.parametrize(
    ("header", "pause"),
    [
        ("3", 3.0),
        ("86400", MAX_RETRY_AFTER),
        ("soon", DELAYS[0]),
        ("²", DELAYS[0]),
        ("٣", DELAYS[0]),
        ("9" * 5000, MAX_RETRY_AFTER),
        ("-1", DELAYS[0]),
        ("1.5", DELAYS[0]),
    ],
)
def test_retry_after_is_honoured_within_a_bound(header: str, pause: float) -> None:
    """Guards a hostile or confused registry: Retry-After cannot hold a runner for a day."""
    script, pauses = (
        Script([httpx.Response(429, headers=[(b"Retry-After", header.encode())])]),
        list[float](),
    )
    assert client(script, pauses).get("/v2/").status_code == 200
    assert pauses == [pause]


@pytest.mark.parametrize("dropped", [httpx.RemoteProtocolError, httpx.ReadError])
def test_a_dropped_connection_on_a_read_is_repeated(dropped: type[httpx.TransportError]) -> None:
    script, pauses = Script([dropped, dropped]), list[float]()
    assert client(script, pauses).head("/v2/r/manifests/t").status_code == 200
    assert len(script.seen) == 3


def test_a_connection_dropped_every_time_is_raised_after_the_bound() -> None:
    script, pauses = Script([httpx.ReadError] * (len(DELAYS) + 1)), list[float]()
    with pytest.raises(httpx.ReadError):
        client(script, pauses).get("/v2/")
    assert len(script.seen) == len(DELAYS) + 1


def test_a_refused_connection_fails_at_once() -> None:
    """Guards the clear error for a registry that is not there: no seconds of retries before
    'is a registry listening at ...?'."""
    script, pauses = Script([httpx.ConnectError]), list[float]()
    with pytest.raises(httpx.ConnectError):
        client(script, pauses).get("/v2/")
    assert pauses == []


# ---------------------------------------------------------------------------------------------
# A whole blob upload begun again (the fake registry of test_registry, failing one step)


class Flaky(FakeRegistry):
    """Fails the ``times`` first requests of one upload step with ``failure``."""

    def __init__(self, step: str, failure: int | type[httpx.TransportError], times: int) -> None:
        super().__init__()
        self.step, self.failure, self.times = step, failure, times

    def handle(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        is_step = {
            "POST": method == "POST" and path.endswith("/blobs/uploads/"),
            "PATCH": method == "PATCH",
            "PUT": method == "PUT" and "/blobs/uploads/" in path,
        }[self.step]
        authorized = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if is_step and self.times and authorized in self.tokens:
            self.times -= 1
            if isinstance(self.failure, int):
                return httpx.Response(self.failure, json={"errors": [{"code": "UNAVAILABLE"}]})
            raise self.failure("dropped", request=request)
        return super().handle(request)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    monkeypatch.setattr(registry_session, "CHUNK_SIZE", 4096)  # the 10 KiB layer: 3 PATCHes
    pauses: list[float] = []
    monkeypatch.setattr("time.sleep", pauses.append)
    return pauses


@pytest.mark.parametrize("step", ["POST", "PATCH", "PUT"])
@pytest.mark.parametrize("failure", [503, 429, 500, httpx.ReadError, httpx.RemoteProtocolError])
def test_an_upload_refused_by_a_busy_registry_is_begun_again_whole(
    step: str,
    failure: int | type[httpx.TransportError],
    image: tuple[Path, ImageResult],
    small_chunks: list[float],
) -> None:
    """Guards `push` against a registry busy for a moment mid-upload (as docker push does):
    the blob goes up again from its first byte in a new upload session, and what the
    registry stores is the layout's bytes."""
    layout, built = image
    fake = Flaky(step, failure, times=2)
    result = push(layout, "registry.test/team/env:1", auth=Credentials("ci", "pw"),
                  reporter=MemoryReporter(), transport=fake.transport())  # fmt: skip
    assert result.digest == built.manifest_digest and fake.times == 0
    assert set(fake.blobs) == {built.config_digest, *built.layer_digests}
    for digest, data in fake.blobs.items():
        assert (layout / "blobs" / "sha256" / digest[7:]).read_bytes() == data
    assert small_chunks == list(DELAYS[:2])


def test_an_upload_refused_every_time_fails_after_the_bound_naming_the_answer(
    image: tuple[Path, ImageResult], small_chunks: list[float]
) -> None:
    layout, _ = image
    fake = Flaky("PATCH", 503, times=100)
    with pytest.raises(RegistryError, match="HTTP 503"):
        push(layout, "registry.test/team/env:1", auth=Credentials("ci", "pw"),
             reporter=MemoryReporter(), transport=fake.transport())  # fmt: skip
    assert small_chunks == list(DELAYS)
    assert 100 - fake.times == len(DELAYS) + 1
    assert fake.blobs == {} or all(len(data) < 4096 for data in fake.blobs.values())


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_an_upload_refused_for_itself_is_not_begun_again(
    status: int, image: tuple[Path, ImageResult], small_chunks: list[float]
) -> None:
    """Guards a clear, prompt error when the registry refuses the blob itself (too big, no
    right to push): no seconds of repetition."""
    layout, _ = image
    fake = Flaky("PUT", status, times=100)
    with pytest.raises(RegistryError):
        push(layout, "registry.test/team/env:1", auth=Credentials("ci", "pw"),
             reporter=MemoryReporter(), transport=fake.transport())  # fmt: skip
    assert small_chunks == []
