"""The command line: parses arguments, wires edges to the core, and maps errors to exit codes.

Exit codes: 0 success; 1 a user error (message and ``hint:`` on stderr); 2 an internal error
(traceback with ``-v``); 3 ``verify`` could not judge (for example no driver found). Data goes to
stdout, diagnostics to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from mlenv import __version__
from mlenv import lock as lockfile
from mlenv.atomic import write_atomic
from mlenv.cache import ArtifactCache, cache_dir
from mlenv.errors import (
    CannotJudgeError,
    MlenvError,
    ProblemsError,
    UsageError,
    VerdictError,
    redact,
)
from mlenv.manifest import PYTHON_MINORS, Manifest, loads
from mlenv.outputs import OutputKind, check_output
from mlenv.report import HumanReporter, JsonReporter, QuietReporter, Reporter, human_bytes
from mlenv.target import Target
from mlenv.templates import starter_manifest

if TYPE_CHECKING:
    from mlenv.cache import Artifact
    from mlenv.edit import Edited
    from mlenv.fetch import FetchResult
    from mlenv.index import HttpClient
    from mlenv.locker import Upgrade

# Commands import the heavy modules (httpx, resolvelib, rich) when they run, so answers that
# need none of them (`--version`, a no-op `lock`) start fast.

EXIT_OK = 0
EXIT_USER = 1
EXIT_INTERNAL = 2

MANIFEST_FILE = OutputKind("manifest", "--manifest")
LOCK_FILE = OutputKind("lock", "--manifest")
EXPORT_FILE = OutputKind("export", "--output")


@dataclass(frozen=True)
class Session:
    """What every command needs: where the project is and how to talk to the user."""

    manifest_path: Path
    reporter: Reporter
    verbose: int
    cache_root: Path

    def load_manifest(self) -> Manifest:
        return read_manifest(self.manifest_path)

    @property
    def lock_path(self) -> Path:
        return self.manifest_path.parent / "mlenv.lock"

    def load_lock(self) -> lockfile.Lock:
        path = self.lock_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(
                "no lock here", where=str(path), hint="run `mlenv lock` first"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the lock: {exc}", where=str(path)) from None
        return lockfile.loads(text, source=str(path))

    def http(self, offline: bool) -> HttpClient:
        from mlenv.index import HttpCache, HttpClient

        return HttpClient(offline=offline, cache=HttpCache(self.cache_root))

    def artifact_cache(self) -> ArtifactCache:
        return ArtifactCache(self.cache_root)

    def write_file(
        self, path: Path, data: bytes, kind: OutputKind, keep: Mapping[str, Path] | None = None
    ) -> None:
        """Every file a command writes at a path the user chose goes through the output
        guard: never over a directory, a symlink, a special file, or what the run reads."""
        keep = {**(keep or {}), "the cache": self.cache_root}
        write_atomic(check_output(path, kind, keep=keep), data)


def read_manifest(path: Path) -> Manifest:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            "no manifest here",
            where=str(path),
            hint="run `mlenv init` to write one, or pass --manifest PATH",
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read the manifest: {exc.strerror}", where=str(path)) from None
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


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


class StagedGroup(click.Group):
    """`mlenv --help` lists the commands by the stage of the workflow they belong to."""

    STAGES = (
        ("Start", ("init", "show", "add", "remove")),
        ("Lock and review", ("lock", "diff", "export")),
        ("Fetch, build, ship", ("fetch", "build", "inspect", "push", "cache")),
        ("Check before deploy", ("verify",)),
        ("Shell", ("completion",)),
    )

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


@click.group(
    cls=StagedGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "-V", "--version", prog_name="mlenv")
@click.option(
    "-m",
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("mlenv.toml"),
    envvar="MLENV_MANIFEST",
    show_default=True,
    help="The manifest to work on.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
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
    manifest: Path,
    cache: Path | None,
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
    reporter: Reporter
    if log_format == "json":
        reporter = JsonReporter(verbose=verbose)
    elif quiet:
        reporter = QuietReporter()
    else:
        reporter = HumanReporter(verbose=verbose)
    ctx.obj = Session(manifest, reporter, verbose, cache or cache_dir())


@cli.command()
@click.option("--name", help="Environment name (default: the directory's name).")
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
    help="Import requirements*.txt, pyproject.toml, pylock.toml, environment.yml or "
    "conda-lock.yml.",
)
@click.option("--group", multiple=True, help="With a pyproject.toml: also this optional group.")
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
    path = session.manifest_path
    if path.exists() and not force:
        raise UsageError(
            "a manifest already exists; nothing was written",
            where=str(path),
            hint="pass --force to replace it",
        )
    directory = path.resolve().parent.name
    if from_file is not None or cuda or driver_floor:
        text = _imported_manifest(session, name or directory, python, from_file, group, cuda,
                                  driver_floor)  # fmt: skip
    else:
        text = starter_manifest(name or directory, python)
    loads(text, source=str(path))  # the starter must always be valid
    session.write_file(path, text.encode(), MANIFEST_FILE)
    session.reporter.info(f"wrote {path}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the normalised manifest as JSON.")
@click.pass_obj
def show(session: Session, as_json: bool) -> None:
    """Check the manifest and show what mlenv understood, defaults included."""
    manifest = session.load_manifest()
    if as_json:
        print_json(manifest.to_dict())
        return
    env = manifest.environment
    click.echo(f"environment  {env.name}  (prefix {env.prefix})")
    for target in Target.for_environment(env):
        click.echo(
            f"target       {target.platform}  CPython {target.python}  glibc {target.glibc}"
            f"  best wheel tag {target.tags[0]}"
        )
    if manifest.cuda is not None:
        cuda = manifest.cuda
        archs = f"  archs {', '.join(cuda.archs)}" if cuda.archs else ""
        archs += f"  cpu-ok {', '.join(cuda.cpu_ok)}" if cuda.cpu_ok else ""
        click.echo(f"cuda         {cuda.version}  driver floor {cuda.driver_floor}{archs}")
        if cuda.unverified:
            click.echo(f"unverified   {', '.join(cuda.unverified)} (CUDA not checked)")
    click.echo(f"pypi         {len(manifest.pypi.dependencies)} requirement(s)")
    click.echo(f"conda        {len(manifest.conda.dependencies)} requirement(s)")
    build = manifest.build
    click.echo(
        f"outputs      {', '.join(build.outputs)} ({build.compression}, layers {build.layers})"
    )


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
@click.option("--offline", is_flag=True, help="Never touch the network; use cached index data.")
@click.pass_obj
def lock(
    session: Session, upgrade: bool, upgrade_package: tuple[str, ...], check: bool, offline: bool
) -> None:
    """Resolve the manifest for its target into mlenv.lock.

    An existing lock is changed minimally: every pin that still satisfies the manifest is kept
    unless --upgrade or --upgrade-package says otherwise. With an unchanged manifest nothing is
    resolved again.
    """
    manifest = session.load_manifest()
    path = session.lock_path
    previous = session.load_lock() if path.exists() and not upgrade else None
    if check:
        lockfile.check_fresh(session.load_lock(), manifest, str(path))
        session.reporter.info(f"{path} is up to date")
        return
    fresh = previous is not None and previous.inputs_hash == lockfile.inputs_hash(manifest)
    if fresh and not upgrade_package:
        session.reporter.info(f"{path} is up to date")
        return
    from mlenv.locker import Upgrade

    new = _resolve(session, manifest, previous, Upgrade.of(upgrade, upgrade_package), offline)
    _write_lock(session, previous, new)


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
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file."
)
@click.pass_obj
def export(session: Session, fmt: str, platform: str | None, output: Path | None) -> None:
    """Write the lock in a format other tools read."""
    from mlenv.conda import conda_lock_yml, explicit_spec
    from mlenv.export import pylock_toml, requirements_txt
    from mlenv.locker import to_record

    if output is not None:  # before any work
        check_output(output, EXPORT_FILE, keep=_export_keep(session))
    manifest = session.load_manifest()
    lock_ = session.load_lock()
    lockfile.check_fresh(lock_, manifest, str(session.lock_path))
    chosen = platform or lock_.target.platforms[0]
    if fmt == "requirements":
        text = requirements_txt(lock_, chosen)
    elif fmt == "pylock":
        text = pylock_toml(lock_)
    elif fmt == "cyclonedx":
        text = _sbom(session, manifest, lock_, platform)
    elif fmt == "k8s-affinity":
        from mlenv.nodes import affinity_yaml

        text = affinity_yaml(lock_, manifest.cuda.archs if manifest.cuda else ())
    elif fmt == "conda-lock":
        records = {p.platform: [to_record(c) for c in p.conda] for p in lock_.platforms}
        text = conda_lock_yml(records, lock_.target.conda_channels, lock_.inputs_hash)
    else:
        text = explicit_spec([to_record(c) for c in lock_.platform(chosen).conda], chosen)
    if output is None:
        click.echo(text, nl=False)
    else:
        session.write_file(output, text.encode(), EXPORT_FILE, _export_keep(session))
        session.reporter.info(f"wrote {output}")


def _export_keep(session: Session) -> dict[str, Path]:
    return {
        "the manifest": session.manifest_path,
        "the lock": session.lock_path,
        "the cache": session.cache_root,
    }


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
@click.option("-j", "--jobs", type=click.IntRange(1, 32), default=4, show_default=True)
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
) -> None:
    """Download every artifact of the lock into the cache, each verified against its sha256
    and size before it is stored; with --bundle, also write a bundle to carry offline."""
    from mlenv.fetch import artifacts_of, bundle_destination, write_bundle
    from mlenv.registry_base import pinned_base, pull_base, registry_base
    from mlenv.registry_bundle import (
        cache_registry,
        cache_tag,
        fetch_from,
        is_registry,
        push_bundle,
    )

    manifest = session.load_manifest()
    lock_ = session.load_lock()
    lockfile.check_fresh(lock_, manifest, str(session.lock_path))
    artifacts = artifacts_of(lock_, platforms)
    cache = session.artifact_cache()
    if bundle is not None and not is_registry(bundle):
        bundle_destination(Path(bundle), session.manifest_path, cache)  # before any download
    shared = cache_registry(manifest.cache.registry, os.environ)
    if push_cache and shared is None:
        raise UsageError(
            "--push-cache needs a shared cache",
            hint='set [cache] registry = "oci://REGISTRY/REPOSITORY" or $MLENV_CACHE_REGISTRY',
        )
    if offline and (source or push_cache or (bundle is not None and is_registry(bundle))):
        raise UsageError(
            "--offline cannot talk to a registry",
            hint="drop --offline; offline, a bundle directory works as --cache DIR",
        )

    def publish(what: str, target: str) -> str:
        pushed = push_bundle(
            target,
            session.manifest_path,
            session.lock_path,
            artifacts,
            cache,
            insecure=insecure,
            reporter=session.reporter,
            mount_from=[*mount_from, *([shared] if shared else [])],
        )
        session.reporter.info(
            f"pushed {what} {target}: {pushed.pushed_blobs} blob(s) uploaded "
            f"({pushed.bytes_pushed} bytes){pushed.mounted_note}, {pushed.skipped_blobs} "
            "already there"
        )
        return pushed.digest

    if source is not None:
        if not is_registry(source):
            raise UsageError(
                "--from takes an oci:// registry bundle",
                where="--from",
                hint="write --from oci://REGISTRY/REPO:TAG; a bundle directory works as --cache",
            )
        turn: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        turn = _fleet_turn(session, None if offline else shared, artifacts, push_cache, insecure)
    with turn:  # a lease on the shared cache is released once what it lacked is published
        if source is not None:
            result = fetch_from(
                source, artifacts, cache, insecure=insecure, reporter=session.reporter, jobs=jobs
            )
        else:
            result = _fetch_indexes(session, manifest, artifacts, offline, jobs, shared, insecure)
        if push_cache and shared is not None:
            publish("shared cache", f"{shared}:{cache_tag(session.lock_path.read_bytes())}")
    session.reporter.info(
        f"{len(artifacts)} artifact(s) in {cache.root}: {result.fetched} fetched "
        f"({result.bytes_fetched} bytes), {result.already} already there"
    )
    if registry_base(manifest.build.base_image) is not None and offline:
        pinned_base(manifest, cache)  # offline: the base image must be in the cache already
    elif registry_base(manifest.build.base_image) is not None:
        layout = pull_base(
            str(manifest.build.base_image),
            platforms or lock_.target.platforms,
            cache,
            insecure=insecure,
            reporter=session.reporter,
            jobs=jobs,
        )
        session.reporter.info(f"base image {manifest.build.base_image} in {layout}")

    if bundle is not None and is_registry(bundle):
        digest = publish("bundle", bundle)
        click.echo(f"{bundle.partition('@')[0]}@{digest}")
    elif bundle is not None:
        write_bundle(Path(bundle), session.manifest_path, session.lock_path, artifacts, cache)
        session.reporter.info(f"wrote bundle {bundle} (verify it with `mlenv verify --bundle`)")


def _fleet_turn(
    session: Session,
    shared: str | None,
    artifacts: Sequence[Artifact],
    claim: bool,
    insecure: bool,
) -> contextlib.AbstractContextManager[object]:
    """With a shared cache, cold runners take turns: one fetches and publishes what the cache
    lacks, the others wait for it (``registry_lease``); without one, nothing to coordinate."""
    from mlenv.fetch import missing_from
    from mlenv.registry_lease import coordinated, lease_tag

    missing = missing_from(session.artifact_cache(), artifacts)
    if shared is None or not missing or not session.lock_path.is_file():
        return contextlib.nullcontext()
    return coordinated(
        shared,
        lease_tag(session.lock_path.read_bytes()),
        [f"sha256:{a.sha256}" for a in missing],
        claim=claim,
        insecure=insecure,
        reporter=session.reporter,
    )


def _fetch_indexes(
    session: Session,
    manifest: Manifest,
    artifacts: Sequence[Artifact],
    offline: bool,
    jobs: int,
    shared: str | None,
    insecure: bool,
) -> FetchResult:
    """Every artifact the cache lacks from the indexes and channels the lock was made from,
    or from the fleet's shared cache in front of them."""
    from mlenv.fetch import UrlOpener, missing_from
    from mlenv.fetch import fetch as fetch_artifacts
    from mlenv.locker import local_roots
    from mlenv.registry_bundle import fetch_shared

    cache = session.artifact_cache()
    with session.http(offline) as http:
        for url in (
            manifest.pypi.index_url,
            *manifest.pypi.extra_index_urls,
            *manifest.conda.channels,
        ):
            http.add_credentials(url)  # the lock holds URLs without them
        base_dir = session.manifest_path.parent
        opener = UrlOpener(http, base_dir, local_roots(manifest, base_dir))
        opener.check(missing_from(cache, artifacts))  # the URLs fetch would read
        if shared is not None and not offline:
            found = fetch_shared(
                shared,
                artifacts,
                cache,
                opener,
                insecure=insecure,
                reporter=session.reporter,
                jobs=jobs,
            )
            session.reporter.info(
                f"{found.from_registry} artifact(s) from the shared cache {shared}"
            )
            return found.fetched
        return fetch_artifacts(
            artifacts, cache, opener, reporter=session.reporter, offline=offline, jobs=jobs
        )


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
) -> None:
    """Build the environment from the lock and the cache, without the network: an OCI image
    (layout and image.tar, loadable by docker, podman and skopeo), a conda-pack archive and
    build.json, byte-identical on any clean runner."""
    import tempfile
    from dataclasses import replace

    from mlenv.build import BuildOptions, output_digests, source_date_epoch
    from mlenv.build import build as build_one
    from mlenv.layercache import max_size
    from mlenv.multiplatform import build_platforms

    manifest = session.load_manifest()
    lock_bytes = session.lock_path.read_bytes() if session.lock_path.exists() else b""
    lock_ = session.load_lock()
    lockfile.check_fresh(lock_, manifest, str(session.lock_path))
    several = platform is None and len(lock_.target.platforms) > 1
    build_outputs = build_platforms if several else build_one
    if load and several:
        raise UsageError(
            "--load takes one platform's image",
            hint="build with --platform, or `docker load -i dist/<platform>/image.tar`",
        )
    options = BuildOptions(
        platform=platform or lock_.target.platforms[0],
        epoch=source_date_epoch(os.environ),
        bytecode="hash" if bytecode == "hash" else "none",
        tag=tag,
        layer_cache_max=max_size(os.environ),
    )
    target = dist or session.manifest_path.parent / "dist"
    args = (manifest, session.manifest_path.parent, lock_, lock_bytes, session.artifact_cache())
    record = build_outputs(*args, target, options, reporter=session.reporter)
    if check:
        with tempfile.TemporaryDirectory(prefix="mlenv-check-") as scratch:
            again = Path(scratch) / "elsewhere" / "dist"
            # Without the layer cache: every reused layer is compared with one built afresh.
            cold = replace(options, layer_cache_max=None)
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
    _print_outputs(target, record)
    if load:
        from mlenv.dockerload import load as docker_load

        if "oci" not in record["outputs"]:
            raise UsageError("--load needs the oci output", hint='add "oci" to [build] outputs')
        loaded = docker_load(target / record["outputs"]["oci"]["image-tar"]["file"])
        session.reporter.info(f"loaded {loaded} into Docker")


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
    from mlenv.registry import mount_sources
    from mlenv.registry import push as push_image
    from mlenv.registry_base import registry_base

    layout = (dist or session.manifest_path.parent / "dist") / "oci"
    if not (layout / "index.json").is_file():
        raise UsageError(
            "no built image to push", where=str(layout), hint="run `mlenv build` first"
        )
    sources = list(mount_from)
    if session.manifest_path.is_file():
        base = registry_base(session.load_manifest().build.base_image)
        sources += [f"{base.registry}/{base.repository}"] if base is not None else []
    result = push_image(
        layout,
        ref,
        insecure=insecure,
        reporter=session.reporter,
        mount_from=mount_sources(ref, sources),
    )
    session.reporter.info(
        f"pushed {result.pushed_blobs} blob(s) ({result.bytes_pushed} bytes)"
        f"{result.mounted_note}, {result.skipped_blobs} already there"
    )
    click.echo(f"{ref}@{result.digest}")


