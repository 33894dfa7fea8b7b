"""From a lock and a filled cache to `dist/`, offline and byte for byte.

Every output (the OCI layout, `image.tar`, the conda-pack archive, `build.json`) is written
into a temporary directory beside `dist/` and swapped in whole, so an interrupted build leaves
the previous complete `dist/` or the new one. Nothing here touches the network: artifacts come
from the verified cache only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from packaging.utils import canonicalize_name

from mlenv import __version__
from mlenv.atomic import work_dir
from mlenv.build_outputs import (
    DEFAULT_EPOCH,
    BuildError,
    BuildOptions,
    checked_base,
    require_cuda,
    wheel_licences_of,
    write_archive,
    write_image,
    write_sbom,
)
from mlenv.build_record import BUILD_RECORD, LAST_EPOCH, BuildRecord, MultiPlatformRecord
from mlenv.build_written import BUILD_OUTPUT as BUILD_OUTPUT  # its gate, re-exported
from mlenv.cache import BUNDLE_INDEX
from mlenv.cache.artifacts import ArtifactCache
from mlenv.cache.held import hash_file
from mlenv.cache.layer_keys import BuildInputs
from mlenv.cache.layers import LayerCache, max_size
from mlenv.cache.lock_artifacts import artifacts_of, require_cached, verified_copies
from mlenv.cache.reuse import LayerReuse, StaleReuse
from mlenv.commands.session import Session
from mlenv.errors import MlenvError, UsageError, printable
from mlenv.frozen import judge_lock
from mlenv.install.checks import NamedWheel
from mlenv.install.wheels import install_environment, plan_owners
from mlenv.layer_plan import plan_layers
from mlenv.lockfile import Lock, LockedPackage
from mlenv.manifest import Manifest
from mlenv.oci.model import canonical_json
from mlenv.outputs import check_output, replace_output
from mlenv.parallel_gzip import GzipTwin, raise_cause, twin_side
from mlenv.report import Reporter
from mlenv.spent import Spent
from mlenv.tarball import compressor_versions


def build_keep(manifest: Manifest, manifest_dir: Path, cache: ArtifactCache) -> dict[str, Path]:
    """What a build reads and so must never replace: every ``--dist`` is checked against it."""
    keep = {"the project directory": manifest_dir, "the cache": cache.root}
    if manifest.build.base_image is not None:
        keep["the base image"] = manifest_dir / manifest.build.base_image
    return keep


def source_date_epoch(env: Mapping[str, str]) -> int:
    """SOURCE_DATE_EPOCH when set (a malformed value is an error, never ignored)."""
    raw = env.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return DEFAULT_EPOCH
    # ASCII digits only (the spec's form): isdigit() takes "²" and other scripts' digits too
    if not (raw.isascii() and raw.isdigit()):
        raise BuildError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds",
            where="SOURCE_DATE_EPOCH",
            hint="set it to an integer such as 1700000000, or unset it",
        )
    digits = raw.lstrip("0") or "0"  # int() refuses 4300 digits; 13 are past LAST_EPOCH
    epoch = int(digits) if len(digits) <= len(str(LAST_EPOCH)) else LAST_EPOCH + 1
    if epoch > LAST_EPOCH:
        raise BuildError(
            f"SOURCE_DATE_EPOCH={printable(raw, 40)} is after 9999-12-31T23:59:59Z, "
            "the last time an image config's RFC 3339 `created` can state",
            where="SOURCE_DATE_EPOCH",
            hint="set it to an integer such as 1700000000, or unset it",
        )
    return epoch


def build(
    manifest: Manifest,
    manifest_dir: Path,
    lock: Lock,
    lock_bytes: bytes,
    cache: ArtifactCache,
    dist: Path,
    options: BuildOptions,
    *,
    reporter: Reporter,
    later: bool = True,
) -> BuildRecord:
    """Build every output of the manifest into ``dist``; returns the build record.

    ``dist`` is checked before anything else is done: mlenv replaces only its own outputs.
    Reused layers are linked unread (``later``) and checked by the read that writes image.tar;
    in the rare case one changed meanwhile (or cannot be read), nothing was shipped and the
    build runs again copying them all by the read that checks them (``LayerReuse(later=)``)."""
    keep = build_keep(manifest, manifest_dir, cache)
    dist = check_output(dist, BUILD_OUTPUT, keep=keep)
    from mlenv.oci.base import pinned_base  # no registry client: pull_base loads it

    manifest = pinned_base(manifest, cache)  # a registry base image: its layout in the cache
    env = manifest.environment
    locked = lock.platform(options.platform)
    conda_python = any(c.name == "python" for c in locked.conda)
    interpreter = f"{env.prefix}/bin/python" if conda_python else env.interpreter
    if interpreter is None:
        raise BuildError(
            "the environment has no Python interpreter to run on",
            where=f"{manifest.source}: [environment].interpreter",
            hint=f"name the base image's Python, e.g. interpreter = "
            f'"/usr/bin/python{env.python}", or let conda provide one '
            f'("python {env.python}.*" in [conda].dependencies)',
        )
    artifacts = artifacts_of(lock, [options.platform])
    require_cached(cache, artifacts, "build --offline", manifest_dir)
    try:
        with _disk_errors(dist.parent), work_dir(dist) as work, contextlib.ExitStack() as stack:
            # Removing a tree of gigabytes is mostly the kernel's work: it runs beside the build.
            tidy = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="mlenv-tidy"))
            copies = work / "artifacts"
            copies.mkdir()
            staging = work / "staging"
            reuse = _layer_reuse(manifest, lock, interpreter, cache, work, options, reporter, later)
            base = checked_base(manifest, manifest_dir, options.platform, reuse, reporter)
            packages: dict[str, LockedPackage] = {
                canonicalize_name(p.name): p for p in locked.packages
            }
            # Wheels whose vetting the layer cache recorded are read only if their layer is rebuilt.
            known = (
                {} if reuse is None else reuse.known({n: p.filename for n, p in packages.items()})
            )
            first = [p for name, p in packages.items() if name not in known]
            wanted = {p.sha256 for p in first} | {c.sha256 for c in locked.conda}
            verified_copies([a for a in artifacts if a.sha256 in wanted], cache, copies, reporter)
            conda_tree = None
            if locked.conda:
                from mlenv.conda.install import install as install_conda

                conda_tree = work / "conda"
                install_conda(
                    locked.conda,
                    {c.sha256: copies / c.sha256 for c in locked.conda},
                    conda_tree,
                    target_prefix=env.prefix,
                    platform=options.platform,
                    reporter=reporter,
                )
            vetted, planned = plan_owners(
                [NamedWheel(p.filename, copies / p.sha256) for p in first],
                [claims for claims, _ in known.values()],
                prefix=env.prefix,
                interpreter=interpreter,
                python=env.python,
                onto=conda_tree,
            )
            chosen: set[str] = set(packages) if reuse is None else reuse.select(planned)
            unread = {packages[name].sha256 for name in chosen if name in known}
            verified_copies([a for a in artifacts if a.sha256 in unread], cache, copies, reporter)
            claims = {**{n: c for n, (c, _) in known.items()}, **{c.name: c for c in vetted}}
            licences = wheel_licences_of(packages.values(), copies, known)  # before the copies go
            stream = "conda-pack" not in manifest.build.outputs  # the tree's one reader: a layer
            installed = install_environment(
                [
                    NamedWheel(p.filename, copies / p.sha256)
                    for n, p in packages.items()
                    if n in chosen
                ],
                staging,
                prefix=env.prefix,
                interpreter=interpreter,
                python=env.python,
                bytecode=options.bytecode,
                reporter=reporter,
                onto=conda_tree,
                others=[c for name, c in sorted(claims.items()) if name not in chosen],
                spent=Spent(readers=1),  # a copy goes once installed (a link frees no memory)
                big="stream" if stream else "scan",
            )
            out = work / "out"
            out.mkdir()
            sbom = write_sbom(manifest, lock, lock_bytes, licences, out, options)
            if not stream:  # installed: free the disk for packing
                tidy.submit(shutil.rmtree, copies, True)
            lock_sha256 = hashlib.sha256(lock_bytes).hexdigest()
            # The image layer and the archive compress the same tree, side by side; with gzip and
            # one layer written, each big file is deflated once for both.
            wanted = set(manifest.build.outputs)
            twin = None
            if manifest.build.compression == "gzip" and wanted == {"oci", "conda-pack"}:
                assert reuse is not None
                twin = GzipTwin() if reuse.writes_whole_tree() else None
            stop = threading.Event()  # a failing writer (or Ctrl-C) stops the other
            spent = Spent(readers=len(wanted))  # a file goes once every writer has read it
            with ThreadPoolExecutor(2) as pool:
                image = archive = None
                if "oci" in wanted:
                    assert reuse is not None
                    image = pool.submit(
                        twin_side, twin, write_image, manifest, manifest_dir, lock, lock_sha256,
                        staging, installed, out, options, reporter, sbom.sha256, reuse, base, twin,
                        stop, spent,
                    )  # fmt: skip
                if "conda-pack" in wanted:
                    archive = pool.submit(
                        twin_side, twin, write_archive, manifest, staging, out, options, reporter,
                        twin, stop, spent, installed.scanned,
                    )  # fmt: skip
                raise_cause(image, archive, stop=stop)
                record = BuildRecord(
                    mlenv=__version__,
                    lock_sha256=lock_sha256,
                    platform=options.platform,
                    source_date_epoch=options.epoch,
                    compression=manifest.build.compression,
                    compressors=compressor_versions(),
                    image=None if image is None else image.result(),
                    archive=None if archive is None else archive.result(),
                    sbom=sbom,
                )
            (out / BUILD_RECORD).write_bytes(canonical_json(record.to_dict()) + b"\n")
            # Scratch, like the work directory (removed whatever happens): a failure to remove it
            # never fails a build whose outputs are in place.
            tidy.submit(shutil.rmtree, staging, True)
            replace_output(out, dist, BUILD_OUTPUT, keep=keep)
    except StaleReuse as stale:
        if not later:
            raise
        reporter.warning(stale.message)
        return build(
            manifest, manifest_dir, lock, lock_bytes, cache, dist, options,
            reporter=reporter, later=False,
        )  # fmt: skip
    if reuse is not None:
        reuse.remember(vetted, licences)
    if reuse is not None and options.layer_cache_max is not None:
        LayerCache(cache.root).prune(options.layer_cache_max, keep=reuse.keys)
    return record


def _layer_reuse(
    manifest: Manifest,
    lock: Lock,
    interpreter: str,
    cache: ArtifactCache,
    work: Path,
    options: BuildOptions,
    reporter: Reporter,
    later: bool,
) -> LayerReuse | None:
    """The image's layers and which of them the layer cache already has (no image: None)."""
    if "oci" not in manifest.build.outputs:
        return None
    locked = lock.platform(options.platform)
    env = manifest.environment
    inputs = BuildInputs(
        prefix=env.prefix,
        interpreter=interpreter,
        python=env.python,
        bytecode=options.bytecode,
        compression=manifest.build.compression,
        epoch=options.epoch,
        parents=env.prefix.strip("/").count("/"),  # all; a base: ``checked_base``
        conda=tuple(c.sha256 for c in locked.conda),
    )
    # A bundle is a carried, listed set of files (verify --bundle refuses any other): not a store.
    keep = options.layer_cache_max is not None and not (cache.root / BUNDLE_INDEX).exists()
    return LayerReuse(
        LayerCache(cache.root) if keep else None,
        plan_layers(locked.packages, manifest.build.layers),
        {canonicalize_name(p.name): p.sha256 for p in locked.packages},
        inputs,
        work / "reused",
        reporter,
        install_all="conda-pack" in manifest.build.outputs,
        sizes={canonicalize_name(p.name): p.size for p in locked.packages},
        later=later,
    )


