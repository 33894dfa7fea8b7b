"""`mlenv init --from pylock.toml` (PEP 751): every package that installs as an == pin, and
where each comes from. A project every entry of which (all platforms) names one index other
than the default becomes a ``[pypi] sources`` entry, as uv's explicit index that
``uv export --format pylock.toml`` flattened into per-package ``index`` keys: torch from
PyTorch's CUDA index, numpy from PyPI. Made an extra index instead, best-match offered every
project from both (PyTorch's copy of numpy too)."""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from mlenv.bare_file import bare_file_url
from mlenv.errors import Problem
from mlenv.importers import places
from mlenv.importers.core import (
    _PYPI,
    Imported,
    ImportFileError,
    _Collector,
    _toml,
    hashes_not_kept,
)
from mlenv.limits import MAX_IMPORTED_REQUIREMENTS, enforce

TYPE_CHECKING = False
if TYPE_CHECKING:
    from packaging.pylock import Package as PylockPackage


def read_pylock(path: Path, groups: Sequence[str] = ()) -> Imported:
    """Every package of a PEP 751 lock that installs by default (or with the extras and
    dependency groups ``groups`` names) as an == pin, its indexes as the manifest's."""
    from packaging.pylock import Pylock, PylockValidationError

    document = _toml(path)
    # each package is a pin the manifest check bounds after tomlkit spent 86 s writing 20,000
    listed = document.get("packages")
    enforce(len(listed) if isinstance(listed, list) else 0, MAX_IMPORTED_REQUIREMENTS,
            "packages", where=str(path))  # fmt: skip
    try:
        lock = Pylock.from_dict(document)
    except PylockValidationError as exc:
        raise ImportFileError(
            f"{path}: not a valid pylock.toml", [Problem(str(path), str(exc))]
        ) from None
    collector = _Collector()
    known = {*(lock.extras or ()), *(lock.dependency_groups or ())}
    for group in set(groups) - known:
        collector.fail(f"{path}: group {group!r}", "the lock has no such extra or dependency group",
                       f"extras and groups here: {', '.join(sorted(known)) or 'none'}")  # fmt: skip
    chosen = {
        "extras": frozenset(g for g in groups if g in (lock.extras or ())),
        "dependency_groups": frozenset(
            {
                *(lock.default_groups or ()),
                *(g for g in groups if g in (lock.dependency_groups or ())),
            }
        ),
    }
    pins = []
    entries: dict[str, list[str]] = {}  # project -> each entry's index ("" for none)
    pinned: dict[tuple[str, str], str] = {}  # (project, marker left) -> its version
    links: list[str] = []
    hashed = 0  # packages kept whose wheels or sdist the file gives hashes for
    judged = functools.cache(_not_yours)  # one walk per directory, not per package
    for package in lock.packages:
        where = f"{path}: package {package.name}"
        installed, rest = _pylock_marker(package.marker, chosen, where, collector)
        if not installed:
            continue
        if refusal := _unsupported(package):
            collector.fail(where, refusal, _WHEELS_ONLY)
            continue
        marker = f"; {rest}" if rest else ""
        twin = pinned.setdefault((canonicalize_name(package.name), rest), str(package.version))
        if twin != str(package.version):  # PEP 751: an installer refuses such a lock
            collector.fail(where, f"it is locked twice, {twin} and {package.version}, under "
                           f"the same marker ({rest or 'none'}): no installer could choose",
                           "regenerate the lock; entries of one name need markers that "
                           "tell them apart")  # fmt: skip
            continue
        pins.append(f"{package.name}=={package.version}{marker}")
        hashed += _states_hashes(package)
        if refused := _elsewhere(package):
            collector.fail(where, refused, _YOURS)
            continue
        if refused := _bare(package):
            collector.fail(where, refused, _SPELL)
            continue
        locations = _pylock_sources(package, path.parent)
        if refused := next(filter(None, map(judged, locations)), None):
            collector.fail(where, refused, _YOURS)
            continue
        if not locations and not _on_pypi(package):
            collector.fail(where, "the lock names no index for it and its wheel is not on PyPI, "
                           "where mlenv would look for it", _NO_INDEX)  # fmt: skip
            continue
        links += [found for found in locations if "://" not in found and found not in links]
        index = locations[0] if len(locations) == 1 and "://" in locations[0] else ""
        entries.setdefault(canonicalize_name(package.name), []).append(index)
    collisions = collector.check(str(path))
    indexes = list(dict.fromkeys(index for found in entries.values() for index in found if index))
    default = _default_index(entries)
    sources = {} if default is None else explicit_sources(entries, default)
    shared = [index for index in indexes if index not in sources.values()]
    default = default or shared[0]
    notes = ["every locked package became an == pin; mlenv lock keeps them"]
    if hashed:
        notes.append(
            hashes_not_kept(f"the hashes {path.name} states for {hashed} package(s)", "pylock")
        )
    if sources:
        notes.append(
            f"{', '.join(sources)}: every entry in the lock names an index other than the "
            f"default ({default}): written as [pypi] sources, each taken only from its index"
        )
    return Imported(
        pypi=tuple(pins),
        index_url=default,
        extra_index_urls=tuple(i for i in shared if i != default),
        find_links=tuple(links),
        sources=tuple(sorted(sources.items())),
        notes=tuple(notes),
        collisions=collisions,
    )