def _print_outputs(dist: Path, record: dict[str, Any]) -> None:
    from mlenv.multiplatform import is_multi

    outputs = record["outputs"]
    if is_multi(record):
        platforms = ", ".join(record["platforms"])
        click.echo(f"built {dist} for {platforms} (lock sha256 {record['lock-sha256']})")
        if "oci" in outputs:
            click.echo(
                f"  {dist / 'oci'}  OCI layout, image index {outputs['oci']['index-digest']}"
            )
        for name in record["platforms"]:
            click.echo(f"  {dist / name}  the {name} build")
        click.echo(f"  {dist / 'build.json'}")
        return
    click.echo(f"built {dist} for {record['platform']} (lock sha256 {record['lock-sha256']})")
    if "oci" in outputs:
        oci = outputs["oci"]
        click.echo(f"  {dist / 'oci'}  OCI layout, manifest {oci['manifest-digest']}")
        image = oci["image-tar"]
        click.echo(f"  {dist / image['file']}  {image['repo-tag']}, sha256:{image['sha256']}")
    if "conda-pack" in outputs:
        pack = outputs["conda-pack"]
        click.echo(f"  {dist / pack['file']}  conda-pack archive, sha256:{pack['sha256']}")
    click.echo(f"  {dist / 'build.json'}")


