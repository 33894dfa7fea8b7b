"""The outputs a build writes from the installed tree: the OCI image (layout and image.tar),
the conda-pack archive and the SBOM, each returning its part of build.json. A new build output
goes here, writes into the build's ``out`` directory and names itself in ``BuildRecord``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name

from mlenv.build_record import (
    ARCHIVE_SUFFIX,
    IMAGE_TAR,
    ArchiveOutput,
    ImageOutput,
    ImageTar,
    LayerRecord,
    SbomRecord,
)
from mlenv.cache.held import measure
from mlenv.cache.layers import DEFAULT_MAX, Licence
from mlenv.cache.reuse import LayerReuse
from mlenv.conda.pack import write_pack
from mlenv.cuda.requirement import base_refusal, nvidia_require_cuda, runtime_requirements
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.direct import DirectReader, direct
from mlenv.errors import MlenvError
from mlenv.install.prefix_scan import PrefixKind
from mlenv.install.streamed import StreamedMember
from mlenv.install.wheels import InstallResult
from mlenv.layer_plan import split_entries
from mlenv.lockfile import Lock, LockedPackage
from mlenv.manifest import MAX_LAYERS, Manifest
from mlenv.oci.read import BaseImage, read_base
from mlenv.oci.write import ImageSpec, image_config, write_image_tar, write_layout
from mlenv.parallel_gzip import GzipTwin, Writable, gzip_workers
from mlenv.report import Reporter
from mlenv.spent import Spent
from mlenv.tarball import Compression, ContentMismatch, Entry, LayerBlob, write_layer
from mlenv.tree_listing import collect

# 1980-01-01T00:00:00Z: the default file time when SOURCE_DATE_EPOCH is unset; the oldest time
# a zip can hold, so the bytes survive a round trip through any archive format.
DEFAULT_EPOCH = 315532800


class BuildError(MlenvError):
    """The build cannot start or cannot produce what the manifest asks for."""


@dataclass(frozen=True)
class BuildOptions:
    platform: str
    epoch: int
    bytecode: Literal["none", "hash"] = "none"
    tag: str = "latest"
    # The layer cache's bound in bytes; None: neither read nor write it (build --check's second
    # build, so that a reused layer is compared with a fresh one).
    layer_cache_max: int | None = DEFAULT_MAX


def write_image(
    manifest: Manifest,
    manifest_dir: Path,
    lock: Lock,
    lock_sha256: str,
    staging: Path,
    installed: InstallResult,
    out: Path,
    options: BuildOptions,
    reporter: Reporter,
    sbom_sha256: str,
    reuse: LayerReuse,
    base: BaseImage | None,
    twin: GzipTwin | None = None,
    stop: threading.Event | None = None,
    spent: Spent | None = None,
) -> ImageOutput:
    """The OCI layout and image.tar (none with ``[build] image-tar = false``) of the installed
    tree onto ``base`` (``checked_base``), its layers reused or written as ``reuse`` plans them;
    ``twin`` shares the gzip deflate of big files with the archive's writer
    (``mlenv.parallel_gzip``); ``stop`` ends the layer being written and ``spent`` removes the
    files read (see ``write_layer``)."""
    env = manifest.environment
    plans = reuse.plans
    depth = len(plans) + (len(base.layers) if base is not None else 0)
    dest = env.prefix.strip("/")
    tree = stream_entries(collect(staging, dest, parents=reuse.parents), installed.streamed, dest)
    members = split_entries(plans, tree, installed.distributions, dest, held=reuse.held())
    layers: list[tuple[LayerBlob, Path]] = []
    for number, entries in enumerate(members):

        def write(stream: Writable, label: str, entries: Sequence[Entry] = entries) -> LayerBlob:
            return write_layer(
                entries,
                stream,
                compression=manifest.build.compression,
                mtime=options.epoch,
                reporter=reporter,
                label=label,
                twin=twin,
                stop=stop,
                spent=spent,
            )

        layers.append(reuse.layer(number, entries, out / f"layer-{number}.tmp", write))
    if base is not None and (said := _base_refusal(base, lock)):
        reporter.warning(said)
    spec = ImageSpec(
        name=env.name,
        platform=options.platform,
        prefix=env.prefix,
        created=options.epoch,
        lock_sha256=lock_sha256,
        env={"VIRTUAL_ENV": env.prefix},
        nvidia_require_cuda=require_cuda(lock),
        sbom_sha256=sbom_sha256,
    )
    # One layer keeps the history of the single-layer images built before layers were split.
    names = [env.name] if len(plans) == 1 else [f"{env.name}: {plan.name}" for plan in plans]
    config = image_config(
        spec, [(blob, name) for (blob, _), name in zip(layers, names, strict=True)], base
    )
    result = write_layout(out / "oci", layers, config, base, options.tag)
    repo_tag = f"{env.name}:{options.tag}"
    tar = None
    try:
        if manifest.build.image_tar:
            digest, size = write_image_tar(
                out / "oci", out / IMAGE_TAR, repo_tag, verify=reuse.unchecked()
            )
            tar = ImageTar(IMAGE_TAR, digest.removeprefix("sha256:"), size, repo_tag)
        else:
            check_blobs(out / "oci", reuse.unchecked())
    except ContentMismatch as mismatch:
        raise reuse.stale(mismatch) from None
    named = [LayerRecord(d, i) for d, i in zip(result.layer_digests, result.diff_ids, strict=True)]
    base_count = depth - len(plans)
    layer_records = named[:base_count] + [
        LayerRecord(record.digest, record.diff_id, plan.name, tuple(plan.packages))
        for record, plan in zip(named[base_count:], plans, strict=True)
    ]
    return ImageOutput(
        "oci", options.tag, result.manifest_digest, result.config_digest, tuple(layer_records), tar
    )


def checked_base(
    manifest: Manifest,
    manifest_dir: Path,
    platform: str,
    reuse: LayerReuse | None,
    reporter: Reporter,
) -> BaseImage | None:
    """The manifest's base image, read and judged (the prefix, the runtime's layer limit)
    before a wheel is read: a base that cannot carry the environment fails a build at once,
    not after minutes of installing; one without the interpreter is warned about. No image
    (``reuse`` None): no base."""
    if reuse is None:
        return None
    if manifest.build.base_image is None:
        _check_depth(manifest, len(reuse.plans), 0)
        return None
    from mlenv.oci.base import layout_digest
    from mlenv.oci.base_tree import fit, volume_over

    prefix, interpreter = manifest.environment.prefix, manifest.environment.interpreter
    if interpreter is not None and interpreter.startswith(prefix.rstrip("/") + "/"):
        interpreter = None  # conda's python, which the environment brings
    layout = manifest_dir / manifest.build.base_image
    base = read_base(layout, platform=platform, digest=layout_digest(layout))
    _check_depth(manifest, len(reuse.plans), len(base.layers))
    found = fit(base, prefix, interpreter, reuse.passed)
    reuse.on_base(found.missing)
    if not found.interpreter:
        reporter.warning(
            f"the base image has no {interpreter}, the environment's interpreter: its "
            "bin/python links to nothing (use a base with that Python, or set "
            "[environment] interpreter to the base's)"
        )
    if (volume := volume_over(base, prefix)) is not None:
        reporter.warning(
            f"the base image declares a volume at {volume}: Docker copies the environment "
            "into a new volume for every container, and a mount there hides it (choose a "
            "prefix outside it)"
        )
    return base


def _check_depth(manifest: Manifest, own: int, based: int) -> None:
    """Refuse an image of more layers than a runtime stacks, before any base layer is
    inflated: a base listing one layer 1,000 times was inflated 1,000 times first (attack
    223). The hint offers a layer count only when one is left for the environment."""
    if own + based <= MAX_LAYERS:
        return
    room = MAX_LAYERS - based
    raise BuildError(
        f"the image would have {own + based} layers, {own} of them the environment's; "
        f"Docker runs at most {MAX_LAYERS} (Podman 127)",
        where=f"{manifest.source}: [build].layers",
        hint=f"set layers to at most {room}, or use a base image with fewer layers"
        if room >= 1
        else f"use a base image with fewer layers: this one has {based}",
    )


def stream_entries(tree: list[Entry], streamed: Sequence[StreamedMember], dest: str) -> list[Entry]:
    """The tree's placeholders of members left in their wheels, given their bytes and size."""
    members = {f"{dest}/{member.target}" if dest else member.target: member for member in streamed}
    entries = [
        entry
        if (member := members.pop(entry.path, None)) is None
        else dataclasses.replace(entry, size=member.size, stream=member.chunks)
        for entry in tree
    ]
    if members:
        raise BuildError("a streamed member's placeholder is gone", where=min(members))
    return entries


