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
from typing import Any

from mlenv import __version__
from mlenv.atomic import work_dir
from mlenv.build import BUILD_OUTPUT, BUILD_RECORD, MULTI_KIND, BuildOptions, build, build_keep
from mlenv.cache import ArtifactCache
from mlenv.lock import Lock
from mlenv.manifest import Manifest
from mlenv.oci import canonical_json, write_index_layout
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
) -> dict[str, Any]:
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
        record: dict[str, Any] = {
            "mlenv": __version__,
            "kind": MULTI_KIND,
            "lock-sha256": lock_sha256,
            "platforms": {
                platform: {
                    "build": f"{platform}/{BUILD_RECORD}",
                    "sha256": records_sha256[platform],
                }
                for platform in platforms
            },
            "source-date-epoch": options.epoch,
            "outputs": {},
        }
        if all("oci" in r["outputs"] for r in records.values()):
            index = write_index_layout(
                out / "oci", [out / p / "oci" for p in platforms], options.tag
            )
            record["outputs"]["oci"] = {
                "layout": "oci",
                "ref": options.tag,
                "index-digest": index.digest,
                "manifests": {
                    p: records[p]["outputs"]["oci"]["manifest-digest"] for p in platforms
                },
            }
        (out / BUILD_RECORD).write_bytes(canonical_json(record) + b"\n")
        replace_output(out, dist, BUILD_OUTPUT, keep=keep)
    return record


def is_multi(record: dict[str, Any]) -> bool:
    """Whether a build.json is the record of a multi-platform build."""
    return record.get("kind") == MULTI_KIND


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
