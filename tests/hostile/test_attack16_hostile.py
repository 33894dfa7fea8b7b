"""Sixteenth adversary pass: the bounded "fresh" verdicts, a blob upload begun again whole,
and a lease claim sent once.

Each test names the attack and what is expected, and fails if its enforcement is removed.
"""

from __future__ import annotations

import httpx
import pytest

from mlenv.oci.lease import SETTLE, TTL
from mlenv.report import MemoryReporter
from tests.unit.test_registry_lease import TAG, FakeClock, Tags, credentials, turn

pytestmark = [pytest.mark.hostile, pytest.mark.usefixtures("credentials")]
__all__ = ["credentials"]


# -- the lease: a claim that landed though its answer was lost --------------------------------


class LostAnswer(Tags):
    """A proxy that stores the first claim but answers 502 (its backend was slow to reply)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        if self.lost and request.method == "PUT" and request.url.path.endswith(TAG):
            self.lost -= 1
            return httpx.Response(502)
        return response


def test_a_claim_that_landed_unanswered_is_not_waited_on_by_its_own_runner() -> None:
    """Attack: the claim is sent once now; a 502 after the registry stored it makes a new
    round, which reads a live lease naming this very runner. Expected: the runner claims
    again (or holds), never waits the whole TTL for itself while the others wait for it."""
    fake, clock, reporter = LostAnswer(), FakeClock(), MemoryReporter()
    assert turn(fake, clock, claim=True, reporter=reporter) is True
    assert clock.time - 1_000_000.0 < 10 * SETTLE < TTL
    lease = fake.lease()
    assert lease is not None and lease.state == "released"
    assert not [text for _, text in reporter.events if "waiting for it" in text]