def _default_index(entries: Mapping[str, Sequence[str]]) -> str | None:
    """The index uv took every other project from: PyPI when any entry names it, else the one
    the most projects name; None when two tie (the lock does not say which is the default)."""
    named = Counter(index for found in entries.values() for index in dict.fromkeys(found) if index)
    if _PYPI in named or not named:
        return _PYPI
    (first, most), *rest = named.most_common(2)
    return None if rest and rest[0][1] == most else first


def explicit_sources(entries: Mapping[str, Sequence[str]], default: str) -> dict[str, str]:
    """project -> its only index, for each index other than ``default`` that every entry of
    every project it serves names alone. An index that also serves one entry of a project
    found elsewhere (torch for macOS from PyPI) stays an extra index for all it serves: a
    source serves nothing else, and mlenv's sources hold on every platform."""
    serves: dict[str, set[str]] = {}
    for name, found in entries.items():
        for index in found:
            serves.setdefault(index, set()).add(name)
    only = {
        index
        for index, names in serves.items()
        if index and index != default and all(set(entries[name]) == {index} for name in names)
    }
    return {name: found[0] for name, found in sorted(entries.items()) if found[0] in only}


_WHEELS_ONLY = (
    "mlenv locks released wheels only: build the wheel once (`pip wheel --no-deps`), put it "
    "in a find-links directory and lock it from there"
)
_NO_INDEX = "lock it again with uv (`uv export --format pylock.toml` writes each index)"
# Where PyPI keeps its files; pip lock writes their URLs and no index
_PYPI_FILES = "https://files.pythonhosted.org/"


def _unsupported(package: PylockPackage) -> str | None:
    """Why mlenv cannot pin an entry: it locks a released wheel, never a build of a source
    (``mlenv lock`` failed later with "every release is an sdist" and no word of the file)."""
    kinds = (("a VCS checkout", package.vcs), ("a local directory", package.directory),
             ("a source archive", package.archive))  # fmt: skip
    for kind, found in kinds:
        if found is not None:
            return f"locked as {kind}, not a released version"
    if package.version is None:
        return "locked with no version"
    if not package.wheels:
        return "locked as an sdist only, with no wheel"
    return None


def _states_hashes(package: PylockPackage) -> bool:
    """Whether the file gives hashes for this package's wheels or sdist (the note counts them)."""
    return any(w.hashes for w in package.wheels or ()) or bool(
        package.sdist and package.sdist.hashes
    )


def _on_pypi(package: PylockPackage) -> bool:
    return all((w.url or "").startswith(_PYPI_FILES) for w in package.wheels or ())


