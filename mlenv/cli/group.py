"""The root group's class: how ``mlenv --help`` lists the commands (by the stage of the
workflow), and what every command's run shares (a closed stdout, whether its help is asked).
Apart from the root command so the help layout is read in one place."""

from __future__ import annotations

from typing import Any

import click

from mlenv.errors import StdoutClosed

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