@cli.command()
@click.argument(
    "output", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
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
    type=click.File("r", encoding="utf-8"),
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
    nodes_file: TextIO | None,
    selector: str,
    as_json: bool,
    offline: bool,
) -> None:
    """Check the lock before deploy: fresh against the manifest, every artifact hashed, and the
    CUDA rules for the manifest's driver floor, a given --driver, this --host, or every node of
    a cluster (--nodes). With OUTPUT (dist/image.tar or the conda-pack archive), also its digest
    against the build.json beside it, and that build against this lock.

    Exit 0 when everything holds (warnings allowed), 1 when something fails, 3 when it cannot
    judge (no NVIDIA driver found with --host, no node with GPU labels among --nodes).
    """
    from mlenv.cuda import DriverVersion
    from mlenv.verify import Judged, compute_capability_arch, verify_lock

    if sum((driver is not None, host, nodes_file is not None)) > 1:
        raise UsageError("--driver, --host and --nodes exclude each other", hint="pass one of them")
    if selector and nodes_file is None:
        raise UsageError("--selector chooses among --nodes", hint="pass --nodes FILE as well")
    if bundle is not None:
        _verify_bundle(bundle)
        return
    manifest = session.load_manifest()
    lock_ = session.load_lock()
    if check_cache:
        _verify_cache(session, lock_)
    if nodes_file is not None:
        _verify_nodes(session, manifest, lock_, nodes_file, selector, output, as_json)
        return
    judged = None
    if driver is not None:  # an empty --driver (a failed nvidia-smi) is an error, not the floor
        parsed = DriverVersion.parse(driver, where="--driver", trim=True)
        judged = Judged(str(parsed), "--driver")
    elif host:
        from mlenv.host import RealHost, detect

        facts = detect(RealHost())
        if facts.driver is None:
            for probe in facts.probes:
                session.reporter.info(f"  {probe.source}: {probe.detail}")
            hint = "run on a GPU node, or set MLENV_DRIVER_VERSION to the node's driver"
            problem = CannotJudgeError("no NVIDIA driver found on this host", hint=hint)
            if as_json:
                print_json(_cannot_judge_json(problem.message, hint, facts))
                problem.shown = True
            raise problem
        archs = tuple(compute_capability_arch(g.compute_cap) for g in facts.gpus if g.compute_cap)
        judged = Judged(facts.driver, facts.driver_source or "host", archs)
    verdict = verify_lock(lock_, lockfile.inputs_hash(manifest), judged)
    if output is not None:
        verdict = _with_output(verdict, output, session.lock_path)
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


