"""One build's use of the layer cache: which layers it reuses, which wheels it must read."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mlenv.cache.kept import Tee
from mlenv.cache.layer_keys import BuildInputs, layer_key, wheel_key
from mlenv.cache.layers import CachedLayer, LayerCache, Licence
from mlenv.direct import direct
from mlenv.errors import MlenvError
from mlenv.install.wheels import PlannedWheel, WheelClaims
from mlenv.layer_plan import LayerPlan
from mlenv.parallel_gzip import Writable, gzip_workers
from mlenv.report import Reporter, human_bytes
from mlenv.tarball import ContentMismatch, Entry, LayerBlob


class StaleReuse(MlenvError):
    """A reused blob, linked unread (``later``), did not match its digest when it was shipped;
    nothing was, and the build runs again copying every reused blob by the read that checks it."""


class LayerReuse:
    """One build's use of the cache: which layers are reused, which wheels must be read.

    ``known`` gives what the cache recorded of each wheel (what it installs, its licences), so
    only the other wheels need to be vetted before every path's owner is decided; ``select``
    then computes the layer keys from those plans, takes the cached layers, and returns the
    packages of the other layers (every package when ``install_all``: the conda-pack archive
    needs the whole tree). ``layer`` gives each layer, reused or written (and kept in the
    cache by the same writes); ``remember`` keeps what the build learnt of the wheels it vetted.
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
        later: bool = False,
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
        self._later = later
        self._reused: dict[int, tuple[CachedLayer, Path, float]] = {}

    def passed(self, keys: Sequence[str], check: Callable[[], int]) -> int:
        """Run ``check`` (raising when it fails) unless the cache recorded its pass on the
        inputs one of ``keys`` names; its answer is the index of the key its pass is recorded
        under, so a recorded pass gives the answer back."""
        if self._cache is not None:
            found = next((n for n, key in enumerate(keys) if self._cache.passed(key)), None)
            if found is not None:
                return found
        answer = check()
        if self._cache is not None:
            self._cache.mark_passed(keys[answer], self._reporter)
        return answer

    @property
    def parents(self) -> int:
        """How many directories above the prefix the layers carry (``BuildInputs.parents``)."""
        return self._inputs.parents

    def on_base(self, missing: int) -> None:
        """The base image lacks ``missing`` directories above the prefix: the layers carry
        those (and leave the base's own alone), so their keys say how many."""
        self._inputs = dataclasses.replace(self._inputs, parents=missing)

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
        cached = self._cache.get(self.keys[index], path, self._reporter, later=self._later)
        return None if cached is None else (cached, path, time.monotonic() - started)

    def unchecked(self) -> set[str]:
        """Digests of the reused blobs linked but not read yet (``later``): the one read that
        ships them must check them (``write_image_tar(verify=)``), else ``stale``."""
        return {cached.blob.digest for cached, _, _ in self._reused.values() if not cached.checked}

    def stale(self, mismatch: ContentMismatch) -> StaleReuse:
        """The error to build again on, once the entry whose blob ``mismatch`` read is dropped."""
        assert self._cache is not None
        digest = f"sha256:{mismatch.source.name}"
        for index, (cached, _, _) in self._reused.items():
            if cached.blob.digest == digest:
                self._cache.drop(
                    self.keys[index], self._reporter, "its blob changed or cannot be read"
                )
        return StaleReuse(
            "a reused layer changed in the layer cache during the build; building again without it",
            where=str(self._cache.root),
        )

    def writes_whole_tree(self) -> bool:
        """One layer, written by this build: it holds every file the archive holds."""
        return len(self.plans) == 1 and 0 not in self._reused

    def held(self) -> set[str]:
        """The directories of the reused layers (see ``split_entries``)."""
        return {path for cached, _, _ in self._reused.values() for path in cached.dirs}

    def layer(
        self,
        index: int,
        entries: Sequence[Entry],
        out: Path,
        write: Callable[[Writable, str], LayerBlob],
    ) -> tuple[LayerBlob, Path]:
        """The blob of layer ``index``: the verified cached one, or ``write`` into ``out`` (given
        the label to report) and kept in the cache."""
        label = f"layer {index + 1}/{len(self.plans)} ({self.plans[index].name})"
        if index in self._reused:
            cached, path, spent = self._reused[index]
            size = human_bytes(cached.blob.uncompressed_size)
            self._reporter.info(f"{label}: cached: {size} in {spent:.1f}s")
            return cached.blob, path
        label = f"{label}: built"  # the writer reports "<size> in <time>"
        dirs = [entry.path for entry in entries if entry.kind == "dir"]
        if self._cache is None or self._cache.beside(out.parent):
            with out.open("wb") as stream, direct(stream) as sink:
                blob = write(sink, label)
            if self._cache is not None:  # kept by a link: written once
                self._cache.put_file(self.keys[index], blob, out, dirs, self._reporter)
            return blob, out
        # The blob's own file is finished and closed inside the copy's context: a failure there
        # (its tail on a full disk) discards the copy too, never leaving it in the cache root.
        with self._cache.keeping() as kept, out.open("wb") as stream, direct(stream) as sink:
            blob = write(Tee(sink, kept), label)
        self._cache.put(self.keys[index], blob, kept, dirs, self._reporter)
        return blob, out
