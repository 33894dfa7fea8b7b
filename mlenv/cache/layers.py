"""Built layer blobs, kept and reused by the key of everything their bytes depend on.

A layer is a pure function of its inputs, so a rebuild after one package changed needs to
install and compress only that package's layer (and the skeleton, whose directories depend on
every package). ``layer_keys`` names every input; a blob is reused only after its sha256 is
checked again against the digest recorded with it, and a corrupt entry is dropped and rebuilt,
never shipped. Beside the layers, the cache keeps what each vetted wheel installs (its paths,
their RECORD hashes, its licences: ``wheel.json``), so a rebuild decides every path's owner, and
so every layer's key, without reading the wheels whose layers it reuses. Layout:
``<cache>/layers-v1/ab/abcdef…/{blob,layer.json}`` or ``…/wheel.json``; an entry is written in a
temporary directory and renamed into place whole. The store is bounded
(``$MLENV_LAYER_CACHE_MAX`` bytes, 10 GiB by default): the least recently used entries go first.

The cache may be shared, so an entry is used only when this user wrote it (security invariant
1): its files are opened through ``open_plain`` (no symlink anywhere below the cache root, plain
files only: a FIFO cannot block) and, with the entry's directory, must belong to this user and
be writable by no one else; ``put`` writes them read-only. Anything else is a miss, rebuilt.
A blob is shared with the image that built or reused it (one read-only inode, this user's)
when the cache and the build share a file system, and checked again whenever it is reused.
Pruning walks real directories only and removes nothing outside ``layers-v1``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlenv.cache import LAYERS
from mlenv.cache.files import open_plain
from mlenv.cache.held import Measured, held_copy, measure
from mlenv.cache.kept import KeptBlob, read_only
from mlenv.cache.layer_walk import ENTRY, JUNK, WORK, real_dir, remove, walk
from mlenv.direct import DirectReader, direct
from mlenv.errors import MlenvError
from mlenv.install.wheels import WheelClaims
from mlenv.report import Reporter, human_bytes
from mlenv.tarball import LayerBlob

MAX_ENV = "MLENV_LAYER_CACHE_MAX"
DEFAULT_MAX = 10 << 30
_BLOB = "blob"
_META = "layer.json"
MAX_META = 64 << 20  # a record lists the layer's directories; far below this
_WHEEL = "wheel.json"
_PASSED = "passed.json"  # a check's pass on inputs named by the key (passed, mark_passed)
_RECORDS = (_META, _WHEEL, _PASSED)  # a complete entry holds one of them
# A wheel's licences as the SBOM states them (sbom.Licences' result).
Licence = list[dict[str, Any]]


class LayerCacheError(MlenvError):
    """The layer cache's size limit is malformed, or ``cache prune`` cannot free the space."""


@dataclass(frozen=True)
class CachedLayer:
    blob: LayerBlob
    dirs: tuple[str, ...]  # the directories in the layer, which no other layer then needs
    checked: bool = True  # False: linked, its bytes still to be checked by the read that ships them


def max_size(env: Mapping[str, str]) -> int:
    """``$MLENV_LAYER_CACHE_MAX`` in bytes (suffixes K, M, G, T: powers of 1024)."""
    raw = env.get(MAX_ENV, "").strip()
    return DEFAULT_MAX if not raw else parse_size(raw, MAX_ENV)


def parse_size(raw: str, where: str) -> int:
    units = {"K": 10, "M": 20, "G": 30, "T": 40}
    text = raw.strip().upper().removesuffix("IB").removesuffix("B")
    number, shift = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 0)
    if not (number.isascii() and number.isdigit()):
        raise LayerCacheError(
            f"{raw!r} is not a size", where=where, hint="write bytes, or a number with K, M, G, T"
        )
    digits = number.lstrip("0") or "0"  # int() refuses past 4300 digits: no disk holds 40
    return (int(digits) if len(digits) <= 40 else 10**40) << shift


