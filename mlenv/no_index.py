"""``lock --no-index``, as pip and uv spell it: resolve without the package indexes.

The manifest's indexes are ``[pypi] index-url`` and ``extra-index-urls``, and the ones
``[pypi] sources`` pins projects to; its local or http(s) wheel directories are ``[pypi]
find-links``. ``--no-index`` leaves the find-links alone to resolve from, and leaves the
conda channels as they are (a conda channel is not a PyPI index; ``--offline`` keeps
them from the network). The lock still records the manifest's indexes in [target]: they are
resolution inputs, so a lock made with ``--no-index`` is fresh for the manifest, and its
bytes are what ``mlenv lock`` writes when the find-links answer for every pin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlenv.errors import UsageError

if TYPE_CHECKING:
    from mlenv.manifest import Manifest


def check_no_index(manifest: Manifest) -> None:
    """Refuse ``--no-index`` when it leaves a PyPI requirement nothing to come from: no
    find-links at all, or a project ``[pypi] sources`` takes from an index only."""
    pypi = manifest.pypi
    if pypi.sources:
        names = ", ".join(f"{name} ({url})" for name, url in pypi.sources)
        raise UsageError(
            f"--no-index ignores every package index, but [pypi] sources takes {names} "
            "from an index alone (never from find-links)",
            where=f"{manifest.source}: [pypi].sources",
            hint="drop --no-index, or drop those projects from [pypi] sources",
        )
    if pypi.dependencies and not pypi.find_links:
        raise UsageError(
            "--no-index leaves nothing to resolve the PyPI requirements from: the manifest "
            "names no [pypi] find-links, and --no-index ignores index-url and "
            "extra-index-urls",
            where=f"{manifest.source}: [pypi]",
            hint='add find-links = ["wheels"] (a directory of wheels) under [pypi], or drop '
            "--no-index",
        )
