"""Vetting one wheel completely before anything is written: sizes, members, metadata, RECORD,
entry points and where each member will land.

- Zip bombs: the declared uncompressed total is bounded in bytes and as a ratio to the wheel's
  size. ``zipfile`` never inflates a member past its declared size (a lie fails the CRC), so
  declared sizes bound the real output. The ratio is per wheel, not per member: real wheels hold
  members deflated 1000:1 (onnx, scipy test data) while none of 887 sampled exceeds 18:1 overall.
- Zip files cannot express hardlinks; symlinks, devices and FIFOs in ``external_attr`` are refused.
"""

from __future__ import annotations

import csv
import hashlib
import lzma
import posixpath
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import BinaryIO

from installer.records import InvalidRecordEntry, RecordEntry, parse_record_file
from installer.sources import WheelFile
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mlenv.install.layout import Layout
from mlenv.install.safety import (
    MAX_METADATA,
    MAX_PATH,
    WHEEL_HINT,
    InstallError,
    Limits,
    member_problem,
    refused,
)
from mlenv.install.scripts import entry_points, rendered, versioned, wrapper_of
from mlenv.limits import enforce_metadata_lines

_DROPPED = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", "RECORD.jws", "RECORD.p7s"})
_KINDS = {
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}
# What RECORD may hash with (the wheel spec: hashlib.algorithms_guaranteed, not md5 or sha1):
# the same on every host, unlike OpenSSL's extras (md5-sha1 is md5 and sha1 side by side, sm3,
# ripemd160), and of a fixed length, unlike shake, whose digest() needs one.
_RECORD_HASHES = frozenset(hashlib.algorithms_guaranteed) - {
    "md5",
    "sha1",
    "shake_128",
    "shake_256",
}


@dataclass(frozen=True)
class NamedWheel:
    """A wheel stored under another name: the cache names files by their sha256."""

    filename: str
    path: Path


@dataclass(frozen=True)
class Member:
    name: str  # in the zip
    target: str  # relative to the staging root
    scheme: str
    record: RecordEntry  # what the wheel's RECORD promises


class VettedSource(WheelFile):
    """A wheel whose members mlenv has vetted; members in ``skip`` are not written."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        super().__init__(archive)
        self.skip: set[str] = set()
        self.found_data_dir: str | None = None  # the wheel's own, whatever its spelling
        self.scripts: str | None = None  # entry_points.txt as installer should read it

    def read_dist_info(self, filename: str) -> str:
        """installer makes the scripts ``entry_points.txt`` declares from this text: the
        scripts mlenv planned (``scripts.versioned``); the file is installed as the wheel has it."""
        if filename == "entry_points.txt" and self.scripts is not None:
            return self.scripts
        return super().read_dist_info(filename)

    @property
    def data_dir(self) -> str:
        """The .data directory the wheel holds, as pip finds it (any top-level ``*.data``):
        bdist_wheel adds the build tag (``demo-1.0-1.data``), which installer's name lacks."""
        return self.found_data_dir or super().data_dir

    def get_contents(self) -> Iterator[tuple[tuple[str, str, str], BinaryIO, bool]]:
        for element in super().get_contents():
            if element[0][0] not in self.skip:
                yield element


@dataclass
class VettedWheel:
    filename: str
    archive: zipfile.ZipFile
    path: Path  # the file the archive reads
    source: VettedSource
    name: str
    version: Version
    dist_info: str  # relative to the staging root
    members: list[Member] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)  # targets of entry-point scripts
    dropped: list[str] = field(default_factory=list)  # __pycache__ members
    replaced: list[str] = field(default_factory=list)  # .data/scripts wrappers of entry points

    def notes(self) -> list[str]:
        """What the wheel holds that is not installed, for a warning: names quoted as a refusal
        quotes them, since no check the ledger makes on installed paths reached them."""
        notes = [f"ignored {len(self.dropped)} __pycache__ member(s)"] if self.dropped else []
        if self.replaced:
            shown = ", ".join(repr(name) for name in self.replaced[:5])
            notes.append(
                f"ignored {len(self.replaced)} .data/scripts member(s) named after an entry "
                f"point, whose generated script is installed instead (as pip does): "
                f"{shown}{' ...' if len(self.replaced) > 5 else ''}"
            )
        return notes