def check_blobs(layout: Path, digests: Collection[str]) -> None:
    """The layout's blobs of ``digests`` (reused layers linked unread, ``LayerCache.get(later=)``)
    read once and hashed, all at once: with ``[build] image-tar = false`` no image.tar's write
    is the read that checks them, and the layout is shipped as is. The blob is the linked inode
    itself, which only this user can change (``held_copy``), so the bytes hashed are the
    layout's; ``ContentMismatch`` when one differs or cannot be read (the build runs again)."""

    def check(digest: str) -> None:
        expected = digest.removeprefix("sha256:")
        blob = layout / "blobs" / "sha256" / expected
        try:
            with DirectReader(blob) as reader:
                found = measure(reader).sha256
        except OSError as exc:
            why = f"unknown (unreadable: {exc.strerror or exc})"
            raise ContentMismatch(blob, why, expected) from exc
        if found != expected:
            raise ContentMismatch(blob, found, expected)

    with ThreadPoolExecutor(gzip_workers(), thread_name_prefix="mlenv-check") as pool:
        list(pool.map(check, sorted(digests)))


def wheel_licences_of(
    packages: Iterable[LockedPackage], copies: Path, known: Mapping[str, tuple[object, Licence]]
) -> dict[str, Licence]:
    """Each wheel's licences by sha256: read from the build's verified copy, or as the layer
    cache recorded them when that wheel was vetted (it is then not read at all)."""
    from mlenv.sbom import wheel_licences

    read = wheel_licences(lambda sha256: copies / sha256)
    found = {}
    for package in packages:
        name = canonicalize_name(package.name)
        copied = (copies / package.sha256).is_file()
        found[package.sha256] = read(package) if copied or name not in known else known[name][1]
    return found


