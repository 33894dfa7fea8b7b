"""OCI images made in code with the project's own layer and layout writers."""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlenv.oci.model import DEFAULT_PATH, rfc3339
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
