"""The command line: parses arguments, wires edges to the core, and maps errors to exit codes.

Exit codes: 0 success; 1 a user error (message and ``hint:`` on stderr); 2 an internal error
(traceback with ``-v``); 3 ``verify`` could not judge (for example no driver found). Data goes to
stdout, diagnostics to stderr.
"""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from mlenv import __version__, hints, lockfile
from mlenv.cli_flags import accept_after
from mlenv.commands.lock import apply_edit
from mlenv.commands.session import Session, open_session
from mlenv.echoed import shown as shown_text
from mlenv.echoed import without_secrets
from mlenv.errors import (
    CannotJudgeError,
    MlenvError,
    StdoutClosed,
    UsageError,
    VerdictError,
    terminal_text,
)
from mlenv.manifest import PYTHON_MINORS, Manifest
from mlenv.outputs import check_output
from mlenv.report import emit_json, human_bytes
from mlenv.target import Target
from mlenv.terminate import Terminated
from mlenv.userfiles import read_input

if TYPE_CHECKING:
    from mlenv.build_record import BuildRecord, MultiPlatformRecord
    from mlenv.discover import Found
    from mlenv.host import HostFacts
    from mlenv.host_libs import Unjudged

# Commands import the heavy modules (httpx, resolvelib, rich) when they run, so answers that
# need none of them (`--version`, a no-op `lock`) start fast.

EXIT_OK = 0
EXIT_USER = 1
EXIT_INTERNAL = 2


def print_json(data: Any) -> None:
    _echo(json.dumps(data, indent=2, sort_keys=True))


ASKS_HELP = "mlenv.asks_help"  # ctx.meta: the command line asks a command's --help


class StagedGroup(click.Group):
    """`mlenv --help` lists the commands by the stage of the workflow they belong to."""

    STAGES = (
        ("Start", ("init", "show", "add", "remove")),
        ("Lock and review", ("lock", "diff", "export")),
        ("Fetch, build, ship", ("fetch", "build", "inspect", "push", "cache")),
        ("Check before deploy", ("verify",)),
        ("Shell", ("completion",)),
    )

    def invoke(self, ctx: click.Context) -> Any:
        """Every command's run: a closed stdout becomes ``StdoutClosed`` before click turns
        EPIPE into exit 1, so ``exit_status`` ends them all alike."""
        from mlenv.stdout_closed import is_stdout_closed

        try:
            return super().invoke(ctx)
        except OSError as exc:
            if is_stdout_closed(exc):
                raise StdoutClosed("stdout was closed") from exc
            raise

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command, and whether its help is asked (``-h``/``--help`` before any ``--``):
        help reads no manifest, so the parent walk (``_found_upward``) must not run for it."""
        name, command, rest = super().resolve_command(ctx, args)
        words = rest[: rest.index("--")] if "--" in rest else rest
        ctx.meta[ASKS_HELP] = any(word in ("-h", "--help") for word in words)
        return name, command, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        staged = {name for _, members in self.STAGES for name in members}
        sections = [*self.STAGES, ("Other", tuple(n for n in names if n not in staged))]
        limit = formatter.width - 6 - max(map(len, names), default=0)
        for title, members in sections:
            rows = []
            for name in members:
                command = self.get_command(ctx, name)
                if command is not None and not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
            if rows:
                with formatter.section(f"{title} commands"):
                    formatter.write_dl(rows)


# Every variable mlenv reads, in --help as uv and docker show theirs: a variable nobody can find
# from the command line is a setting that silently differs between two runners.
ENVIRONMENT_HELP = """\b
Environment variables:
  MLENV_MANIFEST          the manifest (as -m)
  MLENV_CACHE_DIR         the cache (as --cache; default ~/.cache/mlenv)
  MLENV_CA_BUNDLE         a PEM file of extra CAs for indexes, registries and https proxies
                          (SSL_CERT_FILE / SSL_CERT_DIR replace the default trust)
  MLENV_CACHE_REGISTRY    the fleet's shared artifact cache, oci://REGISTRY/REPO
  MLENV_DOWNLOAD_SECONDS  every download's deadline before its size is counted (600)
  MLENV_LAYER_CACHE_MAX   the built-layer cache's size limit (10G)
  MLENV_REPODATA_CACHE_MAX  the conda repodata cache's size limit (2G)
  MLENV_DRIVER_VERSION    this node's NVIDIA driver, for verify --host
  MLENV_GPU_COMPUTE_CAP   this node's GPUs (e.g. 8.0,9.0), for verify --host
  MLENV_DEBUG             tracebacks on internal errors (as -v)
  HTTPS_PROXY HTTP_PROXY ALL_PROXY NO_PROXY   proxies for indexes and registries
  NETRC                   index credentials (default ~/.netrc)
  DOCKER_CONFIG           the directory of registry credentials, config.json (~/.docker)
  DOCKER_HOST             the daemon build --load loads the image into
  SOURCE_DATE_EPOCH       the time stamped into build outputs and the SBOM
  NO_COLOR                no colour on a terminal
