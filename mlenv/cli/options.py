"""Option sets that commands of several stages share (``export``, ``fetch`` and ``build`` take
the same ``--locked``/``--frozen``), so each is spelled and explained once."""

from __future__ import annotations

from typing import Any

import click


def lock_use(command: Any) -> Any:
    """``--locked`` and ``--frozen`` (``mlenv.frozen``), as uv spells them."""
    from mlenv.frozen import FROZEN_HELP, LOCKED_HELP

    command = click.option("--frozen", is_flag=True, help=FROZEN_HELP)(command)
    return click.option("--locked", is_flag=True, help=LOCKED_HELP)(command)
