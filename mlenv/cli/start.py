"""The commands that start a project: ``init``, ``show``, ``add`` and ``remove`` write or read
the manifest (``add``/``remove`` then re-lock through ``commands.lock.apply_edit``). Thin
adapters: parse, call the use case, render."""

from __future__ import annotations

from pathlib import Path

import click

from mlenv.cli.output import echo, print_json
from mlenv.commands.lock import apply_edit
from mlenv.commands.session import Session
from mlenv.manifest import PYTHON_MINORS
from mlenv.target import Target


@click.command()
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


@click.command()
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
    echo(f"environment  {env.name}  (prefix {env.prefix})")
    for target in Target.for_environment(env):
        echo(
            f"target       {target.platform}  CPython {target.python}  glibc {target.glibc}"
            f"  best wheel tag {target.tags[0]}"
        )
    if manifest.cuda is not None:
        cuda = manifest.cuda
        archs = f"  archs {', '.join(cuda.archs)}" if cuda.archs else ""
        archs += f"  cpu-ok {', '.join(cuda.cpu_ok)}" if cuda.cpu_ok else ""
        echo(f"cuda         {cuda.version}  driver floor {cuda.driver_floor}{archs}")
        if cuda.unverified:
            echo(f"unverified   {', '.join(cuda.unverified)} (CUDA not checked)")
    cutoff = manifest.to_dict()["pypi"].get("exclude-newer")  # a cutoff changes every pin
    dated = f"  uploaded before {cutoff} ([pypi] exclude-newer)" if cutoff else ""
    echo(f"pypi         {len(manifest.pypi.dependencies)} requirement(s){dated}")
    echo(f"conda        {len(manifest.conda.dependencies)} requirement(s)")
    build = manifest.build
    echo(f"outputs      {', '.join(build.outputs)} ({build.compression}, layers {build.layers})")


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


@click.command()
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


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@NO_LOCK
@click.option("--offline", is_flag=True, help="Never touch the network; use cached index data.")
@click.pass_obj
def remove(session: Session, names: tuple[str, ...], no_lock: bool, offline: bool) -> None:
    """Remove dependencies (PyPI and conda) by name and re-lock; other pins stay."""
    from mlenv.edit import remove as remove_names

    edited = remove_names(_manifest_text(session), names, source=str(session.manifest_path))
    apply_edit(session, edited, no_lock, offline)