def plan_wheel(
    wheel: Path | NamedWheel, stack: ExitStack, layout: Layout, limits: Limits
) -> VettedWheel:
    """Vet one wheel completely before anything is written."""
    if isinstance(wheel, NamedWheel):
        filename, path = wheel.filename, wheel.path
    else:
        filename, path = wheel.name, wheel
    try:
        name, version, _, _ = parse_wheel_filename(filename)
        archive = stack.enter_context(zipfile.ZipFile(path))
        archive.filename = filename  # installer reads the name and version from it
        size = path.stat().st_size
    except (
        InvalidWheelFilename,
        zipfile.BadZipFile,
        OSError,
        NotImplementedError,
        UnicodeError,
    ) as exc:
        raise InstallError(f"cannot be opened as a wheel: {exc}", where=filename) from None
    infos = archive.infolist()
    _check_sizes(filename, infos, size, limits)
    names: set[str] = set()
    for info in infos:
        if info.filename in names:
            raise refused(filename, info.filename, "appears twice in the archive")
        names.add(info.filename)
        _check_entry(filename, info)
    dist_info = _dist_info(filename, names, name, version)
    _check_metadata(filename, archive, dist_info, name, version)
    try:
        source = VettedSource(archive)
    except ValueError as exc:
        raise InstallError(f"cannot be read as a wheel: {exc}", where=filename) from None
    source.found_data_dir = _data_dir(filename, names)
    records = _records(filename, archive, dist_info)
    planned = VettedWheel(
        filename, archive, path, source, name, version, f"{layout.site}/{dist_info}"
    )
    member = f"{dist_info}/entry_points.txt"
    text = _read_text(filename, archive, member) if member in names else ""
    declared = entry_points(filename, member, text)
    scripts = versioned(declared, layout.python)
    planned.scripts = [f"bin/{script}" for _, script, _ in scripts]
    source.scripts = rendered(scripts)
    for target in planned.scripts:
        _check_length(filename, f"{dist_info}/entry_points.txt", target, layout)
    scheme_dirs = layout.scheme_dirs(name)
    wrapped = {script for _, script, _ in declared}  # pip matches before renaming
    for info in infos:
        parts = info.filename.split("/")
        if info.is_dir() or info.filename == f"{dist_info}/RECORD":
            continue
        if parts[0] == dist_info and len(parts) == 2 and parts[1] in _DROPPED:
            source.skip.add(info.filename)
            continue
        if "__pycache__" in parts[:-1]:
            source.skip.add(info.filename)
            planned.dropped.append(info.filename)
            continue
        if (
            len(parts) > 2
            and parts[:2] == [source.data_dir, "scripts"]
            and wrapper_of(parts[-1]) in wrapped
        ):
            source.skip.add(info.filename)
            planned.replaced.append(info.filename)
            continue
        record = records.get(info.filename)
        if record is None or record.hash_ is None or record.size is None:
            raise refused(filename, info.filename, "has no hash and size in RECORD")
        if record.hash_.name not in _RECORD_HASHES:
            raise refused(
                filename,
                info.filename,
                f"is hashed with {record.hash_.name} in RECORD, not one of "
                f"{', '.join(sorted(_RECORD_HASHES))} (the wheel spec's)",
            )
        if record.size != info.file_size:
            raise refused(
                filename, info.filename, f"is {info.file_size} bytes, RECORD says {record.size}"
            )
        scheme, target = _target(filename, info.filename, source.data_dir, scheme_dirs)
        _check_length(filename, info.filename, target, layout)
        planned.members.append(Member(info.filename, target, scheme, record))
    return planned


def _check_length(wheel: str, member: str, target: str, layout: Layout) -> None:
    if len(f"{layout.prefix}/{target}".encode()) > MAX_PATH:
        raise refused(wheel, member, f"would be installed at a path over {MAX_PATH} bytes")


def _check_sizes(wheel: str, infos: list[zipfile.ZipInfo], size: int, limits: Limits) -> None:
    if not infos:
        raise InstallError("is an empty archive", where=wheel, hint=WHEEL_HINT)
    total = sum(info.file_size for info in infos)
    largest = max(infos, key=lambda info: info.file_size).filename
    if total > limits.max_bytes:
        raise refused(
            wheel,
            largest,
            f"is the largest of {total} uncompressed bytes, over the limit of {limits.max_bytes}",
        )
    if total > limits.max_ratio * size:
        raise refused(
            wheel,
            largest,
            f"is the largest of {total} bytes inflated from {size}: a ratio over "
            f"{limits.max_ratio:g} (a zip bomb?)",
        )


def _check_entry(wheel: str, info: zipfile.ZipInfo) -> None:
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise refused(wheel, info.filename, f"is a {_KINDS.get(kind, 'special file')}")
    if info.flag_bits & 0x1:
        raise refused(wheel, info.filename, "is encrypted")
    if info.flag_bits & 0x60:  # zipfile (so pip) will not read it, nor may the big-member reader
        raise refused(wheel, info.filename, "is patch data or strongly encrypted (flag bit 5 or 6)")
    problem = member_problem(info.filename.removesuffix("/"))
    if problem:
        raise refused(wheel, info.filename, problem)


