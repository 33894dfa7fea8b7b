"""OCI images written: the config, the image layout (one image, or an index of several), and
one tar that is both an oci-archive and a docker-archive.

Output media types are OCI throughout. A base image that uses Docker media types is accepted
and its layers are reused with their bytes untouched, described with the OCI type of the same
format (a Docker ``rootfs.diff.tar.gzip`` is byte for byte an OCI ``tar+gzip`` layer, which is
how skopeo converts too): mixing the two families in one manifest is what some registries
reject, and Docker has no zstd layer type to follow the base with.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mlenv.atomic import atomic_writer, replace_dir
from mlenv.cuda.requirement import base_requirement
from mlenv.direct import direct
from mlenv.oci.model import (
    CONFIG_MEDIA_TYPE,
    CONFIG_TYPES,
    DEFAULT_PATH,
    INDEX_MEDIA_TYPE,
    LOCK_LABEL,
    MANIFEST_MEDIA_TYPE,
    MANIFEST_TYPES,
    REF_ANNOTATION,
    SBOM_LABEL,
    Descriptor,
    OciError,
    architecture_of,
    as_list,
    canonical_json,
    descriptor_of,
    hex_of,
    layer_of,
    parse_json,
    rfc3339,
    sha256_of,
)
from mlenv.oci.read import (
    BaseImage,
    BlobSource,
    DirSource,
    blob_where,
    read_blob,
    verify_blob,
)
from mlenv.tarball import LayerBlob, write_tar
from mlenv.tree_listing import collect

# OCI image-layout's grammar for org.opencontainers.image.ref.name.
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
# Docker's name:tag (lower-case path components, an optional registry host and port).
_NAME = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_TAG = re.compile(
    rf"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_NAME}(?:/{_NAME})*:[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
)
_T = TypeVar("_T")


@dataclass(frozen=True)
class ImageSpec:
    """What the build knows about the image beyond its layers."""

    name: str
    platform: str  # conda subdir: linux-64 | linux-aarch64
    prefix: str  # the environment's absolute path at run time; its bin/ leads PATH
    created: int  # seconds since the epoch (SOURCE_DATE_EPOCH or derived from the lock)
    lock_sha256: str
    env: Mapping[str, str] = field(default_factory=dict)  # e.g. VIRTUAL_ENV, CONDA_PREFIX
    nvidia_require_cuda: str | None = None
    sbom_sha256: str | None = None  # the sbom.cdx.json written beside the image


@dataclass(frozen=True)
class ImageResult:
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]
    diff_ids: tuple[str, ...]
    size: int  # every blob of the image: manifest, config and layers


def image_config(
    spec: ImageSpec, layers: Sequence[tuple[LayerBlob, str]], base: BaseImage | None
) -> dict[str, Any]:
    """The image config: the base's runtime settings, our Env and labels, one history entry
    per added layer (named by the second item of each pair)."""
    architecture = architecture_of(spec.platform)
    if base is not None and base.architecture != architecture:
        raise OciError(f"the base image is {base.architecture}, not {architecture}")
    created = rfc3339(spec.created)
    inherited: dict[str, Any] = dict(base.config) if base is not None else {}
    runtime = dict(inherited.get("config") or {})
    runtime["Env"] = _env(runtime.get("Env") or [], spec)
    labels = {
        key: value
        for key, value in (runtime.get("Labels") or {}).items()
        # They describe the base, which base.digest now names.
        if not key.startswith("org.opencontainers.image.")
    }
    labels.update(
        {
            "org.opencontainers.image.title": spec.name,
            "org.opencontainers.image.created": created,
            LOCK_LABEL: spec.lock_sha256,
        }
    )
    if spec.sbom_sha256 is not None:
        labels[SBOM_LABEL] = spec.sbom_sha256
    if base is not None:
        labels["org.opencontainers.image.base.digest"] = base.manifest_digest
    runtime["Labels"] = labels
    history = [
        *_base_history(inherited.get("history") or [], len(base.layers) if base else 0),
        *({"created": created, "created_by": f"mlenv build: {name}"} for _, name in layers),
    ]
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": runtime,
        "rootfs": {
            "type": "layers",
            "diff_ids": [*(base.diff_ids if base else ()), *(blob.diff_id for blob, _ in layers)],
        },
        "history": history,
    }
    if "variant" in inherited:
        config["variant"] = inherited["variant"]
    return config


def write_layout(
    dest: Path,
    layers: Sequence[tuple[LayerBlob, Path]],
    config: Mapping[str, Any],
    base: BaseImage | None,
    ref: str,
) -> ImageResult:
    """Write the image as an OCI layout at ``dest``, replacing an earlier layout there.

    Everything is written into a temporary directory beside ``dest`` and renamed into place,
    so a killed run never leaves a layout that looks complete. The layer files are moved in
    (a rename: no copy of gigabytes, and no link the caller could later write through); base
    layers are copied by the read that hashes them (``_export``), never linked.
    """
    base_layers = base.layers if base is not None else ()
    added = tuple(Descriptor(blob.media_type, blob.digest, blob.size) for blob, _ in layers)
    diff_ids = (*(base.diff_ids if base else ()), *(blob.diff_id for blob, _ in layers))
    if tuple(config.get("rootfs", {}).get("diff_ids", ())) != diff_ids:
        raise OciError("the config's rootfs.diff_ids do not match the image's layers")

    def fill(blobs: Path) -> tuple[dict[str, Any], tuple[Descriptor, Descriptor]]:
        if base is not None:
            for descriptor in base.layers:
                _export(base.source, descriptor, blobs / hex_of(descriptor.digest))
        for blob, path in layers:
            _move_in(blob, path, blobs / hex_of(blob.digest))
        config_descriptor = _write_json_blob(blobs, CONFIG_MEDIA_TYPE, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": config_descriptor.to_json(),
            "layers": [d.to_json() for d in (*base_layers, *added)],
        }
        manifest_descriptor = _write_json_blob(blobs, MANIFEST_MEDIA_TYPE, manifest)
        platform = {"architecture": config["architecture"], "os": config["os"]}
        if "variant" in config:
            platform["variant"] = config["variant"]
        entry = {**manifest_descriptor.to_json(), "platform": platform}
        return entry, (manifest_descriptor, config_descriptor)

    manifest_descriptor, config_descriptor = _staged_layout(dest, ref, fill)
    all_layers = (*base_layers, *added)
    return ImageResult(
        manifest_digest=manifest_descriptor.digest,
        config_digest=config_descriptor.digest,
        layer_digests=tuple(d.digest for d in all_layers),
        diff_ids=diff_ids,
        size=manifest_descriptor.size + config_descriptor.size + sum(d.size for d in all_layers),
    )


def write_index_layout(dest: Path, images: Sequence[Path], ref: str) -> Descriptor:
    """One OCI layout holding the single-platform layouts ``images`` as a multi-platform image.

    Its index.json names, under ``ref``, one image index blob that lists each image's manifest
    with its ``platform`` (the image-index spec's shape; skopeo and registries select from it).
    Every manifest is verified on the way and its blobs hard-linked in, so the bytes are the
    per-platform builds' own. Returns the image index's descriptor.
    """

    def fill(blobs: Path) -> tuple[dict[str, Any], Descriptor]:
        entries: list[dict[str, Any]] = []
        for layout in images:
            source = DirSource(layout)
            where = f"{layout}/index.json"
            listed = as_list(
                parse_json(source.read_file("index.json"), where).get("manifests"), where
            )
            if len(listed) != 1 or not isinstance(listed[0], dict):
                raise OciError("the layout must hold exactly one image", where=where)
            chosen = descriptor_of(listed[0], where, MANIFEST_TYPES)
            platform = listed[0].get("platform")
            if not isinstance(platform, dict) or platform in [e["platform"] for e in entries]:
                raise OciError("each image needs a platform of its own", where=where)
            at = blob_where(source, chosen.digest)
            manifest = parse_json(read_blob(source, chosen), at)
            config = descriptor_of(manifest.get("config"), at, CONFIG_TYPES)
            layers = [layer_of(item, at) for item in as_list(manifest.get("layers"), at)]
            for blob in (chosen, config, *layers):
                _export(source, blob, blobs / hex_of(blob.digest))
            entries.append({**chosen.to_json(), "platform": platform})
        index = _write_json_blob(
            blobs, INDEX_MEDIA_TYPE, {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE,
                                      "manifests": entries}
        )  # fmt: skip
        return index.to_json(), index

    return _staged_layout(dest, ref, fill)


def _staged_layout(dest: Path, ref: str, fill: Callable[[Path], tuple[dict[str, Any], _T]]) -> _T:
    """Write an OCI layout at ``dest`` whose index.json names one entry under ``ref``.

    ``fill`` puts the blobs into the ``blobs/sha256`` directory it is given and returns the
    entry's descriptor JSON (and what the caller wants back). Everything is written into a
    temporary directory beside ``dest`` and renamed into place, so a killed run never leaves
    a layout that looks complete; only an earlier layout (or an empty directory) is replaced.
    """
    if not _REF.fullmatch(ref):
        raise OciError(f"{ref!r} is not a valid OCI reference name", hint="e.g. 'latest' or '1.0'")
    _check_replaceable(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        blobs = staging / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        entry, result = fill(blobs)
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [{**entry, "annotations": {REF_ANNOTATION: ref}}],
        }
        (staging / "index.json").write_bytes(canonical_json(index))
        (staging / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
        staging.chmod(0o755)  # mkdtemp made it private; a published layout is readable
        replace_dir(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def write_image_tar(
    layout: Path, out: Path, repo_tag: str, *, verify: Collection[str] = ()
) -> tuple[str, int]:
    """Write one tar that is both an oci-archive and a docker-archive; returns its digest, size.

    It holds the layout plus Docker's ``manifest.json`` naming the same blobs, written with
    the layer rules (sorted, mtime 0, uid 0) so it is as reproducible as the layers. The blobs
    of the digests in ``verify`` are checked against them by the read that writes them
    (``ContentMismatch`` otherwise).
    """
    if not _REPO_TAG.fullmatch(repo_tag):
        raise OciError(f"{repo_tag!r} is not a docker name:tag", hint="e.g. 'detector:1.0'")
    source = DirSource(layout)
    index = parse_json(source.read_file("index.json"), f"{layout}/index.json")
    manifests = as_list(index.get("manifests"), f"{layout}/index.json")
    if len(manifests) != 1:
        raise OciError("the layout must hold exactly one image", where=f"{layout}/index.json")
    chosen = descriptor_of(manifests[0], f"{layout}/index.json", MANIFEST_TYPES)
    where = blob_where(source, chosen.digest)
    manifest = parse_json(read_blob(source, chosen), where)
    config = descriptor_of(manifest.get("config"), where, CONFIG_TYPES)
    layers = [layer_of(item, where) for item in as_list(manifest.get("layers"), where)]
    blob_paths = [f"blobs/sha256/{hex_of(d.digest)}" for d in (chosen, config, *layers)]
    wanted = {"oci-layout", "index.json", "blobs", "blobs/sha256", *blob_paths}
    checked = {f"blobs/sha256/{hex_of(digest)}": hex_of(digest) for digest in verify}
    entries = [
        dataclasses.replace(e, sha256=checked.get(e.path))
        for e in collect(layout, "")
        if e.path in wanted
    ]
    missing = wanted - {e.path for e in entries}
    if missing:
        raise OciError(f"the layout lacks {', '.join(sorted(missing))}", where=str(layout))
    docker = [{"Config": blob_paths[1], "RepoTags": [repo_tag], "Layers": blob_paths[2:]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        manifest_json = Path(scratch) / "manifest.json"
        manifest_json.write_bytes(canonical_json(docker))
        entries.extend(collect(Path(scratch), ""))
        with atomic_writer(out) as stream, direct(stream) as sink:
            return write_tar(entries, sink, mtime=0)


def _base_history(history: Sequence[dict[str, Any]], layers: int) -> list[dict[str, Any]]:
    """The base's history, then an entry for each of its layers it names none for: readers
    (``docker history``, BuildKit) pair the n-th entry that is not ``empty_layer`` with the
    n-th layer, so the environment's entries must come after one per base layer (a base
    without history, from ``docker import`` or umoci, named the base's layers mlenv's); an
    entry past the base's last layer is kept marked ``empty_layer`` (one that names more, its
    surplus was paired with the environment's layer, and moby refuses such an image)."""
    kept, named = [], 0
    for entry in history:
        named += not entry.get("empty_layer")
        kept.append({**entry, "empty_layer": True} if named > layers else entry)
    unnamed = {"comment": "a layer of the base image that its history names no entry for"}
    return [*kept, *([unnamed] * max(0, layers - named))]


