"""Built layer blobs, kept and reused by the key of everything their bytes depend on.

A layer is a pure function of its inputs, so a rebuild after one package changed needs to
install and compress only that package's layer (and the skeleton, whose directories depend on
every package). ``layer_key`` names every input; a blob is reused only after its sha256 is
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
Pruning walks real directories only and removes nothing outside ``layers-v1``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import installer

from mlenv import __version__
from mlenv.cache import LAYERS
from mlenv.cache.artifacts import measure, open_plain
from mlenv.cache.kept import KeptBlob, read_only
from mlenv.cache.layer_walk import ENTRY, JUNK, WORK, real_dir, walk
from mlenv.direct import direct
from mlenv.errors import MlenvError
from mlenv.install.wheels import PlannedWheel, WheelClaims
from mlenv.layer_plan import LayerPlan
from mlenv.parallel_gzip import GZIP_BLOCK, GZIP_LEVEL
from mlenv.report import Reporter
from mlenv.tarball import (
    ZSTD_LEVEL,
    ZSTD_THREADS,
    Compression,
    LayerBlob,
    compressor_versions,
)

# Raised whenever the same inputs would give other layer bytes (a change of the tar writer,
# the venv layout, the split rule): old entries then simply stop matching.
FORMAT = 2  # 2: gzip deflates every file of a block or more on its own
MAX_ENV = "MLENV_LAYER_CACHE_MAX"
DEFAULT_MAX = 10 << 30
_BLOB = "blob"
_META = "layer.json"
MAX_META = 64 << 20  # a record lists the layer's directories; far below this
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_WHEEL = "wheel.json"
_RECORDS = (_META, _WHEEL)  # a complete entry holds one of them
# A wheel's licences as the SBOM states them (sbom.Licences' result).
Licence = list[dict[str, Any]]


class LayerCacheError(MlenvError):
    """The layer cache's size limit is malformed."""


@dataclass(frozen=True)
class BuildInputs:
    """What every layer of one build shares: settings that reach the layer bytes."""

    prefix: str
    interpreter: str
    python: str
    bytecode: str
    compression: Compression
    epoch: int
    parents: bool  # the prefix's parent directories are in the layers (no base image)
    conda: tuple[str, ...]  # sha256 of the conda packages under the skeleton, in lock order


@dataclass(frozen=True)
class CachedLayer:
    blob: LayerBlob
    dirs: tuple[str, ...]  # the directories in the layer, which no other layer then needs


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
    return int(number) << shift


@functools.cache
def code_digest() -> str:
    """sha256 of mlenv's own sources: a change of the code that writes layers (even without a
    new version or FORMAT, as in development) never reuses a layer the old code wrote."""
    package = Path(__file__).parent
    hasher = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        hasher.update(path.relative_to(package).as_posix().encode() + b"\0")
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()


