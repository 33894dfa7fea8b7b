"""OCI images made in code with the project's own layer and layout writers."""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from mlenv.oci.model import DEFAULT_PATH, canonical_json, rfc3339, sha256_of
from mlenv.oci.write import ImageResult, write_layout
from mlenv.tarball import Compression, Entry, write_layer

_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def write_image(
    dest: Path,
    layers: Sequence[tuple[str, Sequence[Entry]]],
    *,
    ref: str,
    cmd: Sequence[str],
    compression: Compression = "gzip",
    env: Sequence[str] = (),
) -> ImageResult:
    """An image for this machine's architecture from ``(history name, entries)`` per layer,
    its Env PATH and then ``env``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        blobs = []
        for number, (_, entries) in enumerate(layers):
            path = Path(scratch) / f"layer-{number}"
            with open(path, "wb") as out:
                blobs.append((write_layer(entries, out, compression=compression, mtime=0), path))
        config = {
            "architecture": _ARCHITECTURES[platform.machine()],
            "os": "linux",
            "created": rfc3339(0),
            "config": {"Cmd": list(cmd), "Env": [f"PATH={DEFAULT_PATH}", *env]},
            "rootfs": {"type": "layers", "diff_ids": [blob.diff_id for blob, _ in blobs]},
            "history": [{"created": rfc3339(0), "created_by": name} for name, _ in layers],
        }
        return write_layout(dest, blobs, config, None, ref)


def base_with(
    layout: Path,
    where: Path,
    change: Callable[[dict[str, object]], None],
    dump: Callable[[object], bytes] = canonical_json,
) -> Path:
    """A copy of ``layout`` whose config ``change`` edited (manifest and index.json follow),
    the config written by ``dump`` (a text ``canonical_json`` cannot write, for hostile ones)."""
    copy = where / "base"
    shutil.copytree(layout, copy)
    blobs = copy / "blobs" / "sha256"
    index = json.loads((copy / "index.json").read_text())
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_bytes())
    change(config)

    def put(data: bytes) -> tuple[str, int]:
        (blobs / sha256_of(data)[7:]).write_bytes(data)
        return sha256_of(data), len(data)

    manifest["config"]["digest"], manifest["config"]["size"] = put(dump(config))
    index["manifests"][0]["digest"], index["manifests"][0]["size"] = put(canonical_json(manifest))
    (copy / "index.json").write_text(json.dumps(index))
    return copy
