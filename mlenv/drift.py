"""Whether a lock's [target] still says what the manifest says: every field of it that
``mlenv lock`` writes from the manifest, compared with the manifest's resolution inputs.

The inputs hash covers the manifest, not the lock's head: an edited head (a CUDA the image then
promises, a requirement dropped with its entries, an index URL that `mlenv export` then prints)
would pass as fresh; so would an entry edited to say what only the manifest allows
(``lock_drift``: its index, a cpu-ok or unverified mark). Locations are compared as the lock
spells them (``recorded_location``: no userinfo, no trailing slash, secrets as ``***``), from
the manifest's redacted inputs, so a rotated password is no drift. Light (the standard library
and ``errors``): the no-op ``lock --check`` (``uptodate``) runs it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from mlenv.inputs import DEFAULT_PRERELEASE, index_order
from mlenv.redaction import redact_urls

if TYPE_CHECKING:
    from mlenv.lockfile import Lock, LockTarget

# The [target] fields `mlenv lock` derives from the entries, not the manifest: `verify` judges
# them against the entries (judge.verify_lock). Every other field is compared here.
DERIVED = frozenset({"requires-driver", "requires-driver-because"})


def recorded_location(url: str) -> str:
    """An index URL or find-links location as [target] records it (security invariant 5):
    without userinfo and trailing slashes, every secret ``redaction.redact`` knows as ``***``."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        netloc = parts.netloc.rpartition("@")[2]
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return redact_urls(url.rstrip("/"))