@contextlib.contextmanager
def _disk_errors(where: Path) -> Iterator[None]:
    """A full disk is the user's to fix: name where the build writes, not a traceback (also
    when the installer already wrapped it, naming only the wheel it was writing)."""
    try:
        yield
    except (OSError, MlenvError) as error:
        exc = error.__cause__ if isinstance(error, MlenvError) else error
        if not isinstance(exc, OSError) or exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise BuildError(
            f"cannot write the build: {exc.strerror}",
            where=str(where),
            hint="free space there, or build elsewhere with --dist DIR; the previous dist/ is "
            "untouched",
        ) from None


def output_digests(dist: Path) -> dict[str, str]:
    """sha256 of every file under ``dist``, by relative path: what ``build --check`` compares."""
    return {
        p.relative_to(dist).as_posix(): hash_file(p) for p in sorted(dist.rglob("*")) if p.is_file()
    }


@dataclass(frozen=True)
class BuildRequest:
    """What ``mlenv build`` was asked for (see its options)."""

    check: bool
    platform: str | None
    bytecode: Literal["none", "hash"]
    tag: str
    dist: Path | None
    load: bool
    frozen: bool = False  # --frozen: the lock as it is (frozen.judge_lock)


def build_project(
    session: Session, request: BuildRequest
) -> tuple[Path, BuildRecord | MultiPlatformRecord]:
    """The project's lock built into its dist/ (every platform of the lock, or the one asked
    for); with ``check``, built a second time elsewhere and compared byte for byte."""
    from mlenv.commands.multiplatform import build_platforms

    manifest = session.load_manifest()
    lock_bytes = session.lock_bytes() if session.lock_path.exists() else b""
    lock_ = session.load_lock()
    judge_lock(session, lock_, manifest, frozen=request.frozen)
    require_cuda(lock_)  # an edited requires-driver is refused before any work
    several = request.platform is None and len(lock_.target.platforms) > 1
    build_outputs: _Builder = build_platforms if several else build
    if request.load and several:
        raise UsageError(
            "--load takes one platform's image",
            hint="build with --platform, or `docker load -i dist/<platform>/image.tar`",
        )
    if request.load:  # a daemon that does not answer is refused before any work too
        from mlenv.oci.dockerload import check_daemon  # docker's client: only for --load

        check_daemon()
    options = BuildOptions(
        platform=request.platform or lock_.target.platforms[0],
        epoch=source_date_epoch(os.environ),
        bytecode=request.bytecode,
        tag=request.tag,
        layer_cache_max=max_size(os.environ),
    )
    target = request.dist or session.manifest_path.parent / "dist"
    args = (manifest, session.manifest_path.parent, lock_, lock_bytes, session.artifact_cache())
    record = build_outputs(*args, target, options, reporter=session.reporter)
    if request.check:
        with tempfile.TemporaryDirectory(prefix="mlenv-check-") as scratch:
            again = Path(scratch) / "elsewhere" / "dist"
            # Without the layer cache: every reused layer is compared with one built afresh.
            cold = dataclasses.replace(options, layer_cache_max=None)
            build_outputs(*args, again, cold, reporter=session.reporter)
            first, second = output_digests(target), output_digests(again)
        differing = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
        if differing:
            raise MlenvError(
                f"two builds differ in {len(differing)} file(s): {', '.join(differing[:10])}",
                where=str(target),
                hint="this is a reproducibility bug in mlenv or its inputs; please report it "
                "with both outputs (diffoscope shows how they differ)",
            )
        session.reporter.info(f"check: two builds are byte-identical ({len(first)} files)")
    return target, record


class _Builder(Protocol):
    def __call__(
        self,
        manifest: Manifest,
        manifest_dir: Path,
        lock: Lock,
        lock_bytes: bytes,
        cache: ArtifactCache,
        dist: Path,
        options: BuildOptions,
        *,
        reporter: Reporter,
    ) -> BuildRecord | MultiPlatformRecord: ...
