"""Where mlenv may write what a user names (invariant 4 of docs/security.md).

An output directory (``build --dist``, ``fetch --bundle``) is replaced whole, so a wrong path
would delete what the user owns. ``check_output`` is the one gate every such path passes,
before any work and again just before the swap: a directory is replaced only when it is
absent, empty, or an earlier output of the same kind (its record file parses as one); a single
output file only replaces a plain file. The root, the home directory and whatever the run
reads (the manifest, the lock, the cache) are never replaced, nor any directory holding them,
whatever record is planted there.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlenv.atomic import replace_dir
from mlenv.cache.files import describe, open_plain
from mlenv.errors import UsageError, printable
from mlenv.limits import LimitError, parse_record_json

MAX_RECORD = 64 << 20  # a bundle.json lists every artifact; far below this


class OutputError(UsageError):
    """mlenv was asked to write over something it did not write."""


@dataclass(frozen=True)
class OutputKind:
    """What mlenv writes at a user's path, and how it recognises an earlier one of its own."""

    what: str  # "build output", for messages
    option: str  # the option naming the path
    record: str | None = None  # the file marking a directory mlenv wrote; None: a single file
    # The paths (relative, "/"-separated) the record (parsed JSON; the directory it is in)
    # says mlenv wrote there, or None when it is not such a record: each a regular file, or,
    # ending in "/", a directory mlenv keeps whole (what is below it is mlenv's too).
    written: Callable[[Any, Path], frozenset[str] | None] = lambda _, __: None

    @property
    def is_dir(self) -> bool:
        return self.record is not None


LOCK_FILE = OutputKind("lock", "--manifest")  # mlenv.lock, beside the manifest


def check_output(dest: Path, kind: OutputKind, *, keep: Mapping[str, Path]) -> Path:
    """The real path to write ``kind`` at, or an ``OutputError`` saying why not.

    ``keep`` names what the run reads ({"the manifest": path}): none of them, and no
    directory holding one, may be replaced. The returned path has its symlinks resolved, so
    the work directory and the swap happen where the checks looked.
    """
    given = str(dest)
    try:
        real = Path(os.path.realpath(dest))
        if stat.S_ISLNK(_lstat(dest, missing=0)):
            raise _refuse(given, kind, f"is a symlink (to {str(dest.readlink())!r})")
        # What is there is judged at the real path: `src/missing/..` is absent as spelled
        # (the kernel cannot walk `missing`) but names the existing `src`.
        info: os.stat_result | None = real.lstat()
    except FileNotFoundError:
        info = None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = exc.strerror if isinstance(exc, OSError) else exc
        raise _refuse(given, kind, f"cannot be examined ({why})") from None
    for name, protected in _protected(keep):
        if real == protected:
            raise _refuse(given, kind, f"is {name}")
        if protected.is_relative_to(real):
            raise _refuse(given, kind, f"holds {name} ({protected})")
    if info is None:
        return real
    if not kind.is_dir:
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(given, kind, f"exists and is not a plain file ({describe(info)})")
        return real
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse(given, kind, f"exists and is not a directory ({describe(info)})")
    with os.scandir(real) as entries:
        present = {entry.name for entry in entries}
    if not present:
        return real
    written = _written(real, kind)
    if written is None:
        raise _refuse(
            given,
            kind,
            f"is a directory that is neither empty nor an earlier {kind.what} (no valid "
            f"{kind.record} in it)",
        )
    try:
        strangers = _strangers(real, written | {kind.record or ""})
    except OSError as exc:
        raise _refuse(given, kind, f"cannot be examined ({exc.strerror or exc})") from None
    if strangers:
        shown = ", ".join(printable(name, 120) for name in strangers[:5])
        shown += ", ..." if len(strangers) > 5 else ""
        raise _refuse(
            given,
            kind,
            f"holds {shown}, which the earlier {kind.what} did not write",
            move=printable(strangers[0], 120),
        )
    return real


