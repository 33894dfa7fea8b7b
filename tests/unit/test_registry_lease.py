"""The lease cold runners take turns with (`registry_lease`): what counts as a live lease."""

from __future__ import annotations

import httpx
import pytest

from mlenv.oci import patience
from mlenv.oci.lease import (
    EXPIRES,
    HOLDER,
    SETTLE,
    STATE,
    STUMBLES,
    TTL,
    Clock,
    Lease,
    _parse,
    coordinated,
    lease_tag,
)
from mlenv.report import MemoryReporter
from tests.support.lease import (
    BLOBS,
    OTHER,
    REGISTRY,
    RIVAL,
    TAG,
    FakeClock,
    Tags,
    credentials,
    lease_bytes,
    turn,
)

pytestmark = pytest.mark.usefixtures("credentials")  # the in-memory registry's Basic login
__all__ = ["credentials"]


def test_a_lease_manifest_is_read_back() -> None:
    """Guards the round trip of the holder, expiry and state the runners compare."""
    assert _parse(lease_bytes(), "r") == Lease("0123456789abcdef", 1_700_000_000, "held")


@pytest.mark.parametrize(
    "data",
    [
        None,
        b"not json",
        b"[]",
        lease_bytes(artifactType="application/vnd.mlenv.bundle.v1+json"),
        lease_bytes(annotations={HOLDER: "abc", STATE: "held"}),
        lease_bytes(annotations={HOLDER: "abc", EXPIRES: "soon", STATE: "held"}),
        lease_bytes(annotations="held"),
        lease_bytes(annotations={HOLDER: "\x1b[2J evil", EXPIRES: "1", STATE: "held"}),
        lease_bytes(annotations={HOLDER: "0123456789abcdef", EXPIRES: "1", STATE: "stolen"}),
    ],
)
def test_anything_else_under_the_tag_is_no_lease(data: bytes | None) -> None:
    """Guards the waiters against a tag they cannot read: no lease means nobody to wait for,
    so a garbage tag can delay no runner, and registry text (escape sequences) never reaches
    the terminal as a holder name."""
    assert _parse(data, "r") is None


def test_one_lease_per_lock() -> None:
    assert lease_tag(b"a") == lease_tag(b"a") != lease_tag(b"b")
    assert lease_tag(b"a").startswith("lease-") and len(lease_tag(b"a")) == 38


# ---------------------------------------------------------------------------------------------
# The turn-taking itself, against the in-memory registry of test_registry and a fake clock


def test_a_cold_runner_that_publishes_takes_the_lease_and_releases_it() -> None:
    """Guards the claim: no lease, the runner writes one, reads itself back after the settle
    time, holds it while fetching, and releases it afterwards."""
    fake, clock, reporter = Tags(), FakeClock(), MemoryReporter()
    assert turn(fake, clock, claim=True, reporter=reporter) is True
    lease = fake.lease()
    assert lease is not None and lease.state == "released"
    assert clock.time - 1_000_000.0 == pytest.approx(SETTLE)


def test_the_others_wait_for_the_holder_and_take_its_blobs() -> None:
    """Guards the wait: a live lease held by another runner is waited on, without a claim of
    its own, until the blobs are in the registry; then the fetch starts (from the registry)."""
    fake = Tags()
    fake.put_lease(Lease(OTHER, 1_000_000 + TTL, "held"))

    def publish(sleeps: int) -> None:
        if sleeps == 4:
            fake.blobs.update(dict.fromkeys(BLOBS, b""))

    clock, reporter = FakeClock(publish), MemoryReporter()
    assert turn(fake, clock, claim=True, reporter=reporter) is False
    assert clock.sleeps == 4
    assert fake.lease() == Lease(OTHER, 1_000_000 + TTL, "held")  # never overwritten
    assert any(f"runner {OTHER} is fetching 2 artifact(s)" in text for _, text in reporter.events)


def test_a_claim_lost_to_a_later_writer_waits() -> None:
    """Guards the tie-break: two runners claim at once, the last writer holds the lease, the
    other waits for it instead of downloading beside it."""
    fake = Tags()

    def rival(sleeps: int) -> None:
        if sleeps == 1:  # during this runner's settle time another claim lands
            fake.put_lease(Lease(RIVAL, 1_000_000 + TTL, "held"))
        if sleeps == 3:
            fake.blobs.update(dict.fromkeys(BLOBS, b""))

    clock = FakeClock(rival)
    assert turn(fake, clock, claim=True, reporter=MemoryReporter()) is False
    assert fake.lease() == Lease(RIVAL, 1_000_000 + TTL, "held")


@pytest.mark.parametrize(
    "lease", [Lease(OTHER, 1_000_000 - 1, "held"), Lease(RIVAL, 1_000_000 + TTL, "released")]
)
def test_an_expired_or_released_lease_is_taken_over(lease: Lease) -> None:
    """Guards liveness: a holder that died (lease expired) or failed (released without the
    blobs) delays nobody; a runner that publishes takes over."""
    fake = Tags()
    fake.put_lease(lease)
    assert turn(fake, FakeClock(), claim=True, reporter=MemoryReporter()) is True


def test_a_runner_that_does_not_publish_never_claims() -> None:
    """Guards the promise behind a lease: only a runner that will publish (--push-cache) may
    hold it; others fetch from the indexes when no one is fetching."""
    fake = Tags()
    clock = FakeClock()
    assert turn(fake, clock, claim=False, reporter=MemoryReporter()) is False
    assert fake.lease() is None and clock.sleeps == 0


