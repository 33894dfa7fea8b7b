"""Several indexes seen as one, with an explicit rule for who supplies a project."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import BinaryIO, Literal

from packaging.utils import NormalizedName, canonicalize_name

from mlenv.index.model import CoreMetadata, Index, IndexFile

Strategy = Literal["first-index", "best-match"]


class IndexGroup:
    """The manifest's ``index-url``, ``extra-index-urls`` and ``find-links`` as one ``Index``.

    The strategy decides which indexes' files of a project the resolver may choose from:

    - ``"first-index"`` (the default, as uv): the first index, in the order given (the caller
      gives uv's: ``inputs.index_order``), that knows
      the project (has a page for it, even one listing no file mlenv can use) supplies all of
      its files; later indexes are not consulted for it. This defeats dependency confusion: a
      public index cannot shadow an internal package by publishing a higher version under the
      same name, even when the internal index lists only sdists, other formats or nothing.
    - ``"best-match"`` (as pip): the union of all indexes' files, so the best version anywhere
      wins. Convenient when indexes mirror each other partially, unsafe when one is public.

    ``find_links`` are searched in addition to the indexes under either strategy, as pip and
    uv search them: the user's own wheels (one built from an index's sdist, a patched build)
    stand beside the owning index's files instead of behind it.

    The choice changes results (the same manifest can pin different versions), which is why it
    is explicit here and recorded by the caller.

    ``sources`` (``[pypi] sources``, uv's explicit indexes) take precedence over both: a
    project named there is taken from its source index alone, whatever the strategy, and
    never from the indexes or find-links; a source index is asked about no other project.
    """

    def __init__(
        self,
        indexes: Sequence[Index],
        strategy: Strategy = "first-index",
        find_links: Sequence[Index] = (),
        sources: Mapping[str, Index] | None = None,
    ) -> None:
        if strategy not in ("first-index", "best-match"):
            raise ValueError(f"unknown index strategy {strategy!r}")
        self.indexes = (*indexes, *find_links)
        self._registries = len(indexes)
        self.strategy = strategy
        self._owners: dict[IndexFile, Index] = {}
        self._lock = threading.Lock()
        self.sources = {canonicalize_name(n): index for n, index in (sources or {}).items()}

    @property
    def url(self) -> str:
        return ", ".join(index.url for index in self.indexes)

    def files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        project = canonicalize_name(project)
        if (source := self.sources.get(project)) is not None:
            return self._listed(source, project)
        found: list[IndexFile] = []
        for index in self.indexes[: self._registries]:
            offered = self._listed(index, project)
            found.extend(offered)
            if self.strategy == "first-index" and (offered or index.knows(project)):
                break
        for index in self.indexes[self._registries :]:
            found.extend(self._listed(index, project))
        return tuple(dict.fromkeys(found))

    def _listed(self, index: Index, project: NormalizedName) -> tuple[IndexFile, ...]:
        """``index``'s files of ``project``, each remembered as that index's to read or open."""
        offered = index.files(project)
        with self._lock:
            for file in offered:
                self._owners.setdefault(file, index)
        return offered

    def source_of(self, project: str) -> str | None:
        """The URL of ``project``'s source index, when ``sources`` names it."""
        source = self.sources.get(canonicalize_name(project))
        return source.url if source is not None else None

    def knows(self, project: NormalizedName) -> bool:
        if (source := self.sources.get(canonicalize_name(project))) is not None:
            return source.knows(project)
        return any(index.knows(project) for index in self.indexes)

    def status(self, project: NormalizedName) -> str | None:
        """The status the index that owns ``project`` states (first-index: the first that knows
        it)."""
        if (source := self.sources.get(canonicalize_name(project))) is not None:
            return source.status(project)
        owner = next((index for index in self.indexes if index.knows(project)), None)
        return owner.status(project) if owner is not None else None

    def from_find_links(self, file: IndexFile) -> bool:
        """Whether a find-links location listed ``file`` (an index did not)."""
        return self._owner(file) in self.indexes[self._registries :]

    def _owner(self, file: IndexFile) -> Index:
        with self._lock:
            owner = self._owners.get(file)
        if owner is None:  # a programming error, not a user's: files come from files()
            raise ValueError(f"{file.filename} was not listed by any index of this group")
        return owner

    def metadata(self, file: IndexFile) -> CoreMetadata:
        return self._owner(file).metadata(file)

    def open(self, file: IndexFile) -> AbstractContextManager[BinaryIO]:
        return self._owner(file).open(file)

    def size(self, file: IndexFile) -> int | None:
        return self._owner(file).size(file)

    def prefetch(self, files: Sequence[IndexFile]) -> None:
        by_owner: dict[int, tuple[Index, list[IndexFile]]] = {}
        for file in files:
            owner = self._owner(file)
            by_owner.setdefault(id(owner), (owner, []))[1].append(file)
        for owner, owned in by_owner.values():
            owner.prefetch(owned)