def _cannot_judge_json(message: str, hint: str, facts: Any) -> dict[str, Any]:
    """``--json`` output for exit 3: a script reads why, and which probes were tried."""
    return {
        "ok": None,
        "cannot-judge": message,
        "hint": hint,
        "judged": None,
        "requires-driver": None,
        "findings": [],
        "probes": [{"source": p.source, "ok": p.ok, "detail": p.detail} for p in facts.probes],
    }


def _with_output(verdict: Any, output: Path, lock_path: Path) -> Any:
    import dataclasses
    import hashlib

    from mlenv.cache import hash_file
    from mlenv.verify import verify_output

    record_path = output.parent / "build.json"
    try:
        record = _build_record(record_path)
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"no readable build.json beside the output ({exc})",
            where=str(record_path),
            hint="verify a file inside the dist/ directory written by `mlenv build`",
        ) from None
    lock_sha = hashlib.sha256(lock_path.read_bytes()).hexdigest()
    found = verify_output(output.name, hash_file(output), record, lock_sha)
    found += _multi_platform_findings(record_path)
    return dataclasses.replace(verdict, findings=(*found, *verdict.findings))


def _build_record(path: Path) -> dict[str, Any]:
    """A build.json as a JSON object: a plain file (never a FIFO) of bounded size; anything
    else is a ValueError or OSError saying why (invariant 7: the dist/ may come from anyone)."""
    from mlenv.cache import open_plain
    from mlenv.limits import parse_json
    from mlenv.outputs import MAX_RECORD

    with open_plain(path.parent, path.name) as handle:
        data = handle.read(MAX_RECORD + 1)
    if len(data) > MAX_RECORD:
        raise ValueError(f"over {MAX_RECORD} bytes")
    record = parse_json(data, where=str(path))
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    return record


