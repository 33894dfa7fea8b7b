"""Which locations a build output may name: the determinism rule "outputs carry no host paths".

A lock records each index, channel and file as the manifest gave it (a file:// mirror
included, as uv's lock does); the SBOM, the image and the archive are shipped, so they name only
places any reader can reach. Two runners whose mirrors sit at different paths then build the
same bytes from the same lock, and no output tells the path of a runner's mirror.
"""

from __future__ import annotations

_WEB = ("http://", "https://")


def published(url: str) -> str | None:
    """``url`` when it is an http(s) URL; None for a file:// URL or a directory path."""
    return url if url[:8].lower().startswith(_WEB) else None
