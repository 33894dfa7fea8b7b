"""The ``mlenv`` command: the root group with its global options (it opens the session every
command works on, finding the manifest upward when none is named), the commands of each stage
added to it, and ``main``, which runs it and hands any error to ``exits.exit_status``.

Commands import the heavy modules (httpx, resolvelib, rich) when they run, so answers that
need none of them (`--version`, a no-op `lock`) start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlenv import __version__
from mlenv.cli import review, ship, start, verify
from mlenv.cli.exits import EXIT_OK, exit_status
from mlenv.cli.group import ASKS_HELP, StagedGroup
from mlenv.cli_flags import accept_after
from mlenv.commands.session import open_session
from mlenv.errors import MlenvError

if TYPE_CHECKING:
    from mlenv.discover import Found

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="mlenv", standalone_mode=False)
    except (Exception, KeyboardInterrupt) as exc:
        return exit_status(exc, args)
    return EXIT_OK


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


for _command in (
    start.init, start.show, start.add, start.remove,
    review.lock, review.diff, review.export,
    ship.fetch, ship.build, ship.inspect_command, ship.push, ship.cache_group,
    verify.verify,
):  # fmt: skip
    cli.add_command(_command)
for _command in cli.commands.values():  # -q/-v after the command as before it (uv, docker)
    accept_after(_command)