def _multi_platform_findings(record_path: Path) -> list[Any]:
    """A platform's build inside a multi-platform dist/ checked against the record above it."""
    import hashlib

    from mlenv.multiplatform import is_multi
    from mlenv.verify import verify_platform_record

    above = record_path.parent.parent / "build.json"
    try:
        multi = _build_record(above)
    except (OSError, ValueError):
        return []  # a single-platform build: nothing above it
    if not is_multi(multi):
        return []
    own = hashlib.sha256(record_path.read_bytes()).hexdigest()
    return verify_platform_record(record_path.parent.name, own, multi)


def _verify_nodes(
    session: Session,
    manifest: Manifest,
    lock_: lockfile.Lock,
    nodes_file: TextIO,
    selector: str,
    output: Path | None,
    as_json: bool,
) -> None:
    """Each selected node judged on its own; exit 1 if any fails, 3 if none could be judged."""
    import dataclasses

    from mlenv.limits import MAX_NODE_LIST
    from mlenv.nodes import exit_status, judge_nodes, read_nodes, report_json, report_lines
    from mlenv.selector import parse
    from mlenv.verify import Verdict, verify_lock

    chosen = parse(selector)
    lockfile.check_fresh(lock_, manifest, str(session.lock_path))
    nodes = read_nodes(nodes_file.read(MAX_NODE_LIST + 1), where=nodes_file.name)
    built = Verdict((), None, None)
    if output is not None:
        built = _with_output(built, output, session.lock_path)
    archs = manifest.cuda.archs if manifest.cuda else ()
    verdicts = judge_nodes(lock_, archs, nodes, chosen)
    needed = verify_lock(lock_, lockfile.inputs_hash(manifest), None).requires_driver
    if as_json:
        print_json(
            {
                **report_json(verdicts, needed),
                "output-findings": [dataclasses.asdict(f) for f in built.findings],
            }
        )
    else:
        for finding in built.findings:
            click.echo(f"ERROR   {finding.code}: {finding.message}")
            click.echo(f"        hint: {finding.hint}")
        for line in report_lines(verdicts, len(nodes), needed):
            click.echo(line)
    status = exit_status(verdicts)
    if status == "fail" or not built.ok:
        raise VerdictError("a node cannot run the lock")
    if status == "cannot-judge":
        problem = CannotJudgeError("no selected node could be judged")
        problem.shown = True
        raise problem


