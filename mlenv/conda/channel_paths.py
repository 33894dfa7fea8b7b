"""Where rattler reads a conda channel a manifest spells as a place, the one reading shared by
the trust check of ``init --from`` (``importers.places``), the lock (``locking``) and the
freshness check (``drift``): what was judged is what rattler opens, and what the lock records
is what is held fresh."""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlenv.conda.records import CondaError
from mlenv.hidden_text import controls_escaped
from mlenv.lazy_pattern import LazyPattern

# A platform list is a trailing ``[linux-64,noarch]``: platform names only, so the brackets of
# an IPv6 host (``https://[::1]:8000/chan``) are part of the place, not a list.
_PLATFORMS = LazyPattern(r"\[[\w\s,-]*\]$")

# Where rattler reads a conda channel given by name (``conda-forge``), as the lock records it.
CONDA_ALIAS = "https://conda.anaconda.org/"


def split_platforms(channel: str) -> tuple[str, str]:
    """``channel`` and its trailing platform list (``""`` when it has none)."""
    found = _PLATFORMS.search(channel)
    return (channel, "") if found is None else (channel[: found.start()], found.group())


def channel_path(channel: str) -> str | None:
    """The place rattler reads for the channel ``channel`` (its ``Channel.from_str``), or None
    for a name (``conda-forge``, ``pytorch/label/nightly``, ``~``: anaconda.org's). A platform
    list is cut off (``/tmp[linux-64]`` is ``/tmp``), ``~/`` is the home directory
    (``in_home``), ``\\\\`` begins a relative path, and a drive letter an absolute one
    (``C:/x`` is ``/C:/x`` here). A spelling rattler reads apart from its path (``misread``)
    is a ``CondaError``."""
    if (why := misread(channel)) is not None:
        raise CondaError(why, where="conda.channels", hint=ONE_SLASH)
    channel = split_platforms(channel)[0]
    if "://" in channel:
        return channel
    if channel.startswith("~/"):
        return in_home(channel)
    if re.match(r"[A-Za-z]:[/\\]", channel):
        return "/" + channel[0].upper() + channel[1:].replace("\\", "/")  # rattler's ``C:``
    if channel.startswith("\\\\"):  # a relative path to rattler: ``\\x\y`` is ``./x/y``
        return "." + channel.replace("\\", "/")
    return channel if channel.startswith(("./", "..", "/")) else None


ONE_SLASH = (
    "write the channel's directory with one leading slash (/srv/chan) and '/' between its "
    "names, or as file:///srv/chan"
)
# What rattler's ``is_path`` takes for a directory; ``\\`` and a drive letter it reads as
# Windows names (``\\x\y`` is ``./x/y``)
_WINDOWS = LazyPattern(r"\\\\|[A-Za-z]:[/\\]")


def misread(channel: str) -> str | None:
    """Why rattler reads ``channel`` as no reader of its path does, or None. ``//srv/chan`` is a
    path to ``Channel.from_str`` (``is_path``: a ``//`` prefix), which makes it the URL
    ``file://srv/chan/``, ``srv`` its host; its files are then opened as ``\\\\srv\\chan\\…``,
    a name relative to the working directory, while the trust check and the lock read
    ``/srv/chan``. ``///srv/chan`` is ``/srv/chan`` to both. Its control characters are shown
    escaped: a tab hid ``user:password@`` from ``echoed.without_secrets``."""
    path = split_platforms(channel)[0]
    if path.startswith("//") and not path.startswith("///") and "://" not in path:
        why: str | None = (
            f"the channel {channel} starts with '//', which rattler reads as a file: URL of the "
            f"host {path[2:].partition('/')[0]!r}, opened relative to the working directory"
        )
    else:
        why = _backslashed(channel, path)
    return None if why is None else controls_escaped(why)


def _backslashed(channel: str, path: str) -> str | None:
    """Why a directory channel's names are read apart, or None. rattler makes its path a
    file: URL, whose parser reads ``\\`` as ``/`` and drops ``..`` with the name before it,
    links or not: ``./x\\..\\..\\tmp\\chan`` is ``../tmp/chan`` to it, one name below
    ``.`` to a POSIX reader (the trust check, the roots). In the Windows spellings
    (``\\\\x``, ``C:/x``) a ``.`` or ``..`` name is dropped or makes a host
    (``\\\\a\\b\\..\\c`` is ``file://a/b/c``, ``C:/a/../../etc`` is ``/C:/etc``)."""
    if "://" in path:
        return None
    if _WINDOWS.match(path):
        if not {".", ".."} & set(re.split(r"[/\\]", path)):
            return None
        return (
            f"the channel {channel} names '.' or '..' in a Windows path, which rattler drops "
            "or reads as a host"
        )
    if "\\" not in path or not path.startswith(("./", "..", "/", "~/")):
        return None  # no backslash, or a name: conda_channel's to judge
    return (
        f"the channel {channel} holds a backslash, which rattler reads as '/' and mlenv's "
        "checks as part of a name"
    )


def in_home(channel: str) -> str:
    """The channel ``~/x`` as rattler expands it: ``$HOME`` unless it is empty,
    else this user's passwd entry (the ``dirs`` crate's rule; an empty ``HOME`` was ``/`` to
    Python's). A ``CondaError`` when neither names an absolute directory (rattler refuses the
    channel then): in a container run as an arbitrary uid with no ``HOME``, this says so at
    ``conda.channels`` rather than failing inside."""
    home = os.environ.get("HOME") or _passwd_home()
    if home.startswith("/"):
        return home.rstrip("/") + channel[1:]
    why = f"HOME is {home!r}, not an absolute path" if home else _no_home()
    raise CondaError(
        controls_escaped(f"the channel {channel} is in your home directory, and {why}"),
        where="conda.channels",
        hint="set HOME to your home directory, or write the channel's absolute path",
    )


def _passwd_home() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return ""


def _no_home() -> str:
    return f"HOME is unset or empty and user id {os.getuid()} has no home in the passwd database"


def from_directory(channel: str, base: Path) -> str:
    """``channel`` as rattler is to read it: a relative directory (``./chan``, ``../chan``,
    ``\\\\chan``, which rattler reads from the working directory) from ``base``, the
    manifest's, its platform list kept."""
    path = channel_path(channel)
    if path is None or "://" in path or path.startswith("/"):
        return channel
    return str(base.absolute() / path) + split_platforms(channel)[1]
