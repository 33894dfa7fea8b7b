"""Repodata of http(s) conda channels fetched by mlenv's own client, for the rattler child.

Why: py-rattler's own HTTP client follows redirects to this machine or a metadata address,
from https to http, and ignores mlenv's proxy, netrc and TLS settings. So mlenv fetches each
channel's ``<subdir>/repodata.json`` itself through ``HttpClient`` (where ``origins.follow``
and ``exchange`` judge every hop), writes it into a private local channel, hands rattler only
``file://`` channels, and maps each solved record back to the channel the manifest names.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from mlenv.conda.records import CondaError, public_url
from mlenv.origins import file_url_to_path, follow

if TYPE_CHECKING:
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
    """The URL a manifest channel means: a bare name is anaconda.org's, as rattler reads it."""
    if "://" in channel or channel.startswith(("/", ".", "~")):
        return channel
    return f"https://conda.anaconda.org/{channel}"


def mirror(
    channels: Iterable[str], subdirs: Iterable[str], http: HttpClient, root: Path
) -> tuple[tuple[str, ...], tuple[Mirrored, ...]]:
    """The channels to hand rattler (every http(s) one as a ``file://`` copy under ``root``)
    and how to map the copies back; local channels are passed through unchanged."""
    handed: list[str] = []
    mirrored: list[Mirrored] = []
    wanted = tuple(dict.fromkeys(subdirs))
    for number, channel in enumerate(channels):
        url = channel_url(channel)
        if not url.lower().startswith(_WEB):
            handed.append(channel)
            continue
        real = http.add_credentials(url).rstrip("/")
        copy = root / str(number)
        for subdir in wanted:
            _fetch(http, f"{real}/{subdir}/repodata.json", copy / subdir)
        local = copy.resolve().as_uri()
        handed.append(local)
        mirrored.append(Mirrored(local, real))
    return tuple(handed), tuple(mirrored)


def _fetch(http: HttpClient, url: str, directory: Path) -> None:
    """Stream ``url`` (its ``.zst`` when the channel has one, as conda-forge does: a tenth of
    the bytes) into ``directory/repodata.json``; a subdir the channel lacks is left out, as
    conda and rattler read a missing one as empty."""
    from mlenv.index import HttpError  # only a lock fetches: builds never load the client

    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "repodata.json"
    for source, packed in ((f"{url}.zst", True), (url, False)):
        try:
            with http.open(source) as body, target.open("wb") as out:
                _copy(body, out, source, packed)
            return
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


def _copy(body: BinaryIO, out: BinaryIO, url: str, packed: bool) -> None:
    """Copy (decompressing a ``.zst``) at most ``MAX_REPODATA_BYTES`` of repodata."""
    import zstandard

    counted = _Counted(body, url)  # skippable frames decode to nothing: count what is read
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
