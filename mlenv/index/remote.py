"""Indexes that live somewhere else: a simple-API index, or find-links (a directory or a page).

Both share how metadata and bytes of a listed file are read: the PEP 658 ``.metadata`` file when
offered (hash-checked, bounded), else the wheel's own METADATA member; a cache of parsed metadata
sits in front, keyed by ``caches.metadata_key`` (the bytes' own verified hash, or their exact
origin), so a warm re-lock reads and parses no metadata and no index can poison another's.
"""

from __future__ import annotations

import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor  # module level: see mlenv.locking_facts'
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import BinaryIO
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from mlenv import watch
from mlenv.errors import MlenvError
from mlenv.index.caches import MetadataCache, MetadataOrigin, metadata_key, origin_stamp
from mlenv.index.declared import DigestCheck
from mlenv.index.http import HttpClient, HttpError
from mlenv.index.local_files import directory_links, read_local
from mlenv.index.model import (
    CoreMetadata,
    IndexFile,
    Link,
    MetadataError,
    PackageIndexError,
    make_file,
    metadata_of,
    no_wheel_error,
    of_file,
)
from mlenv.index.pages import ACCEPT, parse_page, project_status
from mlenv.index.plain_zip import MAX_METADATA_BYTES
from mlenv.index.sizes import stated_size
from mlenv.index.urls import (
    file_url_to_path,
    is_file_url,
    location_to_url,
    metadata_url,
    project_page,
)
from mlenv.index.wheelmeta import read_wheel_metadata
from mlenv.net.origins import LocalRoots, follow, handed_by
from mlenv.userfiles import open_input

PREFETCH_WORKERS = 8  # enough to hide latency; more only hammers the index


def _contradicted(data: bytes, file: IndexFile) -> str | None:
    """The algorithm of a digest the page states for ``file``'s ``.metadata`` that ``data``
    does not meet: its sha256 or any other (``index.declared``: every stated value holds)."""
    sha256 = hashlib.sha256(data).hexdigest()
    if file.metadata_sha256 and sha256 != file.metadata_sha256:
        return "sha256"
    check = DigestCheck(file.metadata_declared)
    check.write(data)
    wrong = check.contradiction(sha256)
    return None if wrong is None else wrong[0]


def _too_big(file: IndexFile, url: str) -> MetadataError:
    return MetadataError(
        f"the .metadata of {file.filename} is over {MAX_METADATA_BYTES} bytes",
        where=url,
        hint="no real metadata is that big; the index is broken or hostile",
    )


def _without_trailing_slash(url: str) -> str:
    """``url`` without its trailing slashes, except a file: URL's root: ``file:`` names the
    relative path ``.``, whose listing no file URL can express (a traceback, exit 2)."""
    stripped = url.rstrip("/")
    if is_file_url(url) and not urlsplit(stripped).path:
        return "file:///"
    return stripped