def _verify_bundle(bundle: Path) -> None:
    from mlenv.cache import open_plain
    from mlenv.fetch import check_bundle

    lock_path = bundle / "mlenv.lock"
    try:
        with open_plain(bundle, "mlenv.lock") as handle:  # a symlink is never followed
            text = handle.read().decode("utf-8")
        lock_ = lockfile.loads(text, str(lock_path))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"not a bundle: cannot read its lock ({exc})",
            where=str(bundle),
            hint="point --bundle at a directory written by `mlenv fetch --bundle`",
        ) from None
    problems = check_bundle(bundle, lock_)
    for problem in problems:
        click.echo(f"{problem.kind.upper():18} {problem.path}: {problem.detail}")
    if problems:
        click.echo(f"FAIL: {len(problems)} problem(s) in bundle {bundle}")
        raise VerdictError("the bundle is incomplete")
    count = len({p.sha256 for _, p in lock_.packages()})
    click.echo(f"OK: bundle {bundle} is complete ({count} artifact(s), every sha256 checked)")


def _verify_cache(session: Session, lock_: lockfile.Lock) -> None:
    from mlenv.fetch import artifacts_of, check_cache

    artifacts = artifacts_of(lock_)
    problems = check_cache(session.artifact_cache(), artifacts)
    if problems:
        raise ProblemsError(
            f"{len(problems)} of {len(artifacts)} artifact(s) in {session.cache_root} "
            "are missing or corrupted",
            problems,
        )
    session.reporter.info(f"cache: {len(artifacts)} artifact(s) present, every sha256 checked")


