"""Locking a one-requirement manifest again over an in-memory index whose yanks a test sets:
the relock shape attacks 226 and 227 share."""

from __future__ import annotations

from collections.abc import Sequence

from mlenv.index import MemoryIndex
from mlenv.lockfile import Lock
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.upgrade import Upgrade
from tests.support.wheels import build_wheel

WHEELS = dict(
    [
        build_wheel("app", "1.0", requires_dist=["lib>=1"]),
        build_wheel("lib", "1.0"),
        build_wheel("lib", "2.0"),
        build_wheel("lib", "3.0"),
    ]
)
LIB_2 = "lib-2.0-py3-none-any.whl"
LIB_3 = "lib-3.0-py3-none-any.whl"


def lock_one(
    dependency: str,
    yanked: dict[str, str],
    previous: Lock | None = None,
    upgrade: Upgrade | None = None,
    reporter: MemoryReporter | None = None,
    wheels: dict[str, bytes] = WHEELS,
    platforms: Sequence[str] = ("linux-64",),
    index_url: str = "memory://a",
) -> Lock:
    """``dependency`` locked for ``platforms`` from ``wheels`` served at ``index_url``, the
    files ``yanked`` names yanked (with their reasons), over the ``previous`` lock as
    ``upgrade`` moves it."""
    listed = ", ".join(f'"{platform}"' for platform in platforms)
    manifest = loads(
        f'[environment]\nname = "x"\npython = "3.12"\nplatforms = [{listed}]\n'
        f'[pypi]\nindex-url = "https://a.invalid/simple"\ndependencies = ["{dependency}"]\n'
    )
    index = MemoryIndex(index_url, wheels, yanked=yanked)
    return lock_manifest(
        manifest,
        Sources(index, (index_url,), ()),
        reporter=reporter or MemoryReporter(),
        previous=previous,
        upgrade=upgrade,
    )


def pins(locked: Lock) -> dict[str, str]:
    """Each locked package's version, by name."""
    return {p.name: p.version for _, p in locked.packages()}
