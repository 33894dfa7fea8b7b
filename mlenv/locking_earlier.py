"""The rules a lock made over an earlier one keeps: the earlier pins it prefers, the bytes of
every file name the earlier lock pinned (Cargo.lock's rule), a yanked release kept only as the
file it locked, and what it says of each yanked pin. Values in, an error or lines out:
``locking`` raises and reports them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mlenv.conda.records import CondaRecord, channel_key, conda_name
from mlenv.lockfile import Lock, LockedPackage
from mlenv.resolver.model import Pin, Resolution, ResolutionError

# the earlier lock's pins each platform keeps, by name
Kept = Mapping[str, Mapping[NormalizedName, LockedPackage]]
# what makes two pinned files one file: ``Artifact.same_file``
FileKey = tuple[NormalizedName, object, str]


@dataclass(frozen=True)
class Artifact:
    """A file a lock pins on a platform. A wheel's name is its own anywhere (PEP 427), a conda
    file's only within its channel and subdir (``source``: two channels build ``purepkg-1.0-0``
    apart), so a conda file of another channel is another file, never held to the earlier
    bytes."""

    platform: str
    package: str
    filename: str
    sha256: str
    source: str = ""  # a wheel's: none

    @classmethod
    def wheel(cls, platform: str, entry: LockedPackage) -> Artifact:
        return cls(platform, entry.name, entry.filename, entry.sha256)

    @classmethod
    def conda(cls, platform: str, record: CondaRecord) -> Artifact:
        source = f"{channel_key(record.channel)}/{record.subdir}"
        return cls(platform, record.name, record.filename, record.sha256, source)

    def same_file(self) -> FileKey:
        """What makes two pinned files one file: the package, and a wheel's name, version,
        build and tag set (PEP 427: any spelling of them is the same wheel, ``LIB-2.0.0-...``
        is ``lib-2.0-...`` to every installer; the lock reader and the index model parsed each
        already) or a conda package's file name case-folded as conda folds names
        (``conda_name``: ``Numpy-1.26.4-0.conda`` is the file pinned as ``numpy-...``;
        ``.conda`` and ``.tar.bz2`` are two files of one build), within its source."""
        name = self.filename
        file = parse_wheel_filename(name) if name.endswith(".whl") else conda_name(name)
        return canonicalize_name(self.package), file, self.source


# the earlier lock's files held to their bytes, by ``Artifact.same_file``
Earlier = Mapping[FileKey, Sequence[Artifact]]


def kept_pins(
    previous: Lock | None, platform: str, everything: bool, moving: frozenset[NormalizedName]
) -> dict[NormalizedName, LockedPackage]:
    """The earlier lock's entries a relock keeps where they still fit (its preferences)."""
    if previous is None or everything:
        return {}
    for locked in previous.platforms:
        if locked.platform == platform:
            return {
                canonicalize_name(p.name): p
                for p in locked.packages
                if canonicalize_name(p.name) not in moving
            }
    return {}


def earlier_files(
    previous: Lock | None,
    everything: bool,
    moving: frozenset[NormalizedName],
    conda_moving: frozenset[str] = frozenset(),
) -> dict[FileKey, list[Artifact]]:
    """The files the earlier lock recorded (wheels and conda packages, on any of its
    platforms): all but the ones an upgrade moves, whose bytes the relock may take anew. A
    conda file moves by its conda name (``conda_name``): ``-P typing_extensions`` let
    conda-forge's ``typing-extensions``, another package the solve held, take other bytes."""
    files: dict[FileKey, list[Artifact]] = {}
    if previous is None or everything:
        return files
    recorded = [
        *(
            Artifact.wheel(p, entry)
            for p, entry in previous.packages()
            if canonicalize_name(entry.name) not in moving
        ),
        *(
            Artifact.conda(p, record)
            for p, record in previous.conda_packages()
            if conda_name(record.name) not in conda_moving
        ),
    ]
    for artifact in recorded:
        files.setdefault(artifact.same_file(), []).append(artifact)
    return files