def _print_verdict(verdict: Any, lock_: lockfile.Lock, path: Path) -> None:
    target = lock_.target
    against = (
        f"driver {verdict.judged.driver} ({verdict.judged.source})"
        if verdict.judged
        else f"the driver floor {target.driver_floor}"
    )
    cuda = f"CUDA {target.cuda}" if target.cuda else "no CUDA target"
    pypi, conda = len(lock_.packages()), len(lock_.conda_packages())
    counted = f"{pypi + conda} packages" + (f" ({pypi} PyPI, {conda} conda)" if conda else "")
    click.echo(f"{path}: {counted}, {cuda}, judged against {against}")
    if verdict.requires_driver:
        click.echo(f"the environment needs driver {verdict.requires_driver} or newer")
    for finding in verdict.findings:
        subject = finding.package or "[target]"
        click.echo(f"{finding.severity.upper():7} {finding.code:22} {subject}: {finding.message}")
        click.echo(f"        hint: {finding.hint}")
    errors = len(verdict.errors)
    warnings = len(verdict.findings) - errors
    status = "FAIL" if errors else "OK"
    click.echo(f"{status}: {errors} error(s), {warnings} warning(s)")


def _verbose(argv: Sequence[str]) -> bool:
    return any(
        arg == "--verbose" or (arg.startswith("-v") and set(arg[1:]) == {"v"}) for arg in argv
    )


def _print_error(exc: MlenvError) -> None:
    if exc.shown:
        return
    lines = exc.render().splitlines()
    click.echo(f"{exc.label}: {lines[0]}", err=True)
    for line in lines[1:]:
        click.echo(f"  {line}", err=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; the only place where errors become exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="mlenv", standalone_mode=False)
    except MlenvError as exc:
        _print_error(exc)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USER
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception:
        if _verbose(args) or os.environ.get("MLENV_DEBUG"):
            click.echo(redact(traceback.format_exc()), err=True, nl=False)
        else:
            click.echo(
                "internal error: mlenv failed unexpectedly (run with -v for the traceback "
                "and report it)",
                err=True,
            )
        return EXIT_INTERNAL
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# The daily workflow: add, remove, diff, inspect


def _resolve(
    session: Session,
    manifest: Manifest,
    previous: lockfile.Lock | None,
    upgrade: Upgrade,
    offline: bool,
) -> lockfile.Lock:
    """The lock for ``manifest``: the one resolution path `lock`, `add` and `remove` share."""
    from mlenv.index import MetadataCache
    from mlenv.locker import lock_manifest, open_sources

    with session.http(offline) as http:
        sources = open_sources(
            manifest, http, MetadataCache(session.cache_root), session.manifest_path.parent
        )
        return lock_manifest(
            manifest, sources, reporter=session.reporter, previous=previous, upgrade=upgrade
        )


def _write_lock(session: Session, previous: lockfile.Lock | None, new: lockfile.Lock) -> None:
    from mlenv.locker import changes

    path = session.lock_path
    session.write_file(
        path, lockfile.render(new).encode(), LOCK_FILE, {"the manifest": session.manifest_path}
    )
    diff = changes(previous, new)
    for change in diff:
        session.reporter.info(str(change))
    count = sum(len(p.packages) for p in new.platforms)
    session.reporter.info(f"wrote {path}: {count} package(s), {len(diff)} change(s)")


def _apply_edit(session: Session, edited: Edited, no_lock: bool, offline: bool) -> None:
    """Lock the edited manifest, then write it and its lock; on any failure, write nothing.

    The manifest goes first: if the lock's write were lost, the lock is merely stale (its
    inputs hash says so) and `mlenv lock` repeats the resolution from the intended manifest.
    """
    from mlenv.locker import Upgrade

    path = session.manifest_path
    if not edited.edits:
        session.reporter.info(f"{path} already says that; nothing changed")
        return
    previous = session.load_lock() if session.lock_path.exists() else None
    new = None
    if not no_lock:
        new = _resolve(session, edited.manifest, previous, Upgrade.of(False, edited.names), offline)
    for edit in edited.edits:  # only now: a failed lock changes nothing, so says nothing
        session.reporter.info(str(edit))
    session.write_file(path, edited.text.encode(), MANIFEST_FILE)
    session.reporter.info(f"wrote {path}")
    if new is None:
        session.reporter.info("the lock was not updated: run `mlenv lock`")
        return
    _write_lock(session, previous, new)


def _manifest_text(session: Session) -> str:
    session.load_manifest()  # the same messages as every command for a missing or bad file
    return session.manifest_path.read_text(encoding="utf-8")


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC...")
@click.option("--conda", is_flag=True, help="Add to [conda].dependencies (match specs).")
@click.option(
    "--platform", help="Only for this platform of the manifest (a platform_machine marker)."
)
@click.option("--no-lock", is_flag=True, help="Only edit the manifest; do not re-lock.")
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
    _apply_edit(session, edited, no_lock, offline)