def _pylock_sources(package: PylockPackage, beside: Path) -> list[str]:
    """Where a locked package comes from: its ``index``, else the directory of each wheel
    given by ``path`` (PEP 751: relative to the lock file) or by a ``file:`` URL, which is a
    find-links one (mlenv's export writes a find-links wheel so, with no index; ``pip lock``
    writes no index, only each wheel's URL). uv writes a find-links directory as the
    ``index`` its wheels sit in: it is no simple-API index, and as one it had no project."""
    location = places.unslashed(str(package.index or ""))
    wheels = package.wheels or ()
    if (
        location.startswith("file:")
        and wheels
        and all((wheel.url or "").rpartition("/")[0] == location for wheel in wheels)
    ):
        location = ""  # a find-links directory: the wheels' own, below
    if location:
        if "://" not in location and places.exists(beside / location):
            location = str((beside / location).resolve())  # see _option
        return [location]
    paths = [_local(wheel.url, wheel.path, beside) for wheel in wheels]
    return list(dict.fromkeys(str(_resolved(p).parent) for p in paths if p))


def _not_yours(location: str) -> str | None:
    """Why a local directory the lock names may not become the manifest's index or find-links
    one (``places.not_yours``), or None; the lock says its wheels are there, so it exists."""
    local = url2pathname(urlsplit(location).path) if "://" in location else location
    is_local = location.lower().startswith("file:") or "://" not in location
    if is_local and not places.is_directory(Path(local)):
        return f"its wheels' directory {local} is not a directory on this machine"
    return places.not_yours(location, Path("/"))


def _elsewhere(package: PylockPackage) -> str | None:
    """An index or wheel URL that is none (``https://[::g]/``: an internal error) or a
    ``file:`` one naming another host (``file://server/share``): pip refuses it, and read as
    a path it named this machine's ``/share``."""
    urls = (package.index or "", *(wheel.url or "" for wheel in package.wheels or ()))
    for url in urls:
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            return f"{url} is not a URL ({exc})"
        if parts.scheme.lower() == "file" and parts.netloc not in ("", "localhost"):
            return f"{url} names the host {parts.netloc!r}, not this machine"
    return None


_YOURS = places.HINT
_SPELL = "write each wheel's url as file:///ABSOLUTE/PATH, or give its path (relative to the lock)"


def _bare(package: PylockPackage) -> str | None:
    """An index or wheel URL ``file:x`` (no ``//``): ``bare_file``'s refusal, as the manifest
    and the import's judge refuse it. Read as ``_local`` read it, it was ``x`` in the working
    directory of ``init``, not beside the lock."""
    urls = (package.index or "", *(wheel.url or "" for wheel in package.wheels or ()))
    return next(filter(None, map(bare_file_url, urls)), None)


def _resolved(path: Path) -> Path:
    """``path`` resolved; one holding a NUL as it is (``_not_yours`` finds no directory)."""
    return path if "\0" in str(path) else path.resolve()


def _local(url: str | None, path: str | None, beside: Path) -> Path | None:
    """A wheel's file on this machine: its ``path`` from the lock file, or its ``file://`` URL
    (one without ``//`` is refused before: ``_bare``)."""
    if path:
        return beside / path
    if url and url.startswith("file:"):
        return Path(url2pathname(urlsplit(url).path))
    return None


_MEMBERSHIP = re.compile(r'"[^"]*" (?:not )?in (?:extras|dependency_groups)')


def _pylock_marker(
    marker: Marker | None, chosen: dict[str, frozenset[str]], where: str, collector: _Collector
) -> tuple[bool, str]:
    """(installed, the marker left for the manifest): PEP 751's ``"gpu" in extras`` and
    ``"dev" in dependency_groups`` are decided here, as an installer decides them."""
    text = "" if marker is None else str(marker)
    if marker is None or not _MEMBERSHIP.search(text):
        return True, text
    if re.sub(r"\b(?:and|or)\b|[()\s]", "", _MEMBERSHIP.sub("", text)):
        collector.fail(
            where,
            f"its marker {text!r} mixes extras or dependency groups with conditions on the "
            "target, which mlenv.toml cannot express",
            "lock without those extras or groups, or import the pyproject.toml",
        )
        return False, ""
    return marker.evaluate(chosen), ""