def relock_error(
    earlier: Earlier,
    kept: Kept,
    resolutions: Sequence[Resolution],
    facts: Mapping[str, tuple[str, int]],
    conda: Mapping[str, Sequence[CondaRecord]],
) -> ResolutionError | None:
    """The first earlier-lock rule the pins break: a kept yanked release served as another
    file, then a file name the earlier lock pinned served with other bytes."""
    wheels = [
        (pin, Artifact(r.target.platform, pin.name, pin.file.filename, facts[pin.file.url][0]))
        for r in resolutions
        for pin in r.pins
    ]
    now = [
        *(served for _, served in wheels),
        *(Artifact.conda(p, c) for p, records in conda.items() for c in records),
    ]
    changed = {served: _other_bytes(earlier, served) for served in now}
    for pin, served in wheels:
        locked = kept[served.platform].get(pin.name)
        if pin.file.yanked is None or locked is None or Version(locked.version) != pin.version:
            continue
        pinned = Artifact.wheel(served.platform, locked)
        if served.same_file() != pinned.same_file() or pinned in changed[served]:
            return _kept_yank_error(pin, served, pinned)
    for served, contradicted in changed.items():
        if contradicted:
            return _renamed_bytes_error(served, contradicted[0])
    return None


def _other_bytes(earlier: Earlier, served: Artifact) -> list[Artifact]:
    """The earlier lock's files that ``served`` is, pinned with other bytes: PyPI never reuses
    a file name, so other bytes under it mean an index, mirror or channel rebuilt or tampered
    with, never a change a relock may record silently."""
    return [was for was in earlier.get(served.same_file(), ()) if was.sha256 != served.sha256]


def _kept_yank_error(pin: Pin, served: Artifact, pinned: Artifact) -> ResolutionError:
    """A yanked release the earlier lock pinned is kept as the file it locked, never as other
    bytes: an index that yanks a release and serves its file changed (or another file of it)
    is refused, not locked under the earlier lock's opt-in with only the yank said."""
    same_file = served.same_file() == pinned.same_file()
    return ResolutionError(
        f"{pin.name} {pin.version} is yanked, and the index now serves "
        f"{served.filename} (sha256 {served.sha256}) where the earlier lock pinned "
        f"{pinned.filename} (sha256 {pinned.sha256}): a yanked release is kept "
        "only as the file the lock pinned",
        where=f"{pin.name} ({served.platform})",
        hint=f"`mlenv lock --upgrade-package {pin.name}` moves off it (or takes the "
        "file the index serves now, when an == pin names it); "
        + (
            "ask the index why its bytes changed"
            if same_file
            else "another Python, glibc or platform picks another of its wheels"
        ),
    )


def _renamed_bytes_error(served: Artifact, was: Artifact) -> ResolutionError:
    """A file name the earlier lock pinned names the same bytes on a relock, however a wheel's
    file name spells it (a respelling is held too)."""
    name = served.package
    named = "" if was.filename == served.filename else f" as {was.filename}"
    return ResolutionError(
        f"{name}: {served.filename} is served with sha256 {served.sha256}, but the earlier "
        f"lock pinned that file{named} with sha256 {was.sha256} ({was.platform}): a file name "
        "the lock pinned must name the same bytes",
        where=f"{name} ({served.platform})",
        hint=f"`mlenv lock --upgrade-package {name}` takes the bytes the index "
        "serves now (after you check why they changed)",
    )


def yank_warnings(resolutions: Sequence[Resolution]) -> list[str]:
    """PEP 592: pip warns when an == pin takes a yanked file; so does mlenv (the lock marks it),
    and when a relock keeps an earlier pin yanked since, it says how to move off it (not when
    the manifest pins it too: ``--upgrade-package`` cannot move that one)."""
    lines = []
    for resolution in resolutions:
        for pin in resolution.pins:
            if pin.file.yanked is not None:
                because = f": {pin.file.yanked}" if pin.file.yanked else ""
                why = (
                    f"the earlier lock pins it (--upgrade-package {pin.name} moves it)"
                    if resolution.opt_ins.kept_only(pin.name, pin.version)
                    else "an == pin names it"
                )
                lines.append(
                    f"{pin.name} {pin.version} ({resolution.target.platform}) is yanked"
                    f"{because}; locked only because {why}"
                )
    return lines
