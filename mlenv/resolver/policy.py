"""The plug-in point for rules beyond tags and specifiers: the CUDA rules judge files through
a ``CandidatePolicy``, so the resolver knows nothing of CUDA and a plain lock imports none of it."""

from __future__ import annotations

from packaging.version import Version

from mlenv.index import CoreMetadata, IndexFile


class CandidatePolicy:
    """Judges files beyond tags and specifiers (the CUDA rules plug in here).

    ``reject`` returns a reason to never pick a file; ``rank`` orders variants of one release
    (lower first) so that, for example, the build for the target CUDA is tried before others;
    ``hint`` is shown when a resolution fails after the policy refused files. Both see what
    the index page says alone: a file only its METADATA can judge is ``deferred`` (``rank`` is
    then the lowest it can get), and the resolver hands that METADATA to ``judge`` when the
    file could be the next candidate it tries, never for a file a page merely lists.
    """

    hint = ""

    def reject(self, file: IndexFile) -> str | None:
        return None

    def rank(self, file: IndexFile) -> int:
        return 0

    def deferred(self, file: IndexFile) -> bool:
        return False

    def judge(self, file: IndexFile, metadata: CoreMetadata) -> tuple[int, str | None]:
        """A deferred file's rank and reason to refuse it, from its METADATA."""
        return self.rank(file), self.reject(file)

    def source(self, name: str, version: Version) -> tuple[str, str | None] | None:
        """Where a build of this version that no index searched has is published, when the
        policy knows, and the index that place is, if it is one (a +cu128 torch: PyTorch's
        CUDA 12.8 index)."""
        return None
