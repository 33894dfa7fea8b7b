"""Locks remembered by what they were resolved from, so an unchanged resolution is not redone.

A first ``mlenv lock`` (no lock there yet) resolves the manifest against its indexes: a
hundred milliseconds of imports and work that give the same bytes every time the same inputs
are given. When such a run read only local sources (file:// indexes, find-links directories)
and each of its reads could be stamped (``mlenv.watch``), the lock it wrote and the lines it
said are kept here; the next first lock from the same inputs writes those bytes and says those
lines without importing the resolver.

The invariant: a remembered lock is written only when a full run, under this very code, from
these manifest bytes in this directory, with these ``MLENV_*`` settings and no lock present,
read files that are all still exactly as stamped, and wrote exactly those bytes.

- **The key**: the manifest's bytes, the real path of its directory (a relative find-links
  directory is found from it), the manifest's path as named (what was said names the lock by
  it: ``wrote sub/mlenv.lock``), ``--offline``, every ``MLENV_*`` variable, the interpreter's
  flags and file system encoding, and the code key of ``mlenv.cache.fresh`` (Python, ``-O``,
  where mlenv, packaging and resolvelib come from).
- **The entry**: the code files that gave it (as a verdict lists them), the lock's sha256,
  every file and directory the run read or looked at with its stamp (a path that was absent
  stays absent), the real path of every path whose resolution decided where a file: link may
  lead (a symlink along it retargeted to the very same files changes no stamp), the reporter's
  lines (marked where the lock was written: what came before is said before it is written
  again), then the lock's bytes. A hit requires every stamp and real path to hold now and the
  bytes to match their sha256 (a torn entry is a miss).
- **What is never kept**: a run that asked a remote index (even one the page cache answered,
  offline or while fresh), opened a connection or started a process (a conda solve), read a
  file no stamp covers, read a file changed within a clock tick of the read, or failed.
  Verbose runs and ``--check`` neither keep nor answer.
- **Who wrote it**: an entry is believed under the rules of a kept verdict (this user's,
  private, one link, naming its key).
"""

from __future__ import annotations

import os
import sys

from mlenv.cache import MEMO
from mlenv.cache.fresh import (
    MAX_INPUT_BYTES,
    code_holds,
    code_key,
    code_lines,
    forget,
    keep_entry,
    mark_used,
    read_entry,
    sha256,
)
from mlenv.watch import Reads, resolve, stamp_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from mlenv.cache.files import StrPath

_VERSION = b"mlenv-lock-memo-v1"
JUDGES = ("mlenv", "packaging", "resolvelib")  # whose code resolves
MAX_MEMOS = 64  # kept per cache, least recently used dropped first (a lock is KBs to a MB)
_MAX_HEAD = 1 << 20
Event = tuple[str, ...]  # ("info", text) | ("warning", text) | ("task", desc, unit, total, done)
WRITTEN: Event = ("written",)  # where, among them, the run wrote the lock


class Remembered:
    """A remembered first lock: its bytes, and what its run said (a plain class: the fast
    path does not import ``typing`` or ``dataclasses``)."""

    __slots__ = ("events", "lock")

    def __init__(self, lock: bytes, events: tuple[Event, ...]) -> None:
        self.lock, self.events = lock, events


def memo_key(manifest: bytes, directory: str, named: str, offline: bool) -> str:
    """The key of a first lock of ``manifest`` (in ``directory``, ``named`` so on the command
    line: the lines said name the lock by it) by this code."""
    settings = sorted((k, v) for k, v in os.environ.items() if k.startswith("MLENV_"))
    # how this interpreter decodes names and text (-X utf8, a C locale) may change what is read
    settings.append(("python", f"{sys.flags}\0{sys.getfilesystemencoding()}"))
    hasher = sha256(_VERSION + b"\0" + code_key(JUDGES))
    hasher.update(sha256(manifest).digest())
    for part in (directory, named, str(offline), *(f"{k}={v}" for k, v in settings)):
        hasher.update(sha256(part.encode("utf-8", "surrogateescape")).digest())
    return hasher.hexdigest()


def recall(cache_root: StrPath, key: str) -> Remembered | None:
    """The lock and lines kept under ``key``, when every stamp it lists still holds."""
    entry = read_entry(cache_root, MEMO, key, MAX_INPUT_BYTES + _MAX_HEAD)
    if entry is None or not code_holds(*entry[:2]):
        return None
    head, _, lock = entry[2].partition(b"\n\n")
    digest = f"lock\t{sha256(lock).hexdigest()}"
    try:
        events: list[Event] = []
        # "\n" alone ends a line: a path may hold what splitlines also breaks at (U+2028)
        lines = head.decode("utf-8", "surrogateescape").split("\n")
        if not lines or lines[0] != digest:  # a torn or foreign entry
            return None
        for line in lines[1:]:
            kind, _, rest = line.partition("\t")
            fields = rest.split("\t")
            if kind == "read":
                path, *stamp = fields
                if stamp_path(path) != (None if stamp == ["-"] else tuple(map(int, stamp))):
                    return None
            elif kind == "real" and len(fields) == 2:
                if resolve(fields[0]) != fields[1]:
                    return None
            elif kind == "written" and fields == [""] and WRITTEN not in events:
                events.append(WRITTEN)
            elif (kind, len(fields)) in (("info", 1), ("warning", 1)):
                events.append((kind, _unescape(fields[0])))
            elif kind == "task" and len(fields) == 4:
                description, unit, total, done = map(_unescape, fields)
                if not (_count(done) and (total == "-" or _count(total))):
                    return None
                events.append((kind, description, unit, total, done))
            else:
                return None
    except (OSError, ValueError, UnicodeError):
        return None
    mark_used(cache_root, MEMO, key)
    return Remembered(lock, tuple(events))


def remember(
    cache_root: StrPath, key: str, reads: Reads, lock: bytes, events: Sequence[Event]
) -> None:
    """Keep a first lock's bytes and lines, if ``reads`` vouch for every input; best effort."""
    if len(lock) > MAX_INPUT_BYTES or not reads.vouched():
        return
    code = code_lines(key, JUDGES)
    if code is None:
        return
    lines = [f"lock\t{sha256(lock).hexdigest()}"]
    lines += ("\t".join(["read", path, *(map(str, stamp) if stamp else "-")])
              for path, stamp in sorted(reads.stamps.items()))  # fmt: skip
    lines += (f"real\t{path}\t{real}" for path, real in sorted(reads.reals.items()))
    lines += ("\t".join([kind, *map(_escape, fields)]) for kind, *fields in events)
    text = "\n".join(code) + "\n\n" + "\n".join(lines) + "\n\n"
    if len(text) < _MAX_HEAD and keep_entry(cache_root, MEMO, key, text, lock):
        forget(cache_root, MAX_MEMOS, bucket=MEMO)


def _count(text: str) -> bool:
    """A count as ``replay`` reads it (``str.isdigit`` alone takes ``²``, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()


def _escape(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


def _unescape(text: str) -> str:
    """What ``_escape`` wrote (ASCII: anything else is a damaged entry, UnicodeError); without a
    backslash it holds no escape and is itself (the codec, 0.3 ms to load, is not needed)."""
    data = text.encode("ascii")
    return data.decode("unicode_escape") if b"\\" in data else text
