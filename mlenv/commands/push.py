"""The push use case: the built image to a registry, mounting blobs the registry already holds
in another repository (``--mount-from`` and a registry base image's own repository)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlenv.commands.session import Session
from mlenv.errors import UsageError
from mlenv.oci.base import registry_base
from mlenv.oci.reference import mount_sources
from mlenv.oci.registry import PushResult
from mlenv.oci.registry import push as push_layout
from mlenv.userfiles import input_kind


def push(
    session: Session, ref: str, *, insecure: bool, dist: Path | None, mount_from: Sequence[str]
) -> PushResult:
    """Push ``dist/oci`` (the build output beside the manifest by default) to ``ref``."""
    output = dist or session.manifest_path.parent / "dist"
    layout = output / "oci"
    try:
        built = "a directory written by `mlenv build`"
        input_kind(output, "build output", expected=built, files=False)
        input_kind(layout, "built image", expected="an OCI layout directory", files=False)
        input_kind(layout / "index.json", "image index", expected="a plain file", directories=False)
    except FileNotFoundError:
        raise UsageError(
            "no built image to push", where=str(layout), hint="run `mlenv build` first"
        ) from None
    sources = list(mount_from)
    if session.manifest_path.is_file():
        base = registry_base(session.load_manifest().build.base_image)
        sources += [f"{base.registry}/{base.repository}"] if base is not None else []
    return push_layout(
        layout,
        ref,
        insecure=insecure,
        reporter=session.reporter,
        mount_from=mount_sources(ref, sources),
    )