def layer_key(
    plan: LayerPlan,
    wheels: Mapping[str, tuple[PlannedWheel, str]],
    inputs: BuildInputs,
) -> str:
    """The sha256 naming one layer's inputs. ``wheels`` maps every package of the build to its
    vetted wheel and the wheel's sha256: a package layer depends on its own wheels (and on the
    members another wheel owns), the skeleton on every wheel, since a directory goes to it only
    when no package installs below it."""
    names = sorted(wheels) if plan.skeleton else plan.packages
    document = {
        "format": FORMAT,
        "mlenv": __version__,
        "code": code_digest(),
        "installer": installer.__version__,
        "compressors": compressor_versions(),
        "gzip": [GZIP_LEVEL, GZIP_BLOCK],
        "zstd": [ZSTD_LEVEL, ZSTD_THREADS],
        "build": asdict(inputs),
        "plan": {"packages": list(plan.packages), "skeleton": plan.skeleton},
        "wheels": [
            {
                "name": name,
                "file": wheels[name][0].filename,
                "sha256": wheels[name][1],
                "skipped": list(wheels[name][0].skipped),
            }
            for name in names
        ],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def wheel_key(filename: str, sha256: str, inputs: BuildInputs) -> str:
    """The sha256 naming what one wheel installs in one build's layout (``WheelClaims``)."""
    document = {
        "format": FORMAT,
        "mlenv": __version__,
        "code": code_digest(),
        "build": asdict(inputs),
        "wheel": {"file": filename, "sha256": sha256},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


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

    def get(self, key: str, dest: Path, reporter: Reporter) -> CachedLayer | None:
        """Copy the entry's blob to ``dest`` and return its record, or None when absent or
        corrupt. The copy is made by the read that hashes it, never a hard link (security
        invariant 1): a later write to the shared cache cannot reach this build's image, and
        only bytes matching the recorded digest are kept."""
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
            with (
                self._open(key, _BLOB) as source,
                open(dest, "xb") as out,
                direct(out) as sink,  # gigabytes, moved on into the image: not cached now
            ):
                measured = measure(source, sink, limit=cached.blob.size)
            digest, size = measured.sha256, measured.size
        except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:
            dest.unlink(missing_ok=True)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            self._drop(entry, reporter, f"unreadable: {why}")
            return None
        if f"sha256:{digest}" != cached.blob.digest or size != cached.blob.size:
            dest.unlink()
            self._drop(entry, reporter, "its blob does not match its digest")
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / _META, follow_symlinks=False)  # most recently used
        return cached

    def keeping(self) -> KeptBlob:
        """The cache's own copy of a blob about to be written (see ``mlenv.cache.kept``)."""
        return KeptBlob(self.root)

    def put(
        self,
        key: str,
        blob: LayerBlob,
        kept: KeptBlob,
        dirs: Sequence[str],
        reporter: Reporter,
    ) -> None:
        """Keep the ``kept`` copy of a built blob (never a hard link: the image in dist/ and the
        shared cache must not share bytes), whole or not at all. A cache that cannot be written
        (read-only, full) costs the next build time, not this one."""
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

    def _commit(
        self,
        key: str,
        files: Mapping[str, bytes],
        reporter: Reporter,
        blob: tuple[Path, int] | None = None,
    ) -> None:
        """Write an entry in a temporary directory and rename it into place whole."""
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
                blob[0].rename(tmp / _BLOB)
            for name, data in files.items():  # new files only: never through a planted link
                with open(tmp / name, "xb") as record:
                    record.write(data)
            for written in tmp.iterdir():  # read-only: what get trusts, no one rewrites in place
                read_only(written)
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

    def prune(self, limit: int, keep: Collection[str] = ()) -> tuple[int, int]:
        """Drop least recently used entries until at most ``limit`` bytes stay (``keep``: keys
        just used by this build, dropped last). What can never be used (``JUNK``, a work
        directory a killed build left a day ago) is dropped first, whatever the limit, and
        counted. Returns (entries removed, bytes freed)."""
        removed = freed = 0
        day_ago = time.time() - 24 * 3600
        for kind, used, size, path in walk(self.root, _RECORDS):
            if kind == JUNK or (kind == WORK and used < day_ago):
                self._remove(path)
                removed, freed = removed + (kind == JUNK), freed + size
        entries = sorted(self.entries(), key=lambda e: (e[2].name in keep, e[0], e[2].name))
        total = self.usage()
        for _, size, path in entries:
            if total <= limit:
                break
            self._remove(path)
            removed, freed, total = removed + 1, freed + size, total - size
        return removed, freed

    def _drop(self, entry: Path, reporter: Reporter, why: str) -> None:
        reporter.warning(f"layer cache entry {entry.name[:12]} is corrupt ({why}): rebuilt")
        self._remove(entry)

    def _remove(self, entry: Path) -> None:
        """Renamed out of the way first, so no reader sees half an entry. The rename goes
        through directories opened without following a symlink, so it moves what is inside the
        cache (a symlink itself, never its target); only a real directory is then emptied."""
        trash = f".tmp-drop-{entry.name}-{os.getpid()}"
        with contextlib.suppress(OSError):
            parts = entry.relative_to(self.root).parts
            root = os.open(self.cache_root, os.O_RDONLY | os.O_DIRECTORY)
            fds = [root]
            try:
                fds.append(os.open(LAYERS, _NOFOLLOW_DIR, dir_fd=root))
                for part in parts[:-1]:
                    fds.append(os.open(part, _NOFOLLOW_DIR, dir_fd=fds[-1]))
                os.rename(parts[-1], trash, src_dir_fd=fds[-1], dst_dir_fd=fds[1])
                if stat.S_ISDIR(os.lstat(trash, dir_fd=fds[1]).st_mode):
                    shutil.rmtree(trash, dir_fd=fds[1], ignore_errors=True)
                else:
                    os.unlink(trash, dir_fd=fds[1])
            finally:
                for fd in fds:
                    os.close(fd)


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


def _read_meta(data: bytes, key: str) -> CachedLayer:
    body = _unsealed(data, key)
    return CachedLayer(LayerBlob(**body["blob"]), tuple(body["dirs"]))
