"""The indexes a manifest names, opened for a lock: ``Sources``, in the order its strategy asks
them, with relative find-links spelt as the manifest does, and the local directories file:
URLs may lead to (``local_roots``, which fetch and export use too).

It lives apart from the lock use case because it is the glue to the index edge, not resolving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlenv import watch
from mlenv.drift import escaped_directory
from mlenv.index import FindLinks, HttpClient, Index, IndexGroup, MetadataCache, SimpleIndex
from mlenv.index.urls import is_file_url
from mlenv.inputs import index_order
from mlenv.manifest import Manifest
from mlenv.net.origins import LocalRoots
from mlenv.pypi_sources import source_urls


@dataclass(frozen=True)
class Sources:
    """The indexes of a manifest, in the order the strategy consults them."""

    index: Index
    index_urls: tuple[str, ...]
    find_links: tuple[str, ...]
    # file:// prefixes of relative find-links directories -> the manifest's spelling, so the
    # lock names "wheels/x.whl" rather than this checkout's absolute path
    relative: Mapping[str, str] = field(default_factory=dict)
    http: HttpClient | None = None  # fetches http(s) conda channels' repodata (conda.mirror)
    no_index: bool = False  # lock --no-index: index_urls recorded, never asked (mlenv.no_index)
    base_dir: Path = Path()  # the manifest's directory: relative channels are read from it

    @property
    def searched(self) -> tuple[str, ...]:
        return self.find_links if self.no_index else (*self.index_urls, *self.find_links)

    @property
    def local(self) -> bool:
        """Every source is a directory or file:// page on this machine: reading it is CPU
        work, which prefetch threads (one GIL) only slow down, so the resolver reads inline."""
        return all("://" not in url or is_file_url(url) for url in self.searched)

    def portable(self, url: str) -> str:
        """``url`` under a relative find-links directory spelt as the manifest does, as a
        relative URL (``drift.escaped_directory``)."""
        for prefix, spelling in self.relative.items():
            if url == prefix or url.startswith(prefix + "/"):
                return escaped_directory(spelling) + url[len(prefix) :]
        return url


def open_sources(
    manifest: Manifest,
    http: HttpClient,
    cache: MetadataCache | None,
    base_dir: Path,
    *,
    no_index: bool = False,
) -> Sources:
    """The indexes in the order first-index asks them (``inputs.index_order``), then
    find-links in manifest order; with ``no_index``, find-links alone are asked."""
    pypi = manifest.pypi
    local = local_roots(manifest, base_dir)
    simple = [
        SimpleIndex(url, http=http, cache=cache, local=local)
        for url in index_order(pypi.index_url, pypi.extra_index_urls)
    ]
    links = []
    spelled = []  # each as the manifest spells it when relative (two may name one directory)
    relative = {}
    for location in pypi.find_links:
        spelling = None
        if "://" not in location and not Path(location).is_absolute():
            watch.probed(base_dir / location)  # a symlink here is resolved, then read there
            directory = (base_dir / location).resolve()
            spelling = relative[directory.as_uri()] = location.rstrip("/")
            location = str(directory)
        links.append(FindLinks(location, http=http, cache=cache, local=local))
        spelled.append(spelling)
    pinned = {url: SimpleIndex(url, http=http, cache=cache, local=local)
              for url in source_urls(pypi.sources)}  # fmt: skip
    group = IndexGroup([] if no_index else simple, pypi.index_strategy, find_links=links,
                       sources={name: pinned[url] for name, url in pypi.sources})  # fmt: skip
    return Sources(
        group,
        tuple(i.url for i in simple),
        tuple(s if s is not None else i.url for s, i in zip(spelled, links, strict=True)),
        relative,
        http,
        no_index,
        base_dir,
    )


def local_roots(manifest: Manifest, base_dir: Path) -> LocalRoots:
    """The local directories the manifest names: the only places file: URLs may lead. A
    channel's as rattler reads it (``channel_path``: ``\\\\chan``, ``~/chan``, a platform
    list cut), so fetch reads the directory the lock was solved from."""
    from mlenv.conda.channel_paths import channel_path

    channels = [p for p in map(channel_path, manifest.conda.channels) if p is not None]
    return LocalRoots.of(
        indexes=(
            manifest.pypi.index_url,
            *manifest.pypi.extra_index_urls,
            *source_urls(manifest.pypi.sources),
        ),
        find_links=(*manifest.pypi.find_links, *channels),
        base_dir=base_dir,
    )
