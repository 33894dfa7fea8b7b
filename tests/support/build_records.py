"""Whole build.json records, as `mlenv build` writes them, for tests of what reads them (the
output gate, verify, push): the reader refuses anything less, so a test that wants the gate
to judge a record's *names* starts from one of these and changes only what it attacks."""

from __future__ import annotations

from typing import Any

from mlenv.sbom import FILENAME

LOCK_SHA = "0" * 64


def image(
    manifest: str = "a" * 64, config: str = "c" * 64, tar: str | None = "image.tar"
) -> dict[str, Any]:
    """An image output: the layout ``oci`` whose manifest and config are the blobs named by
    these hexes (one layer, its blob the manifest's hex), and its image.tar unless None."""
    oci: dict[str, Any] = {
        "layout": "oci",
        "ref": "env:latest",
        "manifest-digest": f"sha256:{manifest}",
        "config-digest": f"sha256:{config}",
        "layers": [{"digest": f"sha256:{manifest}", "diff-id": f"sha256:{manifest}"}],
    }
    if tar is not None:
        oci["image-tar"] = {"file": tar, "sha256": "1" * 64, "size": 5, "repo-tag": "env:latest"}
    return oci


def archive(file: str = "env.tar.gz") -> dict[str, Any]:
    return {"file": file, "sha256": "2" * 64, "size": 5, "uncompressed-sha256": "3" * 64}


def single(
    oci: dict[str, Any] | None = None,
    conda_pack: dict[str, Any] | None = None,
    sbom: str | None = FILENAME,
    platform: str = "linux-64",
) -> dict[str, Any]:
    """One platform's build.json with the given outputs (none: a build of no output)."""
    outputs = {"oci": oci, "conda-pack": conda_pack}
    record: dict[str, Any] = {
        "mlenv": "0",
        "lock-sha256": LOCK_SHA,
        "platform": platform,
        "source-date-epoch": 315532800,
        "compression": "gzip",
        "compressors": {"gzip": "zlib 1.3"},
        "outputs": {key: value for key, value in outputs.items() if value is not None},
    }
    if sbom is not None:
        record["sbom"] = {"file": sbom, "format": "CycloneDX 1.6", "sha256": "4" * 64}
    return record


def multi(
    platforms: list[str], index: str | None = "d" * 64, manifest: str = "a" * 64
) -> dict[str, Any]:
    """A multi-platform build.json over ``platforms`` (each ``<name>/build.json``), with the
    joined layout whose image index is the blob ``index`` (None: no image)."""
    oci = {
        "layout": "oci",
        "ref": "env:latest",
        "index-digest": f"sha256:{index}",
        "manifests": dict.fromkeys(platforms, f"sha256:{manifest}"),
    }
    return {
        "mlenv": "0",
        "kind": "multi-platform",
        "lock-sha256": LOCK_SHA,
        "platforms": {
            name: {"build": f"{name}/build.json", "sha256": "5" * 64} for name in platforms
        },
        "source-date-epoch": 315532800,
        "outputs": {} if index is None else {"oci": oci},
    }
