"""Verdicts that a lock is fresh for its manifest, kept by the exact bytes of both.

``mlenv lock --check`` runs in every CI job and ``mlenv lock`` on every change, and most of
the time the lock is fresh. The full check (``mlenv.uptodate``) needs the TOML parser, the lock
reader and packaging: more time in imports than uv takes for a whole warm compile. Once the
full check has said "fresh" for a manifest's and a lock's exact bytes, the verdict is kept
here; the next check reads both files, hashes them and finds the entry, importing nothing but
this module and ``mlenv.cache.files``.

What the verdict depends on, and so what a hit requires:

- the two files' bytes: both are in the key (a verdict says nothing about the paths), and
  none is kept when the full check read more (``drift.reads_places``: a relative or ``~/``
  conda channel, judged by the lock's directory or the home directory); none is kept for a
  manifest with so many brackets that how deep it nests could decide, by the caller's stack,
  whether tomllib parses it;
- the code that judged them: the key names where mlenv and packaging are imported from (the
  running mlenv, and the packaging this process would import: another install, a
  ``PYTHONPATH`` or a user site that shadows one is another key) and the Python version; the
  entry lists every source file of mlenv and packaging that was loaded when the verdict was
  given (a module the check did not load cannot have changed it) and the directories holding
  them (a module or package added beside one shadows it), by size, modification and change
  time, inode and device: any change to any of them is a miss (the change time catches a
  rewrite that kept size, inode and a restored mtime), and none is kept or believed when a
  source changed after this process began (its code may be older than the file); ``-O``
  is in the key too (it runs other code from the same sources: no asserts); and no module of
  the standard library the judge used may be shadowed now by one in a directory searched
  before it (the working directory of ``python -m``, ``PYTHONPATH``);
- who wrote it: like a reused layer, an entry is used only when this user wrote it and no one
  else can change it or its bucket (``files.open_plain(..., private=2)``, one link only: no
  file of this user's moved or linked in by whoever could write the bucket), it names its own
  key, so an entry copied or linked to another key is a miss, and it lists this very module.

Anything unusual (a manifest that is not a plain file, an unreadable cache) is a miss, never
an error: the full check then runs and reports it.

The bucket is bounded: a hit marks its entry used, and keeping a verdict drops all but the
``MAX_VERDICTS`` most recently used (a verdict is a few KB; one is kept per edit of a manifest
or lock, and one per mlenv upgrade, forever otherwise).
"""

from __future__ import annotations

import os
import stat
import sys
import time

from mlenv import DATA_DIR
from mlenv.cache import BUNDLE_INDEX, FRESH
from mlenv.cache.files import open_plain, write_entry
from mlenv.digests import is_sha256_hex
from mlenv.plainpath import normal, parent
from mlenv.watch import stamp_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from hashlib import sha256 as sha256  # the lock memo's too (cache.memo)

    from mlenv.cache.files import StrPath
else:  # CPython's own sha256 (_sha2 from 3.12): ``hashlib`` loads OpenSSL first, 3 ms of a
    # 25 ms no-op lock (and of a remembered one); a build without it (FIPS) takes hashlib's.
    # The same digests. Only the one this Python's standard library names: before 3.12 no
    # ``_sha2`` is standard, so the import would find a ``_sha2.py`` in the working directory,
    # which ``_shadowed`` (standard names only) never asks about, and its digests would make
    # every verdict key
    try:
        if "_sha2" in sys.stdlib_module_names:
            from _sha2 import sha256
        else:
            from _sha256 import sha256
    except ImportError:
        from hashlib import sha256

_VERSION = b"mlenv-fresh-v1"
MAX_INPUT_BYTES = 8 << 20  # more than any real lock; a bigger one goes to the full CLI
_MAX_ENTRY_BYTES = 1 << 20
_MAX_LIMIT = MAX_INPUT_BYTES + _MAX_ENTRY_BYTES  # what any entry may hold (a lock memo's)
MAX_VERDICTS = 256  # kept per cache; the least recently used go first
_DIGITS = frozenset("0123456789")
_DAY_NS = 24 * 3600 * 10**9
JUDGES = ("mlenv", "packaging")  # the packages whose code gives the verdict
# tomllib recurses per level of nested arrays and tables, so how deep a manifest may nest
# depends on the caller's stack ("nested too deeply" from a deep one); with fewer opening
# brackets than this, none is near the limit and the verdict is the same from any caller
_MAX_OPENINGS = 128
# A source whose change time is after this (less a tick of the kernel's coarse file clock)
# may have changed after this process read it: its stamp would vouch for code that never judged.
_STARTED_NS = time.time_ns() - 20_000_000


