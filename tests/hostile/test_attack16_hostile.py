"""Sixteenth adversary pass: the bounded "fresh" verdicts, a blob upload begun again whole,
and a lease claim sent once.

Each test names the attack and what is expected, and fails if its enforcement is removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mlenv import watch
from mlenv.cache import FRESH, fresh
from mlenv.oci import patience, registry_session
from mlenv.oci.credentials import Credentials
from mlenv.oci.lease import SETTLE, STUMBLES, TTL
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import push
from mlenv.oci.write import ImageResult
from mlenv.report import MemoryReporter
from tests.support.fake_registry import FakeRegistry, Seen
from tests.support.lease import TAG, FakeClock, Tags, credentials, turn

pytestmark = [pytest.mark.hostile, pytest.mark.usefixtures("credentials")]
__all__ = ["credentials"]

ROOT = Path(__file__).resolve().parents[2]


# -- the lease: a claim that landed though its answer was lost --------------------------------


class LostAnswer(Tags):
    """A proxy that stores the first ``lost`` claims but answers 502 (its backend was slow)."""

    def __init__(self, lost: int = 1) -> None:
        super().__init__()
        self.lost = lost

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


def test_a_runner_whose_every_claim_landed_unanswered_releases_its_lease() -> None:
    """Attack: each claim is stored but answered 502 until the runner stops coordinating
    (``STUMBLES``) and fetches anyway: its live lease stayed, so every other runner waited
    the whole TTL for a holder that never releases. Expected: the lease that names it ends
    released once its fetch is done, whether the runner held it (a round that reads its own
    stored claim holds it after the settle time) or gave up coordinating (``_Turn.named``)."""
    fake, reporter = LostAnswer(lost=STUMBLES + 1), MemoryReporter()
    held = turn(fake, FakeClock(), claim=True, reporter=reporter)
    warned = any("cannot coordinate" in text for kind, text in reporter.events if kind == "warning")
    assert held or warned
    lease = fake.lease()
    assert lease is not None and lease.state == "released"


class LostThenBlind(LostAnswer):
    """The claim is stored but answered 502; then the tag cannot be read ``blind`` times."""

    def __init__(self, blind: int) -> None:
        super().__init__(lost=1)
        self.blind = blind

    def handle(self, request: httpx.Request) -> httpx.Response:
        reading = request.method in ("HEAD", "GET") and request.url.path.endswith(TAG)
        if reading and self.lost == 0 and self.blind:
            self.blind -= 1
            return httpx.Response(500)
        return super().handle(request)


def test_a_runner_that_gives_up_releases_the_claim_it_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack: the claim lands but its answer is lost, then the tag cannot be read until the
    runner stops coordinating. Expected: it warns, fetches, and releases the lease that still
    names it (``_Turn.named``), so the others do not wait out the TTL."""
    monkeypatch.setattr(patience, "DELAYS", (0.0,) * len(patience.DELAYS))
    attempts = len(patience.DELAYS) + 1  # one read, as the client repeats it
    fake, reporter = LostThenBlind(blind=STUMBLES * attempts), MemoryReporter()
    assert turn(fake, FakeClock(), claim=True, reporter=reporter) is True  # held: released
    assert any("cannot coordinate" in text for kind, text in reporter.events if kind == "warning")
    assert fake.blind == 0
    lease = fake.lease()
    assert lease is not None and lease.state == "released"


# -- the fresh verdicts: `cache prune` and another mlenv sharing the cache ---------------------


