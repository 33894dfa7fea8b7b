"""Cold CI runners take turns through the shared cache: one fetches from the indexes and
publishes, the others wait for its blobs instead of downloading the same wheels again.

The OCI distribution API has no conditional write, so no registry-side lock can be exclusive.
This is a lease that only saves downloads, never decides correctness: a runner that finds
blobs missing reads the tag ``lease-<lock hash>`` in the cache repository; when no live lease
is there, a runner that will publish (``fetch --push-cache``) writes one naming itself, waits
``SETTLE`` seconds for concurrent claims to land, and reads the tag back: the last writer holds
it. The others poll the registry for the missing blobs and take them from there once
published; they fetch from the indexes themselves when the holder releases the lease without
publishing them (it failed) or the lease expires (it died: ``TTL`` by the holder's clock). A
runner held up longer than ``SETTLE`` between its read and its write can still fetch beside
the holder; the bytes are verified either way.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

import httpx

from mlenv.digests import is_lower_hex
from mlenv.limits import LimitError, parse_json
from mlenv.oci.bundle import EMPTY, EMPTY_MEDIA_TYPE, image_ref
from mlenv.oci.model import MANIFEST_MEDIA_TYPE, Descriptor, canonical_json
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import push_manifest, reader
from mlenv.report import QuietReporter, Reporter

LEASE_TYPE = "application/vnd.mlenv.lease.v1+json"
HOLDER = "dev.mlenv.lease.holder"
EXPIRES = "dev.mlenv.lease.expires"
STATE = "dev.mlenv.lease.state"
TTL = 900  # seconds a holder has to fetch and publish before the others stop waiting
SETTLE = 1.0  # seconds for concurrent claims to land before the tag is read back
POLL = 0.5
STUMBLES = 2  # rounds the registry may fail before the fetch goes on uncoordinated


@dataclass(frozen=True)
class Clock:
    """Time as the lease sees it; tests pass a fake one."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Lease:
    holder: str
    expires: int  # seconds since the epoch, by the holder's clock
    state: str  # held | released


def lease_tag(lock_bytes: bytes) -> str:
    """One lease per lock, beside its ``lock-…`` cache tag."""
    return "lease-" + hashlib.sha256(lock_bytes).hexdigest()[:32]


@contextmanager
def coordinated(
    registry: str,
    tag: str,
    digests: Sequence[str],
    *,
    claim: bool,
    insecure: bool,
    reporter: Reporter,
    clock: Clock = Clock(),
    transport: httpx.BaseTransport | None = None,
) -> Iterator[bool]:
    """Around a fetch through the shared cache ``registry``: returns once the fetch should
    start (yielding whether this runner holds the lease), releases a held lease afterwards.
    A registry that refuses the lease, or serves a lease nested past the JSON parser's guard,
    is a warning: the fetch goes on uncoordinated.
    ``transport`` replaces the network (tests give an in-memory registry)."""
    turn = _Turn(registry, tag, secrets.token_hex(8), insecure, transport)
    held = False
    try:
        held = turn.take(digests, claim, reporter, clock)
    except (RegistryError, LimitError) as error:
        reporter.warning(f"cannot coordinate through the shared cache, fetching anyway: {error}")
        # a claim stored though its answer was lost: released after the fetch, or the
        # others wait out its TTL
        with suppress(RegistryError, LimitError):
            held = claim and turn.named()
    try:
        yield held
    finally:
        if held:
            try:
                turn.write(Lease(turn.holder, 0, "released"))
            except RegistryError as error:
                reporter.warning(f"cannot release the shared cache's lease {tag}: {error}")


