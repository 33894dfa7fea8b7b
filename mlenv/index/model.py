"""What an index hands out, the one interface every index implements, and its errors.

The resolver only ever sees these values, so a fake index (``MemoryIndex``) and a real one are
interchangeable and the resolver stays pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from packaging.tags import Tag
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mlenv.digests import is_sha256_hex
from mlenv.errors import MlenvError
from mlenv.index.declared import Declared
from mlenv.limits import enforce_metadata_lines
from mlenv.lockfile_consistency import url_filename


class PackageIndexError(MlenvError):
    """An index could not be read, or offered something mlenv cannot use."""


class IndexPageError(PackageIndexError):
    """A project page is neither the HTML nor the JSON simple API it claims to be."""


class MetadataError(PackageIndexError):
    """A distribution's core metadata is missing, unreadable or inconsistent with its file."""


class NoWheelError(PackageIndexError):
    """Only an sdist is offered; building sdists would make the lock depend on the build host."""


@dataclass(frozen=True)
class IndexFile:
    """One distribution file offered by an index."""

    name: NormalizedName
    version: Version
    filename: str
    url: str  # absolute, credentials stripped, no #fragment
    index_url: str  # the index or find-links location it came from, credentials stripped
    sha256: str | None
    size: int | None
    requires_python: str | None
    yanked: str | None  # None = not yanked; "" = yanked without a reason
    tags: frozenset[Tag]  # empty for sdists
    is_wheel: bool
    has_metadata: bool  # PEP 658/714 ``.metadata`` file available
    metadata_sha256: str | None
    declared: Declared = ()  # digests the page states besides sha256, checked when measured
    metadata_declared: Declared = ()  # the same for the PEP 658 ``.metadata``, checked on read
    # PEP 700's upload-time (UTC), which only JSON pages state: ``instants.instant``
    upload_time: datetime | None = None


@dataclass(frozen=True)
class CoreMetadata:
    """The part of a distribution's METADATA the resolver needs; extras are PEP 685-normalized."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[str, ...]
    requires_python: str | None
    provides_extra: tuple[str, ...]


class Index(Protocol):
    @property
    def url(self) -> str:
        """Display name, never with credentials."""
        ...

    def files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        """Every usable file of ``project``; ``()`` when the index does not know it."""
        ...

    def knows(self, project: NormalizedName) -> bool:
        """Whether the index answers for ``project`` at all: a page for it, even one listing no
        file mlenv can use (only sdists, only other formats, only odd filenames). Under
        ``first-index`` such an index owns the name, as uv decides it."""
        ...

    def status(self, project: NormalizedName) -> str | None:
        """PEP 792's status of a project the index knows but offers no file of (``pages.
        project_status``), to say why: a quarantined project's files are withheld."""
        ...

    def metadata(self, file: IndexFile) -> CoreMetadata: ...

    def open(self, file: IndexFile) -> AbstractContextManager[BinaryIO]:
        """Stream the file's bytes; verifying them is the caller's job."""
        ...

    def prefetch(self, files: Sequence[IndexFile]) -> None:
        """Warm metadata concurrently; errors surface later from ``metadata()``."""
        ...

    def size(self, file: IndexFile) -> int | None:
        """The size the file's server states without sending it (``sizes.stated_size``); None
        when it states none and the bytes must be measured."""
        ...


@dataclass(frozen=True)
class Link:
    """One file as a page describes it, before its filename is trusted."""

    url: str
    filename: str
    sha256: str | None = None
    requires_python: str | None = None
    yanked: str | None = None
    size: int | None = None
    has_metadata: bool = False
    metadata_sha256: str | None = None
    declared: Declared = ()
    metadata_declared: Declared = ()
    upload_time: datetime | None = None


def valid_sha256(value: object) -> str | None:
    """A well-formed hex sha256, or None: a malformed hash is as good as none (it gets computed)."""
    if isinstance(value, str) and is_sha256_hex(value.lower()):
        return value.lower()
    return None


_FILENAME = re.compile(r"[!-~]+")


def make_file(link: Link, *, project: NormalizedName | None, index_url: str) -> IndexFile | None:
    """The IndexFile for a link, or None for anything that is not a wheel or sdist of ``project``.

    Bad filenames are skipped rather than fatal: one odd upload must not break a whole project.
    A file at a URL that names another file is refused: the lock reader refuses such an entry.
    A filename that is not printable ASCII without blanks (what wheel and sdist names are made
    of) is bad: packaging reads ``foo-1.0\u2028-py3-none-any.whl`` as foo 1.0 (a version may end
    in any Unicode blank) and lowercases a Kelvin sign in a name to ``k``, so the lock held an
    invisible character or another name than its project's under a release of that project.
    """
    if not _FILENAME.fullmatch(link.filename):
        return None
    try:
        if link.filename.endswith(".whl"):
            name, version, _build, tags = parse_wheel_filename(link.filename)
            is_wheel = True
        elif link.filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(link.filename)
            tags, is_wheel = frozenset(), False
        else:
            return None
    except ValueError:  # InvalidWheelFilename, InvalidVersion, ...: or past int's digit limit
        return None
    if project is not None and name != project:
        return None
    if url_filename(link.url) != link.filename:  # a JSON page names both; a lock, one
        raise PackageIndexError(
            f"the index offers {link.filename} at {link.url}, a URL that names another file",
            where=index_url,
            hint="mlenv locks a file only at a URL whose last segment is its name (as PEP 503 "
            "pages give it); ask the index operator, or put the wheel in a find-links directory",
        )
    return IndexFile(
        name=name,
        version=version,
        filename=link.filename,
        url=link.url,
        index_url=index_url,
        sha256=link.sha256,
        size=link.size,
        requires_python=link.requires_python,
        yanked=link.yanked,
        tags=tags,
        is_wheel=is_wheel,
        has_metadata=link.has_metadata and is_wheel,
        metadata_sha256=link.metadata_sha256 if is_wheel else None,
        declared=link.declared,
        metadata_declared=link.metadata_declared if is_wheel else (),
        upload_time=link.upload_time,
    )


