"""From a lock and a filled cache to `dist/`, offline and byte for byte.

Every output (the OCI layout, `image.tar`, the conda-pack archive, `build.json`) is written
into a temporary directory beside `dist/` and swapped in whole, so an interrupted build leaves
the previous complete `dist/` or the new one. Nothing here touches the network: artifacts come
from the verified cache only.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from packaging.utils import canonicalize_name

from mlenv import __version__
from mlenv.atomic import work_dir
from mlenv.cache import Artifact, ArtifactCache, hash_file
from mlenv.cuda import CudaVersion, nvidia_require_cuda
from mlenv.errors import MlenvError
from mlenv.fetch import (
    BUNDLE_INDEX,
    MissingArtifactsError,
    artifacts_of,
    check_cache,
    missing_error,
    missing_from,
)
from mlenv.install import InstallResult, NamedWheel, install_environment, plan_owners
from mlenv.layer import Compression, Entry, LayerBlob, collect, compressor_versions, write_layer
from mlenv.layercache import DEFAULT_MAX, BuildInputs, LayerCache, LayerReuse, Licence
from mlenv.layering import plan_layers, split_entries
from mlenv.lock import Lock, LockedPackage
from mlenv.locker import to_record
from mlenv.manifest import MAX_LAYERS, Manifest
from mlenv.oci import (
    ImageSpec,
    canonical_json,
    image_config,
    read_base,
    write_image_tar,
    write_layout,
)
from mlenv.outputs import OutputKind, check_output, replace_output
from mlenv.pack import write_pack
from mlenv.report import Reporter

# 1980-01-01T00:00:00Z: the default file time when SOURCE_DATE_EPOCH is unset; the oldest time
# a zip can hold, so the bytes survive a round trip through any archive format.
DEFAULT_EPOCH = 315532800
BUILD_RECORD = "build.json"
ARCHIVE_SUFFIX = {"gzip": ".tar.gz", "zstd": ".tar.zst", "none": ".tar"}


class BuildError(MlenvError):
    """The build cannot start or cannot produce what the manifest asks for."""


def build_files(record: Any) -> frozenset[str] | None:
    """The files a build.json says its build wrote beside it; None when it is not one."""
    try:
        outputs = record["outputs"]
        names = {BUILD_RECORD}
        if "oci" in outputs:
            names |= {"oci", outputs["oci"]["image-tar"]["file"]}
        if "conda-pack" in outputs:
            names.add(outputs["conda-pack"]["file"])
        if "sbom" in record:  # written beside the outputs since the SBOM came in
            names.add(record["sbom"]["file"])
        valid = isinstance(record["mlenv"], str) and isinstance(record["lock-sha256"], str)
    except (KeyError, TypeError):
        return None
    if not valid or not set(outputs) <= {"oci", "conda-pack"}:
        return None
    if not all(isinstance(name, str) and name and "/" not in name for name in names):
        return None
    return frozenset(names)


BUILD_OUTPUT = OutputKind("build output", "--dist", BUILD_RECORD, build_files)


def source_date_epoch(env: Mapping[str, str]) -> int:
    """SOURCE_DATE_EPOCH when set (a malformed value is an error, never ignored)."""
    raw = env.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return DEFAULT_EPOCH
    if not raw.isdigit():
        raise BuildError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a number of seconds",
            where="SOURCE_DATE_EPOCH",
            hint="set it to an integer such as 1700000000, or unset it",
        )
    return int(raw)


@dataclass(frozen=True)
class BuildOptions:
    platform: str
    epoch: int
    bytecode: Literal["none", "hash"] = "none"
    tag: str = "latest"
    # The layer cache's bound in bytes; None: neither read nor write it (build --check's second
    # build, so that a reused layer is compared with a fresh one).
    layer_cache_max: int | None = DEFAULT_MAX


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
) -> dict[str, Any]:
    """Build every output of the manifest into ``dist``; returns the build record.

    ``dist`` is checked before anything else is done: mlenv replaces only its own outputs."""
    keep = {"the project directory": manifest_dir, "the cache": cache.root}
    if manifest.build.base_image is not None:
        keep["the base image"] = manifest_dir / manifest.build.base_image
    dist = check_output(dist, BUILD_OUTPUT, keep=keep)
    from mlenv.registry_base import pinned_base  # imports the registry client only here

    manifest = pinned_base(manifest, cache)  # a registry base image: its layout in the cache
    env = manifest.environment
    locked = lock.platform(options.platform)
    conda_python = any(c.name == "python" for c in locked.conda)
    interpreter = f"{env.prefix}/bin/python" if conda_python else env.interpreter
    if interpreter is None:
        raise BuildError(
            "the environment has no Python interpreter to run on",
            where=f"{manifest.source}: [environment].interpreter",
            hint='name the base image\'s Python, e.g. interpreter = "/usr/bin/python3.11", '
            'or let conda provide one ("python 3.11.*" in [conda].dependencies)',
        )
    artifacts = artifacts_of(lock, [options.platform])
    missing = missing_from(cache, artifacts)
    if missing:
        raise missing_error(missing, f"the cache {cache.root}")
    with _disk_errors(dist.parent), work_dir(dist) as work:
        copies = work / "artifacts"
        copies.mkdir()
        staging = work / "staging"
        reuse = _layer_reuse(manifest, lock, interpreter, cache, work, options, reporter)
        packages: dict[str, LockedPackage] = {canonicalize_name(p.name): p for p in locked.packages}
        # Wheels whose vetting the layer cache recorded are read only if their layer is rebuilt.
        known = {} if reuse is None else reuse.known({n: p.filename for n, p in packages.items()})
        first = [p for name, p in packages.items() if name not in known]
        wanted = {p.sha256 for p in first} | {c.sha256 for c in locked.conda}
        _verified_copies([a for a in artifacts if a.sha256 in wanted], cache, copies, reporter)
        conda_tree = None
        if locked.conda:
            from mlenv.conda import install as install_conda

            conda_tree = work / "conda"
            install_conda(
                [to_record(c) for c in locked.conda],
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
        later = {packages[name].sha256 for name in chosen if name in known}
        _verified_copies([a for a in artifacts if a.sha256 in later], cache, copies, reporter)
        claims = {**{n: c for n, (c, _) in known.items()}, **{c.name: c for c in vetted}}
        installed = install_environment(
            [NamedWheel(p.filename, copies / p.sha256) for n, p in packages.items() if n in chosen],
            staging,
            prefix=env.prefix,
            interpreter=interpreter,
            python=env.python,
            bytecode=options.bytecode,
            reporter=reporter,
            onto=conda_tree,
            others=[c for name, c in sorted(claims.items()) if name not in chosen],
        )
        licences = _licences(packages.values(), copies, known)
        out = work / "out"
        out.mkdir()
        sbom = _sbom(manifest, lock, lock_bytes, licences, out, options)
        shutil.rmtree(copies)  # installed: free the disk before packing
        record: dict[str, Any] = {
            "mlenv": __version__,
            "lock-sha256": hashlib.sha256(lock_bytes).hexdigest(),
            "platform": options.platform,
            "source-date-epoch": options.epoch,
            "compression": manifest.build.compression,
            "compressors": compressor_versions(),
            "outputs": {},
            "sbom": sbom,
        }
        # The image layer and the archive compress the same tree: one core each.
        with ThreadPoolExecutor(2) as pool:
            jobs = {}
            if "oci" in manifest.build.outputs:
                assert reuse is not None
                jobs["oci"] = pool.submit(
                    _image, manifest, manifest_dir, lock, record["lock-sha256"], staging,
                    installed, out, options, reporter, sbom["sha256"], reuse,
                )  # fmt: skip
            if "conda-pack" in manifest.build.outputs:
                jobs["conda-pack"] = pool.submit(
                    _archive, manifest, staging, out, options, reporter
                )
            record["outputs"] = {name: job.result() for name, job in sorted(jobs.items())}
        (out / BUILD_RECORD).write_bytes(canonical_json(record) + b"\n")
        shutil.rmtree(staging)
        replace_output(out, dist, BUILD_OUTPUT, keep=keep)
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
        parents=manifest.build.base_image is None,
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
    )


def _verified_copies(
    artifacts: Sequence[Artifact], cache: ArtifactCache, into: Path, reporter: Reporter
) -> None:
    """Every artifact copied from the cache into the build's private ``into`` by the read that
    hashes it: the build installs these copies, so a cache file swapped after the check can
    never reach a layer or archive."""
    if not artifacts:
        return
    problems = check_cache(cache, artifacts, reporter, copy_to=into)
    if problems:
        raise MissingArtifactsError(
            f"{len(problems)} artifact(s) in the cache do not match the lock", problems
        )


def _licences(
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


def _image(
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
) -> dict[str, Any]:
    env = manifest.environment
    base = None
    if manifest.build.base_image is not None:
        from mlenv.registry_base import layout_digest

        layout = manifest_dir / manifest.build.base_image
        base = read_base(layout, platform=options.platform, digest=layout_digest(layout))
    plans = reuse.plans
    depth = len(plans) + (len(base.layers) if base is not None else 0)
    if depth > MAX_LAYERS:
        raise BuildError(
            f"the image would have {depth} layers, {len(plans)} of them the environment's; "
            f"Docker and Podman run at most {MAX_LAYERS}",
            where=f"{manifest.source}: [build].layers",
            hint=f"set layers to at most {MAX_LAYERS - depth + len(plans)}, or use a base image "
            "with fewer layers",
        )
    dest = env.prefix.strip("/")
    tree = collect(staging, dest, parents=base is None)
    members = split_entries(plans, tree, installed.distributions, dest, held=reuse.held())
    layers: list[tuple[LayerBlob, Path]] = []
    for number, entries in enumerate(members):

        def write(stream: BinaryIO, label: str, entries: Sequence[Entry] = entries) -> LayerBlob:
            return write_layer(
                entries,
                stream,
                compression=manifest.build.compression,
                mtime=options.epoch,
                reporter=reporter,
                label=label,
            )

        layers.append(reuse.layer(number, entries, out / f"layer-{number}.tmp", write))
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
    tar_digest, tar_size = write_image_tar(
        out / "oci", out / "image.tar", f"{env.name}:{options.tag}"
    )
    contents: list[dict[str, Any]] = [{} for _ in range(depth - len(plans))]
    contents += [{"layer": plan.name, "packages": list(plan.packages)} for plan in plans]
    return {
        "layout": "oci",
        "ref": options.tag,
        "manifest-digest": result.manifest_digest,
        "config-digest": result.config_digest,
        "layers": [
            {"digest": d, "diff-id": i, **content}
            for d, i, content in zip(result.layer_digests, result.diff_ids, contents, strict=True)
        ],
        "image-tar": {"file": "image.tar", "sha256": tar_digest.removeprefix("sha256:"),
                      "size": tar_size, "repo-tag": f"{env.name}:{options.tag}"},
    }  # fmt: skip


def _sbom(
    manifest: Manifest,
    lock: Lock,
    lock_bytes: bytes,
    licences: Mapping[str, Licence],
    out: Path,
    options: BuildOptions,
) -> dict[str, Any]:
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
    return {
        "file": FILENAME,
        "format": f"CycloneDX {SPEC_VERSION}",
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def require_cuda(lock: Lock) -> str | None:
    """NVIDIA_REQUIRE_CUDA: the target CUDA and, ANDed, the driver the lock says it needs, so
    the NVIDIA container runtime refuses a node that cannot run the environment."""
    target = lock.target
    if target.cuda is None:
        return None
    expression = nvidia_require_cuda(CudaVersion.parse(target.cuda))
    if target.requires_driver:
        expression += f",driver>={target.requires_driver}"
    return expression


def _archive(
    manifest: Manifest, staging: Path, out: Path, options: BuildOptions, reporter: Reporter
) -> dict[str, Any]:
    compression: Compression = manifest.build.compression
    name = f"{manifest.environment.name}{ARCHIVE_SUFFIX[compression]}"
    with (out / name).open("wb") as stream:
        blob = write_pack(
            staging,
            manifest.environment.prefix,
            stream,
            compression=compression,
            mtime=options.epoch,
            reporter=reporter,
        )
    return {
        "file": name,
        "sha256": blob.digest.removeprefix("sha256:"),
        "size": blob.size,
        "uncompressed-sha256": blob.diff_id.removeprefix("sha256:"),
    }


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