def test_prune_keeps_the_live_verdicts_of_another_mlenv_sharing_the_cache(tmp_path: Path) -> None:
    """Attack: two installs of mlenv (a pipx one, a project's venv) share the user's cache;
    `cache prune` from one judged the other's verdicts void, as they list not its own copy of
    ``fresh.py``. Expected: only a verdict a changed file voids goes; the other install's,
    every file of which is as stamped, stays and still answers there."""
    other = tmp_path / "other" / "mlenv" / "cache" / "fresh.py"
    other.parent.mkdir(parents=True)
    shutil.copyfile(fresh.__file__, other)
    bucket = tmp_path / "cache" / FRESH
    bucket.mkdir(parents=True, mode=0o755)
    stamped = [
        "\t".join([str(path), *map(str, watch.stamp_of(path.stat()))])
        for path in (other, other.parent)
    ]
    key = "c" * 64
    (bucket / key).write_text("\n".join([key, "stdlib\tos", *stamped]) + "\n")
    (bucket / key).chmod(0o600)
    time.sleep(0.05)  # the pruning process begins after those files last changed
    code = (
        "import sys, pathlib; from mlenv.cache import fresh;"
        "print(fresh.forget(pathlib.Path(sys.argv[1]), 256, dead=True))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "cache")],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert result.stdout.strip() == "0" and (bucket / key).exists()


def test_prune_of_a_crowded_bucket_reads_no_verdict_it_drops_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: a bucket grown for years before the bound (one verdict per edit, forever),
    then `cache prune`: each verdict was read and every file it lists stat'ed before the
    bound cut them (8 s for 20,000 verdicts, 40 s for 100,000). Expected: only the verdicts
    the bound keeps are read."""
    bucket = tmp_path / "cache" / FRESH
    bucket.mkdir(parents=True)
    for number in range(1000):
        (bucket / f"{number:064x}").write_text("x")
    reads: list[str] = []
    real = fresh.read_entry

    def counted(
        cache_root: Path, bucket: str, key: str, limit: int
    ) -> tuple[set[str], list[str], bytes] | None:
        reads.append(key)
        return real(cache_root, bucket, key, limit)

    monkeypatch.setattr(fresh, "read_entry", counted)
    assert fresh.forget(tmp_path / "cache", 10, dead=True) == 1000
    assert len(reads) <= 10


def test_prune_leaves_old_dotfiles_not_named_as_a_write_names_its_temporary_files(
    tmp_path: Path,
) -> None:
    """Attack: any day-old ``.KEY….tmp`` went as a killed write's leftover, though a write
    names its temporary file ``.KEY.PID.N.tmp`` only. Expected: names of no verdict shape
    stay, however like one they start; a real leftover goes."""
    bucket = tmp_path / "cache" / FRESH
    bucket.mkdir(parents=True)
    key = "d" * 64
    strangers = [f".{key}.tmp", f".{key}.notes.tmp", f".{key}.1.tmp", f".{key}.1.x.tmp"]
    for name in [*strangers, f".{key}.12.3.tmp"]:
        (bucket / name).write_text("mine")
        os.utime(bucket / name, (1_700_000_000, 1_700_000_000))
    assert fresh.forget(tmp_path / "cache", 256, dead=True) == 1
    assert sorted(path.name for path in bucket.iterdir()) == sorted(strangers)


# -- the blob upload begun again: a corrupt layout under a registry that drops a cancel -------


class DroppedCancel(FakeRegistry):
    """A registry whose connection drops when an upload session is cancelled (DELETE)."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            self.requests.append(Seen(request.method, request.url, None))
            raise httpx.ReadError("dropped", request=request)
        return super().handle(request)


def test_a_corrupt_blob_is_named_once_though_the_cancel_is_dropped(
    image: tuple[Path, ImageResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: a layout blob no longer matches its digest, and the courtesy DELETE of its
    upload session drops: the dropped DELETE made the upload begin again whole, sending the
    corrupt bytes four more times, and the push failed as "cannot talk to the registry".
    Expected: one attempt, failing as the corrupt blob it is."""
    layout, built = image
    monkeypatch.setattr(registry_session, "CHUNK_SIZE", 4096)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    blob = layout / "blobs" / "sha256" / built.layer_digests[0][7:]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    fake = DroppedCancel()
    with pytest.raises(RegistryError, match="does not match its digest"):
        push(layout, "registry.test/team/env:1", auth=Credentials("ci", "pw"),
             reporter=MemoryReporter(), transport=fake.transport())  # fmt: skip
    assert [seen.method for seen in fake.requests].count("DELETE") == 1
