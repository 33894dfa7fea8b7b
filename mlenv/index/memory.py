"""An index held in memory, so resolver tests build their world from a few wheels in code."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import BinaryIO

from packaging.utils import NormalizedName, canonicalize_name

from mlenv.index.model import (
    CoreMetadata,
    IndexFile,
    Link,
    MetadataError,
    make_file,
    metadata_of,
    no_wheel_error,
)
from mlenv.index.wheelmeta import metadata_member


class MemoryIndex:
    """Files from in-memory bytes; metadata read from the wheels themselves, hashes computed.

    Behaves like a real index that offers PEP 658 metadata and Requires-Python for every wheel.
    Sdists (``.tar.gz``/``.zip`` names) are listed too, so the "no wheel" path can be tested.
    ``calls`` records every request, for tests that assert what a resolver looked at.
    """

    def __init__(
        self,
        url: str = "memory://index",
        wheels: Mapping[str, bytes] | None = None,
        *,
        yanked: Mapping[str, str] | None = None,
        hashes: bool = True,
        statuses: Mapping[str, str] | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        # PEP 792 statuses by project; a project named here has a page even with no file
        self._statuses = {canonicalize_name(k): v for k, v in (statuses or {}).items()}
        self._bytes = dict(wheels or {})
        self.calls: list[tuple[str, str]] = []
        self._files: dict[NormalizedName, list[IndexFile]] = {}
        self._metadata: dict[IndexFile, CoreMetadata | MetadataError] = {}
        # a page per project, named by each filename's first part, usable files or not
        self._pages = {canonicalize_name(name.split("-", 1)[0]) for name in self._bytes}
        self._pages |= set(self._statuses)
        for filename in sorted(self._bytes):
            data = self._bytes[filename]
            link = Link(
                url=f"{self._url}/files/{filename}",
                filename=filename,
                sha256=hashlib.sha256(data).hexdigest() if hashes else None,
                size=len(data),
                yanked=(yanked or {}).get(filename),
                has_metadata=True,
            )
            file = make_file(link, project=None, index_url=self._url)
            if file is None:
                continue
            if file.is_wheel:
                file, outcome = self._read(file, data)
                self._metadata[file] = outcome
            self._files.setdefault(file.name, []).append(file)

    @staticmethod
    def _read(file: IndexFile, data: bytes) -> tuple[IndexFile, CoreMetadata | MetadataError]:
        """Metadata now, so the file can carry Requires-Python as a real index page would."""
        try:
            raw = metadata_member(io.BytesIO(data), file)
            meta = metadata_of(raw, file)
        except MetadataError as exc:  # a broken wheel is a legitimate test subject
            return file, exc
        digest = hashlib.sha256(raw).hexdigest()
        return replace(file, requires_python=meta.requires_python, metadata_sha256=digest), meta

    @property
    def url(self) -> str:
        return self._url

    def files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        project = canonicalize_name(project)
        self.calls.append(("files", project))
        return tuple(self._files.get(project, ()))

    def knows(self, project: NormalizedName) -> bool:
        return canonicalize_name(project) in self._pages

    def status(self, project: NormalizedName) -> str | None:
        return self._statuses.get(canonicalize_name(project))

    def metadata(self, file: IndexFile) -> CoreMetadata:
        self.calls.append(("metadata", file.filename))
        if not file.is_wheel:
            raise no_wheel_error(file)
        outcome = self._metadata[file]
        if isinstance(outcome, MetadataError):
            raise outcome
        return outcome

    def open(self, file: IndexFile) -> AbstractContextManager[BinaryIO]:
        self.calls.append(("open", file.filename))
        return io.BytesIO(self._bytes[file.filename])

    def prefetch(self, files: Sequence[IndexFile]) -> None:
        """Nothing to warm: everything is in memory already."""

    def size(self, file: IndexFile) -> int | None:
        """None: the bytes are at hand, measured as a server stating nothing would be."""
        return None
