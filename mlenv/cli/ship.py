"""The commands that fetch, build and ship a lock: ``fetch``, ``build``, ``push``, ``inspect``
and ``cache prune``. Thin adapters: parse, call the use case, render what it returns."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from mlenv.cli.options import lock_use
from mlenv.cli.output import echo, print_json
from mlenv.commands.session import Session
from mlenv.errors import UsageError
from mlenv.report import human_bytes

if TYPE_CHECKING:
    from mlenv.build_record import BuildRecord, MultiPlatformRecord

MOUNT_FROM = click.option(
    "--mount-from",
    multiple=True,
    metavar="REPOSITORY",
    help="Another repository of the same registry (REGISTRY/REPO or oci://REGISTRY/REPO) whose "
    "blobs are mounted instead of uploaded (repeatable; the shared cache is always tried).",
)


@click.command()
@click.option(
    "--platform", "platforms", multiple=True, help="Only this platform's artifacts (repeatable)."
)
@click.option(
    "--bundle",
    help="Also write a self-contained bundle to carry into an air-gapped site: a directory, "
    "or oci://REGISTRY/REPO:TAG to push it to an OCI registry as an artifact.",
)
@click.option(
    "--from",
    "source",
    metavar="oci://REGISTRY/REPO:TAG",
    help="Fill the cache from a bundle in an OCI registry (also @sha256:...) instead of the "
    "indexes.",
)
@click.option(
    "--push-cache",
    is_flag=True,
    help="Publish the lock's artifacts to the shared cache ([cache] registry or "
    "$MLENV_CACHE_REGISTRY) for the other runners of the fleet.",
)
@click.option(
    "--insecure", is_flag=True, help="Plain http to the registry (a registry on loopback)."
)
@MOUNT_FROM
@click.option("--offline", is_flag=True, help="Never touch the network; fail on what is missing.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Downloads at once.",
)
@lock_use
@click.pass_obj
def fetch(
    session: Session,
    platforms: tuple[str, ...],
    bundle: str | None,
    source: str | None,
    push_cache: bool,
    insecure: bool,
    mount_from: tuple[str, ...],
    offline: bool,
    jobs: int,
    locked: bool,
    frozen: bool,
) -> None:
    """Download every artifact of the lock into the cache, each verified against its sha256
    and size before it is stored; with --bundle, also write a bundle to carry offline."""
    from mlenv.commands.fetch import FetchRequest
    from mlenv.commands.fetch import fetch as fetch_lock
    from mlenv.frozen import exclusive

    exclusive(locked, frozen)
    request = FetchRequest(
        platforms, bundle, source, push_cache, insecure, mount_from, offline, jobs, frozen
    )
    pushed = fetch_lock(session, request)
    if pushed is not None:
        echo(pushed)


@click.command()
@click.option("--offline", is_flag=True, help="Accepted for clarity: build never uses the network.")
@click.option("--check", is_flag=True, help="Build twice and fail on any byte difference.")
@click.option(
    "--platform",
    help="The one platform to build (default: every platform of the lock; several make a "
    "multi-platform image).",
)
@click.option(
    "--bytecode",
    type=click.Choice(["none", "hash"]),
    default="none",
    show_default=True,
    help="none: no .pyc (smaller, byte-stable anywhere); hash: unchecked-hash .pyc compiled "
    "for the final paths (needs a host Python of the target's version).",
)
@click.option("--tag", default="latest", show_default=True, help="Image tag (name is the env's).")
@click.option(
    "-o",
    "--dist",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory (default: dist/ beside the manifest).",
)
@click.option(
    "--load", is_flag=True, help="Load image.tar into the Docker daemon at DOCKER_HOST afterwards."
)
@lock_use
@click.pass_obj
def build(
    session: Session,
    offline: bool,
    check: bool,
    platform: str | None,
    bytecode: str,
    tag: str,
    dist: Path | None,
    load: bool,
    locked: bool,
    frozen: bool,
) -> None:
    """Build the environment from the lock and the cache, without the network: an OCI image
    (layout and image.tar, loadable by docker, podman and skopeo), a conda-pack archive and
    build.json, byte-identical on any clean runner."""
    from mlenv.commands.build import BuildRequest, build_project
    from mlenv.frozen import exclusive

    exclusive(locked, frozen)
    bytecode_kind: Literal["none", "hash"] = "hash" if bytecode == "hash" else "none"
    if load and not session.load_manifest().build.image_tar:  # refused before any work
        raise _no_image_tar(session.manifest_path)
    request = BuildRequest(check, platform, bytecode_kind, tag, dist, load, frozen)
    target, record = build_project(session, request)
    _print_outputs(target, record)
    if load:
        from mlenv.build_record import BuildRecord
        from mlenv.oci.dockerload import load as docker_load

        if not isinstance(record, BuildRecord) or record.image is None:
            raise UsageError("--load needs the oci output", hint='add "oci" to [build] outputs')
        if record.image.image_tar is None:
            raise _no_image_tar(session.manifest_path)
        loaded = docker_load(target / record.image.image_tar.file)
        session.reporter.info(f"loaded {loaded} into Docker")


def _no_image_tar(manifest: Path) -> UsageError:
    """--load sends image.tar, the one docker-archive the build writes; a layout-only build
    has none (a docker-archive streamed from the layout would be a second, unpinned format)."""
    return UsageError(
        "--load needs dist/image.tar, and [build] image-tar = false builds the OCI layout only",
        where=f"{manifest}: [build].image-tar",
        hint="set [build] image-tar = true, or load the layout with "
        "`skopeo copy oci:dist/oci docker-daemon:NAME:TAG`",
    )


@click.command()
@click.argument("ref")
@click.option("--insecure", is_flag=True, help="Plain http (a registry on loopback).")
@click.option(
    "--dist",
    type=click.Path(file_okay=False, path_type=Path),
    help="The build output to push (default: dist/ beside the manifest).",
)
@MOUNT_FROM
@click.pass_obj
def push(
    session: Session, ref: str, insecure: bool, dist: Path | None, mount_from: tuple[str, ...]
) -> None:
    """Push the built image to an OCI registry (REF like registry:5000/team/env:tag).

    Blobs the registry already has are not uploaded again, blobs another repository of it has
    (--mount-from, and a registry base image's repository) are mounted; credentials come from
    the Docker config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json). Prints the
    digest.
    """
    from mlenv.commands.push import push as push_image

    result = push_image(session, ref, insecure=insecure, dist=dist, mount_from=mount_from)
    session.reporter.info(
        f"pushed {result.pushed_blobs} blob(s) ({result.bytes_pushed} bytes)"
        f"{result.mounted_note}, {result.skipped_blobs} already there"
    )
    echo(f"{ref}@{result.digest}")


def _print_outputs(dist: Path, record: BuildRecord | MultiPlatformRecord) -> None:
    from mlenv.build_record import MultiPlatformRecord

    built = ", ".join(record.platform_names())
    echo(f"built {dist} for {built} (lock sha256 {record.lock_sha256})")
    if isinstance(record, MultiPlatformRecord):
        if record.index is not None:
            echo(f"  {dist / 'oci'}  OCI layout, image index {record.index.index_digest}")
        for name in record.platforms:
            echo(f"  {dist / name}  the {name} build")
        echo(f"  {dist / 'build.json'}")
        return
    if record.image is not None:
        echo(f"  {dist / 'oci'}  OCI layout, manifest {record.image.manifest_digest}")
        tar = record.image.image_tar
        if tar is not None:
            echo(f"  {dist / tar.file}  {tar.repo_tag}, sha256:{tar.sha256}")
    if record.archive is not None:
        pack = record.archive
        echo(f"  {dist / pack.file}  conda-pack archive, sha256:{pack.sha256}")
    echo(f"  {dist / 'build.json'}")


@click.command(name="inspect")
@click.argument("subject", type=click.Path(exists=True, path_type=Path))
@click.option("--platform", help="The platform to inspect (default: the image's; a lock's first).")
@click.option("--json", "as_json", is_flag=True, help="Print the sizes as JSON.")
@click.option("--top", type=click.IntRange(1), default=20, show_default=True, help="Packages.")
@click.option("--largest", type=click.IntRange(0), default=10, show_default=True, help="Files.")
@click.pass_obj
def inspect_command(
    session: Session, subject: Path, platform: str | None, as_json: bool, top: int, largest: int
) -> None:
    """Show what takes the space: per layer and per package, the largest files, how much is
    CUDA libraries. SUBJECT is dist/image.tar, an OCI layout (dist/oci) or a lock (sizes
    from the lock, installed sizes of the wheels the cache holds)."""
    from mlenv.inspect import inspect_image, inspect_lock, shown_platform_note
    from mlenv.inspect_render import render
    from mlenv.stdout_closed import stdout_console, stdout_failed
    from mlenv.subjects import INSPECTED, expect

    takes = "dist/image.tar, an OCI layout (dist/oci) or an mlenv.lock"
    if expect(subject, INSPECTED, takes, "inspect") == "lock":
        from mlenv.diff import read_side  # a lock named on the command line, read as diff does

        label, lock_ = read_side(str(subject), session.lock_path)
        found = inspect_lock(lock_, label, session.artifact_cache().path, platform, largest)
        if (note := shown_platform_note(lock_, label, platform)) is not None:
            echo(f"note: {note}", err=True)  # stderr: --json stays one document
    else:
        found = inspect_image(subject, platform, largest)
    if as_json:
        print_json(found.to_dict())
        return
    try:
        render(found, stdout_console(None if sys.stdout.isatty() else 100), top)
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # a closed reader (``StagedGroup.invoke``)
            raise
        raise stdout_failed(exc) from None


@click.group(name="cache")
def cache_group() -> None:
    """Manage the local cache."""


@cache_group.command(name="prune")
@click.option(
    "--max-size",
    help="Keep at most this much of built layers, e.g. 5G (default $MLENV_LAYER_CACHE_MAX, "
    "else 10G); 0 empties the layer cache.",
)
@click.pass_obj
def cache_prune(session: Session, max_size: str | None) -> None:
    """Drop the least recently used built layers until the layer cache fits its limit, the
    least recently used conda repodata copies past $MLENV_REPODATA_CACHE_MAX, and
    kept lock verdicts and remembered locks that can no longer answer (downloaded artifacts
    are never pruned: a lock's build needs them offline)."""
    from mlenv.commands.cache import prune

    done = prune(session, max_size)
    session.reporter.info(
        f"layer cache {done.root}: removed {done.removed} layer(s), {human_bytes(done.freed)}; "
        f"{human_bytes(done.kept)} kept (limit {human_bytes(done.limit)}); "
        f"{done.verdicts} outdated lock verdict(s) and {done.memos} remembered lock(s) dropped; "
        f"{done.repodata[0]} conda repodata copy(ies), {human_bytes(done.repodata[1])}, dropped"
    )