def test_nothing_missing_means_no_lease_and_no_wait() -> None:
    fake = Tags()
    fake.blobs.update(dict.fromkeys(BLOBS, b""))
    clock = FakeClock()
    assert turn(fake, clock, claim=True, reporter=MemoryReporter()) is False
    assert fake.lease() is None and clock.sleeps == 0


def test_a_registry_refusing_the_lease_is_a_warning() -> None:
    """Guards availability: a cache that will not take the lease (no push right) leaves the
    fetch uncoordinated, with a warning, never failed."""
    fake = Tags()
    fake.deny_push = True
    reporter = MemoryReporter()
    assert turn(fake, FakeClock(), claim=True, reporter=reporter) is False
    assert any(
        kind == "warning" and "cannot coordinate through the shared cache" in text
        for kind, text in reporter.events
    )


# ---------------------------------------------------------------------------------------------
# Runners racing on one registry (the CI run that downloaded each wheel three times)


class Stumbling(Tags):
    """Debian's docker-registry while several runners commit the same blob: some requests
    fail with 500 for a moment. ``fail`` names (method, path part) pairs and how often."""

    def __init__(self, fail: dict[tuple[str, str], int]) -> None:
        super().__init__()
        self.fail = dict(fail)

    def handle(self, request: httpx.Request) -> httpx.Response:
        for (method, part), left in self.fail.items():
            if left and request.method == method and part in request.url.path:
                self.fail[(method, part)] = left - 1
                return httpx.Response(500, json={"errors": [{"code": "UNKNOWN"}]})
        return super().handle(request)


@pytest.fixture
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patience, "DELAYS", (0.0,) * len(patience.DELAYS))


@pytest.mark.usefixtures("instant_retries")
@pytest.mark.parametrize(
    "fail",
    [
        {("HEAD", "/blobs/"): 3},  # the check for a blob (client retries)
        {("HEAD", "/manifests/"): 2, ("GET", "/manifests/"): 1},  # reading the lease
        {("PUT", "/manifests/"): STUMBLES},  # the claim: never repeated by the client
        {("POST", "/blobs/uploads/"): 1},  # the lease's empty blob (never retried as such)
        {("POST", "/blobs/uploads/"): STUMBLES},
    ],
)
def test_a_registry_failing_for_a_moment_still_coordinates(
    fail: dict[tuple[str, str], int],
) -> None:
    """Guards the turn against a busy registry: before, one 500 anywhere in the turn made the
    runner fetch uncoordinated, beside the holder (three downloads of each wheel in CI)."""
    fake, reporter = Stumbling(fail), MemoryReporter()
    assert turn(fake, FakeClock(), claim=True, reporter=reporter) is True
    assert not [text for kind, text in reporter.events if kind == "warning"]
    assert not any(fake.fail.values())  # every planned failure was met


@pytest.mark.usefixtures("instant_retries")
def test_a_registry_failing_for_longer_is_a_warning_not_a_wait() -> None:
    fake, reporter = Stumbling({("POST", "/blobs/uploads/"): STUMBLES + 1}), MemoryReporter()
    assert turn(fake, FakeClock(), claim=True, reporter=reporter) is False
    assert any("cannot coordinate" in text for kind, text in reporter.events if kind == "warning")


def test_a_claim_is_sent_once_and_a_release_patiently() -> None:
    """Guards the settle time: a claim the client repeated after seconds could land after a
    rival's settle and both would hold the lease; so a failed claim is a new round (which
    reads the lease again), while the release, which waiters need, is repeated as any write."""
    fake = Stumbling({("PUT", "/manifests/"): 1})
    clock, pauses = FakeClock(), list[float]()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("time.sleep", pauses.append)
        assert turn(fake, clock, claim=True, reporter=MemoryReporter()) is True
        claims = [r for r in fake.requests if r.method == "PUT" and "/manifests/" in r.url.path]
        assert len(claims) == 2 and pauses == []  # failed once, then a new round's claim
        with coordinated(
            REGISTRY, TAG, BLOBS, claim=True, insecure=False, reporter=MemoryReporter(),
            clock=Clock(clock.now, clock.sleep), transport=fake.transport(),
        ) as held:  # fmt: skip
            assert held
            fake.fail[("PUT", "/manifests/")] = 1  # the release meets a busy registry
        assert pauses == [patience.DELAYS[0]]  # the release's 500 was waited out and repeated
    lease = fake.lease()
    assert lease is not None and lease.state == "released"


def test_a_lease_released_after_the_blobs_were_looked_for_is_not_taken() -> None:
    """Guards the order of a round: the holder publishes, then releases. A runner that looked
    for the blobs first and read the released lease after took the lease and fetched again;
    reading the lease first, the blobs are seen."""
    fake = Tags()
    fake.put_lease(Lease(OTHER, 1_000_000 + TTL, "held"))
    looked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        response = Tags.handle(fake, request)
        if request.method == "HEAD" and response.status_code == 404 and not looked:
            looked.append(request.url.path)  # the holder finishes right after this miss
            fake.blobs.update(dict.fromkeys(BLOBS, b""))
            fake.put_lease(Lease(OTHER, 0, "released"))
        return response

    fake.handle = handle  # type: ignore[method-assign]
    assert turn(fake, FakeClock(), claim=True, reporter=MemoryReporter()) is False
    assert fake.lease() == Lease(OTHER, 0, "released")  # never claimed
