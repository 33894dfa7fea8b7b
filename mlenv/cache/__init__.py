"""What mlenv keeps under ``MLENV_CACHE_DIR``: verified artifacts, built layers, HTTP answers,
parsed metadata and pulled base images, each in its own versioned bucket listed here (a new
layout gets a new name and lives beside the old one; ``verify --cache`` and bundles know every
name). Light on purpose: the index client and the fast path import it."""

from __future__ import annotations

import os

from mlenv.plainpath import child, expanduser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

CACHE_ENV = "MLENV_CACHE_DIR"

ARTIFACTS = "artifacts-v1"  # verified artifacts by sha256 (cache.artifacts; invariant 1)
LOCKS = "locks-v1"  # one file lock per artifact being fetched (cache.artifacts)
HTTP = "http-v1"  # index answers with their validators (index.caches.HttpCache)
METADATA = "metadata-v2"  # parsed core metadata (index.caches.MetadataCache; invariant 2)
LAYERS = "layers-v1"  # built layer blobs by the key of their inputs (cache.layers)
BASE_IMAGES = "base-v1"  # registry base images laid out by pinned digest (oci.base)
FRESH = "fresh-v1"  # verdicts that a lock is fresh for a manifest (cache.fresh)
MEMO = "lockmemo-v1"  # first locks by what they were resolved from (cache.memo)
REPODATA = "repodata-v1"  # conda channels' repodata with its validators (conda.repodata)
BUCKETS = (ARTIFACTS, LOCKS, HTTP, METADATA, LAYERS, BASE_IMAGES, FRESH, MEMO, REPODATA)
BUNDLE_INDEX = "bundle.json"  # what makes a directory a bundle (cache.bundle)


def is_bundle(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` is a bundle (its ``bundle.json`` there, never followed): a cache that
    came in by carry, whose lost or damaged file no fetch in the air gap can replace."""
    return os.path.lexists(os.path.join(root, BUNDLE_INDEX))


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$MLENV_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlenv`` (an absolute one), else
    ``~/.cache/mlenv``."""
    from pathlib import Path

    return Path(cache_root(env))


def default_root() -> str | None:
    """``cache_root()``, or None when no default cache can be named: no ``$HOME`` and no
    passwd entry (an arbitrary uid in a container), a ``~user`` pwd does not know, a name
    that cannot be looked up. Only a command that uses the cache may fail for that."""
    try:
        return cache_root()
    except (OSError, RuntimeError, KeyError, ValueError):
        return None


def named_root(given: str) -> str:
    """A cache named by ``--cache``, its leading ``~`` expanded as ``$MLENV_CACHE_DIR``'s is
    (as pip and uv do): quoted, ``--cache '~/c'`` made a directory named ``~`` here, which a
    clean-up by ``rm -rf ~`` then aims at the home. RuntimeError for a ``~user`` pwd does not
    know. Only a ``~`` typed first: ``./~`` is how a shell names the directory called ``~``
    (to clear one away), which pathlib's spelling of it (``~``) made the home."""
    return expanduser(given) if given[:1] == "~" else given


def cache_root(env: Mapping[str, str] | None = None) -> str:
    """``cache_dir`` spelled as text, for the fast path (which does not import pathlib)."""
    env = os.environ if env is None else env
    if env.get(CACHE_ENV):
        return expanduser(env[CACHE_ENV])
    # A relative XDG_CACHE_HOME is invalid and ignored, as the XDG spec says: taken, it put
    # the cache in whatever directory a run started in (each CI step's checkout, a project
    # dir that then shipped it), and "~/c" made a directory named "~" there.
    xdg = env.get("XDG_CACHE_HOME") or ""
    return child(xdg if xdg.startswith("/") else child(expanduser("~"), ".cache"), "mlenv")