class LayerCache:
    """The store under ``<cache>/layers-v1``; every method is safe against concurrent builds."""

    def __init__(self, cache_root: Path) -> None:
        self.cache_root = cache_root
        self.root = cache_root / LAYERS

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _open(self, key: str, name: str) -> BinaryIO:
        """One file of the entry, only if this user wrote it and no one else can change it."""
        return open_plain(self.cache_root, f"{LAYERS}/{key[:2]}/{key}/{name}", private=2)

    def get(
        self, key: str, dest: Path, reporter: Reporter, *, later: bool = False
    ) -> CachedLayer | None:
        """The entry's blob at ``dest`` and its record, or None when absent or corrupt. The blob
        is copied there by the read that hashes it (security invariant 1), and kept only when
        it matches the recorded digest. ``later``: it is linked instead when only this user
        could change it, and not read now but by the one read that ships it (``dest`` must then
        be in a directory only this user can change), which checks it against the digest
        (``checked`` is False) and calls ``drop`` if it differs. Never a link checked now: the
        read that ships it would read the cache's file again, unchecked."""
        entry = self._entry(key)
        try:
            with self._open(key, _META) as handle:
                record = handle.read(MAX_META + 1)
        except FileNotFoundError:
            return None  # never built, or pruned
        except OSError as exc:  # planted, a symlink, a FIFO, or not this user's to read
            self._drop(entry, reporter, f"not used: {exc.strerror or exc}")
            return None
        try:
            if len(record) > MAX_META:
                raise ValueError(f"a record over {MAX_META} bytes")
            cached = _read_meta(record, key)
            with self._open(key, _BLOB) as source:
                if os.fstat(source.fileno()).st_size != cached.blob.size:
                    raise _Mismatch
                measured = held_copy(
                    source,
                    entry / _BLOB,
                    dest,
                    limit=cached.blob.size,
                    share=later,
                    check=functools.partial(_matching, cached.blob),
                    big=True,  # gigabytes, moved on into the image: not cached now
                    later=later,
                )
        except _Mismatch:
            self._drop(entry, reporter, "its blob does not match its digest")
            return None
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self._drop(entry, reporter, f"unreadable: {why}")
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / _META, follow_symlinks=False)  # most recently used
        return cached if measured is not None else dataclasses.replace(cached, checked=False)

    def drop(self, key: str, reporter: Reporter, why: str) -> None:
        """Remove an entry found corrupt after ``get`` (see ``later``)."""
        self._drop(self._entry(key), reporter, why)

    def keeping(self) -> KeptBlob:
        """The cache's own copy of a blob about to be written (see ``mlenv.cache.kept``)."""
        return KeptBlob(self.root)

    def beside(self, directory: Path) -> bool:
        """Whether a blob written in ``directory`` can be kept by a link (one file system)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            return self.root.stat().st_dev == directory.stat().st_dev
        except OSError:
            return False

    def put_file(
        self, key: str, blob: LayerBlob, path: Path, dirs: Sequence[str], reporter: Reporter
    ) -> None:
        """Keep a built blob by linking its file into the entry: ``path`` is this build's (in
        its private work directory, beside the cache: ``beside``), made read-only through its
        own descriptor first (``read_only``: a plain file with no other link), so the image's
        blob and the cache's are one inode that only this user could change and nothing of
        mlenv writes again; ``_commit`` checks its size, and a reuse its bytes (``get``)."""
        try:
            read_only(path)
        except OSError as exc:
            reporter.warning(f"cannot keep the layer in {self.root}: {exc.strerror or exc}")
            return
        meta = _sealed({"key": key, "blob": asdict(blob), "dirs": list(dirs)})
        self._commit(key, {_META: meta}, reporter, blob=(path, blob.size), link=True)

    def put(
        self,
        key: str,
        blob: LayerBlob,
        kept: KeptBlob,
        dirs: Sequence[str],
        reporter: Reporter,
    ) -> None:
        """Keep the ``kept`` copy of a built blob (a cache on another file system than the
        build), whole or not at all. A cache that cannot be written (read-only, full) costs
        the next build time, not this one."""
        if kept.path is None:
            reporter.warning(f"cannot keep the layer in {self.root}: {kept.problem}")
            return
        meta = _sealed({"key": key, "blob": asdict(blob), "dirs": list(dirs)})
        try:
            self._commit(key, {_META: meta}, reporter, blob=(kept.path, blob.size))
        finally:
            with contextlib.suppress(OSError):
                kept.path.unlink(missing_ok=True)  # moved into the entry, or not kept

    def get_wheel(self, key: str) -> tuple[WheelClaims, Licence] | None:
        """What a wheel installs and its licences, as recorded when it was vetted; None when
        absent or damaged (the wheel is then read again)."""
        entry = self._entry(key)
        try:
            with self._open(key, _WHEEL) as handle:  # as trusted as a layer's record
                record = handle.read(MAX_META + 1)
            if len(record) > MAX_META:
                return None
            body = _unsealed(record, key)
            found, licences = WheelClaims.from_dict(body["wheel"]), body["licences"]
            if not isinstance(licences, list) or not all(isinstance(x, dict) for x in licences):
                raise ValueError("licences are not a list of objects")
        except (OSError, ValueError, TypeError, KeyError, IndexError, RecursionError):
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / _WHEEL, follow_symlinks=False)
        return found, licences

    def put_wheel(
        self, key: str, wheel: WheelClaims, licences: Licence, reporter: Reporter
    ) -> None:
        """Keep what a vetted wheel installs (see ``get_wheel``)."""
        body = {"key": key, "wheel": asdict(wheel), "licences": licences}
        self._commit(key, {_WHEEL: _sealed(body)}, reporter)

    def passed(self, key: str) -> bool:
        """Whether a check whose inputs ``key`` names passed before (see ``mark_passed``); an
        absent, damaged or foreign record is a miss, and the check runs again."""
        try:
            with self._open(key, _PASSED) as handle:
                _unsealed(handle.read(MAX_META + 1), key)
        except (OSError, ValueError, TypeError, KeyError):
            return False
        with contextlib.suppress(OSError):
            os.utime(self._entry(key) / _PASSED, follow_symlinks=False)
        return True

    def mark_passed(self, key: str, reporter: Reporter) -> None:
        """Keep that a slow, pure check passed on the inputs ``key`` names (a base image's
        prefix scan: ``oci.base_tree``), trusted as a layer's record is."""
        self._commit(key, {_PASSED: _sealed({"key": key})}, reporter)

    def _commit(
        self,
        key: str,
        files: Mapping[str, bytes],
        reporter: Reporter,
        blob: tuple[Path, int] | None = None,
        link: bool = False,
    ) -> None:
        """Write an entry in a temporary directory and rename it into place whole; the blob is
        moved in, or linked (``link``: already read-only, ``put_file``)."""
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            final = self._entry(key)
            final.parent.mkdir(exist_ok=True)
            for directory in (self.root, final.parent):  # never written through a symlink
                if not real_dir(directory):
                    raise OSError(errno.ENOTDIR, f"{directory} is not a plain directory")
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            if blob is not None:
                if blob[0].lstat().st_size != blob[1]:
                    raise OSError(errno.EIO, f"the kept blob is not {blob[1]} bytes")
                if link:
                    link = _link_or_copy(blob[0], tmp / _BLOB)
                else:
                    blob[0].rename(tmp / _BLOB)
            for name, data in files.items():  # new files only: never through a planted link
                with open(tmp / name, "xb") as record:
                    record.write(data)
            moved = [] if blob is None or link else [_BLOB]
            for name in [*files, *moved]:  # read-only: what get trusts, no one rewrites in place
                read_only(tmp / name)
            with contextlib.suppress(OSError):  # another build kept the same entry first
                tmp.rename(final)
        except OSError as exc:
            reporter.warning(f"cannot keep the layer in {self.root}: {exc.strerror or exc}")
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last use, size, directory) of every complete entry, walking real directories only:
        a symlink anywhere below the cache root is never followed (nor counted)."""
        return sorted(
            (used, size, path)
            for kind, used, size, path in walk(self.root, _RECORDS)
            if kind == ENTRY
        )

    def usage(self) -> int:
        """Bytes below the cache root, whatever they are: entries, work directories, and
        anything else that got there (shards of other names, half entries, stray files)."""
        return sum(size for _, _, size, _ in walk(self.root, _RECORDS))

    def prune(
        self, limit: int, keep: Collection[str] = (), strict: bool = False
    ) -> tuple[int, int]:
        """Drop least recently used entries until at most ``limit`` bytes stay (``keep``: keys
        just used by this build, dropped last). What can never be used (``JUNK``, a work
        directory a killed build left a day ago) is dropped first, whatever the limit, and
        counted. Returns (entries removed, bytes freed), counting only what is gone: a cache
        this user cannot change (another owner's, a read-only mount) keeps its entries, which
        ``strict`` (``cache prune``, asked to free the space) makes an error."""
        removed = freed = 0
        refused: list[tuple[Path, OSError]] = []
        day_ago = time.time() - 24 * 3600
        for kind, used, size, path in walk(self.root, _RECORDS):
            old = kind == JUNK or (kind == WORK and used < day_ago)
            if old and self._remove(path, refused):
                removed, freed = removed + (kind == JUNK), freed + size
        entries = sorted(self.entries(), key=lambda e: (e[2].name in keep, e[0], e[2].name))
        total = self.usage()
        for _, size, path in entries:
            if total <= limit:
                break
            if self._remove(path, refused):
                removed, freed, total = removed + 1, freed + size, total - size
        if strict and refused:
            path, exc = refused[0]
            raise LayerCacheError(
                f"cannot remove {len(refused)} layer cache entry(ies)"
                f" ({removed} removed, {human_bytes(freed)} freed): {exc.strerror or exc}",
                where=str(path),
                hint="run `mlenv cache prune` as the user who owns the cache, on a writable mount",
            )
        return removed, freed

    def _drop(self, entry: Path, reporter: Reporter, why: str) -> None:
        reporter.warning(f"layer cache entry {entry.name[:12]} is corrupt ({why}): rebuilt")
        self._remove(entry)

    def _remove(self, entry: Path, refused: list[tuple[Path, OSError]] | None = None) -> bool:
        """``remove`` (never through a symlink); False, the reason added to ``refused``, when
        the entry could not be moved."""
        try:
            remove(self.cache_root, LAYERS, entry.relative_to(self.root).parts)
        except FileNotFoundError:
            return True  # another prune or a corrupt-entry drop got there first
        except OSError as exc:
            if refused is not None:
                refused.append((entry, exc))
            return False
        return True


def _sealed(body: Mapping[str, Any]) -> bytes:
    """An entry's record, with the sha256 of its own body: a damaged record is detected."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    check = hashlib.sha256(text.encode()).hexdigest()
    return json.dumps({"body": body, "sha256": check}, sort_keys=True, indent=1).encode()


def _unsealed(data: bytes, key: str) -> Any:
    document = json.loads(data)
    body = document["body"]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    if hashlib.sha256(text.encode()).hexdigest() != document["sha256"] or body["key"] != key:
        raise ValueError("the record does not match its checksum or its key")
    return body


def _link_or_copy(source: Path, dest: Path) -> bool:
    """``source`` (this build's own read-only file) linked at ``dest``, True; or, where the file
    system has no hard links (EPERM, ENOTSUP, EMLINK), copied there, False. A copy is read
    back, so it is checked when reused like any entry (``get``)."""
    try:
        os.link(source, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.EOPNOTSUPP):
            raise
        with DirectReader(source) as reader, open(dest, "xb") as out, direct(out) as sink:
            measure(reader, sink)
        return False
    return True


class _Mismatch(Exception):
    """A blob whose bytes are not those its record names."""


def _matching(blob: LayerBlob, measured: Measured) -> Measured:
    if f"sha256:{measured.sha256}" != blob.digest or measured.size != blob.size:
        raise _Mismatch
    return measured


def _read_meta(data: bytes, key: str) -> CachedLayer:
    body = _unsealed(data, key)
    return CachedLayer(LayerBlob(**body["blob"]), tuple(body["dirs"]))