class _RemoteIndex(ABC):
    """What both share: memoized listings, and reading metadata and bytes of listed files."""

    def __init__(
        self,
        location: str,
        *,
        http: HttpClient,
        cache: MetadataCache | None = None,
        local: LocalRoots | None = None,
    ) -> None:
        self._url = _without_trailing_slash(http.add_credentials(location_to_url(location)))
        # Where its pages' file: links may lead: all local sources (open_sources), else its own
        self._local = local if local is not None else self._own_root()
        self._http = http
        self._cache = cache
        self._metadata: dict[IndexFile, CoreMetadata] = {}
        # each project's usable files, whether the source answered for it at all, and the
        # page that listed them (after redirects): what handed them out (``origins.handed_by``)
        self._files: dict[NormalizedName, tuple[tuple[IndexFile, ...], bool, str]] = {}
        self._statuses: dict[NormalizedName, str | None] = {}  # of pages that offer no file
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    @property
    def _plain(self) -> bool:
        """Named by its http:// URL: anyone on the path can answer its first request, so an
        upgrade to https and links back to http weaken nothing (``parse_page``)."""
        return urlsplit(self._url).scheme.lower() == "http"

    @abstractmethod
    def _own_root(self) -> LocalRoots:
        """The local root this source names by itself (none for a remote one)."""

    def files(self, project: NormalizedName) -> tuple[IndexFile, ...]:
        return self._listed(project)[0]

    def knows(self, project: NormalizedName) -> bool:
        return self._listed(project)[1]

    def status(self, project: NormalizedName) -> str | None:
        self._listed(project)  # reads the page, once
        return self._statuses.get(canonicalize_name(project))

    def _listed(self, project: NormalizedName) -> tuple[tuple[IndexFile, ...], bool]:
        project = canonicalize_name(project)
        with self._lock:
            known = self._files.get(project)
        if known is None:
            links, page = self._links(project) or (None, self._url)
            files = tuple(
                file
                for link in links or ()
                if (file := make_file(link, project=project, index_url=self._url)) is not None
            )
            known = files, links is not None and (bool(files) or self._page_per_project), page
            with self._lock:
                self._files[project] = known
        return known[:2]

    def _handed(self, file: IndexFile) -> AbstractContextManager[None]:
        """Requests for ``file`` as handed out by the page that listed it (after redirects, as
        ``follow`` judged its links), not by the index whose URL lent them a loopback vouch."""
        with self._lock:
            known = self._files.get(file.name)
        return handed_by(known[2] if known is not None else file.index_url)

    # A source with a page per project answers for it by having the page, even one listing
    # nothing usable; a listing of many projects (find-links) only by listing its files.
    _page_per_project = False

    @abstractmethod
    def _links(self, project: NormalizedName) -> tuple[list[Link], str] | None:
        """Every link that may be a file of ``project`` and the URL of the page that held them,
        None when the source has no page for it; foreign and bad links are dropped later."""

    def metadata(self, file: IndexFile) -> CoreMetadata:
        with self._handed(file):  # its page's links, judged as the page's (``origins``)
            return self._metadata_of(file)

    def _metadata_of(self, file: IndexFile) -> CoreMetadata:
        with self._lock:
            known = self._metadata.get(file)
        if known is not None:
            return known
        if not file.is_wheel:
            raise no_wheel_error(file)
        meta = None
        if file.has_metadata:
            url = metadata_url(file.url)
            stamp = None if file.metadata_sha256 else origin_stamp(url, file.sha256)
            origin = MetadataOrigin(url, file.metadata_sha256, stamp)
            if file.metadata_declared:  # a hit would skip the other digests: read and check
                origin = MetadataOrigin(url)
            meta = self._read(origin, file, lambda: self._metadata_file(file))
        if meta is None:
            origin = MetadataOrigin(file.url, None, origin_stamp(file.url, file.sha256))
            meta = self._read(origin, file, lambda: read_wheel_metadata(file, self._http))
        if meta is None:  # a wheel's member is never absent: read_wheel_metadata raises
            raise AssertionError(f"no metadata read for {file.filename}")
        with self._lock:
            self._metadata[file] = meta
        return meta

    def _read(
        self, origin: MetadataOrigin, file: IndexFile, read: Callable[[], bytes | None]
    ) -> CoreMetadata | None:
        """Metadata from ``origin``: cached under ``metadata_key`` or read, checked, then cached.

        Only parsed metadata that matches the file is stored, so garbage is never cached; a
        hit is checked against the file again, since the key need not name the distribution.
        """
        key = metadata_key(origin) if self._cache is not None else None
        if key is not None and self._cache is not None:
            cached = self._cache.get(key)
            if cached is not None:
                return of_file(cached, file)
        data = read()
        if data is None:
            return None
        meta = metadata_of(data, file)
        if key is not None and self._cache is not None:
            self._cache.put(key, meta)
        return meta

    def _metadata_file(self, file: IndexFile) -> bytes | None:
        """The PEP 658 ``.metadata`` bytes, checked against the published hash; None if absent."""
        if not file.has_metadata:
            return None
        # Beside a followed file, yet a symlink could still lead out of a local root.
        url = follow(metadata_url(file.url), base=file.url, local=self._local, where=file.url)
        if is_file_url(url):
            path = file_url_to_path(url)
            watch.probed(path)
            if not path.is_file():
                return None
            if path.stat().st_size > MAX_METADATA_BYTES:
                raise _too_big(file, url)
            data = read_local(path, url)
        else:
            try:
                data = self._http.get(url).content
            except HttpError as exc:
                if exc.absent:  # advertised but missing: the wheel still has it
                    return None
                raise
        if len(data) > MAX_METADATA_BYTES:
            raise _too_big(file, url)
        if (wrong := _contradicted(data, file)) is not None:
            raise MetadataError(
                f"the .metadata of {file.filename} does not match the {wrong} the index published",
                where=url,
                hint="the index is inconsistent or the download was tampered with; retry, "
                "or report it to the index operator",
            )
        return data

    def open(self, file: IndexFile) -> AbstractContextManager[BinaryIO]:
        if not is_file_url(file.url):
            return self._opened(file)
        try:
            return open_input(file_url_to_path(file.url), "local wheel")
        except MlenvError as error:
            raise PackageIndexError(error.message, where=file.url, hint=error.hint) from None
        except OSError as exc:
            raise PackageIndexError(
                f"cannot open {file.filename}: {exc.strerror or exc}",
                where=file.url,
                hint="check that the local index or find-links directory is complete",
            ) from None

    @contextmanager
    def _opened(self, file: IndexFile) -> Iterator[BinaryIO]:
        with self._handed(file), self._http.open(file.url) as handle:
            yield handle

    def size(self, file: IndexFile) -> int | None:
        if is_file_url(file.url):  # a stat, where ``artifact_facts`` reads it
            return None
        if file.sha256 is not None and self._cache is not None:  # fetched before: no HEAD
            from mlenv.cache.artifacts import held_size  # only where a HEAD would be asked

            if (held := held_size(self._cache.root, file.sha256)) is not None:
                return held
        with self._handed(file):
            return stated_size(self._http, file.url)

    def prefetch(self, files: Sequence[IndexFile]) -> None:
        with self._lock:
            todo = [f for f in dict.fromkeys(files) if f.is_wheel and f not in self._metadata]
        if not todo:
            return

        def warm(file: IndexFile) -> None:
            with suppress(MlenvError):  # metadata() raises it again when really asked
                self.metadata(file)

        if len(todo) == 1:  # the resolver's worker asks for its best candidate: no new thread
            warm(todo[0])
            return
        with ThreadPoolExecutor(min(PREFETCH_WORKERS, len(todo))) as pool:
            list(pool.map(warm, todo))