@dataclass(frozen=True)
class _Turn:
    registry: str
    tag: str
    holder: str
    insecure: bool
    transport: httpx.BaseTransport | None

    def take(self, digests: Sequence[str], claim: bool, reporter: Reporter, clock: Clock) -> bool:
        """True when this runner holds the lease; False when the fetch may start without it
        (nothing missing, the blobs arrived, no one publishes, or waiting is over).

        Each round reads the lease before the blobs: a holder publishes before it releases,
        so a released lease read first means its blobs are seen. A round the registry fails
        (runners racing on it) is begun again, ``STUMBLES`` times in all."""
        ref = f"{image_ref(self.registry)}:{self.tag}"
        with reader(ref, insecure=self.insecure, transport=self.transport) as session:
            absent = list(digests)
            waited_for: str | None = None
            deadline = clock.now() + TTL
            stumbles = 0
            while clock.now() < deadline:
                try:
                    lease = _parse(session.find_manifest(self.tag), ref)
                    absent = [digest for digest in absent if not session.has(digest)]
                    if not absent:
                        return False
                    # a claim of ours the registry stored but answered with an error
                    mine = _live(lease, clock.now()) and lease.holder == self.holder
                    if mine or not _live(lease, clock.now()):
                        if not claim:
                            return False  # no one is fetching them: the indexes it is
                        if not mine:
                            # now or never: a claim repeated seconds later could land after a
                            # rival's settle, and both would hold; a failed one: a new round
                            self.write(Lease(self.holder, int(clock.now()) + TTL, "held"), ())
                        clock.sleep(SETTLE)  # for rivals' claims to land, ours stored or not
                        lease = _parse(session.find_manifest(self.tag), ref)
                        if lease is not None and lease.holder == self.holder:
                            return True
                except RegistryError:
                    stumbles += 1
                    if stumbles > STUMBLES:
                        raise
                    clock.sleep(POLL)
                    continue
                if lease is not None and lease.holder != waited_for:
                    waited_for = lease.holder
                    reporter.info(
                        f"runner {lease.holder} is fetching {len(absent)} artifact(s) for the "
                        "shared cache; waiting for it to publish them"
                    )
                clock.sleep(POLL)
            return False

    def named(self) -> bool:
        """Whether a held lease under the tag names this runner."""
        ref = f"{image_ref(self.registry)}:{self.tag}"
        with reader(ref, insecure=self.insecure, transport=self.transport) as session:
            lease = _parse(session.find_manifest(self.tag), ref)
        return lease is not None and lease.holder == self.holder and lease.state == "held"

    def write(self, lease: Lease, delays: Sequence[float] | None = None) -> None:
        """Put ``lease`` under the tag; ``delays`` as in ``registry.push_manifest``."""
        empty = Descriptor(
            EMPTY_MEDIA_TYPE, "sha256:" + hashlib.sha256(EMPTY).hexdigest(), len(EMPTY)
        )
        document = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": LEASE_TYPE,
            "config": empty.to_json(),
            "layers": [empty.to_json()],
            "annotations": {HOLDER: lease.holder, EXPIRES: str(lease.expires), STATE: lease.state},
        }
        with tempfile.TemporaryDirectory(prefix="mlenv-lease-") as scratch:
            path = Path(scratch) / "empty.json"
            path.write_bytes(EMPTY)
            push_manifest(
                f"{image_ref(self.registry)}:{self.tag}",
                canonical_json(document),
                {empty: path},
                insecure=self.insecure,
                reporter=QuietReporter(),  # bookkeeping: no progress or summary in the log
                transport=self.transport,
                delays=delays,
            )


def _live(lease: Lease | None, now: float) -> TypeGuard[Lease]:
    """A runner holds it and has not outlived its time."""
    return lease is not None and lease.state == "held" and lease.expires > now


def _parse(data: bytes | None, where: str) -> Lease | None:
    """A lease manifest's annotations; anything else under the tag counts as no lease, but
    JSON nested past the parser's guard is a ``LimitError`` (invariant 7)."""
    if data is None:
        return None
    try:
        document = parse_json(data, where=where)
        notes = document["annotations"] if document.get("artifactType") == LEASE_TYPE else {}
        lease = Lease(str(notes[HOLDER]), int(notes[EXPIRES]), str(notes[STATE]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    # The holder is printed: only the hex names runners write, never text from the registry.
    valid = is_lower_hex(lease.holder, 16) and lease.state in ("held", "released")
    return lease if valid else None