@cli.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.option("--no-lock", is_flag=True, help="Only edit the manifest; do not re-lock.")
@click.option("--offline", is_flag=True, help="Never touch the network; use cached index data.")
@click.pass_obj
def remove(session: Session, names: tuple[str, ...], no_lock: bool, offline: bool) -> None:
    """Remove dependencies (PyPI and conda) by name and re-lock; other pins stay."""
    from mlenv.edit import remove as remove_names

    edited = remove_names(_manifest_text(session), names, source=str(session.manifest_path))
    _apply_edit(session, edited, no_lock, offline)


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
        click.echo(render_markdown(result) if fmt == "markdown" else render_text(result), nl=False)
    if exit_code and result.changed:
        raise VerdictError("the locks differ")  # --exit-code, as git diff


def _sbom(session: Session, manifest: Manifest, lock_: lockfile.Lock, platform: str | None) -> str:
    """The CycloneDX SBOM of the lock; licences from the artifacts the cache holds, a
    timestamp only from SOURCE_DATE_EPOCH."""
    from mlenv.build import source_date_epoch
    from mlenv.sbom import cyclonedx, render, verified_wheels, wheel_licences

    epoch = source_date_epoch(os.environ) if os.environ.get("SOURCE_DATE_EPOCH") else None
    with tempfile.TemporaryDirectory(prefix="mlenv-sbom-") as scratch:
        wheels = verified_wheels(session.artifact_cache(), lock_, Path(scratch))
        document = cyclonedx(
            lock_,
            session.lock_path.read_bytes(),
            name=manifest.environment.name,
            platforms=[platform] if platform else None,
            licences=wheel_licences(wheels),
            timestamp=epoch,
        )
    return render(document).decode()


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
    from rich.console import Console

    from mlenv.inspect import inspect_image, inspect_lock, render

    if subject.is_file() and subject.suffix in (".lock", ".toml"):
        from mlenv.diff import read_side  # a lock named on the command line, read as diff does

        label, lock_ = read_side(str(subject), session.lock_path)
        found = inspect_lock(lock_, label, session.artifact_cache().path, platform, largest)
    else:
        found = inspect_image(subject, platform, largest)
    if as_json:
        print_json(found.to_dict())
        return
    render(found, Console(highlight=False, width=None if sys.stdout.isatty() else 100), top)


def _imported_manifest(
    session: Session,
    name: str,
    python: str,
    from_file: Path | None,
    groups: tuple[str, ...],
    cuda: str | None,
    driver_floor: str | None,
) -> str:
    """The manifest for `init --from`; the CUDA target from flags or guessed (and said so)."""
    from mlenv.cuda import CudaVersion, DriverVersion, min_driver
    from mlenv.importers import Imported, guess_cuda, import_file, manifest_text

    imported = (
        Imported()
        if from_file is None
        else import_file(from_file, groups, session.manifest_path.absolute().parent)
    )
    source_of = click.get_current_context().get_parameter_source("python")
    if imported.python is not None and source_of == click.core.ParameterSource.DEFAULT:
        python = imported.python  # the file names its Python
    elif imported.python not in (None, python):
        raise UsageError(
            f"{from_file} pins Python {imported.python}, but --python says {python}; "
            "nothing was written",
            where="--python",
            hint=f"drop --python, or change the file's python pin to {python}",
        )
    for note in imported.notes:
        session.reporter.info(f"note: {note}")
    target = None
    if cuda is not None:
        version = CudaVersion.parse(cuda, where="--cuda")
        floor = driver_floor or str(min_driver(version))
        target = (str(version), str(DriverVersion.parse(floor, where="--driver-floor")))
    elif driver_floor is not None:
        raise UsageError("--driver-floor needs --cuda", hint="pass --cuda X.Y as well")
    elif (guess := guess_cuda(imported)) is not None:
        target = (guess.version, guess.driver_floor)
        session.reporter.info(
            f"guessed CUDA {guess.version} from {guess.because}; driver floor "
            f"{guess.driver_floor} (the minimum for CUDA {guess.version}); "
            "pass --cuda/--driver-floor to choose"
        )
    source = str(session.manifest_path)
    base = session.manifest_path.absolute().parent
    return manifest_text(imported, name=name, python=python, cuda=target, source=source, base=base)


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
    """Drop the least recently used built layers until the layer cache fits its limit
    (downloaded artifacts are never pruned: a lock's build needs them offline)."""
    from mlenv import layercache

    limit = (
        layercache.max_size(os.environ)
        if max_size is None
        else layercache.parse_size(max_size, "--max-size")
    )
    store = layercache.LayerCache(session.cache_root)
    removed, freed = store.prune(limit)
    kept = sum(size for _, size, _ in store.entries())
    session.reporter.info(
        f"layer cache {store.root}: removed {removed} layer(s), {human_bytes(freed)}; "
        f"{human_bytes(kept)} kept (limit {human_bytes(limit)})"
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
