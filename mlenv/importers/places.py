"""Local directories an imported file names, judged before mlenv.toml trusts them.

A find-links directory, a ``file:`` index or a local conda channel lends every file in it to
every project it may serve (docs/security.md invariants 3, 10 and 11). The manifest's author
chooses such places; an imported file (a requirements.txt, pixi.toml or pylock.toml from
anywhere) did not earn that trust: ``-f /tmp`` would make any user's planted wheel a candidate.
So a place is written only when nobody but this user and root can choose what it holds: an
existing directory that is yours (every component from ``/`` down) and closed to others, not
``/``, or a missing one whose nearest existing ancestor is so (nobody else can create it)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mlenv import bare_file
from mlenv.bare_file import bare_file_url
from mlenv.conda.channel_paths import channel_path
from mlenv.conda.records import CondaError
from mlenv.errors import Problem
from mlenv.hidden_text import controls_escaped
from mlenv.trusted_path import NotYours, open_yours, others_write

if TYPE_CHECKING:
    from mlenv.importers.core import Imported

HINT = (
    "copy the wheels into a directory of your own (not /tmp) and import from there, or name "
    "that directory in mlenv.toml yourself"
)


def not_yours(location: str, base: Path) -> str | None:
    """Why the local place ``location`` (a path, relative to ``base``, or a ``file:`` URL) may
    not be written into the manifest, or None (also for a remote URL: not a local place). A
    control character in it is shown escaped: a line break forged an ``error:`` line."""
    why = _why(location, base)
    return None if why is None else controls_escaped(why)


def _why(location: str, base: Path) -> str | None:
    if (bare := bare_file_url(location)) is not None:
        return bare
    if "://" in location:  # a file: without it is refused above
        try:
            parts = urlsplit(location)
        except ValueError as exc:
            return f"{location} is not a URL ({exc})"
        if parts.scheme.lower() != "file":
            return None
        if parts.netloc not in ("", "localhost"):  # pip refuses it; as a path, this machine's
            return f"{location} names the host {parts.netloc!r}, not this machine"
        location = url2pathname(parts.path)
        if not location:
            return f"{parts.geturl()} names no directory"
    if "\0" in location:  # os.stat raises ValueError, not OSError, on it
        return f"{location!r} holds a NUL byte, which no directory name can"
    # no ``~`` expansion: mlenv.toml reads ``~/x`` as a directory named ``~`` (``problems`` gives
    # a channel rattler expands as expanded)
    named = (base / location).absolute()
    place = os.path.realpath(named)
    if place == "/":
        return "the directory / would lend every file on this machine"
    # as spelt (a link on the way is judged, not only its target), as resolved (``..`` after
    # a missing name: ``/shm/../tmp`` is ``/tmp`` to realpath and to URL parsers) and with
    # ``..`` taken by name (rattler reads a channel ``./link/../../tmp`` so, links or not)
    lexical = os.path.normpath(named)
    for spelled, shown in dict.fromkeys(
        ((named, place), (Path(lexical), lexical), (Path(place), place))
    ):
        if (why := _judged(spelled, shown)) is not None:
            return why
    return None


def _judged(named: Path, place: str) -> str | None:
    judged = _nearest_existing(named)
    try:
        os.close(open_yours(f"{judged}/"))  # ends in EISDIR at a directory
    except OSError as exc:
        if exc.errno != errno.EISDIR or isinstance(exc, NotYours):
            return f"the directory {place} cannot be trusted: {exc.strerror or exc}"
    writers = others_write(judged.stat())  # taken whole: no sticky exception
    if writers is None:
        return None
    if judged == named:
        return f"the directory {place} {writers}"
    return f"the directory {place} is missing, and {judged}, where anyone may make it, {writers}"


def exists(path: Path) -> bool:
    """Whether ``path`` exists; one no file system can hold (too long: ENAMETOOLONG, which
    ``Path.exists`` raises; a NUL: ValueError) is none, as ``os.path.exists`` says."""
    return os.path.exists(path)  # noqa: PTH110


def is_directory(path: Path) -> bool:
    """Whether ``path`` is a directory, ``exists``'s way."""
    return os.path.isdir(path)  # noqa: PTH112


def unslashed(location: str) -> str:
    """``location`` without trailing slashes (``https://h/simple/`` is ``https://h/simple``),
    unless that leaves no place: ``/`` and ``file:///`` stay the root, not ``""`` and
    ``file:`` (which read as the manifest's own directory)."""
    stripped = location.rstrip("/")
    return stripped if stripped and not stripped.endswith(":") else location


def problems(imported: Imported, at: str, base: Path) -> list[Problem]:
    """A problem for each place ``imported`` names (``_named``) that is ``not_yours``, and for
    each channel rattler reads otherwise than spelt or not at all here (``channel_path``'s
    ``CondaError``: ``//srv/chan``, ``~/chan`` with no home directory). Each names its place
    with control characters escaped, as ``not_yours`` says why."""
    found = []
    located = list(_named(imported, at))
    for channel in imported.channels:
        try:
            local = channel_path(channel)
        except CondaError as exc:
            where = controls_escaped(f"{at}channel {channel}")
            found.append(Problem(where, exc.message, exc.hint))
            continue
        if local is not None:
            located.append((f"{at}channel {channel}", local))
    for where, location in located:
        if (why := not_yours(location, base)) is not None:
            hint = bare_file.HINT if bare_file_url(location) else HINT
            found.append(Problem(controls_escaped(where), why, hint))
    return found


def summary(source: str, refused: Sequence[Problem]) -> str:
    """What ``problems`` found, by kind: a place mlenv cannot trust (``HINT``'s remedy), or a
    spelling no two readers read alike (a ``file:`` without ``//``, a ``//`` channel), which
    is no question of trust."""
    untrusted = sum(problem.hint == HINT for problem in refused)
    kinds = [f"{untrusted} local place(s) mlenv cannot trust"] if untrusted else []
    if spelt := len(refused) - untrusted:
        kinds.append(f"{spelt} place(s) that cannot be read as written")
    return f"{source}: {' and '.join(kinds)}; nothing was written"


def _named(imported: Imported, at: str) -> Iterator[tuple[str, str]]:
    """``(where, location)`` of every index, find-links directory and source that may be
    local (``places.not_yours`` passes remote URLs); channels are ``problems``' own."""
    for index in (imported.index_url or "", *imported.extra_index_urls):
        if index:
            yield f"{at}index {index}", index
    for link in imported.find_links:
        yield f"{at}find-links {link}", link
    for name, url in imported.sources:
        yield f"{at}sources.{name}", url


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (``/`` always does); a name that is a link
    counts as existing, so its walk judges the link."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path
