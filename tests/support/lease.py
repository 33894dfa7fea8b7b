"""The shared cache's lease against an in-memory registry and a fake clock: what the lease
tests of every suite drive ``coordinated`` with."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlenv.oci.lease import EXPIRES, HOLDER, LEASE_TYPE, STATE, Clock, Lease, _parse, coordinated
from mlenv.report import MemoryReporter
from tests.support.fake_registry import FakeRegistry


def lease_bytes(**changes: object) -> bytes:
    document: dict[str, object] = {
        "artifactType": LEASE_TYPE,
        "annotations": {HOLDER: "0123456789abcdef", EXPIRES: "1700000000", STATE: "held"},
    }
    document.update(changes)
    return json.dumps(document).encode()


REGISTRY = "oci://registry.test/fleet/cache"
TAG = "lease-" + "0" * 32
BLOBS = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
OTHER, RIVAL = "a" * 16, "b" * 16


class Tags(FakeRegistry):
    """The lease under its tag, read and written as the runners do."""

    def lease(self) -> Lease | None:
        return _parse(self.manifests.get(TAG), TAG)

    def put_lease(self, lease: Lease) -> None:
        self.manifests[TAG] = lease_bytes(
            annotations={HOLDER: lease.holder, EXPIRES: str(lease.expires), STATE: lease.state}
        )


class FakeClock:
    """Time that moves only when the lease sleeps; ``on_sleep`` plays the other runners."""

    def __init__(self, on_sleep: Callable[[int], None] = lambda n: None) -> None:
        self.time = 1_000_000.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds
        self.sleeps += 1
        self.on_sleep(self.sleeps)


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"auths": {"registry.test": {"auth": base64.b64encode(b"ci:pw").decode()}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))


def turn(fake: Tags, clock: FakeClock, *, claim: bool, reporter: MemoryReporter) -> bool:
    with coordinated(
        REGISTRY, TAG, BLOBS, claim=claim, insecure=False, reporter=reporter,
        clock=Clock(clock.now, clock.sleep), transport=fake.transport(),
    ) as held:  # fmt: skip
        if held:
            lease = fake.lease()
            assert lease is not None and lease.state == "held"  # held while the fetch runs
        return held