def read_plain(path: StrPath) -> bytes | None:
    """The bytes of the plain file at ``path``, or None for anything else (missing, a FIFO,
    a directory, too big, unreadable): the full check says what is wrong with it. Not
    ``userfiles.read_input``, which this mirrors without its errors: importing those (and
    ``mlenv.errors``) would cost the no-op more than the rest of its work."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_INPUT_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, MAX_INPUT_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_INPUT_BYTES:  # grew while read
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks)


def verdict_key(manifest: bytes, lock: bytes) -> str:
    """The key of a verdict on these bytes by the code this process runs."""
    hasher = sha256(_VERSION + b"\0" + code_key())
    hasher.update(sha256(manifest).digest())
    hasher.update(sha256(lock).digest())
    return hasher.hexdigest()


def code_key(judges: tuple[str, ...] = JUDGES) -> bytes:
    """What names the code this process runs: where it comes from (another mlenv, or a
    packaging that shadows this one, is another key), the Python and its ``-O``."""
    # -O and -OO run other code (no asserts, no docstrings) from the same sources
    running = f"{sys.version}\0{sys.flags.optimize}\0".encode()
    return running + sha256(_judge_origins(judges).encode("utf-8", "surrogateescape")).digest()


def is_fresh(cache_root: StrPath, manifest: bytes, lock: bytes) -> bool:
    """Whether the full check already found this lock fresh for this manifest, under this code."""
    key = verdict_key(manifest, lock)
    entry = read_entry(cache_root, FRESH, key, _MAX_ENTRY_BYTES)
    if entry is None or not code_holds(*entry[:2]):
        return False
    mark_used(cache_root, FRESH, key)
    return True


def mark_used(cache_root: StrPath, bucket: str, key: str) -> None:
    """For the bound; a read-only cache still answers."""
    try:
        os.utime(os.path.join(cache_root, bucket, key), follow_symlinks=False)
    except OSError:
        return


def read_entry(
    cache_root: StrPath, bucket: str, key: str, limit: int
) -> tuple[set[str], list[str], bytes] | None:
    """The standard modules, the stamped code files and what follows them (after a blank
    line) of the entry filed under ``key``, when it is this user's, private, one link, and
    names that key."""
    try:
        with open_plain(cache_root, f"{bucket}/{key}", private=2) as handle:
            if os.fstat(handle.fileno()).st_nlink != 1:
                return None
            text = handle.read(limit + 1)
    except OSError:
        return None
    head, _, body = text.partition(b"\n")
    if len(text) > limit or head != key.encode():
        return None
    body, _, rest = body.partition(b"\n\n")
    try:
        stdlib, *lines = body.decode("utf-8", "surrogateescape").splitlines()
    except (UnicodeError, ValueError):
        return None
    if not stdlib.startswith("stdlib\t"):
        return None
    return set(stdlib[7:].split(" ")), lines, rest


def code_holds(stdlib: set[str], lines: list[str]) -> bool:
    """Whether the code that gave an entry is the code running: no standard module it used
    is shadowed, and every file it lists (this module among them) is as stamped."""
    try:
        return not _shadowed(stdlib) and _holds(lines)
    except (ValueError, OSError):
        return False


def _holds(lines: list[str]) -> bool:
    """Whether every file a verdict lists (this module among them) is as it was stamped."""
    listed = {line.split("\t")[0] for line in lines}
    return __file__ in listed and all(_unchanged(line) for line in lines)


def _unchanged(line: str) -> bool:
    """Whether the file listed is as stamped, and was so before this process began (else
    the code running may be older than the code that judged)."""
    path, *fields = line.split("\t")
    stamp = tuple(int(field, 10) for field in fields)
    return stamp_of(os.stat(path)) == stamp and stamp[2] < _STARTED_NS


def _shadowed(names: set[str]) -> bool:
    """Whether a directory searched before the standard library (the working directory of
    ``python -m``, ``PYTHONPATH``) holds a module or package named like one the judge used
    (a ``tomllib.py``, a ``json/``): its import now would load that, not what judged."""
    where = getattr(os, "__file__", None)
    stdlib = parent(where) if isinstance(where, str) else None
    before = sys.path[: sys.path.index(stdlib)] if stdlib in sys.path else sys.path
    for directory in before:
        try:
            with os.scandir(directory or ".") as listing:
                found = [entry.name for entry in listing]
        except FileNotFoundError:
            continue  # nothing there to shadow anything
        except OSError:
            return True  # cannot tell: unreadable, or a zip, whose modules an import finds too
        if any(name.partition(".")[0] in names for name in found):
            return True
    return False


def _judge_origins(judges: tuple[str, ...]) -> str:
    """Where each judging package is imported from: the one loaded, else the one an import
    would find now (found, not imported); ``?`` when that cannot be told."""
    origins = []
    for name in judges:
        try:
            spec = _spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = getattr(spec, "origin", None)
        origins.append(f"{name}={origin if isinstance(origin, str) else '?'}")
    return "\0".join(origins)


def _spec(name: str) -> object:
    """``importlib.util.find_spec(name)`` for a top-level name, through the finders it asks
    (``sys.meta_path``), without importing ``importlib.util`` (and ``contextlib``) for it."""
    if name in sys.modules:
        return getattr(sys.modules[name], "__spec__", None)
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        # called as the import system calls it: a finder may require all three arguments
        spec = None if find is None else find(name, None, None)
        if spec is not None:
            return spec
    return None


def remember_fresh(cache_root: StrPath, manifest: bytes, lock: bytes) -> None:
    """Keep the full check's "fresh" for these bytes; best effort, like every cache write."""
    if manifest.count(b"[") + manifest.count(b"{") >= _MAX_OPENINGS:
        return  # its verdict may depend on the stack it was given from
    key = verdict_key(manifest, lock)
    lines = code_lines(key)
    if lines is not None and keep_entry(cache_root, FRESH, key, "\n".join(lines) + "\n"):
        forget(cache_root, MAX_VERDICTS)


