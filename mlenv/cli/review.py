"""The commands that make and review a lock: ``lock``, ``diff`` and ``export``. Thin adapters:
parse, call the use case (``commands.lock``, ``diff``, ``commands.export``), render."""

from __future__ import annotations

from pathlib import Path

import click

from mlenv.cli.options import lock_use
from mlenv.cli.output import echo, print_json
from mlenv.commands.session import Session
from mlenv.errors import VerdictError
from mlenv.outputs import check_output


@click.command()
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


@click.command()
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
        echo(text, nl=False)
    else:
        session.write_file(output, text.encode(), EXPORT_FILE, export_keep(session))
        session.reporter.info(f"wrote {given}")


@click.command()
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
        echo(render_markdown(result) if fmt == "markdown" else render_text(result), nl=False)
    if exit_code and result.changed:
        raise VerdictError("the locks differ")  # --exit-code, as git diff