def _env(base_env: Sequence[str], spec: ImageSpec) -> list[str]:
    """Base variables, then ours; PATH starts with the environment's bin; sorted by name."""
    if not spec.prefix.startswith("/"):
        raise OciError(f"the environment prefix {spec.prefix!r} must be an absolute path")
    variables = {}
    for item in base_env:
        key, _, value = item.partition("=")
        variables[key] = value
    for key in spec.env:
        if not key or "=" in key or key == "PATH":
            raise OciError(f"{key!r} cannot be set as an image variable (PATH is computed)")
    if spec.nvidia_require_cuda is not None:
        # A base's NVIDIA_DISABLE_REQUIRE would make the container runtime skip our guard.
        variables.pop("NVIDIA_DISABLE_REQUIRE", None)
    variables.update(spec.env)
    if spec.nvidia_require_cuda is not None:
        _keep_base_requirement(variables, spec.nvidia_require_cuda)
        variables["NVIDIA_REQUIRE_CUDA"] = spec.nvidia_require_cuda
    bin_dir = spec.prefix.rstrip("/") + "/bin"
    rest = [p for p in variables.get("PATH", DEFAULT_PATH).split(":") if p and p != bin_dir]
    variables["PATH"] = ":".join([bin_dir, *rest])
    return [f"{key}={variables[key]}" for key in sorted(variables)]


