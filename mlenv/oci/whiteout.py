"""The one OCI name that is not a file: a whiteout.

The image spec (image-spec/layer.md, "Whiteouts") makes a layer entry whose name starts with
``.wh.`` an order to delete the name after the prefix from the layers below (``.wh..wh..opq``:
everything beside it). A package path or a prefix holding one would make a runtime delete
files of other layers instead of creating it, so the image would not hold what the archive
holds. Case-sensitive, as runtimes compare it.
"""

from __future__ import annotations

PREFIX = ".wh."
WHY = (
    "an OCI whiteout name: a container runtime unpacking the image deletes files of other "
    "layers instead of creating it, so the image would not hold what the archive holds"
)


def whiteout_name(path: str) -> str | None:
    """The first name of the ``/``-separated ``path`` that a runtime takes as a whiteout."""
    return next((name for name in path.split("/") if name.startswith(PREFIX)), None)