def _strangers(root: Path, written: frozenset[str]) -> list[str]:
    """Every entry below ``root`` (examined with lstat, never followed) that is neither a path
    the record names, of the kind it names (a regular file; a directory for a name ending in
    "/"), nor a directory above one: a file a user put in an earlier output's subdirectory is a
    stranger as much as one at its top, and so is a directory, symlink or FIFO a user put where
    the output had a file (attack 72)."""
    whole = {path.removesuffix("/") for path in written if path.endswith("/")}
    files = {path for path in written if not path.endswith("/")}
    above = {
        path.rsplit("/", depth)[0]
        for path in files | whole
        for depth in range(1, path.count("/") + 1)
    }
    found: list[str] = []
    pending = [""]
    while pending:
        at = pending.pop()
        with os.scandir(root / at if at else root) as entries:
            for entry in entries:
                path = f"{at}/{entry.name}" if at else entry.name
                if path in whole and entry.is_dir(follow_symlinks=False):
                    continue
                if path in files and entry.is_file(follow_symlinks=False):
                    continue
                if path in above and entry.is_dir(follow_symlinks=False):
                    pending.append(path)
                else:
                    found.append(path)
    return sorted(found)


def replace_output(new: Path, dest: Path, kind: OutputKind, *, keep: Mapping[str, Path]) -> None:
    """Swap the finished ``new`` in at ``dest``, checked once more: the tree may have changed
    while the run worked."""
    published_modes(new)
    replace_dir(new, check_output(dest, kind, keep=keep))


def published_modes(root: Path) -> None:
    """Give the tree the modes of a published output whatever the umask: directories 0755,
    files 0644 (0444 read-only, 0755 executable, as the owner's bits say). Files were made
    by ``open`` and ``mkdir`` under the caller's umask: 000 put a world-writable bundle or
    dist/ in place (anyone could swap an artifact after its hash), 077 one no other CI user
    could read. A file already right (a read-only layer linked from the cache) is left as is;
    symlinks are never followed."""
    paths = [root]
    for at, directories, files in os.walk(root):
        paths += [Path(at, name) for name in [*directories, *files]]
    for path in paths:
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            wanted = 0o755
        elif stat.S_ISREG(mode):
            wanted = 0o755 if mode & stat.S_IXUSR else 0o644 if mode & stat.S_IWUSR else 0o444
        else:
            continue
        if stat.S_IMODE(mode) != wanted:
            path.chmod(wanted)


def _protected(keep: Mapping[str, Path]) -> list[tuple[str, Path]]:
    found = [("the root directory", Path("/"))]
    with contextlib.suppress(RuntimeError):  # no HOME and no user entry: nothing to keep
        found.append(("the home directory", _real(Path.home())))
    return found + [(name, _real(path)) for name, path in keep.items()]


def _lstat(path: Path, *, missing: int) -> int:
    """``path``'s own mode (never followed), ``missing`` when nothing is there."""
    try:
        return path.lstat().st_mode
    except FileNotFoundError:
        return missing


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _written(directory: Path, kind: OutputKind) -> frozenset[str] | None:
    """What the record says mlenv wrote there; None unless the record is a plain file (never
    followed through a symlink) that parses as one."""
    assert kind.record is not None
    try:
        data = parse_record_json(read_record(directory, kind.record), where=str(directory))
        return kind.written(data, directory)
    except (OSError, ValueError, LimitError):
        return None


def read_record(directory: Path, name: str) -> bytes:
    """The bytes of a record beside an output (build.json, bundle.json), which may come from
    anyone: a plain file in ``directory`` (never a symlink or a FIFO) of at most MAX_RECORD
    bytes; an OSError or ValueError saying why otherwise."""
    with open_plain(directory, name) as handle:
        if os.fstat(handle.fileno()).st_size > MAX_RECORD:
            raise ValueError(f"over {MAX_RECORD} bytes")
        data = handle.read(MAX_RECORD + 1)
    if len(data) > MAX_RECORD:
        raise ValueError(f"over {MAX_RECORD} bytes")
    return data


def _refuse(given: str, kind: OutputKind, why: str, move: str | None = None) -> OutputError:
    hint = f"move {move} (and any other named) out of it first, or " * bool(move) + (
        f"name a new or empty directory, or an earlier {kind.what} (one with {kind.record})"
        if kind.is_dir
        else "name a new file or a plain file to overwrite"
    )
    return OutputError(
        f"refusing to write the {kind.what} here: it {why}; nothing was changed",
        where=f"{kind.option} {given}",
        hint=hint,
    )