"""


@click.group(
    cls=StagedGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=ENVIRONMENT_HELP,
)
@click.version_option(__version__, "-V", "--version", prog_name="mlenv")
@click.option(
    "-m",
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MLENV_MANIFEST",
    show_envvar=True,
    help="The manifest to work on (default: mlenv.toml here, else the nearest parent "
    "directory's, not past a mount point or a directory anyone may write; the lock and dist/ "
    "go beside it).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False),  # as typed: ./~ is no home (cache.named_root)
    help="Cache directory (default $MLENV_CACHE_DIR or ~/.cache/mlenv); a bundle works too.",
)
@click.option("-v", "--verbose", count=True, help="More detail; tracebacks on internal errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.option(
    "--log-format",
    type=click.Choice(["human", "json"]),
    default="human",
    help="How progress and messages are written to stderr.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    manifest: Path | None,
    cache: str | None,
    verbose: int,
    quiet: bool,
    log_format: str,
) -> None:
    """mlenv: lock a GPU Python environment for its target, fetch it for an air gap,
    build it byte for byte, and verify it before deploy.

    \b
    Typical flow:
      mlenv init            write a starter mlenv.toml
      mlenv show            check the manifest and show the target mlenv sees
      mlenv lock            resolve for the target into mlenv.lock (hash-pinned)
      mlenv export          requirements.txt or pylock.toml from the lock
      mlenv fetch           download every artifact, verified, into the cache or a bundle
      mlenv build           the OCI image and conda-pack archive, offline, byte for byte
      mlenv push            the image to an OCI registry, uploading only what changed
      mlenv verify          check the lock, its hashes and the CUDA rules before deploy
    """
    asks_help = bool(ctx.meta.get(ASKS_HELP))
    refused = None
    try:
        walk = manifest is None and not asks_help
        found = _found_upward(ctx.invoked_subcommand) if walk else None
    except MlenvError as error:  # said when the manifest or its lock is read (Session.refused)
        found, refused = None, error
    where = found.path if found is not None else manifest or Path("mlenv.toml")
    ctx.obj = replace(
        open_session(where, cache, verbose, quiet, log_format), refused=refused, found=found
    )
    if found is not None:
        ctx.obj.reporter.info(f"using {found.path} (found in a parent directory)")


def _found_upward(command: str | None) -> Found | None:
    """The manifest of the nearest parent directory (``mlenv.discover``) when no -m names one
    and the working directory holds none; never for a command that writes or needs none."""
    from mlenv.discover import NO_WALK, find_upward

    if command is None or command in NO_WALK:
        return None
    try:
        here = Path.cwd()
    except OSError:
        return None  # a removed working directory: the manifest's read says so
    return find_upward(here)


@cli.command()
@click.option(
    "--name", help="Environment name (default: the imported project's name, else the directory's)."
)
@click.option(
    "--python",
    type=click.Choice(PYTHON_MINORS),
    default="3.11",
    show_default=True,
    help="Target CPython minor version.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing manifest.")
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Import requirements*.txt, pyproject.toml, pylock.toml, pixi.toml, environment.yml or "
    "conda-lock.yml.",
)
@click.option(
    "--group",
    multiple=True,
    help="Also this optional group or extra (pyproject.toml, pylock.toml), feature or "
    "environment (pixi.toml) or category (conda-lock.yml); repeatable.",
)
@click.option("--cuda", metavar="X.Y", help="The CUDA target (default: guessed from --from).")
@click.option("--driver-floor", metavar="VERSION", help="The oldest driver (default: the CUDA's).")
@click.pass_obj
def init(
    session: Session,
    name: str | None,
    python: str,
    force: bool,
    from_file: Path | None,
    group: tuple[str, ...],
    cuda: str | None,
    driver_floor: str | None,
) -> None:
    """Write a commented starter mlenv.toml, or one holding what FILE (--from) requires."""
    from mlenv.commands.init import InitRequest, init_manifest

    python_given = (
        click.get_current_context().get_parameter_source("python")
        != click.core.ParameterSource.DEFAULT
    )
    request = InitRequest(name, python, python_given, from_file, group, cuda, driver_floor, force)
    init_manifest(session, request)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the normalised manifest as JSON.")
@click.pass_obj
def show(session: Session, as_json: bool) -> None:
    """Check the manifest and show what mlenv understood, defaults included."""
    from mlenv.interpreter_needed import missing_for_manifest

    manifest = session.load_manifest()
    if said := missing_for_manifest(manifest):
        session.reporter.warning(said)
    if as_json:
        print_json(manifest.to_dict())
        return
    env = manifest.environment
    _echo(f"environment  {env.name}  (prefix {env.prefix})")
    for target in Target.for_environment(env):
        _echo(
            f"target       {target.platform}  CPython {target.python}  glibc {target.glibc}"
            f"  best wheel tag {target.tags[0]}"
        )
    if manifest.cuda is not None:
        cuda = manifest.cuda
        archs = f"  archs {', '.join(cuda.archs)}" if cuda.archs else ""
        archs += f"  cpu-ok {', '.join(cuda.cpu_ok)}" if cuda.cpu_ok else ""
        _echo(f"cuda         {cuda.version}  driver floor {cuda.driver_floor}{archs}")
        if cuda.unverified:
            _echo(f"unverified   {', '.join(cuda.unverified)} (CUDA not checked)")
    cutoff = manifest.to_dict()["pypi"].get("exclude-newer")  # a cutoff changes every pin
    dated = f"  uploaded before {cutoff} ([pypi] exclude-newer)" if cutoff else ""
    _echo(f"pypi         {len(manifest.pypi.dependencies)} requirement(s){dated}")
    _echo(f"conda        {len(manifest.conda.dependencies)} requirement(s)")
    build = manifest.build
    _echo(f"outputs      {', '.join(build.outputs)} ({build.compression}, layers {build.layers})")


def lock_use(command: Any) -> Any:
    """``--locked`` and ``--frozen`` (``mlenv.frozen``), as uv spells them."""
    from mlenv.frozen import FROZEN_HELP, LOCKED_HELP

    command = click.option("--frozen", is_flag=True, help=FROZEN_HELP)(command)
    return click.option("--locked", is_flag=True, help=LOCKED_HELP)(command)


@cli.command()
@click.option("--upgrade", is_flag=True, help="Let every pin move to the newest allowed version.")
@click.option(
    "--upgrade-package",
    "-P",
    multiple=True,
    metavar="NAME",
    help="Let this package's pin move (repeatable); other pins stay.",
)
@click.option("--check", is_flag=True, help="Exit 1 if the lock is missing or stale (for CI).")
@click.option(
    "--locked",
    is_flag=True,
    help="As --check, spelled as uv's `lock --locked`: exit 1 if the lock would change.",
)
@click.option("--offline", is_flag=True, help="Never touch the network; use cached index data.")
@click.option(
    "--no-index",
    is_flag=True,
    help="Resolve from [pypi] find-links alone, asking no package index (index-url, "
    "extra-index-urls), as pip's and uv's --no-index; the lock still records the manifest's "
    "indexes, so it stays fresh. Conda channels are unaffected.",
)
@click.pass_obj
def lock(
    session: Session,
    upgrade: bool,
    upgrade_package: tuple[str, ...],
    check: bool,
    locked: bool,
    offline: bool,
    no_index: bool,
) -> None:
    """Resolve the manifest for its target into mlenv.lock.

    An existing lock is changed minimally: every pin that still satisfies the manifest is kept
    unless --upgrade or --upgrade-package says otherwise. With an unchanged manifest nothing is
    resolved again.
    """
    from mlenv.commands.lock import lock as lock_project

    flag = "--locked" if locked else "--check"
    lock_project(
        session,
        upgrade,
        upgrade_package,
        check=check or locked,
        offline=offline,
        flag=flag,
        no_index=no_index,
    )


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(
        ["requirements", "pylock", "conda-lock", "explicit", "cyclonedx", "k8s-affinity"]
    ),
    required=True,
    help="requirements: pip's requirements.txt with hashes; pylock: PEP 751 pylock.toml "
    "(both for the PyPI part); conda-lock: conda-lock.yml; explicit: an @EXPLICIT conda spec "
    "file with sha256 (both for the conda part); cyclonedx: a CycloneDX 1.6 JSON SBOM of both; "
    "k8s-affinity: the Kubernetes nodeAffinity that keeps the workload off GPU nodes whose "
    "driver or GPU cannot run it.",
)
@click.option(
    "--platform",
    help="The platform to export (requirements, explicit: default the first; cyclonedx: "
    "default all).",
)
@click.option(
    "-o",
    "--output",
    "given",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write to a file ('-': standard output, as without -o; './-': a file named '-').",
)
@lock_use
@click.pass_obj
def export(
    session: Session,
    fmt: str,
    platform: str | None,
    given: str | None,
    locked: bool,
    frozen: bool,
) -> None:
    """Write the lock in a format other tools read."""
    from mlenv.commands.export import EXPORT_FILE, export_keep, render_export
    from mlenv.frozen import exclusive

    exclusive(locked, frozen)

    # '-' exactly, as written: a Path reads './-' as '-' too, and that names a file
    output = None if given is None or given == "-" else Path(given)
    if output is not None:  # before any work
        check_output(output, EXPORT_FILE, keep=export_keep(session))
    text = render_export(session, fmt, platform, output, frozen=frozen)
    if output is None:
        _echo(text, nl=False)
    else:
        session.write_file(output, text.encode(), EXPORT_FILE, export_keep(session))
        session.reporter.info(f"wrote {given}")


MOUNT_FROM = click.option(
    "--mount-from",
    multiple=True,
    metavar="REPOSITORY",
    help="Another repository of the same registry (REGISTRY/REPO or oci://REGISTRY/REPO) whose "
    "blobs are mounted instead of uploaded (repeatable; the shared cache is always tried).",
)


@cli.command()
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
        _echo(pushed)


@cli.command()
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


@cli.command()
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
    _echo(f"{ref}@{result.digest}")


def _print_outputs(dist: Path, record: BuildRecord | MultiPlatformRecord) -> None:
    from mlenv.build_record import MultiPlatformRecord

    built = ", ".join(record.platform_names())
    _echo(f"built {dist} for {built} (lock sha256 {record.lock_sha256})")
    if isinstance(record, MultiPlatformRecord):
        if record.index is not None:
            _echo(f"  {dist / 'oci'}  OCI layout, image index {record.index.index_digest}")
        for name in record.platforms:
            _echo(f"  {dist / name}  the {name} build")
        _echo(f"  {dist / 'build.json'}")
        return
    if record.image is not None:
        _echo(f"  {dist / 'oci'}  OCI layout, manifest {record.image.manifest_digest}")
        tar = record.image.image_tar
        if tar is not None:
            _echo(f"  {dist / tar.file}  {tar.repo_tag}, sha256:{tar.sha256}")
    if record.archive is not None:
        pack = record.archive
        _echo(f"  {dist / pack.file}  conda-pack archive, sha256:{pack.sha256}")
    _echo(f"  {dist / 'build.json'}")


@cli.command()
@click.argument("output", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--driver", metavar="VERSION", help="Judge this NVIDIA driver (e.g. 535.104.05).")
@click.option(
    "--host", is_flag=True, help="Judge this machine's driver and GPUs (the check on a GPU node)."
)
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Check a bundle completely: every missing, extra or corrupted file.",
)
@click.option(
    "--cache", "check_cache", is_flag=True, help="Re-hash the lock's artifacts in the cache."
)
@click.option(
    "--nodes",
    "nodes_file",
    metavar="FILE",
    help="Judge every GPU node of `kubectl get nodes -o json` (a file, or - for stdin) from "
    "its NVIDIA GPU Feature Discovery labels.",
)
@click.option(
    "--selector",
    "-l",
    default="",
    help="With --nodes: only nodes matching this Kubernetes label selector "
    "(key=value, key!=value, key in (a,b), key notin (a,b), key, !key; commas AND).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option(
    "--offline", is_flag=True, help="Accepted for symmetry: verify never uses the network."
)
@click.pass_obj
def verify(
    session: Session,
    output: Path | None,
    driver: str | None,
    host: bool,
    bundle: Path | None,
    check_cache: bool,
    nodes_file: str | None,
    selector: str,
    as_json: bool,
    offline: bool,
) -> None:
    """Check the lock before deploy: fresh against the manifest, every artifact hashed, and the
    CUDA rules for the manifest's driver floor, a given --driver, this --host, or every node of
    a cluster (--nodes). With OUTPUT (dist/image.tar, the conda-pack archive, or the OCI layout
    dist/oci, every blob hashed), also its digest against the build.json beside it, and that
    build against this lock.

    Exit 0 when everything holds (warnings allowed), 1 when something fails, 3 when it cannot
    judge (no NVIDIA driver found with --host, no node with GPU labels among --nodes).
    """
    from mlenv.commands import verify as use
    from mlenv.host_libs import NO_DRIVER

    if sum((driver is not None, host, nodes_file is not None)) > 1:
        raise UsageError("--driver, --host and --nodes exclude each other", hint="pass one of them")
    if selector and nodes_file is None:
        raise UsageError("--selector chooses among --nodes", hint="pass --nodes FILE as well")
    if bundle is not None:
        given = {
            "OUTPUT": output is not None,
            "--driver": driver is not None,
            "--host": host,
            "--cache": check_cache,
            "--nodes": nodes_file is not None,
            "--json": as_json,
        }
        others = [name for name, named in given.items() if named]
        if others:  # judged by none of them: a pass would vouch for what was never checked
            raise UsageError(
                f"--bundle judges the bundle alone, not {', '.join(others)}",
                hint="run `mlenv verify --bundle DIR` and the other check as two commands",
            )
        _verify_bundle(bundle)
        return
    manifest = session.load_manifest()
    lock_ = session.load_lock()
    if check_cache:
        count = use.verify_cache(session, lock_)
        session.reporter.info(f"cache: {count} artifact(s) present, every sha256 checked")
    if nodes_file is not None:
        _verify_nodes(session, manifest, lock_, nodes_file, selector, output, as_json)
        return
    judged = None
    if driver is not None:
        judged = use.by_driver(driver)
    elif host:
        judged, facts = use.by_host()
        if judged is None:
            for probe in facts.probes:
                session.reporter.info(f"  {probe.source}: {probe.detail}")
            why = facts.unjudged or NO_DRIVER
            kind = MlenvError if why.fails else CannotJudgeError
            problem = kind(why.message, hint=why.hint)
            if as_json:
                print_json(_cannot_judge_json(why, facts))
                problem.shown = True
            raise problem
    verdict = use.verify(manifest, lock_, session.lock_path, judged, output)
    if as_json:
        print_json(
            {
                "ok": verdict.ok,
                "judged": None
                if verdict.judged is None
                else {
                    "driver": verdict.judged.driver,
                    "source": verdict.judged.source,
                    "archs": list(verdict.judged.archs),
                },
                "requires-driver": verdict.requires_driver,
                "findings": [
                    {
                        "severity": f.severity,
                        "code": f.code,
                        "package": f.package,
                        "needs": f.needs,
                        "promised": f.promised,
                        "message": f.message,
                        "hint": f.hint,
                    }
                    for f in verdict.findings
                ],
            }
        )
    else:
        _print_verdict(verdict, lock_, session.lock_path)
    if not verdict.ok:
        raise VerdictError("verification failed")


def _cannot_judge_json(why: Unjudged, facts: HostFacts) -> dict[str, Any]:
    """``--json`` output when no driver is judged: a script reads why (exit 3; exit 1, ``ok``
    false, where a probe saw that CUDA cannot start), and which probes were tried."""
    return {
        "ok": False if why.fails else None,
        "cannot-judge": why.message,
        "hint": why.hint,
        "judged": None,
        "requires-driver": None,
        "findings": [],
        "probes": [{"source": p.source, "ok": p.ok, "detail": p.detail} for p in facts.probes],
    }


def _verify_nodes(
    session: Session,
    manifest: Manifest,
    lock_: lockfile.Lock,
    nodes_file: str,
    selector: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Each selected node judged on its own; exit 1 if any fails, 3 if none could be judged."""
    import dataclasses

    from mlenv.commands.verify import verify_nodes
    from mlenv.limits import MAX_NODE_LIST
    from mlenv.nodes import exit_status, report_json, report_lines
    from mlenv.subjects import NODE_LIST, expect

    if nodes_file == "-":
        text, where = sys.stdin.read(MAX_NODE_LIST + 1), "<stdin>"
    else:
        try:  # a FIFO or a device named here never blocks (userfiles.read_input)
            expect(Path(nodes_file), NODE_LIST, "a node list (`kubectl get nodes -o json`)",
                   "verify --nodes")  # fmt: skip
            data = read_input(Path(nodes_file), "node list", limit=MAX_NODE_LIST)
        except FileNotFoundError:
            raise UsageError(
                "no such node list", where=nodes_file, hint="save `kubectl get nodes -o json`"
            ) from None
        text, where = data.decode("utf-8", "replace"), nodes_file
    judged = verify_nodes(manifest, lock_, session.lock_path, text, where, selector, output)
    verdicts, needed, built = judged.verdicts, judged.needed, judged.built
    if as_json:
        print_json(
            {
                **report_json(verdicts, needed),
                "output-findings": [dataclasses.asdict(f) for f in built.findings],
            }
        )
    else:
        for finding in built.findings:
            _echo(f"ERROR   {finding.code}: {finding.message}")
            _echo(f"        hint: {finding.hint}")
        for line in report_lines(verdicts, judged.nodes, needed):
            _echo(line)
    status = exit_status(verdicts)
    if status == "fail" or not built.ok:
        raise VerdictError("a node cannot run the lock")
    if status == "cannot-judge":
        problem = CannotJudgeError("no selected node could be judged")
        problem.shown = True
        raise problem