# A header line (a key of printable ASCII but ":" and blanks, as the email parser splits one) or
# a continuation line; the key never holds ":", so a failing match backtracks linearly.
_LINE = rb"(?:[!-9;-~]+:|[ \t])[^\n]*"
_HEAD = re.compile(rb"%s(?:\n%s)*" % (_LINE, _LINE))
# One of the resolver's fields: its plain value, anything after a byte that is not plain
# ASCII, and the start of a continuation line.
_FIELD = re.compile(
    rb"^(name|version|requires-dist|requires-python|provides-extra):[ \t]*([ -~\t]*)([^\n]*)"
    rb"(\n[ \t])?",
    re.MULTILINE | re.IGNORECASE,
)


def _plain_headers(data: bytes) -> dict[bytes, list[str]] | None:
    """The resolver's fields of METADATA whose header lines are plain ``Key: value`` ASCII, as
    packaging's ``parse_email`` reads them; None for anything else (continued or non-ASCII
    values of these fields, CR line ends, a line that is no header, a Unix "From "), which
    goes to packaging. Importing the email package costs a cold lock more than its parsing.
    Two regular-expression scans, not a loop over lines: a wheel's header has hundreds."""
    end = data.find(b"\n\n")
    head = data.removesuffix(b"\n") if end < 0 else data[:end]
    if data.startswith(b"\n") or b"\r" in head or _HEAD.fullmatch(head) is None:
        return None
    fields: dict[bytes, list[str]] = {}
    for match in _FIELD.finditer(head):
        key, value, unplain, continued = match.groups()
        if unplain or continued:
            return None
        fields.setdefault(key.lower(), []).append(value.decode("ascii"))
    return fields


def _plain_core_metadata(data: bytes) -> CoreMetadata | None:
    """``parse_core_metadata``'s answer when the fields are plain and valid; None otherwise."""
    fields = _plain_headers(data)
    if fields is None:
        return None
    names, versions = fields.get(b"name", []), fields.get(b"version", [])
    requires_python = fields.get(b"requires-python", [])
    if len(names) != 1 or len(versions) != 1 or len(requires_python) > 1:
        return None  # packaging treats a repeated single field as absent: let it say so
    if not names[0] or not versions[0]:
        return None
    try:
        version = Version(versions[0])
    except InvalidVersion:
        return None
    return CoreMetadata(
        name=canonicalize_name(names[0]),
        version=version,
        requires_dist=tuple(fields.get(b"requires-dist", ())),
        requires_python=(requires_python or [""])[0] or None,
        provides_extra=tuple(canonicalize_name(e) for e in fields.get(b"provides-extra", ())),
    )


def parse_core_metadata(data: bytes, *, where: str) -> CoreMetadata:
    """The resolver's fields of METADATA (an index's ``.metadata``, a wheel's), its lines
    bounded first (``enforce_metadata_lines``; once for each prefetch thread)."""
    enforce_metadata_lines(data, where=where)
    plain = _plain_core_metadata(data)
    if plain is not None:
        return plain
    from packaging.metadata import parse_email  # email parsing is heavy; a warm lock parses none

    raw, _unparsed = parse_email(data)
    name, version = raw.get("name"), raw.get("version")
    if not name or not version:
        raise MetadataError(
            "core metadata has no Name or Version",
            where=where,
            hint="the distribution is broken; pick another version or report it upstream",
        )
    try:
        parsed_version = Version(version)
    except InvalidVersion:
        raise MetadataError(
            f"core metadata has an invalid Version {version!r}",
            where=where,
            hint="the distribution is broken; pick another version or report it upstream",
        ) from None
    return CoreMetadata(
        name=canonicalize_name(name),
        version=parsed_version,
        requires_dist=tuple(raw.get("requires_dist", ())),
        requires_python=raw.get("requires_python") or None,
        provides_extra=tuple(canonicalize_name(e) for e in raw.get("provides_extra", ())),
    )


def metadata_of(data: bytes, file: IndexFile) -> CoreMetadata:
    """Parse METADATA and refuse one that describes a different package than its filename."""
    return of_file(parse_core_metadata(data, where=f"{file.url} ({file.name})"), file)


def of_file(meta: CoreMetadata, file: IndexFile) -> CoreMetadata:
    """``meta`` if it describes the distribution the file's name says; parsed or cached alike."""
    where = f"{file.url} ({file.name})"
    if meta.name != file.name or meta.version != file.version:
        raise MetadataError(
            f"metadata says {meta.name} {meta.version} but the file is {file.name} {file.version}",
            where=where,
            hint="the index serves inconsistent files; report it to the index operator",
        )
    return meta


def no_wheel_error(file: IndexFile) -> NoWheelError:
    return NoWheelError(
        f"mlenv locks binary artifacts only; no wheel of {file.name} {file.version} "
        f"for the target (only the sdist {file.filename})",
        where=f"{file.name} {file.version}",
        hint=f"pin a version of {file.name} that publishes a wheel for the target, or build "
        "a wheel yourself and add its directory to [pypi] find-links",
    )
