"""The lease cold runners take turns with (`registry_lease`): what counts as a live lease."""

from __future__ import annotations

import json

import pytest

from mlenv.registry_lease import EXPIRES, HOLDER, LEASE_TYPE, STATE, Lease, _parse, lease_tag


def lease_bytes(**changes: object) -> bytes:
    document: dict[str, object] = {
        "artifactType": LEASE_TYPE,
        "annotations": {HOLDER: "abc", EXPIRES: "1700000000", STATE: "held"},
    }
    document.update(changes)
    return json.dumps(document).encode()


def test_a_lease_manifest_is_read_back() -> None:
    """Guards the round trip of the holder, expiry and state the runners compare."""
    assert _parse(lease_bytes()) == Lease("abc", 1_700_000_000, "held")


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
    ],
)
def test_anything_else_under_the_tag_is_no_lease(data: bytes | None) -> None:
    """Guards the waiters against a tag they cannot read: no lease means nobody to wait for,
    so a garbage tag can delay no runner."""
    assert _parse(data) is None


def test_one_lease_per_lock() -> None:
    assert lease_tag(b"a") == lease_tag(b"a") != lease_tag(b"b")
    assert lease_tag(b"a").startswith("lease-") and len(lease_tag(b"a")) == 38
