"""Where mlenv keeps what it downloads: one versioned, movable directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CACHE_ENV = "MLENV_CACHE_DIR"


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$MLENV_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlenv``, else ``~/.cache/mlenv``."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return Path(env[CACHE_ENV]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlenv"
