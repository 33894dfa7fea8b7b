"""What a run read of the user's files, stamped, so that its answer can be remembered.

The lock memo (``mlenv.cache.memo``) may answer only for inputs it can stamp again. While a
run is recorded, the one opener of a user's local file (``userfiles.open_input``) reports
each file it opened, and the local index readers report each path they only looked at (a page
or a ``.metadata`` that appears there, or a file added to a find-links directory, changes the
answer), and where the real path of a path decided where a file: link may lead, that real
path. A remote index asked, even when the page cache answers, is never remembered. An audit
hook watches for what no stamp can cover: a network connection or a child process (a
remote index, a conda solve) makes the run one never to remember, and every other file opened
or directory listed outside the cache and Python's own code must have been reported, so a new
code path that reads a file without saying so is caught, not trusted.

A stamp is size, modification and change time, inode and device. A file whose change time is
within a tick of the kernel's coarse clock of when it was read (two seconds where the file
system keeps coarser times) could be rewritten in that same tick undetectably; such a read is
never vouched for (``Reads.vouched``).
"""

from __future__ import annotations

import os
import stat
import sys
import time

from mlenv.plainpath import absolute

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

Stamp = tuple[int, int, int, int, int]
TICK_NS = 20_000_000  # more than a tick of the kernel's coarse file clock
_UNSTAMPABLE = frozenset(
    {"socket.connect", "socket.getaddrinfo", "subprocess.Popen", "os.posix_spawn", "os.exec",
     "os.system", "os.fork", "os.forkpty", "pty.spawn"}
)  # fmt: skip
_WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def window(stamp: Stamp) -> int:
    """How long after its change time a file could be rewritten under the same stamp: a tick
    of the kernel's clock, or two seconds on a file system that keeps whole seconds (or ms)."""
    return TICK_NS if stamp[2] % 1_000_000 else 2_000_000_000


def stamp_of(info: os.stat_result) -> Stamp:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


def stamp_path(path: str) -> Stamp | None:
    """The stamp of what ``path`` leads to now; None when nothing is there."""
    try:
        return stamp_of(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def resolve(path: str) -> str | None:
    """``path`` with every symlink and ``..`` resolved; None when that cannot be told."""
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return None


def _plain(path: str) -> bool:
    """An absolute path an entry's line can hold."""
    return path.startswith("/") and not ("\t" in path or "\n" in path or "\r" in path)


class Reads:
    """The stamped paths of one recorded run, and why it cannot be remembered, if it cannot."""

    def __init__(self, ignored: tuple[str, ...], exact: frozenset[str] = frozenset()) -> None:
        self.stamps: dict[str, Stamp | None] = {}
        self.reals: dict[str, str] = {}  # path -> its real path, where that decided something
        self.read_at: dict[str, int] = {}
        self.unstampable = ""
        self._ignored = ignored
        self._exact = exact
        self._touched: set[str] = set()

    def note(self, path: str, stamp: Stamp | None) -> None:
        if path not in self.stamps:  # the first look is what the answer used
            self.stamps[path] = stamp
            self.read_at[path] = time.time_ns()

    def vouched(self) -> bool:
        """Whether every stamp still holds and no read can hide a rewrite, nothing unstampable
        happened, and every file the audit hook saw opened was stamped or is ignorable."""
        if self.unstampable:
            return False
        for path, real in self.reals.items():
            if not _plain(path) or not _plain(real) or resolve(path) != real:
                return False
        for path, stamp in self.stamps.items():
            if not _plain(path):
                return False
            if stamp is not None and stamp[2] >= self.read_at[path] - window(stamp):
                return False
            try:
                if stamp_path(path) != stamp:
                    return False
            except (OSError, ValueError):
                return False
        return all(self._accounted(path) for path in self._touched)

    def resolved(self, path: str, real: str) -> None:
        self.reals.setdefault(path, real)

    def _accounted(self, path: str) -> bool:
        if path in self.stamps or path.endswith((".py", ".pyc", ".so")):
            return True
        real = os.path.realpath(path)
        return (
            real in self.stamps
            or real in self._exact
            or any(
                p == root or p.startswith(root.rstrip("/") + "/")
                for p in (path, real)
                for root in self._ignored
            )
        )

    def _event(self, event: str, args: tuple[object, ...]) -> None:
        if event in _UNSTAMPABLE:
            self.unstampable = self.unstampable or event
            return
        if event == "open":
            path, mode, flags = (*args, None, None)[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITING
            )
            if writing:
                return
        elif event not in ("os.listdir", "os.scandir"):
            return
        path = args[0] if args else None
        if isinstance(path, (bytes, os.PathLike)):
            path = os.fsdecode(path)
        # a name relative to a directory descriptor (the cache's openers) cannot be placed;
        # a relative one the run opened as a user's file is stamped as such (``opened``)
        if isinstance(path, str) and path.startswith("/"):  # the hook runs on every open
            self._touched.add(path)


_current: Reads | None = None
_hooked = False


def _audit(event: str, args: tuple[object, ...]) -> None:
    reads = _current
    if reads is not None:
        reads._event(event, args)


def recording(ignored: tuple[str, ...], output: str) -> Recording:
    """Record this run's reads; ``ignored`` holds the directories (the cache) whose files
    are not inputs, ``output`` the directory the run writes into (opened to make a rename
    durable, not read). Audit hooks cannot be removed, so one is added once and left idle."""
    return Recording(ignored, output)


class Recording:
    """``recording``'s context (not ``contextlib``'s: the fast path does not import it)."""

    def __init__(self, ignored: tuple[str, ...], output: str) -> None:
        code = (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(__file__))
        roots = tuple(os.path.realpath(p) for p in (*ignored, *code)) + ignored + code
        self._reads = Reads(roots, frozenset({os.path.realpath(output)}))

    def __enter__(self) -> Reads:
        global _current, _hooked
        if not _hooked:
            sys.addaudithook(_audit)
            _hooked = True
        _current = self._reads
        return self._reads

    def __exit__(self, *exc: object) -> None:
        global _current
        _current = None


def opened(path: Path, info: os.stat_result) -> None:
    """A user's file was opened for reading (``info`` from the open descriptor)."""
    reads = _current
    if reads is not None and stat.S_ISREG(info.st_mode):
        reads.note(absolute(os.fspath(path)), stamp_of(info))


def remote(url: str) -> None:
    """A remote source was asked, even if a cache answered (offline, or a page still fresh):
    what it says may change with no file here changing, so the run is never remembered."""
    reads = _current
    if reads is not None:
        reads.unstampable = reads.unstampable or f"remote {url}"


def resolved(path: str | Path, real: str) -> None:
    """``path`` was found to lead to ``real`` (``origins.LocalRoots``: whether a file: URL
    stays inside the manifest's directories): a symlink along it retargeted, or a directory
    moved, changes that without changing any stamp of what it leads to."""
    reads = _current
    if reads is not None:
        reads.resolved(absolute(os.fspath(path)), real)


def probed(path: Path) -> None:
    """A path was looked at (its presence, or a directory's entries, decide the answer)."""
    reads = _current
    if reads is not None:
        where = absolute(os.fspath(path))
        if where in reads.stamps:
            return  # the first look is what the answer used
        try:
            reads.note(where, stamp_path(where))
        except (OSError, ValueError):
            reads.unstampable = reads.unstampable or f"cannot stamp {where}"
