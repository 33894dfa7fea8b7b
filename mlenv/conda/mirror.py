"""Repodata of http(s) conda channels fetched by mlenv's own client, for the rattler child.

Why: py-rattler's own HTTP client follows redirects to this machine or a metadata address,
from https to http, and ignores mlenv's proxy, netrc and TLS settings. So mlenv fetches each
channel's ``<subdir>/repodata.json`` itself through ``HttpClient`` (where ``origins.follow``
and ``exchange`` judge every hop), writes it into a private local channel, hands rattler only
``file://`` channels, and maps each solved record back to the channel the manifest names.
"""

from __future__ import annotations

import errno
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from mlenv import watch
from mlenv.conda.channel_paths import CONDA_ALIAS, channel_path, split_platforms
from mlenv.conda.records import CondaError, public_url
from mlenv.conda.repodata import Checked, RepodataCache, max_size
from mlenv.index.bodies import ResponseReader
from mlenv.index.caches import is_storable
from mlenv.net.origins import file_url_to_path, follow

if TYPE_CHECKING:
    import httpx

    from mlenv.index import HttpClient

# conda-forge's linux-64 repodata.json is a few hundred MB; this bounds a hostile stream
MAX_REPODATA_BYTES = 4 << 30
_WEB = ("http://", "https://")


@dataclass(frozen=True)
class Mirrored:
    """A channel as rattler is asked for it (``local``) and as the lock names it (``real``)."""

    local: str  # file:// URL of the private copy, no trailing slash
    real: str  # the channel URL, no trailing slash

    def back(self, url: str) -> str:
        """``url`` (a record's channel or url) with the private copy's prefix made the real one."""
        if url.rstrip("/") == self.local:
            return self.real + url[len(self.local) :]
        if url.startswith(self.local + "/"):
            return self.real + url[len(self.local) :]
        return url

    def shown(self, message: str) -> str:
        """``message`` (rattler's) naming the channel wherever it named the private copy."""
        shown = public_url(self.real)  # a ``/t/<token>`` channel: the token stays unsaid
        for copy in (self.local, str(file_url_to_path(self.local))):
            # whole: copy ``…/1`` is no prefix of copy ``…/10`` (eleven channels or more)
            message = re.sub(re.escape(copy) + r"(?![\w.-])", lambda _: shown, message)
        return message


def channel_url(channel: str) -> str:
    """The URL a manifest channel means: a place (``channel_path``) as spelt, any other name
    anaconda.org's, as rattler reads them: ``.chan`` and ``~`` are names, which rattler's own
    client would fetch if they were handed to it as places."""
    return channel if channel_path(channel) is not None else CONDA_ALIAS + channel


def mirror(
    channels: Iterable[str], subdirs: Iterable[str], http: HttpClient, root: Path
) -> tuple[tuple[str, ...], tuple[Mirrored, ...]]:
    """The channels to hand rattler (every http(s) one as a ``file://`` copy under ``root``)
    and how to map the copies back; local channels are passed through unchanged. The
    repodata comes through the client's cache root (``conda.repodata``), revalidated online
    and read from it alone offline."""
    handed: list[str] = []
    mirrored: list[Mirrored] = []
    wanted = tuple(dict.fromkeys(subdirs))
    cache = None if http.cache is None else RepodataCache(http.cache.root)
    used: list[str] = []
    for number, channel in enumerate(channels):
        # ``https://host/chan[linux-64]``: the list is rattler's to read, on the copy
        url, platforms = split_platforms(channel_url(channel))
        if not url.lower().startswith(_WEB):
            handed.append(channel)
            continue
        real = http.add_credentials(url).rstrip("/")
        copy = root / str(number)
        for subdir in wanted:
            base = f"{real}/{subdir}/repodata.json"
            used += _fetch(http, cache, base, copy / subdir, real)
        local = copy.resolve().as_uri()
        handed.append(local + platforms)
        mirrored.append(Mirrored(local, real))
    if cache is not None and used and not http.offline:
        cache.prune(max_size(os.environ), keep=used)
    return tuple(handed), tuple(mirrored)


def _fetch(
    http: HttpClient, cache: RepodataCache | None, url: str, directory: Path, channel: str
) -> list[str]:
    """``url``'s repodata (its ``.zst`` when the channel has one, as conda-forge does: a tenth
    of the bytes) decompressed into ``directory/repodata.json``; a subdir the channel lacks is
    left out, as conda and rattler read a missing one as empty. Returns the URLs whose cache
    entries were used or written."""
    watch.remote(url)  # a stored copy too: the channel may have changed since
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "repodata.json"
    sources = ((f"{url}.zst", True), (url, False))
    if http.offline:
        return _offline(cache, sources, target, channel)
    from mlenv.index import HttpError  # only a lock fetches: builds never load the client

    for source, packed in sources:
        try:
            _revalidate(http, cache, source, packed, target)
            return [source]
        except HttpError as exc:
            target.unlink(missing_ok=True)
            if not exc.absent:
                raise
        except OSError as exc:  # the temporary directory is often a small tmpfs
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise CondaError(
                f"cannot write the channel's repodata ({source}): {exc.strerror}",
                where=str(directory),
                hint="free space in the temporary directory, or point TMPDIR at a bigger disk",
            ) from None
        if cache is not None:  # so ``--offline`` knows it is not there (any more)
            cache.store(source, {}, None)
    return [source for source, _ in sources]


