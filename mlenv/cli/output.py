"""What the commands print: every line through ``errors.terminal_text``, so a name an index,
a lock or a registry chose never drives the terminal, and a stdout that fails is told apart from
one closed by its reader. Apart from the commands because the error mapping (``exits``) prints
through it too."""

from __future__ import annotations

import errno
import json
from typing import Any

import click

from mlenv.errors import terminal_text


def print_json(data: Any) -> None:
    echo(json.dumps(data, indent=2, sort_keys=True))


def echo(message: str, *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` through ``errors.terminal_text``: names and messages from outside
    (kubectl, indexes, locks, registries) never drive the terminal."""
    try:
        click.echo(terminal_text(message), err=err, nl=nl)
    except OSError as exc:
        if err or exc.errno == errno.EPIPE:  # EPIPE: a closed reader (``StagedGroup.invoke``)
            raise
        from mlenv.stdout_closed import stdout_failed

        raise stdout_failed(exc) from None
