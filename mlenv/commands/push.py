"""The push use case: the built image to a registry, mounting blobs the registry already holds
in another repository (``--mount-from`` and a registry base image's own repository)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlenv.build_record import BUILD_RECORD, layout_image, parse_record
from mlenv.commands.session import Session
from mlenv.errors import MlenvError, UsageError
from mlenv.oci.base import registry_base
from mlenv.oci.reference import mount_sources
from mlenv.oci.registry import push as push_layout
from mlenv.oci.registry_session import PushResult
from mlenv.outputs import read_record as read_plain_record
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
        expect=recorded_digest(output),
    )


def recorded_digest(output: Path) -> str | None:
    """The digest ``output``'s build.json records for its layout (the image manifest, or a
    multi-platform build's image index), which the layout pushed must name: `verify` holds
    image.tar to build.json, and this holds ``oci/`` to the same record, so a layout swapped
    for another image is never pushed as the build. None when there is no build.json (a
    layout not written by `mlenv build`, and so never passed by `verify` either); a record
    that is unreadable, or records no image, is refused."""
    where = str(output / BUILD_RECORD)
    try:
        record = parse_record(read_plain_record(output, BUILD_RECORD), where)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, MlenvError) as exc:
        detail = exc.message if isinstance(exc, MlenvError) else str(exc)
        raise UsageError(
            f"the build.json beside the image cannot be read ({detail})",
            where=where,
            hint="push the dist/ written by `mlenv build` as it was written",
        ) from None
    if (named := layout_image(record)) is not None:
        return named[1]
    raise UsageError(
        "the build.json beside the image records no image",
        where=where,
        hint="push the dist/ written by `mlenv build` as it was written",
    )