def _verify_bundle(bundle: Path) -> None:
    from mlenv.cache.lock_artifacts import artifacts_of
    from mlenv.commands.verify import verify_bundle

    verdict = verify_bundle(bundle)
    for problem in verdict.problems:
        _echo(f"{problem.kind.upper():18} {problem.path}: {problem.detail}")
    if verdict.problems:
        _echo(f"FAIL: {len(verdict.problems)} problem(s) in bundle {bundle}")
        failed = VerdictError(
            "the bundle is not what it lists", where=str(bundle), hint=verdict.hint()
        )
        failed.shown = False  # the report is on stdout; the fix goes to stderr
        raise failed
    # the conda archives too: a conda-only bundle is not empty
    count = len(artifacts_of(verdict.lock))
    _echo(f"OK: bundle {bundle} is complete ({count} artifact(s), every sha256 checked; "
          f"mlenv.lock sha256 {verdict.lock_sha256})")  # fmt: skip


def _print_verdict(verdict: Any, lock_: lockfile.Lock, path: Path) -> None:
    target = lock_.target
    against = (
        f"driver {verdict.judged.driver} ({verdict.judged.source})"
        if verdict.judged
        else f"the driver floor {target.driver_floor}"
        if target.driver_floor
        else "no driver floor"
    )
    cuda = f"CUDA {target.cuda}" if target.cuda else "no CUDA target"
    pypi, conda = len(lock_.packages()), len(lock_.conda_packages())
    counted = f"{pypi + conda} packages" + (f" ({pypi} PyPI, {conda} conda)" if conda else "")
    _echo(f"{path}: {counted}, {cuda}, judged against {against}")
    if verdict.requires_driver:
        _echo(f"the environment needs driver {verdict.requires_driver} or newer")
    from mlenv.entry_needs import recorded_only

    if trusted := recorded_only(lock_):  # said, not passed in silence: no index is asked
        _echo(f"CUDA taken as recorded (`mlenv lock` read it from METADATA, which verify "
              f"asks no index for; `mlenv lock --upgrade-package NAME` reads it again): "
              f"{'; '.join(trusted)}")  # fmt: skip
    from mlenv.cuda.grouping import grouped

    for finding in grouped(verdict.findings):  # one line per driver a later CUDA update needs
        about_output = verdict.output is not None and finding.code.startswith("output-")
        subject = finding.package or (verdict.output if about_output else "[target]")
        _echo(f"{finding.severity.upper():7} {finding.code:22} {subject}: {finding.message}")
        _echo(f"        hint: {finding.hint}")
    if verdict.output and not any(f.code.startswith("output-") for f in verdict.findings):
        # said, or a user who named dist/image.tar cannot tell it was looked at
        _echo(f"{verdict.output}: matches its build.json, and that build matches {path}")
    errors = len(verdict.errors)
    warnings = len(verdict.findings) - errors
    status = "FAIL" if errors else "OK"
    _echo(f"{status}: {errors} error(s), {warnings} warning(s)")


