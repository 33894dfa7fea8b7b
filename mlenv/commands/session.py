"""What every command works on: the project's manifest and lock, the cache, the index
client and the reporter; the CLI builds one from its options."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlenv import lockfile, lockfile_read, watch
from mlenv.atomic import write_atomic
from mlenv.cache import default_root, named_root
from mlenv.cache.artifacts import ArtifactCache
from mlenv.errors import MlenvError, UsageError
from mlenv.hints import importable_beside
from mlenv.manifest import Manifest
from mlenv.manifest_read import loads
from mlenv.outputs import OutputKind, check_output
from mlenv.report import HumanReporter, JsonReporter, QuietReporter, Reporter
from mlenv.userfiles import input_kind, read_input

if TYPE_CHECKING:
    from mlenv.discover import Found
    from mlenv.index import HttpClient


@dataclass(frozen=True)
class Session:
    """What every command needs: where the project is and how to talk to the user."""

    manifest_path: Path
    reporter: Reporter
    verbose: int
    cache: Path | None  # None when no cache can be named (``cache_root`` says so)
    # the parent walk's refusal (``mlenv.discover``), said when the manifest or the lock beside
    # it is read: a command naming all it reads (``diff A B``, ``inspect LOCK``) needs neither
    refused: MlenvError | None = None
    # the manifest the walk found, with the bytes read from the descriptor it judged: the
    # manifest is those bytes, never a second read of a path someone could have swapped since
    found: Found | None = None

    @property
    def cache_root(self) -> Path:
        """The cache; a usage error only for a command that needs one when none can be named
        (no ``--cache``, no ``$MLENV_CACHE_DIR``, and no home: an arbitrary uid in a container
        without ``$HOME``). ``lock --check`` needs none, as the entry point's answer does not."""
        if self.cache is None:
            raise UsageError(
                "cannot tell where the cache is: there is no home directory to keep it in "
                "(or $MLENV_CACHE_DIR names a user's home that cannot be looked up)",
                hint="pass --cache DIR or set MLENV_CACHE_DIR",
            )
        return self.cache

    def kept_cache(self) -> dict[str, Path]:
        """The cache, for an output guard's ``keep``: none when there is none."""
        return {} if self.cache is None else {"the cache": self.cache}

    def load_manifest(self) -> Manifest:
        if self.refused is not None:
            raise self.refused
        return read_manifest(self.manifest_path, self._found_bytes())

    def manifest_bytes(self) -> bytes:
        """The manifest's bytes: the walk's when it found it, else read now."""
        self.load_manifest()  # the same messages as every command for a missing or bad file
        found = self._found_bytes()
        return found if found is not None else read_input(self.manifest_path, "manifest")

    def _found_bytes(self) -> bytes | None:
        found = self.found
        if found is None or found.path != self.manifest_path:
            return None
        watch.opened(found.path, found.info)  # stamped as the read it was
        return found.data

    @property
    def lock_path(self) -> Path:
        return self.manifest_path.parent / "mlenv.lock"

    def load_lock(self) -> lockfile.Lock:
        path = self.lock_path
        try:
            text = self.lock_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"cannot read the lock: {exc}", where=str(path)) from None
        return lockfile_read.loads(text, source=str(path))

    def lock_bytes(self) -> bytes:
        """The lock's bytes, read only from a plain file (``userfiles.read_input``)."""
        if self.refused is not None:
            raise self.refused
        try:
            return read_input(self.lock_path, "lock")
        except FileNotFoundError:
            raise UsageError(
                "no lock here", where=str(self.lock_path), hint="run `mlenv lock` first"
            ) from None

    def http(self, offline: bool, manifest: Manifest | None = None) -> HttpClient:
        """The index client; the hosts ``manifest`` names may be on the link (``OWN_HOSTS``)."""
        from mlenv.index import HttpCache, HttpClient
        from mlenv.net.origins import own_hosts

        named: list[str] = []
        if manifest is not None:
            pypi = manifest.pypi
            named = [pypi.index_url, *pypi.extra_index_urls, *pypi.find_links]
            named += [*(url for _, url in pypi.sources), *manifest.conda.channels]
        own = own_hosts(named)
        return HttpClient(offline=offline, cache=HttpCache(self.cache_root), own_hosts=own)

    def artifact_cache(self) -> ArtifactCache:
        return ArtifactCache(self.cache_root)

    def write_file(
        self, path: Path, data: bytes, kind: OutputKind, keep: Mapping[str, Path] | None = None
    ) -> None:
        """Every file a command writes at a path the user chose goes through the output
        guard: never over a directory, a symlink, a special file, or what the run reads."""
        write_atomic(self.writable(path, kind, keep), data)

    def writable(
        self, path: Path, kind: OutputKind, keep: Mapping[str, Path] | None = None
    ) -> Path:
        """The output guard's answer for ``path`` (``write_file``'s), asked before writing:
        a command that writes two files judges the second before it writes the first."""
        return check_output(path, kind, keep={**(keep or {}), **self.kept_cache()})


def open_session(
    manifest: Path, cache: str | None, verbose: int, quiet: bool, log_format: str
) -> Session:
    """The session the global options ask for: the CLI's, and a plain ``lock``'s (which the
    entry point runs without loading click)."""
    reporter: Reporter
    if log_format == "json":
        reporter = JsonReporter(verbose=verbose)
    elif quiet:
        reporter = QuietReporter()
    else:
        reporter = HumanReporter(verbose=verbose)
    return Session(manifest, reporter, verbose, _cache_root(cache))


def _cache_root(given: str | None) -> Path | None:
    """The cache (or a bundle used as one) is a directory: anything else there, a FIFO or a
    file, is an error saying so rather than a cache where every artifact is missing. None when
    the default cannot be named (``cache.default_root``: no home, or a ``~user`` pwd cannot
    look up), as the entry point has it: only a command that uses the cache fails."""
    if given is None:
        root = default_root()
        if root is None:
            return None
        cache = Path(root)
    else:
        try:
            cache = Path(named_root(given))
        except RuntimeError:
            raise UsageError(
                f"cannot tell which home directory {given!r} starts with",
                where="--cache",
                hint="name the cache directory by an absolute path",
            ) from None
    with contextlib.suppress(FileNotFoundError):  # made when first written
        input_kind(cache, "cache", expected="a directory (a cache or a bundle)", files=False)
    return cache


def read_manifest(path: Path, raw: bytes | None = None) -> Manifest:
    """The manifest at ``path``, or read already (``raw``, the parent walk's bytes)."""
    try:
        raw = read_input(path, "manifest") if raw is None else raw
    except FileNotFoundError:
        found = importable_beside(path)
        raise UsageError(
            "no manifest here",
            where=str(path),
            hint="run `mlenv init` to write one, or pass --manifest PATH"
            if found is None
            else f"start one from the {found.name} here: mlenv init --from {found}",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"not valid UTF-8 (byte {exc.start}, line {line})",
            where=str(path),
            hint="save the manifest as UTF-8",
        ) from None
    return loads(text, source=str(path))
