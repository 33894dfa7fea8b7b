"""The cache use case: prune the layer cache to its limit (downloaded artifacts are never
pruned: a lock's build needs them offline)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlenv.cache.layers import LayerCache, max_size, parse_size
from mlenv.commands.session import Session


@dataclass(frozen=True)
class Pruned:
    root: Path
    limit: int  # bytes
    removed: int  # layers
    freed: int  # bytes
    kept: int  # bytes


def prune(session: Session, size: str | None) -> Pruned:
    """The layer cache pruned to ``size`` (``--max-size``; else its configured limit)."""
    limit = max_size(os.environ) if size is None else parse_size(size, "--max-size")
    store = LayerCache(session.cache_root)
    removed, freed = store.prune(limit)
    return Pruned(store.root, limit, removed, freed, store.usage())