class SimpleIndex(_RemoteIndex):
    """A PEP 503 (HTML) or PEP 691 (JSON) simple index, over http(s) or file://.

    Over http the server picks the format by content negotiation and the Content-Type decides
    how it is parsed; a file:// index is read from ``<url>/<project>/index.json`` or
    ``index.html``, whichever exists (JSON first).
    """

    def _own_root(self) -> LocalRoots:
        return LocalRoots.of(indexes=[self._url])

    _page_per_project = True

    def _links(self, project: NormalizedName) -> tuple[list[Link], str] | None:
        if (page := self._page(project)) is None:
            return None
        links = parse_page(*page, self._local, downgrade=self._plain)
        if not links:  # nothing offered: PEP 792 may say why
            self._statuses[project] = project_status(*page)
        return links, page[2]

    def _page(self, project: NormalizedName) -> tuple[bytes, str | None, str] | None:
        """Content, Content-Type and final URL of the project page; None when there is none."""
        if is_file_url(self._url):
            directory = file_url_to_path(self._url) / project
            for name, content_type in (
                ("index.json", "application/vnd.pypi.simple.v1+json"),
                ("index.html", "text/html"),
            ):
                path = directory / name
                watch.probed(path)
                if path.exists():  # a FIFO or a device there is an error, not "no page"
                    return read_local(path, path.as_uri()), content_type, path.as_uri()
            return None
        try:
            response = self._http.get(
                project_page(self._url, project), headers={"Accept": ACCEPT}, use_cache=True
            )
        except HttpError as exc:
            if exc.absent:
                return None
            raise
        return response.content, response.headers.get("content-type"), response.url


class FindLinks(_RemoteIndex):
    """Wheels from a local directory, or from every link on one HTML (or JSON) page.

    Like pip's ``--find-links``: no per-project pages, so the listing is read once and filtered.
    """

    def __init__(
        self,
        location: str,
        *,
        http: HttpClient,
        cache: MetadataCache | None = None,
        local: LocalRoots | None = None,
    ) -> None:
        super().__init__(location, http=http, cache=cache, local=local)
        self._listing: tuple[list[Link], str] | None = None

    def _own_root(self) -> LocalRoots:
        return LocalRoots.of(find_links=[self._url])

    def _links(self, project: NormalizedName) -> tuple[list[Link], str]:
        with self._lock:
            listing = self._listing
        if listing is None:
            listing = self._read_listing()
            with self._lock:
                self._listing = listing
        return listing

    def _read_listing(self) -> tuple[list[Link], str]:
        if is_file_url(self._url):
            path = file_url_to_path(self._url)
            watch.probed(path)
            if path.is_dir():
                return directory_links(path, self._url, self._local), self._url
            content = read_local(path, self._url)
            kind = "application/json" if path.suffix == ".json" else "text/html"
            return parse_page(content, kind, self._url, self._local), self._url
        answer = self._http.get(self._url, headers={"Accept": ACCEPT}, use_cache=True)
        page = answer.content, answer.headers.get("content-type"), answer.url
        return parse_page(*page, self._local, downgrade=self._plain), answer.url