def _offline(
    cache: RepodataCache | None, sources: Iterable[tuple[str, bool]], target: Path, channel: str
) -> list[str]:
    """The stored copies alone: the network is never asked."""
    for source, packed in sources:
        if cache is None:
            break
        with cache.open(source) as found:
            if found is None:
                break  # a lock online stores both: the .zst, or that it is not there
            head, body = found
            if head.absent:
                if packed:
                    continue
                return [source]  # the channel has no such subdir
            if _unpacked(Checked(body, head), target, source, packed):
                return [source]
            break
    subdir = target.parent.name
    raise CondaError(
        f"the {subdir} repodata of the conda channel {public_url(channel)} is not cached, or "
        "its cached copy is damaged, and --offline allows no download",
        where=public_url(channel),
        hint="run `mlenv lock` online once to cache the channel, then lock --offline",
    )


def _revalidate(
    http: HttpClient, cache: RepodataCache | None, url: str, packed: bool, target: Path
) -> None:
    """``url`` from the cache when the server answers 304 to its validators (a stored copy
    that is no longer intact is fetched again, unconditionally), else downloaded and stored;
    an ``HttpError`` when it fails, ``absent`` when nothing is there."""
    for conditional in (True, False):
        validators: dict[str, str] = {}
        if cache is not None and conditional:
            with cache.open(url) as found:
                validators = {} if found is None or found[0].absent else found[0].validators()
        headers = {"Accept-Encoding": "identity", **validators}
        with http.stream(url, headers=headers) as response:
            if response.status_code != 304:
                _download(cache, url, packed, target, response)
                return
            sent = {k.lower(): v for k, v in response.headers.items()}
        if cache is None:  # no validator was sent: ``stream`` refuses an unasked-for 304
            break
        if _stored(cache, url, packed, target):
            cache.refresh(url, sent)  # the validators a 304 carries replace the stored ones
            return
    raise CondaError(
        "the server answered 304 Not Modified to a request that sent no validator",
        where=url,
        hint="check the channel URL in [conda] channels",
    )


def _stored(cache: RepodataCache, url: str, packed: bool, target: Path) -> bool:
    """``url``'s stored copy into ``target``; False when there is none intact."""
    with cache.open(url) as found:
        if found is None or found[0].absent:
            return False
        return _unpacked(Checked(found[1], found[0]), target, url, packed)


def _download(
    cache: RepodataCache | None, url: str, packed: bool, target: Path, response: httpx.Response
) -> None:
    """The body into a download file beside ``target``, unpacked, then kept in the cache."""
    download = target.with_name("repodata.download")
    with io.BufferedReader(ResponseReader(response, url)) as body, download.open("wb") as out:
        _copy(body, out, url, packed=False)
    try:
        with download.open("rb") as body:
            if not _unpacked(body, target, url, packed):
                raise AssertionError("unreachable: a download is not checked")
        if cache is not None:
            lowered = {k.lower(): v for k, v in response.headers.items()}
            if is_storable(lowered):
                cache.store(url, lowered, download)
    finally:
        download.unlink(missing_ok=True)


def _unpacked(body: BinaryIO | Checked, target: Path, url: str, packed: bool) -> bool:
    """``body`` (decompressed) into ``target``; False, ``target`` removed, when a stored copy
    proves not intact: a damaged or truncated entry is a miss, never repodata."""
    try:
        with target.open("wb") as out:
            _copy(body, out, url, packed)
    except CondaError:
        if isinstance(body, Checked) and not body.intact():
            target.unlink(missing_ok=True)
            return False
        raise
    if isinstance(body, Checked) and not body.intact():
        target.unlink(missing_ok=True)
        return False
    return True


def _copy(body: BinaryIO | Checked, out: BinaryIO, url: str, packed: bool) -> None:
    """Copy (decompressing a ``.zst``) at most ``MAX_REPODATA_BYTES`` of repodata."""
    import zstandard

    # ``Checked`` reads as a file does; skippable frames decode to nothing: count what is read
    counted = _Counted(cast("BinaryIO", body), url)
    source = cast("BinaryIO", counted)  # zstandard calls only ``read``
    reader = zstandard.ZstdDecompressor().stream_reader(source) if packed else counted
    written = 0
    try:
        while chunk := reader.read(1 << 20):
            written += len(chunk)
            if written > MAX_REPODATA_BYTES:
                raise _too_large(url)
            out.write(chunk)
    except zstandard.ZstdError as exc:
        raise CondaError(
            f"the channel's repodata.json.zst is not zstd: {exc}",
            where=url,
            hint="re-index the channel, or remove its repodata.json.zst",
        ) from None


def _too_large(url: str) -> CondaError:
    return CondaError(
        f"the channel's repodata is larger than {MAX_REPODATA_BYTES} bytes",
        where=url,
        hint="check the channel URL in [conda] channels",
    )


class _Counted:
    """``body`` read with a count: a ``.zst`` of endless skippable frames (which decode to no
    byte) is refused at ``MAX_REPODATA_BYTES`` read, as a large decompressed one is."""

    def __init__(self, body: BinaryIO, url: str) -> None:
        self._body, self._url, self._taken = body, url, 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._body.read(size)
        self._taken += len(chunk)
        if self._taken > MAX_REPODATA_BYTES:
            raise _too_large(self._url)
        return chunk


def judged(url: str, channel: str) -> str:
    """A solved record's ``url`` (a CEP-15 ``info.base_url`` may have put it anywhere) if
    ``origins.follow`` lets the channel lead there."""
    return follow(
        url, base=channel + "/", where=f"{public_url(channel)}: a record's url (info.base_url)"
    )
