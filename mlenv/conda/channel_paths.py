"""Where rattler reads a conda channel a manifest spells as a place, the one reading shared by
the trust check of ``init --from`` (``importers.places``) and the lock (``locking``): what was
judged is what rattler opens."""

from __future__ import annotations

import re
from pathlib import Path


def channel_path(channel: str) -> str | None:
    """The place rattler reads for the channel ``channel`` (its ``Channel.from_str``), or None
    for a name (``conda-forge``, ``pytorch/label/nightly``, ``~``: anaconda.org's). A platform
    list is cut off (``/tmp[linux-64]`` is ``/tmp``), ``~/`` is the home directory, ``\\\\``
    begins a relative path, and a drive letter an absolute one (``C:/x`` is ``/C:/x`` here)."""
    if "]" in channel and "[" in channel:
        channel = channel[: channel.index("[")]
    if "://" in channel:
        return channel
    if channel.startswith("~/"):
        return str(Path(channel).expanduser())
    if re.match(r"[A-Za-z]:[/\\]", channel):
        return "/" + channel.replace("\\", "/")
    if channel.startswith("\\\\"):  # a relative path to rattler: ``\\x\y`` is ``./x/y``
        return "." + channel.replace("\\", "/")
    return channel if channel.startswith(("./", "..", "/")) else None


def from_directory(channel: str, base: Path) -> str:
    """``channel`` as rattler is to read it: a relative directory (``./chan``, ``../chan``,
    ``\\\\chan``, which rattler reads from the working directory) from ``base``, the
    manifest's, its platform list kept."""
    path = channel_path(channel)
    if path is None or "://" in path or path.startswith("/"):
        return channel
    platforms = channel[channel.index("[") :] if "]" in channel and "[" in channel else ""
    return str(base.absolute() / path) + platforms
