"""OCI layouts whose layers are tars written member by member, for names and kinds mlenv's own
layer writer never writes (``/../opt``, whiteouts of ``.`` and ``..``)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import tarfile
from collections.abc import Sequence
from pathlib import Path

PLATFORM = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}[platform.machine()]
_ARCHITECTURE = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]

# (name as written in the tar, "dir" | "file" | "symlink" | "hardlink", link target or "")
RawMember = tuple[str, str, str]
_TYPES = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE}  # fmt: skip


def raw_layer(members: Sequence[RawMember]) -> bytes:
    """An uncompressed layer tar holding ``members`` under exactly the names given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = _TYPES[kind], target
            info.mode = 0o755 if kind == "dir" else 0o644
            archive.addfile(info)
    return buffer.getvalue()


def raw_layout(dest: Path, layers: Sequence[Sequence[RawMember]]) -> None:
    """An OCI layout for this machine's architecture, one gzip layer per item, tagged latest."""
    tar_layout(dest, [raw_layer(members) for members in layers])


def tar_layout(dest: Path, tars: Sequence[bytes]) -> None:
    """An OCI layout for this machine's architecture of these layer tars (gzipped), tagged
    latest."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    diff_ids, descriptors = [], []
    for tar in tars:
        diff_ids.append(f"sha256:{hashlib.sha256(tar).hexdigest()}")
        layer = put(gzip.compress(tar, mtime=0))
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer})
    config = {
        "architecture": _ARCHITECTURE,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **put(json.dumps(config).encode()),
        },
        "layers": descriptors,
    }
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **put(json.dumps(manifest).encode()),
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
