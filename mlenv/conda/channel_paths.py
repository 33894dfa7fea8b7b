"""Where rattler reads a conda channel a manifest spells as a place, the one reading shared by
the trust check of ``init --from`` (``importers.places``), the lock (``locking``) and the
freshness check (``drift``): what was judged is what rattler opens, and what the lock records
is what is held fresh."""

from __future__ import annotations

import re
from pathlib import Path

# A platform list is a trailing ``[linux-64,noarch]``: platform names only, so the brackets of
# an IPv6 host (``https://[::1]:8000/chan``) are part of the place, not a list.
_PLATFORMS = re.compile(r"\[[\w\s,-]*\]$")


def split_platforms(channel: str) -> tuple[str, str]:
    """``channel`` and its trailing platform list (``""`` when it has none)."""
    found = _PLATFORMS.search(channel)
    return (channel, "") if found is None else (channel[: found.start()], found.group())


def channel_path(channel: str) -> str | None:
    """The place rattler reads for the channel ``channel`` (its ``Channel.from_str``), or None
    for a name (``conda-forge``, ``pytorch/label/nightly``, ``~``: anaconda.org's). A platform
    list is cut off (``/tmp[linux-64]`` is ``/tmp``), ``~/`` is the home directory, ``\\\\``
    begins a relative path, and a drive letter an absolute one (``C:/x`` is ``/C:/x`` here)."""
    channel = split_platforms(channel)[0]
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
    return str(base.absolute() / path) + split_platforms(channel)[1]
