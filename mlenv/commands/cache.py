"""The cache use case: prune the layer cache and the conda repodata copies to their limits,
and the kept "fresh" verdicts and remembered locks to those that can still answer (downloaded
artifacts are never pruned: a lock's build needs them offline)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlenv.cache import MEMO
from mlenv.cache.fresh import MAX_VERDICTS, forget
from mlenv.cache.layers import LayerCache, max_size, parse_size
from mlenv.cache.memo import MAX_MEMOS
from mlenv.commands.session import Session
from mlenv.conda.repodata import RepodataCache
from mlenv.conda.repodata import max_size as repodata_max


@dataclass(frozen=True)
class Pruned:
    root: Path
    limit: int  # bytes
    removed: int  # layers
    freed: int  # bytes
    kept: int  # bytes
    verdicts: int  # kept "fresh" verdicts dropped
    memos: int  # remembered locks dropped
    repodata: tuple[int, int]  # conda repodata copies dropped, bytes freed


def prune(session: Session, size: str | None) -> Pruned:
    """The layer cache pruned to ``size`` (``--max-size``; else its configured limit); every
    verdict and remembered lock a changed source voids, and those past the bound, dropped."""
    limit = max_size(os.environ) if size is None else parse_size(size, "--max-size")
    store = LayerCache(session.cache_root)
    removed, freed = store.prune(limit, strict=True)
    verdicts = forget(session.cache_root, MAX_VERDICTS, dead=True)
    memos = forget(session.cache_root, MAX_MEMOS, dead=True, bucket=MEMO)
    repodata = RepodataCache(session.cache_root).prune(repodata_max(os.environ))
    return Pruned(store.root, limit, removed, freed, store.usage(), verdicts, memos, repodata)
