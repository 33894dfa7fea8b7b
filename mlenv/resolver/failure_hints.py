"""Hints for failures no relaxed requirement fixes: a pin to a local build (``+cu128``) that
only its maker's index has, and projects no index lists (a misspelt name, a missing local index
directory, a missing index)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packaging.version import Version

from mlenv.index.urls import file_url_to_path, is_file_url
from mlenv.resolver.policy import CandidatePolicy


def _local_build_hint(
    foreign: Mapping[str, Version], policy: CandidatePolicy, searched: str
) -> str:
    """A pin to a local build (``torch==2.7.0+cu128``) where the indexes have none: its
    maker's index is missing, and no requirement to relax will find it."""
    name, version = min(foreign.items())
    lead = f"{searched} has no builds with a local label like {name} {version}: "
    place, index = policy.source(name, version) or (None, None)
    if place is not None and index is None:  # a release asset, a wheel page, advice: no index
        return lead + place
    return (
        f"{lead}{place or f'add the index that publishes +{version.local} builds'}, as "
        f'[pypi] sources = {{ {name} = "{index or "<that index>"}" }} (then '
        f"{name} comes from that index alone)"
    )


def _absent_hint(absent: dict[str, bool], indexes: Sequence[str]) -> str:
    """No conflict to relax when no index lists the project: a misspelt name, a local index
    that is not there (every project "not found", its path never named), or a missing index."""
    gone = [url for url in indexes if is_file_url(url) and not file_url_to_path(url).is_dir()]
    if gone:
        return (
            f"{', '.join(gone)}: no such directory; correct the file:// URL in [pypi] "
            "index-url or extra-index-urls (a local index is a directory per project)"
        )
    listed = ", ".join(absent)
    where = "add an index that has it ([pypi] extra-index-urls or find-links)"
    if all(absent.values()):
        return f"check the spelling of {listed} in [pypi].dependencies, or {where}"
    return where