def _dist_info(wheel: str, names: set[str], name: str, version: Version) -> str:
    """installer only compares names; a wheel for another version is refused as well."""
    found = sorted(
        {top for top in (n.split("/", 1)[0] for n in names) if top.endswith(".dist-info")}
    )
    if len(found) != 1:
        raise InstallError(
            f"needs exactly one .dist-info directory, has {found or 'none'}",
            where=wheel,
            hint=WHEEL_HINT,
        )
    dist_name, _, dist_version = found[0].removesuffix(".dist-info").rpartition("-")
    if canonicalize_name(dist_name) != name or not _same_version(dist_version, version):
        raise refused(wheel, found[0], f"is not the .dist-info of {name} {version}")
    return found[0]


def _data_dir(wheel: str, names: set[str]) -> str | None:
    """The one top-level directory named ``*.data``, if any: pip's rule for the wheel's own."""
    tops = {name.split("/", 1)[0] for name in names if "/" in name}
    found = sorted(top for top in tops if top.endswith(".data"))
    if len(found) > 1:
        raise InstallError(
            f"has {len(found)} .data directories, {', '.join(found)}: at most one is its own",
            where=wheel,
            hint=WHEEL_HINT,
        )
    return found[0] if found else None


def _same_version(text: str | None, version: Version) -> bool:
    try:
        return text is not None and Version(text) == version
    except InvalidVersion:
        return False


# What zipfile raises for a member it cannot read: an odd compression method or flag, a header
# offset outside the file, a bzip2 or LZMA stream that does not decompress.
_UNREADABLE = (ValueError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError,
               RuntimeError, lzma.LZMAError)  # fmt: skip


def _read_text(wheel: str, archive: zipfile.ZipFile, member: str) -> str:
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise refused(wheel, member, "is missing") from None
    if info.file_size > MAX_METADATA:
        raise refused(wheel, member, f"is over {MAX_METADATA} bytes")
    try:
        return archive.read(info).decode("utf-8")
    except _UNREADABLE as exc:
        raise refused(wheel, member, f"cannot be read: {exc}") from None


def _headers(wheel: str, archive: zipfile.ZipFile, member: str) -> Message:
    """A METADATA-format member's headers, its lines bounded as the resolver bounds an
    index's METADATA: the email parser holds every line of the member, not only the headers."""
    text = _read_text(wheel, archive, member)
    enforce_metadata_lines(text, where=f"{wheel} ({member})")
    return HeaderParser().parsestr(text)


def _check_metadata(
    wheel: str, archive: zipfile.ZipFile, dist_info: str, name: str, version: Version
) -> None:
    headers = _headers(wheel, archive, f"{dist_info}/METADATA")
    stated_name, stated_version = headers.get("Name"), headers.get("Version")
    if canonicalize_name(stated_name or "") != name or not _same_version(stated_version, version):
        raise refused(
            wheel,
            f"{dist_info}/METADATA",
            f"describes {stated_name} {stated_version}, not {name} {version}",
        )
    wheel_version = _headers(wheel, archive, f"{dist_info}/WHEEL")
    if not (wheel_version.get("Wheel-Version") or "").startswith("1."):
        raise refused(wheel, f"{dist_info}/WHEEL", "does not declare Wheel-Version 1.x")


def _records(wheel: str, archive: zipfile.ZipFile, dist_info: str) -> dict[str, RecordEntry]:
    """RECORD's rows by path. A path listed twice with other hashes or sizes is refused: the
    rows vouch for two contents, and which one a reader takes (installer's dict the last, a
    scan the first) decides whether the installed file is what RECORD says (attack 223)."""
    member = f"{dist_info}/RECORD"
    rows = _read_text(wheel, archive, member).splitlines()
    records: dict[str, RecordEntry] = {}
    try:
        for row in parse_record_file(rows):
            entry = RecordEntry.from_elements(*row)
            if records.setdefault(row[0], entry) != entry:
                problem = f"lists {row[0][:200]!r} twice, with another hash or size"
                raise refused(wheel, member, problem)
    except (InvalidRecordEntry, csv.Error) as exc:  # csv: a field over its 131,072 limit
        raise refused(wheel, member, f"has an invalid row: {exc}") from None
    return records


def _target(wheel: str, member: str, data_dir: str, scheme_dirs: dict[str, str]) -> tuple[str, str]:
    """The scheme and root-relative path installer will give ``member``."""
    parts = member.split("/")
    if parts[0] != data_dir:
        return "purelib", posixpath.join(scheme_dirs["purelib"], member)
    if len(parts) < 3 or parts[1] not in scheme_dirs:
        raise refused(wheel, member, f"is not inside a scheme directory of {data_dir}")
    return parts[1], posixpath.join(scheme_dirs[parts[1]], *parts[2:])
