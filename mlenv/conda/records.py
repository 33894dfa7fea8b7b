"""One conda package as the solver returns it, the lock stores it and the installer takes it,
and the URL form that may be stored (no credentials)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mlenv.cuda.tags import extract_conda
from mlenv.errors import MlenvError


class CondaError(MlenvError):
    """A conda channel, spec, lock entry or install that mlenv cannot use."""


@dataclass(frozen=True)
class CondaRecord:
    """One solved conda package as the lock stores it; ``cuda`` is the CUDA label it needs.

    ``sha256`` is None only when the channel's repodata has none; the locker must then hash
    the artifact. URLs never carry credentials.
    """

    name: str
    version: str
    build: str
    build_number: int
    subdir: str
    channel: str
    url: str
    filename: str
    sha256: str | None
    md5: str
    size: int
    depends: tuple[str, ...]
    constrains: tuple[str, ...]
    noarch: str | None
    cuda: str | None

    @classmethod
    def from_repodata(
        cls, entry: Mapping[str, Any], *, channel: str, filename: str, url: str
    ) -> CondaRecord:
        """A record from a repodata.json entry (what channels publish and rattler returns)."""
        where = f"{channel} {filename}"
        for key in ("md5", "size"):
            if entry.get(key) is None:
                raise CondaError(
                    f"the channel's repodata gives no {key} for {filename}",
                    where=where,
                    hint="use a channel indexed by conda-index or rattler-index",
                )
        name, version, build = str(entry["name"]), str(entry["version"]), str(entry["build"])
        depends = tuple(str(spec) for spec in entry.get("depends") or ())
        constrains = tuple(str(spec) for spec in entry.get("constrains") or ())
        need = extract_conda(name, version, build, depends, constrains)
        noarch = entry.get("noarch")
        return cls(
            name=name,
            version=version,
            build=build,
            build_number=int(entry.get("build_number", 0)),
            subdir=str(entry["subdir"]),
            channel=public_url(channel).rstrip("/"),
            url=public_url(url),
            filename=filename,
            sha256=entry.get("sha256"),
            md5=str(entry["md5"]),
            size=int(entry["size"]),
            depends=depends,
            constrains=constrains,
            noarch=None if noarch in (None, False) else str(noarch),
            cuda=None if need is None else need.label,
        )

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


_TOKEN_RE = re.compile(r"^/t/[^/]+")


def public_url(url: str) -> str:
    """The URL without user:password@ or a leading anaconda.org ``/t/<token>`` segment."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, _TOKEN_RE.sub("", parts.path), "", ""))
