"""One build for every platform of the lock: a multi-platform OCI image beside each platform's
own complete build.

``dist/<platform>/`` is exactly what ``mlenv build --platform <platform>`` writes (its layout,
``image.tar`` that ``docker load`` takes, the conda-pack archive, the SBOM and its
``build.json``); ``dist/oci`` is one OCI layout whose image index lists each platform's
manifest, the blobs hard-linked from the platform builds; ``dist/build.json`` records the
index and the sha256 of each platform's record. There is no top-level ``image.tar``: a
docker-archive holds one image per name:tag, so each platform keeps its own.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from mlenv import __version__
from mlenv.atomic import work_dir
from mlenv.build_outputs import BuildOptions
from mlenv.build_record import BUILD_RECORD, IndexOutput, MultiPlatformRecord, PlatformEntry
from mlenv.cache.artifacts import ArtifactCache
from mlenv.commands.build import BUILD_OUTPUT, build, build_keep
from mlenv.lockfile import Lock
from mlenv.manifest import Manifest
from mlenv.oci.model import canonical_json
from mlenv.oci.write import write_index_layout
from mlenv.outputs import check_output, replace_output
from mlenv.report import Reporter


def build_platforms(
    manifest: Manifest,
    manifest_dir: Path,
    lock: Lock,
    lock_bytes: bytes,
    cache: ArtifactCache,
    dist: Path,
    options: BuildOptions,
    *,
    reporter: Reporter,
) -> MultiPlatformRecord:
    """Build every platform of ``lock`` into ``dist`` and join the images under one index;
    the whole ``dist`` is swapped in at the end, as a single-platform build is, through the
    same guard (invariant 4: only an earlier build output is replaced)."""
    platforms = lock.target.platforms
    keep = build_keep(manifest, manifest_dir, cache)
    dist = check_output(dist, BUILD_OUTPUT, keep=keep)
    with work_dir(dist) as work:
        out = work / "out"
        out.mkdir()
        records = {}
        for platform in platforms:
            one = dataclasses.replace(options, platform=platform)
            records[platform] = build(
                manifest, manifest_dir, lock, lock_bytes, cache, out / platform, one,
                reporter=reporter,
            )  # fmt: skip
        lock_sha256 = hashlib.sha256(lock_bytes).hexdigest()
        records_sha256 = {p: _sha256(out / p / BUILD_RECORD) for p in platforms}
        index = None
        if all(r.image is not None for r in records.values()):
            written = write_index_layout(
                out / "oci", [out / p / "oci" for p in platforms], options.tag
            )
            manifests = {}
            for p in platforms:
                image = records[p].image
                assert image is not None
                manifests[p] = image.manifest_digest
            index = IndexOutput("oci", options.tag, written.digest, manifests)
        record = MultiPlatformRecord(
            mlenv=__version__,
            lock_sha256=lock_sha256,
            platforms={
                p: PlatformEntry(f"{p}/{BUILD_RECORD}", records_sha256[p]) for p in platforms
            },
            source_date_epoch=options.epoch,
            index=index,
        )
        (out / BUILD_RECORD).write_bytes(canonical_json(record.to_dict()) + b"\n")
        replace_output(out, dist, BUILD_OUTPUT, keep=keep)
    return record


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