def write_sbom(
    manifest: Manifest,
    lock: Lock,
    lock_bytes: bytes,
    licences: Mapping[str, Licence],
    out: Path,
    options: BuildOptions,
) -> SbomRecord:
    """The CycloneDX SBOM of the built platform, beside the image and named by its label.

    It is made from the lock and the licences of the build's verified wheels (``licences``, by
    sha256; never from the cache's files, which may change after their check), so it never
    depends on the image it describes; its timestamp is SOURCE_DATE_EPOCH, none when that is
    unset (the default).
    """
    from mlenv.sbom import FILENAME, SPEC_VERSION, cyclonedx, render

    document = cyclonedx(
        lock,
        lock_bytes,
        name=manifest.environment.name,
        platforms=[options.platform],
        licences=lambda package: licences.get(package.sha256, []),
        timestamp=None if options.epoch == DEFAULT_EPOCH else options.epoch,
    )
    data = render(document)
    (out / FILENAME).write_bytes(data)
    return SbomRecord(FILENAME, hashlib.sha256(data).hexdigest(), f"CycloneDX {SPEC_VERSION}")


def _base_refusal(base: BaseImage, lock: Lock) -> str | None:
    """Why the base's own NVIDIA_REQUIRE_* (kept beside the lock's, attack 114) refuses the
    image on a driver the lock runs on (attack 131: nvidia/cuda:12.4 under a CUDA 12.1 lock).
    The base's NVIDIA_DISABLE_REQUIRE is dropped from the image, so it is not honoured here."""
    target = lock.target
    runtime = base.config.get("config") or {}
    env = dict(item.partition("=")[::2] for item in runtime.get("Env") or [])
    env.pop("NVIDIA_DISABLE_REQUIRE", None)
    values = runtime_requirements(env)
    if not values or target.cuda is None or target.driver_floor is None:
        return None
    floor = DriverVersion.parse(target.driver_floor)
    return base_refusal(values, CudaVersion.parse(target.cuda), floor)


def require_cuda(lock: Lock) -> str | None:
    """NVIDIA_REQUIRE_CUDA: the target CUDA and, ANDed, the driver the lock's entries need to
    start (``start.start_driver``: what verify refuses to miss, never an update's driver that
    only warns), so the NVIDIA container runtime refuses exactly the nodes verify refuses. The
    lock's [target].requires-driver must agree with its entries (``judge.verify_lock``): build
    does not run verify, and an edited one (lowered, or '550.54.14 cuda>=1.0', whose blank
    ORs in a constraint every node meets) went into the image as written."""
    from mlenv.judge import verify_lock

    target = lock.target
    if target.cuda is None:
        return None
    expression = nvidia_require_cuda(CudaVersion.parse(target.cuda))
    verdict = verify_lock(lock, lock.inputs_hash, None)  # parses the recorded
    needed = verdict.requires_driver
    if target.requires_driver != needed:
        raise MlenvError(
            f"the lock records requires-driver {target.requires_driver or 'none'}, but its "
            f"packages need {needed or 'none'}: the lock was edited",
            where="mlenv.lock [target].requires-driver",
            hint="run `mlenv verify` to see why, and `mlenv lock` to write it again",
        )
    if verdict.start_driver:
        expression += f",driver>={verdict.start_driver}"
    return expression


def write_archive(
    manifest: Manifest,
    staging: Path,
    out: Path,
    options: BuildOptions,
    reporter: Reporter,
    twin: GzipTwin | None = None,
    stop: threading.Event | None = None,
    spent: Spent | None = None,
    scanned: Sequence[tuple[str, PrefixKind | None]] = (),
) -> ArchiveOutput:
    """The conda-pack archive of the installed tree (``twin``, ``stop``, ``spent``: see
    ``write_image``; ``scanned``: the installer's ``InstallResult.scanned``)."""
    compression: Compression = manifest.build.compression
    name = f"{manifest.environment.name}{ARCHIVE_SUFFIX[compression]}"
    with (out / name).open("wb") as stream, direct(stream) as sink:
        blob = write_pack(
            staging,
            manifest.environment.prefix,
            sink,
            compression=compression,
            mtime=options.epoch,
            reporter=reporter,
            twin=twin,
            stop=stop,
            spent=spent,
            known=dict(scanned),
        )
    return ArchiveOutput(
        name, blob.digest.removeprefix("sha256:"), blob.size, blob.diff_id.removeprefix("sha256:")
    )
