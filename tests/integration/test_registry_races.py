"""Runners pushing the same blobs at once to Debian's docker-registry (`mlenv.oci.patience`).

Its filesystem driver rewrites a blob's link files in place while committing it, so a HEAD
for the blob answers 500 and a manifest PUT naming it answers "digest invalid / blob unknown"
for that moment. A fleet of CI runners publishing one lock to a shared cache meets this: 2 of
160 such pushes failed before the registry client repeated those answers.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from mlenv.oci.model import MANIFEST_MEDIA_TYPE, Descriptor, canonical_json
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import push_manifest, reader
from mlenv.report import QuietReporter
from tests.support.daemons import Registry

RUNNERS, ROUNDS = 8, 20


def push(ref: str, manifest: bytes, blobs: dict[Descriptor, Path], failures: list[str]) -> None:
    try:
        push_manifest(ref, manifest, blobs, insecure=True, reporter=QuietReporter())
    except RegistryError as error:
        failures.append(error.render())


def test_runners_pushing_the_same_blob_at_once_all_succeed(reg: Registry, tmp_path: Path) -> None:
    """Guards `fetch --push-cache` on a fleet: every concurrent push of one manifest and its
    blob to a fresh repository succeeds, and the registry serves the manifest afterwards."""
    failures: list[str] = []
    for round_ in range(ROUNDS):
        blob = f"round {round_} of {tmp_path}".encode()
        path = tmp_path / f"blob-{round_}"
        path.write_bytes(blob)
        descriptor = Descriptor(
            "application/octet-stream", "sha256:" + hashlib.sha256(blob).hexdigest(), len(blob)
        )
        manifest = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": descriptor.to_json(),
                "layers": [descriptor.to_json()],
            }
        )
        ref = f"{reg.host}/races/r{round_}:t"

        blobs = {descriptor: path}
        threads = [
            threading.Thread(target=push, args=(ref, manifest, blobs, failures))
            for _ in range(RUNNERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with reader(ref, insecure=True) as session:
            assert session.manifest(tag="t") == manifest
    assert failures == []
