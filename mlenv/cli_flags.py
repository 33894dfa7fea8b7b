"""``-q`` and ``-v`` after the command too (``mlenv lock -v``), as uv, pixi and docker take
their global flags: they were refused with a hint to move them, a round trip for nothing. They
mean what they mean before the command; the options taking a value (``-m``, ``--cache``,
``--log-format``) stay before it, where a value cannot be mistaken for the command."""

from __future__ import annotations

from dataclasses import replace

import click

from mlenv.commands.session import Session, open_session

_VERBOSE_HELP = "More detail; tracebacks on internal errors (as before the command)."
_QUIET_HELP = "Only warnings and errors on stderr (as before the command)."


def _again(ctx: click.Context, param: click.Parameter, value: int | bool) -> None:
    """Add the flag to mlenv's own and open the session again with them: the group opened it
    from the flags written before the command, before the command's were read."""
    if not value:
        return
    root = ctx.find_root().params
    if param.name == "verbose":
        root["verbose"] = int(root.get("verbose") or 0) + int(value)
    else:
        root["quiet"] = True
    # the manifest the group settled on: -m's, or the one it found upward (mlenv.discover)
    manifest = ctx.find_object(Session)
    where = manifest.manifest_path if manifest is not None else root["manifest"]
    session = open_session(where, root["cache"], root["verbose"], root["quiet"], root["log_format"])
    if manifest is not None:  # the walk's verdict, and the bytes it read, stay the group's
        session = replace(session, refused=manifest.refused, found=manifest.found)
    ctx.obj = session


def accept_after(command: click.Command) -> None:
    """Give ``command`` (and each command of a group, at any depth) the flags ``-v``/``-q``."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_after(sub)
        return
    command.params += [
        click.Option(
            ["-v", "--verbose"], count=True, expose_value=False, callback=_again,
            help=_VERBOSE_HELP,
        ),
        click.Option(
            ["-q", "--quiet"], is_flag=True, expose_value=False, callback=_again,
            help=_QUIET_HELP,
        ),
    ]  # fmt: skip