def _keep_base_requirement(variables: dict[str, str], ours: str) -> None:
    """A base's NVIDIA_REQUIRE_CUDA (or a legacy base's ``cuda>=<CUDA_VERSION>``) moved to
    NVIDIA_REQUIRE_BASE_CUDA (else the first free ``_2``, …, one more name than variables, so
    a base holding _2 to _999 is no traceback) before ours replaces it: the runtime needs every
    NVIDIA_REQUIRE_* to hold, so the image starts only where both run (attack 114)."""
    theirs = base_requirement(variables)
    kept = [v for k, v in variables.items() if k.startswith("NVIDIA_REQUIRE_BASE_CUDA")]
    if theirs is None or theirs == ours or theirs in kept:
        return
    names = (f"NVIDIA_REQUIRE_BASE_CUDA_{n}" for n in range(2, 2 + len(variables)))
    variables[next(n for n in ("NVIDIA_REQUIRE_BASE_CUDA", *names) if n not in variables)] = theirs


def _write_json_blob(blobs: Path, media_type: str, value: object) -> Descriptor:
    data = canonical_json(value)
    descriptor = Descriptor(media_type, sha256_of(data), len(data))
    (blobs / hex_of(descriptor.digest)).write_bytes(data)
    return descriptor


def _move_in(blob: LayerBlob, source: Path, dest: Path) -> None:
    if dest.exists():  # the same layer twice
        return
    if source.stat().st_size != blob.size:
        raise OciError(f"the layer file is not the blob {blob.digest}", where=str(source))
    shutil.move(source, dest)
    if dest.lstat().st_nlink == 1:  # a link to the layer cache's read-only file stays as is
        dest.chmod(0o644)


def _export(source: BlobSource, descriptor: Descriptor, dest: Path) -> None:
    """A base layer into the new image, copied by the read that hashes it (security invariant
    1): ``read_base`` checked it earlier, but a base layout in the shared cache can be swapped
    or rewritten since, and a hard link would let a later write to the cache change the image.
    A blob appearing twice (the same layer twice) is already in place."""
    if dest.exists():
        return
    try:
        with open(dest, "xb") as target:
            verify_blob(source, descriptor, target)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _check_replaceable(dest: Path) -> None:
    """Only an earlier image layout (or an empty directory) may be replaced, never user data."""
    if dest.exists() and not (
        dest.is_dir() and ((dest / "oci-layout").is_file() or not any(dest.iterdir()))
    ):
        raise OciError(
            "the destination exists and is not an OCI image layout",
            where=str(dest),
            hint="choose another directory or remove it",
        )
