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
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

import installer

from mlenv import __version__
from mlenv.cache import measure, open_plain
from mlenv.errors import MlenvError
from mlenv.install import PlannedWheel, WheelClaims
from mlenv.layer import (
    GZIP_BLOCK,
    GZIP_LEVEL,
    ZSTD_LEVEL,
    ZSTD_THREADS,
    Compression,
    Entry,
    LayerBlob,
    compressor_versions,
    gzip_workers,
)
from mlenv.layering import LayerPlan
from mlenv.report import Reporter, human_bytes

LAYOUT = "layers-v1"
# Raised whenever the same inputs would give other layer bytes (a change of the tar writer,
# the venv layout, the split rule): old entries then simply stop matching.
FORMAT = 1
MAX_ENV = "MLENV_LAYER_CACHE_MAX"
DEFAULT_MAX = 10 << 30
_BLOB = "blob"
_META = "layer.json"
_WHEEL = "wheel.json"
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
        self.root = cache_root / LAYOUT

    def _entry(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str, dest: Path, reporter: Reporter) -> CachedLayer | None:
        """Copy the entry's blob to ``dest`` and return its record, or None when absent or
        corrupt. The copy is made by the read that hashes it, never a hard link (security
        invariant 1): a later write to the shared cache cannot reach this build's image, and
        only bytes matching the recorded digest are kept."""
        entry = self._entry(key)
        try:
            record = (entry / _META).read_bytes()
        except OSError:
            return None  # never built, pruned, or a cache that is not mlenv's to read
        try:
            cached = _read_meta(record, key)
            with open_plain(entry, _BLOB) as source, open(dest, "xb") as out:
                measured = measure(source, out, limit=cached.blob.size)
            digest, size = measured.sha256, measured.size
        except (OSError, ValueError, TypeError, KeyError) as exc:
            dest.unlink(missing_ok=True)
            self._drop(entry, reporter, f"unreadable: {exc}")
            return None
        if f"sha256:{digest}" != cached.blob.digest or size != cached.blob.size:
            dest.unlink()
            self._drop(entry, reporter, "its blob does not match its digest")
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / _META)  # most recently used
        return cached

    def put(
        self, key: str, blob: LayerBlob, path: Path, dirs: Sequence[str], reporter: Reporter
    ) -> None:
        """Keep a copy of a built blob (never a hard link: the image in dist/ and the shared
        cache must not share bytes), whole or not at all. A cache that cannot be written
        (read-only, full) costs the next build time, not this one."""
        meta = _sealed({"key": key, "blob": asdict(blob), "dirs": list(dirs)})
        self._commit(key, {_META: meta}, reporter, blob=path)

    def get_wheel(self, key: str) -> tuple[WheelClaims, Licence] | None:
        """What a wheel installs and its licences, as recorded when it was vetted; None when
        absent or damaged (the wheel is then read again)."""
        entry = self._entry(key)
        try:
            body = _unsealed((entry / _WHEEL).read_bytes(), key)
            wheel = body["wheel"]
            claims = tuple(
                (target, member, None if content is None else (content[0], content[1]))
                for target, member, content in wheel["claims"]
            )
            found = WheelClaims(
                wheel["name"], wheel["filename"], wheel["dist_info"], claims,
                tuple(wheel["dropped"]),
            )  # fmt: skip
            licences: Licence = body["licences"]
        except (OSError, ValueError, TypeError, KeyError):
            return None
        with contextlib.suppress(OSError):
            os.utime(entry / _WHEEL)
        return found, licences

    def put_wheel(
        self, key: str, wheel: WheelClaims, licences: Licence, reporter: Reporter
    ) -> None:
        """Keep what a vetted wheel installs (see ``get_wheel``)."""
        body = {"key": key, "wheel": asdict(wheel), "licences": licences}
        self._commit(key, {_WHEEL: _sealed(body)}, reporter)

    def _commit(
        self, key: str, files: Mapping[str, bytes], reporter: Reporter, blob: Path | None = None
    ) -> None:
        """Write an entry in a temporary directory and rename it into place whole."""
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
            if blob is not None:
                shutil.copyfile(blob, tmp / _BLOB)
            for name, data in files.items():
                (tmp / name).write_bytes(data)
            final = self._entry(key)
            final.parent.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):  # another build kept the same entry first
                tmp.rename(final)
        except OSError as exc:
            reporter.warning(f"cannot keep the layer in {self.root}: {exc.strerror or exc}")
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last use, size, directory) of every complete entry."""
        found = []
        metas = [*self.root.glob(f"??/*/{_META}"), *self.root.glob(f"??/*/{_WHEEL}")]
        for meta in metas:
            with contextlib.suppress(OSError):
                used = meta.stat().st_mtime
                size = sum(p.stat().st_size for p in meta.parent.iterdir())
                found.append((used, size, meta.parent))
        return sorted(found)

    def prune(self, limit: int, keep: Collection[str] = ()) -> tuple[int, int]:
        """Drop least recently used entries until at most ``limit`` bytes stay (``keep``: keys
        just used by this build, dropped last). Returns (entries removed, bytes freed)."""
        entries = sorted(self.entries(), key=lambda e: (e[2].name in keep, e[0], e[2].name))
        total = sum(size for _, size, _ in entries)
        removed = freed = 0
        for _, size, path in entries:
            if total - freed <= limit:
                break
            self._remove(path)
            removed, freed = removed + 1, freed + size
        for stale in self.root.glob(".tmp-*"):  # left by a build that was killed
            if time.time() - stale.stat().st_mtime > 24 * 3600:
                shutil.rmtree(stale, ignore_errors=True)
        return removed, freed

    def _drop(self, entry: Path, reporter: Reporter, why: str) -> None:
        reporter.warning(f"layer cache entry {entry.name[:12]} is corrupt ({why}): rebuilt")
        self._remove(entry)

    def _remove(self, entry: Path) -> None:
        """Renamed out of the way first, so no reader sees half an entry."""
        trash = self.root / f".tmp-drop-{entry.name}-{os.getpid()}"
        with contextlib.suppress(OSError):
            entry.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)


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


class LayerReuse:
    """One build's use of the cache: which layers are reused, which wheels must be read.

    ``known`` gives what the cache recorded of each wheel (what it installs, its licences), so
    only the other wheels need to be vetted before every path's owner is decided; ``select``
    then computes the layer keys from those plans, takes the cached layers, and returns the
    packages of the other layers (every package when ``install_all``: the conda-pack archive
    needs the whole tree). ``layer`` gives each layer, reused or written; ``remember`` keeps
    what the build learnt of the wheels it vetted.
    """

    def __init__(
        self,
        cache: LayerCache | None,
        plans: Sequence[LayerPlan],
        shas: Mapping[str, str],
        inputs: BuildInputs,
        scratch: Path,
        reporter: Reporter,
        *,
        install_all: bool,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        self.plans = tuple(plans)
        self._sizes = sizes or {}
        self.keys: tuple[str, ...] = ()
        self._cache = cache
        self._shas = shas
        self._inputs = inputs
        self._scratch = scratch
        self._reporter = reporter
        self._install_all = install_all
        self._reused: dict[int, tuple[CachedLayer, Path, float]] = {}

    def known(self, filenames: Mapping[str, str]) -> dict[str, tuple[WheelClaims, Licence]]:
        """The recorded claims and licences of the wheels (``filenames`` by canonical name)
        that the cache has, by name."""
        if self._cache is None:
            return {}
        found = {}
        for name, filename in filenames.items():
            key = wheel_key(filename, self._shas[name], self._inputs)
            record = self._cache.get_wheel(key)
            if record is not None and (record[0].name, record[0].filename) == (name, filename):
                found[name] = record
        return found

    def remember(self, vetted: Sequence[WheelClaims], licences: Mapping[str, Licence]) -> None:
        """Keep what the build vetted of each wheel (``licences`` by wheel sha256)."""
        if self._cache is None:
            return
        for wheel in vetted:
            sha = self._shas[wheel.name]
            key = wheel_key(wheel.filename, sha, self._inputs)
            self._cache.put_wheel(key, wheel, licences.get(sha, []), self._reporter)

    def select(self, planned: Sequence[PlannedWheel]) -> set[str]:
        """The packages to install: those of the layers the cache does not have."""
        wheels = {wheel.name: (wheel, self._shas[wheel.name]) for wheel in planned}
        self.keys = tuple(layer_key(plan, wheels, self._inputs) for plan in self.plans)
        if self._cache is not None:
            self._scratch.mkdir(parents=True, exist_ok=True)
            # Each blob is copied by the read that hashes it: sha256 and the copy release the
            # GIL, so the blobs are verified on every core at once, biggest first.
            order = sorted(range(len(self.keys)), key=lambda i: -self._size_hint(i))
            with ThreadPoolExecutor(gzip_workers(), thread_name_prefix="mlenv-reuse") as pool:
                found = dict(zip(order, pool.map(self._take, order), strict=True))
            self._reused = {index: taken for index, taken in found.items() if taken}
        if self._install_all:
            return set(wheels)
        return {
            name
            for index, plan in enumerate(self.plans)
            if index not in self._reused
            for name in plan.packages
        }

    def _size_hint(self, index: int) -> int:
        return sum(self._sizes.get(name, 0) for name in self.plans[index].packages)

    def _take(self, index: int) -> tuple[CachedLayer, Path, float] | None:
        """The cached layer ``index``, verified and copied, with the time it took; None: a miss."""
        assert self._cache is not None
        started = time.monotonic()
        path = self._scratch / f"reused-{index}"
        cached = self._cache.get(self.keys[index], path, self._reporter)
        return None if cached is None else (cached, path, time.monotonic() - started)

    def held(self) -> set[str]:
        """The directories of the reused layers (see ``split_entries``)."""
        return {path for cached, _, _ in self._reused.values() for path in cached.dirs}

    def layer(
        self,
        index: int,
        entries: Sequence[Entry],
        out: Path,
        write: Callable[[BinaryIO, str], LayerBlob],
    ) -> tuple[LayerBlob, Path]:
        """The blob of layer ``index``: the verified cached one, or ``write`` into ``out`` (given
        the label to report) and kept in the cache."""
        label = f"layer {index + 1}/{len(self.plans)} ({self.plans[index].name})"
        if index in self._reused:
            cached, path, spent = self._reused[index]
            size = human_bytes(cached.blob.uncompressed_size)
            self._reporter.info(f"{label}: cached: {size} in {spent:.1f}s")
            return cached.blob, path
        with out.open("wb") as stream:  # the writer reports "built: <size> in <time>"
            blob = write(stream, f"{label}: built")
        if self._cache is not None:
            dirs = [entry.path for entry in entries if entry.kind == "dir"]
            self._cache.put(self.keys[index], blob, out, dirs, self._reporter)
        return blob, out