def code_lines(key: str, judges: tuple[str, ...] = JUDGES) -> list[str] | None:
    """An entry's head: its key, the standard modules used and the stamped code files that
    gave it; None when a file cannot be stamped or changed while this process ran."""
    stdlib = {name.partition(".")[0] for name in sys.modules} & sys.stdlib_module_names
    lines = [key, "stdlib\t" + " ".join(sorted(stdlib))]
    try:
        sources = set(_judging_sources(judges))
        for path in sorted(sources | {parent(path) for path in sources}):
            if "\t" in path or "\n" in path or "\r" in path or path[:1] != "/":
                return None
            stamp = stamp_of(os.stat(path))
            if stamp[2] >= _STARTED_NS:
                return None  # changed while this process ran (or its clock is behind)
            lines.append("\t".join([path, *map(str, stamp)]))
    except (OSError, ValueError):
        return None
    return lines


def keep_entry(cache_root: StrPath, bucket: str, key: str, text: str, tail: bytes = b"") -> bool:
    """Write an entry (``text``, then ``tail``'s bytes); best effort, like every cache write.
    Never in a bundle used as the cache: it holds what its index lists, nothing more."""
    try:
        os.lstat(os.path.join(cache_root, BUNDLE_INDEX))
    except FileNotFoundError:
        pass  # not a bundle
    except OSError:
        return False  # cannot tell
    else:
        return False
    try:  # made here, not by write_entry: a bucket others could write is never believed
        os.makedirs(os.path.join(cache_root, bucket), mode=0o755, exist_ok=True)
    except OSError:
        return False
    data = text.encode("utf-8", "surrogateescape") + tail
    write_entry(os.path.join(cache_root, bucket, key), data)
    return True


def forget(cache_root: StrPath, keep: int, *, dead: bool = False, bucket: str = FRESH) -> int:
    """Drop all but the ``keep`` most recently used entries of ``bucket`` (with ``dead``, of
    those also every one whose code can never answer again, as after an upgrade), and
    temporary files a killed write left a day ago; returns how many files went. Only in a
    bucket of this user's, through a directory opened without following a symlink: nothing
    outside it is touched."""
    try:
        fd = os.open(os.path.join(cache_root, bucket), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return 0
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            return 0
        entries, gone = [], []
        with os.scandir(fd) as listing:
            for item in listing:
                temporary = _is_temporary(item.name)
                if not (temporary or _is_key(item.name)):
                    continue
                used = item.stat(follow_symlinks=False).st_mtime_ns
                if temporary:
                    if used < time.time_ns() - _DAY_NS:
                        gone.append(item.name)
                else:
                    entries.append((used, item.name))
        entries.sort(reverse=True)
        gone += (name for _, name in entries[keep:])
        if dead:  # only those the bound keeps are read: the others go anyway
            gone += (name for _, name in entries[:keep] if not _alive(cache_root, bucket, name))
        removed = 0
        for name in gone:
            try:
                os.unlink(name, dir_fd=fd)
            except OSError:
                continue
            removed += 1
        return removed
    except OSError:
        return 0
    finally:
        os.close(fd)


def _alive(cache_root: StrPath, bucket: str, key: str) -> bool:
    """Whether the entry's code can still answer, here or under another mlenv sharing this
    cache: it lists a copy of this module, and every code file it lists is as stamped."""
    entry = read_entry(cache_root, bucket, key, _MAX_LIMIT)
    if entry is None:
        return False
    listed = {_tail(line.split("\t")[0]) for line in entry[1]}
    try:
        return _tail(__file__) in listed and all(map(_unchanged, entry[1]))
    except (ValueError, OSError):
        return False


def _tail(path: str) -> tuple[str, ...]:
    """The last three names of ``path`` (``mlenv/cache/fresh.py``, wherever mlenv is)."""
    return tuple(normal(path).split("/")[-3:])


def _is_temporary(name: str) -> bool:
    """A temporary file's name, as ``write_entry`` makes it: ``.KEY.PID.N.tmp``."""
    parts = name.split(".")
    if len(parts) != 5 or parts[0] or parts[4] != "tmp":
        return False
    return _is_key(parts[1]) and all(part and set(part) <= _DIGITS for part in parts[2:4])


def _is_key(name: str) -> bool:
    """A verdict's name (``re`` is left out of the no-op's imports)."""
    return is_sha256_hex(name)


def _judging_sources(judges: tuple[str, ...] = JUDGES) -> Iterable[str]:
    """The source files of every loaded module of the packages that judge freshness, and the
    data files mlenv ships (a module may read one)."""
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] in judges:
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                yield file
    with os.scandir(DATA_DIR) as data:
        yield from [entry.path for entry in data if entry.is_file()]