def _verbose(argv: Sequence[str]) -> bool:
    return any(
        arg == "--verbose" or (arg.startswith("-v") and set(arg[1:]) == {"v"}) for arg in argv
    )


def _echo(message: str, *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` through ``errors.terminal_text``: names and messages from outside
    (kubectl, indexes, locks, registries) never drive the terminal."""
    try:
        click.echo(terminal_text(message), err=err, nl=nl)
    except OSError as exc:
        if err or exc.errno == errno.EPIPE:  # EPIPE: a closed reader (``StagedGroup.invoke``)
            raise
        from mlenv.stdout_closed import stdout_failed

        raise stdout_failed(exc) from None


def _json_log(argv: Sequence[str]) -> bool:
    """``--log-format json`` among the global options: errors are then JSON events too, so a
    wrapper that reads stderr line by line never meets prose. Read as click reads the global
    options: an option's value is no option (``-m -- --log-format json``), the last
    ``--log-format`` wins, and the command name ends them."""
    fmt, args = "human", iter(argv)
    for arg in args:
        name, equals, value = arg.partition("=") if arg[:2] == "--" else (arg, "", "")
        if name == "--log-format":
            fmt = value if equals else next(args, "")
        elif name in ("--manifest", "--cache") and not equals:
            next(args, "")
        elif arg[:1] == "-" and arg[1:2] not in ("", "-") and arg.find("m") == len(arg) - 1:
            next(args, "")  # -m, -qm: the manifest follows
        elif arg == "--" or arg[:1] != "-":
            break
    return fmt == "json"


def _report_error(argv: Sequence[str], label: str, message: str, code: int, **more: object) -> None:
    """The last thing a failing command says: a line of text, or an ``error`` event."""
    if _json_log(argv):
        emit_json(sys.stderr, event="error", label=label, message=message, exit_code=code, **more)
    else:
        _echo(f"{label}: {message}" if label != message else message, err=True)


def _print_error(exc: MlenvError, argv: Sequence[str]) -> None:
    """The error as text, unless the command already showed its report; in JSON, always the
    event (a shown report went to stdout, and the wrapper still reads stderr for the end)."""
    if _json_log(argv):
        problems = [problem.event() for problem in exc.problems]  # shown by emit_json
        _report_error(argv, exc.label, exc.message, exc.exit_code, problems=problems)
        return
    if exc.shown:
        return
    # mlenv's own lines end at '\n' alone: str.splitlines also ends one at U+2028, U+0085, VT,
    # FF or FS, which a name an index or channel chose may hold, and its rest then showed as a
    # line of mlenv's own (a "hint:"); kept in its line, terminal_text shows each as '?'
    lines = exc.render().rstrip("\n").split("\n")
    _echo(f"{exc.label}: {lines[0]}", err=True)
    for line in lines[1:]:
        _echo(f"  {line}", err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="mlenv", standalone_mode=False)
    except (Exception, KeyboardInterrupt) as exc:
        return exit_status(exc, args)
    return EXIT_OK


def _usage_hint(exc: click.ClickException) -> str | None:
    """A hint click does not give: a global option written after the command."""
    if not isinstance(exc, click.NoSuchOption) or exc.ctx is None or exc.ctx.parent is None:
        return None
    return hints.global_option(exc.option_name, exc.ctx.command_path.partition(" ")[2])


def exit_status(exc: Exception | KeyboardInterrupt, argv: Sequence[str]) -> int:
    """The only place where errors become exit codes: those of the CLI, and of a plain
    ``lock`` that the entry point ran without click."""
    if isinstance(exc, StdoutClosed):  # `mlenv inspect … | head`: the reader had enough
        from mlenv.stdout_closed import silence_stdout

        silence_stdout()
        return exc.exit_code
    if isinstance(exc, MlenvError):
        _print_error(exc, argv)
        return exc.exit_code
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):  # click: Abort
        _report_error(argv, "terminated", "terminated", 143)
        return 143
    if isinstance(exc, click.exceptions.Abort):
        _report_error(argv, "aborted", "aborted", 130)
        return 130
    if isinstance(exc, click.ClickException):
        hint = _usage_hint(exc)
        if not _json_log(argv):  # click quotes the value typed: an index URL's password too
            shown = io.StringIO()
            exc.show(file=shown)
            _echo(shown_text(shown.getvalue()), err=True, nl=False)
            if hint:
                _echo(f"  hint: {hint}", err=True)
        else:
            message = exc.format_message() + (f" (hint: {hint})" if hint else "")  # emit_json shows
            _report_error(argv, "usage", message, EXIT_USER)
        return EXIT_USER
    if isinstance(exc, KeyboardInterrupt):
        _report_error(argv, "interrupted", "interrupted", 130)
        return 130
    if _verbose(argv) or os.environ.get("MLENV_DEBUG"):
        trace = without_secrets("".join(traceback.format_exception(exc)))  # whole: for a report
        if not _json_log(argv):
            _echo(trace, err=True, nl=False)
            return EXIT_INTERNAL
        _report_error(argv, "internal error", str(exc), EXIT_INTERNAL, traceback=trace)
    else:
        _report_error(
            argv,
            "internal error",
            "mlenv failed unexpectedly (run with -v for the traceback and report it)",
            EXIT_INTERNAL,
        )
    return EXIT_INTERNAL


# ---------------------------------------------------------------------------------------------
# The daily workflow: add, remove, diff, inspect


NO_LOCK = click.option(
    "--no-lock",
    "--frozen",
    "no_lock",
    is_flag=True,
    help="Only edit the manifest; do not re-lock (--frozen: uv's spelling).",
)


def _manifest_text(session: Session) -> str:
    """The text ``add``/``remove`` edit: the manifest's bytes (the walk's, when it found it),
    after the same messages as every command for a missing or bad file."""
    return session.manifest_bytes().decode("utf-8")


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("--conda", is_flag=True, help="Add to [conda].dependencies (match specs).")
@click.option(
    "--platform", help="Only for this platform of the manifest (a platform_machine marker)."
)
@NO_LOCK
@click.option("--offline", is_flag=True, help="Never touch the network; use cached index data.")
@click.pass_obj
def add(
    session: Session,
    specs: tuple[str, ...],
    conda: bool,
    platform: str | None,
    no_lock: bool,
    offline: bool,
) -> None:
    """Add or change dependencies (a spec for a listed name replaces it) and re-lock.

    Comments and formatting of mlenv.toml are kept. Other pins in the lock stay where they
    are; the named packages move to the newest version allowed. When the new spec cannot be
    locked, neither mlenv.toml nor mlenv.lock is changed.
    """
    from mlenv.edit import add as add_specs

    text = _manifest_text(session)
    source = str(session.manifest_path)
    edited = add_specs(text, specs, source=source, conda=conda, platform=platform)
    apply_edit(session, edited, no_lock, offline)


@cli.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@NO_LOCK
@click.option("--offline", is_flag=True, help="Never touch the network; use cached index data.")
@click.pass_obj
def remove(session: Session, names: tuple[str, ...], no_lock: bool, offline: bool) -> None:
    """Remove dependencies (PyPI and conda) by name and re-lock; other pins stay."""
    from mlenv.edit import remove as remove_names

    edited = remove_names(_manifest_text(session), names, source=str(session.manifest_path))
    apply_edit(session, edited, no_lock, offline)


@cli.command()
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="markdown: a table to paste into a pull-request comment.",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when the locks differ (as git diff does).")
@click.pass_obj
def diff(
    session: Session, old: str | None, new: str | None, as_json: bool, fmt: str, exit_code: bool
) -> None:
    """Review a lock change: packages added, removed, upgraded and downgraded per platform,
    download size, CUDA and the driver the environment needs, new warnings.

    OLD and NEW are lock files, git revisions of mlenv.lock (main, HEAD~1) or REV:PATH.
    Default: the lock in git HEAD against the working tree's lock.
    """
    from mlenv.diff import compare, read_side, render_markdown, render_text

    default = session.lock_path
    old_label, old_lock = read_side(old, default)
    if new is None:
        new_label, new_lock = str(default), session.load_lock()
    else:
        new_label, new_lock = read_side(new, default)
    result = compare(old_lock, new_lock, old_label, new_label)
    if as_json:
        print_json(result.to_dict())
    else:
        _echo(render_markdown(result) if fmt == "markdown" else render_text(result), nl=False)
    if exit_code and result.changed:
        raise VerdictError("the locks differ")  # --exit-code, as git diff


@cli.command(name="inspect")
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
            _echo(f"note: {note}", err=True)  # stderr: --json stays one document
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


@cli.group(name="cache")
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


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(mlenv completion bash)"    (in ~/.bashrc)
    zsh:   eval "$(mlenv completion zsh)"     (in ~/.zshrc)
    fish:  mlenv completion fish > ~/.config/fish/completions/mlenv.fish
    """
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    assert complete is not None  # click ships all three
    click.echo(complete(cli, {}, "mlenv", "_MLENV_COMPLETE").source())


for _command in cli.commands.values():  # -q/-v after the command as before it (uv, docker)
    accept_after(_command)