def recorded_sources(sources: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """``[pypi] sources`` as [target].sources records them: ``name=index``, sorted by name, each
    index as ``recorded_location`` spells it (a project name holds no '=')."""
    return tuple(f"{name}={recorded_location(url)}" for name, url in sorted(sources))


def source_of(recorded: Sequence[str]) -> dict[str, str]:
    """[target].sources read back: PEP 503 name -> recorded index."""
    pairs = (item.partition("=") for item in recorded)
    return {_pep503(name): url for name, _, url in pairs}


def recorded_channel(channel: str) -> str:
    """A conda channel as [target] records it: no userinfo, no anaconda.org ``/t/<token>``
    segment, no query (``conda.records.public_url``), and any other secret as ``***``."""
    from mlenv.conda.records import public_url

    return redact_urls(public_url(channel))


def recorded_find_link(location: str) -> str:
    """A find-links location as the lock records it: a URL or a relative directory as the
    manifest spells it, an absolute directory as its file:// URL."""
    if "://" not in location and location.startswith("/"):
        from pathlib import PurePosixPath

        location = PurePosixPath(location).as_uri()
    return recorded_location(location)


def location_key(location: str) -> str:
    """A location as locations are compared like with like: redacted, percent-escapes read (a
    path's file:// URL escapes what the manifest's path spells plainly, and the inputs hold it
    redacted)."""
    return redact_urls(unquote(location))


def _same(locked: Sequence[str], wanted: Sequence[str]) -> bool:
    return [location_key(value) for value in locked] == [location_key(value) for value in wanted]


def target_drift(
    target: LockTarget, made_from: Mapping[str, Any]
) -> tuple[str, object, object] | None:
    """The first [target] value that differs from the manifest's resolution inputs (key,
    lock's, manifest's). Every field but ``DERIVED`` is compared."""
    cuda = made_from.get("cuda") or {}
    pypi, conda = made_from["pypi"], made_from["conda"]
    indexes = [
        recorded_location(u) for u in index_order(pypi["index-url"], pypi["extra-index-urls"])
    ]
    plain: dict[str, tuple[object, object]] = {
        "python": (target.python, made_from["python"]),
        "glibc": (target.glibc, made_from["glibc"]),
        "platforms": (sorted(target.platforms), made_from["platforms"]),
        "index-strategy": (target.index_strategy, pypi["index-strategy"]),
        "prerelease": (
            target.prerelease or DEFAULT_PRERELEASE,
            pypi.get("prerelease", DEFAULT_PRERELEASE),
        ),
        "requirements": (sorted(target.requirements), pypi["dependencies"]),
        "constraints": (sorted(target.constraints or ()), pypi.get("constraints", [])),
        "overrides": (sorted(target.overrides or ()), pypi.get("overrides", [])),
        "conda-requirements": (sorted(target.conda_requirements), conda["dependencies"]),
        "cuda": (target.cuda, cuda.get("version")),
        "driver-floor": (target.driver_floor, cuda.get("driver-floor")),
    }
    for key, (locked, wanted) in plain.items():
        if locked != wanted:
            return key, locked or "none", wanted or "none"
    located: dict[str, tuple[Sequence[str], list[str]]] = {
        "indexes": (target.indexes, indexes),
        "find-links": (target.find_links, [recorded_find_link(u) for u in pypi["find-links"]]),
        "conda-channels": (target.conda_channels, [recorded_channel(c) for c in conda["channels"]]),
        "sources": (target.sources or (), list(recorded_sources(pypi.get("sources", {}).items()))),
    }
    for key, (held, spelled) in located.items():
        if not _same(held, spelled):
            return key, _shown(held), _shown(spelled)
    return None


def lock_drift(
    lock: Lock, made_from: Mapping[str, Any], base: str | None = None
) -> tuple[str, object, object] | None:
    """``target_drift``, then the first entry whose own record says what only the manifest
    can allow: a wheel from a source the manifest does not name (the index a wheel came from
    is evidence of its CUDA build: xformers', paddle's, onnxruntime-gpu's), a ``cpu-ok`` mark
    or a ``cuda = "unverified"`` for a package the manifest's [cuda] cpu-ok or unverified does
    not list (each turns verify's error into a warning), a wheel no requirement of the
    manifest reaches through the entries' dependencies (``closure.unreached``: build would
    install a package nothing asked for). `mlenv lock` writes none of them: each is an edit.
    ``base``: the manifest's directory, which a relative conda channel is read from."""
    drift = target_drift(lock.target, made_from)
    if drift is not None:
        return drift
    pypi = made_from["pypi"]
    spelled = [
        recorded_location(u) for u in index_order(pypi["index-url"], pypi["extra-index-urls"])
    ]
    spelled += [recorded_find_link(u) for u in pypi["find-links"]]
    pinned = {n: recorded_location(u) for n, u in pypi.get("sources", {}).items()}
    return entry_drift(lock, spelled, pinned, made_from.get("cuda") or {}, base)


def own_drift(
    lock: Lock, made_from: Mapping[str, Any], base: str | None = None
) -> tuple[str, object, object] | None:
    """``lock_drift``'s entry rules judged against the lock's own [target] (its indexes,
    find-links and sources as it records them), the [cuda] marks against the manifest's
    lists: what ``--frozen``, which skips the manifest-vs-[target] comparison, still refuses.
    A stale lock passes; an entry `mlenv lock` could not have written from that [target] does
    not (``frozen.judge_lock``)."""
    target = lock.target
    spelled = [*target.indexes, *target.find_links]
    cuda = made_from.get("cuda") or {}
    return entry_drift(lock, spelled, source_of(target.sources or ()), cuda, base)


def entry_drift(
    lock: Lock,
    spelled: Sequence[str],
    sources_of: Mapping[str, str],
    cuda: Mapping[str, Any],
    base: str | None = None,
) -> tuple[str, object, object] | None:
    """The first entry of ``lock_drift``'s rules: ``spelled`` the recorded index and
    find-links locations, ``sources_of`` each pinned project's recorded index."""
    # as spelled, or a relative find-links directory as the lock writes it, its '%', '#' and
    # '?' escaped (``escaped_directory``); never another escaping: the table reads a CUDA build
    # from the index's text (cu121), which 'c%75121' would hide, yet read as the same source
    sources = {form for location in spelled for form in _forms(location)}
    known: dict[str, bool] = {}  # each distinct index judged once (a lock holds a few)
    # [pypi] sources: a pinned project from its source alone, a source serving no other
    pinned = {_pep503(n): _forms(u) for n, u in sources_of.items()}
    pinned_forms = {form for forms in pinned.values() for form in forms}
    allowed = {key: {_pep503(n) for n in cuda.get(key, ())} for key in ("cpu-ok", "unverified")}
    for platform in lock.platforms:
        for number, entry in enumerate(platform.packages):
            where = f"platform.{platform.platform}.package[{number}] ({entry.name} {entry.version})"
            name = _pep503(entry.name)
            index = redact_urls(entry.index)
            if name in pinned or index in pinned_forms:
                if index not in pinned.get(name, set()):
                    wanted = _only(pinned[name]) if name in pinned else "one of " + _shown(spelled)
                    return f"{where}.index", entry.index, wanted
            else:
                if entry.index not in known:
                    known[entry.index] = index in sources
                if not known[entry.index]:
                    return f"{where}.index", entry.index, "one of " + _shown(spelled)
            if entry.cpu_ok and name not in allowed["cpu-ok"]:
                return f"{where}.cpu-ok", "true", f"[cuda] cpu-ok: {_listed(allowed['cpu-ok'])}"
            if entry.cuda == "unverified" and name not in allowed["unverified"]:
                listed = _listed(allowed["unverified"])
                return f"{where}.cuda", "unverified", f"[cuda] unverified: {listed}"
    from mlenv.closure import outside, unreached

    for platform in lock.platforms:
        for where, why in unreached(lock.target, platform):
            return f"platform.{platform.platform}{where}", "an entry", f"nothing needs it ({why})"
        for where, version, bound in outside(lock.target, platform):
            within = f"a version within {bound}"
            return f"platform.{platform.platform}{where}.version", version, within
    return conda_channel_drift(lock, base)


def conda_channel_drift(lock: Lock, base: str | None = None) -> tuple[str, object, object] | None:
    """The first conda record whose ``channel`` is none of [target].conda-channels (which
    ``target_drift`` holds to the manifest's): the index rule of ``lock_drift`` for conda.
    Its URL is held below its channel by the lock's reader
    (``lockfile_consistency._conda_problems``), so
    a lock cannot send fetch to a channel the manifest does not name."""
    listed = lock.target.conda_channels
    for platform in lock.platforms:
        for number, record in enumerate(platform.conda):
            if not any(_is_channel(record.channel, channel, base) for channel in listed):
                where = (
                    f"platform.{platform.platform}.conda[{number}] ({record.name} {record.version})"
                )
                return f"{where}.channel", record.channel, "one of " + _shown(listed)
    return None


def reads_places(channels: Iterable[str]) -> bool:
    """Whether ``_is_channel`` judges a lock of these [target] conda channels by more than the
    two files: a relative channel by the manifest's directory, a ``~/`` one by the home
    directory. A verdict kept by the files' bytes alone (``cache.fresh``) would then hold for
    the lock copied to another project, or read with another ``HOME`` (or none: a channel
    that cannot be read here reads the place it names no less)."""
    from mlenv.conda.channel_paths import channel_path, split_platforms
    from mlenv.conda.records import CondaError

    for channel in channels:
        try:
            place = channel_path(channel)
        except CondaError:
            return True
        if place is None or "://" in place:
            continue
        if not place.startswith("/") or split_platforms(channel)[0].startswith("~/"):
            return True
    return False


def _is_channel(locked: str, recorded: str, base: str | None = None) -> bool:
    """Whether a record's ``channel`` (the URL rattler solved from) is the channel the
    manifest spells ``recorded`` (as [target] records it), read as the lock reads it
    (``channel_paths.channel_path``: a platform list cut, ``\\\\x`` relative, ``~/`` home): a
    URL as spelled, a name below ``CONDA_ALIAS``, a directory as its file: URL. A relative one
    is read from the manifest's directory; where it is, under ``base``, the record names it: a
    lock edited to take ``./chan`` from another directory called ``chan`` is no longer fresh,
    which fetch's rule of local directories alone refused.

    Where that directory is not here, only the record's normalised tail is held, so
    ``lock --check`` says fresh where ``fetch`` would refuse to read the record: kept so on
    purpose. A bundle carries mlenv.toml, mlenv.lock (its bytes as made, no channel
    rewritten) and the artifacts (``cache.bundle.write_bundle``), never the channel, and the
    air gap's ``verify --bundle``, ``fetch --offline`` and ``lock --check`` judge that pair
    from the bundle's directory, where ``./chan`` is missing: stale there, no bundle of a
    relative channel could be used. Telling a bundle from a project by a file in it would be
    a file anyone who edits the lock can add. So the readers of a record's URL hold it to
    the manifest's directories themselves (``locking_sources.local_roots``): ``fetch`` reads no
    file:
    URL outside them, nor does ``export`` write one for conda while a relative channel is
    missing (``commands.export``); ``build`` installs from the cache by hash."""
    from mlenv.conda.channel_paths import CONDA_ALIAS, channel_path, split_platforms

    locked = redact_urls(locked).rstrip("/")
    place = channel_path(recorded)
    if place is None:
        return locked == CONDA_ALIAS + split_platforms(recorded)[0].strip("/")
    if "://" in place:
        return locked == place.rstrip("/")
    if not locked.startswith("file:///"):
        return False
    import posixpath

    path = posixpath.normpath(unquote(urlsplit(locked).path))
    wanted = posixpath.normpath(place)
    if wanted.startswith("/"):
        return path == wanted
    if base is not None and (here := Path(base, wanted)).is_dir():
        if path in {posixpath.normpath(here.absolute().as_posix()), here.resolve().as_posix()}:
            return True
        return _through_another_path(path, wanted, Path(base))
    tail = "/".join(part for part in wanted.split("/") if part not in ("..", "."))
    return path.endswith("/" + tail) if tail else False


def _through_another_path(path: str, wanted: str, base: Path) -> bool:
    """Whether ``path`` is ``wanted`` read from another path to the manifest's directory (a
    lock made with ``--manifest link/mlenv.toml``, ``link`` a symlink to the project): what
    precedes ``wanted`` in it is that directory. Not for a ``..`` spelling, which rattler
    takes by name, so from another path it can name another directory."""
    if wanted.startswith("..") or not path.endswith("/" + wanted):
        return False
    return Path(path[: -len(wanted) - 1] or "/").resolve() == base.resolve()


def _forms(location: str) -> set[str]:
    """How the lock may write an entry's ``index`` from this recorded location."""
    if "://" in location:
        return {redact_urls(location)}
    return {redact_urls(location), redact_urls(escaped_directory(location))}


def escaped_directory(spelling: str) -> str:
    """A relative find-links directory as the lock's URLs under it spell it: its '%', '#' and
    '?' escaped (read back, 'w%41' was 'wA', and 'w#1' a fragment); spaces stay as they are, as
    locks have always held them."""
    return spelling.replace("%", "%25").replace("#", "%23").replace("?", "%3F")


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _only(forms: set[str]) -> str:
    return f"only its [pypi] sources index {min(forms, key=len)}"


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _shown(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "none"


def drift_message(drift: tuple[str, object, object]) -> str:
    """What ``target_drift`` found, as ``lock --check`` and ``verify`` both say it."""
    key, locked, wanted = drift
    return (
        f"the lock's {drift_key(key)} is {locked}, the manifest says {wanted}: the lock was "
        "edited or made for another target"
    )


def changed_input(drift: tuple[str, object, object]) -> str:
    """What changed in the manifest since the lock, for a stale lock: the key, and for a list
    what was added and removed (uv's `--locked` says only that the lock needs updating)."""
    key, locked, wanted = drift
    if isinstance(locked, list) and isinstance(wanted, list):
        changes = [f"+{w}" for w in wanted if w not in locked]
        changes += [f"-{item}" for item in locked if item not in wanted]
        return f"({drift_key(key)}: {', '.join(changes) or 'reordered'})"
    return f"({drift_key(key)}: {locked} in the lock, {wanted} in the manifest)"


def drift_key(key: str) -> str:
    """Where a drift is, as messages name it: a [target] field, or an entry's own field."""
    return key if key.startswith("platform.") else f"[target].{key}"
