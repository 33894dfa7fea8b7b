"""Wheels into a staging tree laid out for the final prefix, as a venv for the target interpreter.

The tree's bytes depend only on the wheels and the arguments: the venv files are generated for
the target paths (never copied from the host), RECORD is regenerated sorted once every file is
final, modes are normalised whatever the umask, and nothing written names the staging directory.
Wheels are untrusted input, so every member is vetted before anything is written, and the tree
is built beside ``staging`` and renamed onto it only when complete. Decisions:

- ``lib64 -> lib`` is always created, as ``venv`` does on 64-bit POSIX: every target platform
  (linux-64, linux-aarch64) is 64-bit.
- ``bin/activate`` is POSIX sh only: images run commands, not interactive fish or csh sessions.
- ``INSTALLER`` says ``mlenv``; ``REQUESTED`` and ``direct_url.json`` are never written (a lock
  has no notion of "requested", and a URL would name the cache). Copies inside a wheel are
  dropped, as are ``__pycache__`` members and RECORD signatures (they sign the old RECORD).
- Files of the scripts scheme are executable whatever mode the wheel's zip recorded: they are
  there to be run.
- Two wheels may ship one path only with identical bytes (NVIDIA's ``-cu12`` wheels all ship
  ``nvidia/__init__.py``); the first wheel by file name owns it. Different bytes are an error.
- Paths equal under case folding are refused: an archive of the environment may be unpacked on
  case-insensitive storage, where one file would silently replace the other.
- Zip bombs: the declared uncompressed total is bounded in bytes and as a ratio to the wheel's
  size. ``zipfile`` never inflates a member past its declared size (a lie fails the CRC), so
  declared sizes bound the real output. The ratio is per wheel, not per member: real wheels hold
  members deflated 1000:1 (onnx, scipy test data) while none of 887 sampled exceeds 18:1 overall.
- Zip files cannot express hardlinks; symlinks, devices and FIFOs in ``external_attr`` are refused.
"""

from __future__ import annotations

import base64
import bz2
import configparser
import csv
import functools
import hashlib
import importlib.util
import io
import itertools
import json
import os
import posixpath
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.parser import HeaderParser
from pathlib import Path
from typing import IO, BinaryIO, Literal, TypeVar

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import InvalidRecordEntry, RecordEntry, parse_record_file
from installer.sources import WheelFile
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version
from zstandard import ZstdDecompressor, ZstdError

from mlenv.errors import MlenvError
from mlenv.ownership import Kind, Owner, PathLedger
from mlenv.placement import path_problem
from mlenv.report import Reporter

_T = TypeVar("_T")
MAX_WHEEL_BYTES = 8 << 30
MAX_RATIO = 200.0

_MAX_NAME = 255
_MAX_PATH = 4096
_MAX_METADATA = 64 << 20  # dist-info files are read into memory
_INSTALLER = b"mlenv\n"
_DROPPED = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", "RECORD.jws", "RECORD.p7s"})
_KINDS = {
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
}
_WEAK = frozenset({"md5", "sha1"})  # forbidden in RECORD by the wheel spec
_DISK = "check free space and permissions where the staging directory lives"
_HINT = "the wheel is corrupt or malicious: lock another version or rebuild it"
_LAYOUT = Owner("mlenv's venv layout", "mlenv", _HINT)
_CONDA_HINT = "the conda package is corrupt or malicious: lock another build or rebuild it"
# The prefix rattler made is judged like the packages it came from (its noarch entry points
# and relocated paths were not tar members); its records are rattler's own.
_CONDA = Owner("the conda environment", "conda", _CONDA_HINT)
_RECORDS = Owner("rattler's conda-meta", "mlenv", _CONDA_HINT)
_TAR_KINDS = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}
# What installer and zipfile raise on a wheel they cannot handle; anything else is a bug here.
_INSTALL_FAILURES = (
    InstallerError,
    ValueError,
    AssertionError,
    OSError,
    EOFError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
    configparser.Error,
)
# Runs in a fresh interpreter with PYTHONHASHSEED=0: .pyc bytes depend on the hash seed
# (frozenset constants) and on what the process compiled before (cpython#129724).
_COMPILER = """\
import json, py_compile, sys
failed = []
for source, cfile, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(
            source, cfile=cfile, dfile=dfile, doraise=True, optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError:
        failed.append(source)
json.dump(failed, sys.stdout)
"""
_ACTIVATE = """\
# Source this file from a POSIX shell: . bin/activate  (deactivate undoes it)
deactivate () {{
    if [ -n "${{_OLD_VIRTUAL_PATH+set}}" ]; then
        PATH="$_OLD_VIRTUAL_PATH"
        export PATH
        unset _OLD_VIRTUAL_PATH
    fi
    if [ -n "${{_OLD_VIRTUAL_PYTHONHOME+set}}" ]; then
        PYTHONHOME="$_OLD_VIRTUAL_PYTHONHOME"
        export PYTHONHOME
        unset _OLD_VIRTUAL_PYTHONHOME
    fi
    unset VIRTUAL_ENV
    hash -r 2>/dev/null || true
    if [ "${{1-}}" != nondestructive ]; then
        unset -f deactivate
    fi
}}

deactivate nondestructive
VIRTUAL_ENV={prefix}
export VIRTUAL_ENV
_OLD_VIRTUAL_PATH="$PATH"
PATH="$VIRTUAL_ENV/bin:$PATH"
export PATH
if [ -n "${{PYTHONHOME+set}}" ]; then
    _OLD_VIRTUAL_PYTHONHOME="$PYTHONHOME"
    unset PYTHONHOME
fi
hash -r 2>/dev/null || true
"""


class InstallError(MlenvError):
    """A wheel cannot be installed safely, or the tree cannot be built as asked."""


@dataclass(frozen=True)
class NamedWheel:
    """A wheel stored under another name: the cache names files by their sha256."""

    filename: str
    path: Path


@dataclass(frozen=True)
class InstalledDistribution:
    """What one wheel put in the tree, so that layers can be split per package."""

    name: str  # canonical
    version: str
    dist_info: str  # relative to the staging root
    files: tuple[str, ...]  # relative to the staging root, sorted; dist-info and .pyc included


@dataclass(frozen=True)
class PlannedWheel:
    """A vetted wheel before anything is written: with its file, what decides what it installs
    (a member another wheel owns is skipped, so one package's files depend on the others)."""

    name: str  # canonical
    filename: str
    skipped: tuple[str, ...]  # members not written, sorted


# (target relative to the staging root, member in the zip, RECORD's "hash=value" and size)
Claim = tuple[str, str, tuple[str, int] | None]


@dataclass(frozen=True)
class WheelClaims:
    """What a vetted wheel installs, without its bytes: enough to decide the owner of every path,
    so a wheel whose layer a cache holds takes part in that decision without being read again."""

    name: str  # canonical
    filename: str
    dist_info: str  # relative to the staging root
    claims: tuple[Claim, ...]  # sorted by target
    dropped: tuple[str, ...]  # members the wheel alone leaves out (__pycache__, INSTALLER), sorted


@dataclass(frozen=True)
class InstallResult:
    files: int  # regular files in the whole tree
    bytes: int
    distributions: tuple[InstalledDistribution, ...]  # sorted by name
    generated: tuple[str, ...]  # the venv layout written by mlenv itself, sorted


@dataclass(frozen=True)
class _Layout:
    """Where things go, relative to the root that ``prefix`` names at run time."""

    prefix: str
    interpreter: str
    python: str
    # Installing onto a conda prefix: no venv skeleton, and its paths belong to conda.
    existing: frozenset[tuple[str, Kind]] = frozenset()
    venv: bool = True

    @property
    def site(self) -> str:
        return f"lib/python{self.python}/site-packages"

    def scheme_dirs(self, dist: str) -> dict[str, str]:
        """pip's venv scheme: headers get a directory per distribution."""
        return {
            "purelib": self.site,
            "platlib": self.site,
            "scripts": "bin",
            "data": "",
            "headers": f"include/site/python{self.python}/{dist}",
        }

    def venv_files(self) -> dict[str, str]:
        config = (
            f"home = {posixpath.dirname(self.interpreter)}\n"
            "include-system-site-packages = false\n"
            f"version = {self.python}\n"
            f"executable = {self.interpreter}\n"
        )
        activate = _ACTIVATE.format(prefix=shlex.quote(self.prefix))
        return {"pyvenv.cfg": config, "bin/activate": activate}

    def venv_links(self) -> dict[str, str]:
        names = ("python", "python3", f"python{self.python}")
        return {**{f"bin/{name}": self.interpreter for name in names}, "lib64": "lib"}

    def generated(self) -> tuple[str, ...]:
        if not self.venv:
            return ()
        return tuple(sorted({*self.venv_files(), *self.venv_links()}))

    def generated_kinds(self) -> list[tuple[str, Kind]]:
        """What mlenv writes, for the ledger: the directories wheels install into, too."""
        kinds: list[tuple[str, Kind]] = [(self.site, "dir"), ("bin", "dir")]
        links = self.venv_links()
        return kinds + [(p, "symlink" if p in links else "file") for p in self.generated()]


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    max_ratio: float


@dataclass(frozen=True)
class _Member:
    name: str  # in the zip
    target: str  # relative to the staging root
    scheme: str
    record: RecordEntry  # what the wheel's RECORD promises


class _Source(WheelFile):
    """A wheel whose members mlenv has vetted; members in ``skip`` are not written."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        super().__init__(archive)
        self.skip: set[str] = set()

    def get_contents(self) -> Iterator[tuple[tuple[str, str, str], BinaryIO, bool]]:
        for element in super().get_contents():
            if element[0][0] not in self.skip:
                yield element


@dataclass
class _Destination(SchemeDictionaryDestination):
    """installer's own writer, minus RECORD and bytecode: mlenv regenerates both at the end."""

    written: list[tuple[str, RecordEntry]] = field(default_factory=list)

    def finalize_installation(
        self, scheme: str, record_file_path: str, records: Iterable[tuple[str, RecordEntry]]
    ) -> None:
        self.written = [(name, entry) for name, entry in records if entry.hash_ is not None]


@dataclass
class _Wheel:
    filename: str
    archive: zipfile.ZipFile
    source: _Source
    name: str
    version: Version
    dist_info: str  # relative to the staging root
    members: list[_Member] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)  # targets of entry-point scripts
    dropped: list[str] = field(default_factory=list)  # __pycache__ members


class _CaseKeeping(configparser.ConfigParser):
    """entry_points.txt names are case-sensitive script names."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def install_environment(
    wheels: Sequence[Path | NamedWheel],
    staging: Path,
    *,
    prefix: str,
    interpreter: str,
    python: str,
    bytecode: Literal["none", "hash"] = "none",
    reporter: Reporter,
    jobs: int = 2,
    max_wheel_bytes: int = MAX_WHEEL_BYTES,
    max_ratio: float = MAX_RATIO,
    onto: Path | None = None,
    others: Sequence[WheelClaims] = (),
) -> InstallResult:
    """Install ``wheels`` into ``staging`` so that the tree runs unchanged once moved to ``prefix``.

    All or nothing: ``staging`` must be absent or empty and receives the finished tree only.
    ``onto`` is a conda prefix (already laid out for ``prefix``) to install on top of instead
    of a venv: it is moved into the tree, and a wheel that would overwrite one of its files is
    refused. ``others`` are wheels of the environment not written (a layer cache has them):
    they own the paths they claim first, as if installed, so the tree is the same part of the
    whole environment's.
    """
    layout = _layout(prefix, interpreter, python, onto)
    if bytecode == "hash":
        _check_host_python(python)
    if staging.is_symlink() or (
        staging.exists() and (not staging.is_dir() or any(staging.iterdir()))
    ):
        raise InstallError("must be absent or an empty directory", where=str(staging))
    staging.parent.mkdir(parents=True, exist_ok=True)
    limits = _Limits(max_wheel_bytes, max_ratio)
    with ExitStack() as stack:
        planned = sorted(
            (_plan(wheel, stack, layout, limits) for wheel in wheels),
            key=lambda wheel: wheel.filename,
        )
        _assign_owners(planned, layout, others)
        for wheel in planned:
            if wheel.dropped:
                reporter.warning(
                    f"{wheel.filename}: ignored {len(wheel.dropped)} __pycache__ member(s)"
                )
        tmp = Path(tempfile.mkdtemp(prefix=f".{staging.name}.", dir=staging.parent))
        try:
            if onto is not None:
                onto.rename(tmp)  # over the empty directory: the conda tree becomes the base
            result = _build(tmp, planned, layout, bytecode, reporter, jobs)
            tmp.rename(staging)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InstallError(
                f"cannot write the tree: {exc}", where=str(staging), hint=_DISK
            ) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return result


def plan_owners(
    wheels: Sequence[NamedWheel],
    others: Sequence[WheelClaims],
    *,
    prefix: str,
    interpreter: str,
    python: str,
    onto: Path | None = None,
    max_wheel_bytes: int = MAX_WHEEL_BYTES,
    max_ratio: float = MAX_RATIO,
) -> tuple[tuple[WheelClaims, ...], tuple[PlannedWheel, ...]]:
    """Vet ``wheels`` and decide, with ``others`` (already vetted), what each would install,
    writing nothing: the claims of ``wheels`` and every wheel's plan, by file name."""
    layout = _layout(prefix, interpreter, python, onto)
    limits = _Limits(max_wheel_bytes, max_ratio)
    with ExitStack() as stack:
        vetted = [_claims(_plan(wheel, stack, layout, limits)) for wheel in wheels]
    everything = sorted([*vetted, *others], key=lambda wheel: wheel.filename)
    skipped = _owners(everything, layout)
    plans = tuple(
        PlannedWheel(w.name, w.filename, tuple(sorted({*w.dropped, *skipped[w.filename]})))
        for w in everything
    )
    return tuple(vetted), plans


def _layout(prefix: str, interpreter: str, python: str, onto: Path | None) -> _Layout:
    existing = frozenset(_relative_kinds(onto)) if onto is not None else frozenset()
    return _Layout(
        _absolute(prefix, "prefix"),
        _absolute(interpreter, "interpreter"),
        _minor(python),
        existing,
        venv=onto is None,
    )


def _absolute(path: str, what: str) -> str:
    """Both end up in shebangs, pyvenv.cfg and activate, so only clean paths are accepted."""
    if problem := path_problem(path):
        raise InstallError(f"{path!r} {problem}", where=what)
    return path


def _minor(python: str) -> str:
    major, _, minor = python.partition(".")
    if major != "3" or not minor.isdigit():
        raise InstallError(
            f"must be a CPython minor version like 3.11, not {python!r}", where="python"
        )
    return python


def _check_host_python(python: str) -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.implementation.name != "cpython" or running != python:
        raise InstallError(
            f"hash-based bytecode for Python {python} must be compiled by CPython {python}, "
            f"but mlenv runs on {sys.implementation.name} {running}",
            where="bytecode",
            hint=f'set bytecode = "none", or run mlenv with CPython {python}',
        )


def _refused(wheel: str, member: str, problem: str, hint: str = _HINT) -> InstallError:
    return InstallError(f"member {member!r} {problem}", where=wheel, hint=hint)


def _plan(wheel: Path | NamedWheel, stack: ExitStack, layout: _Layout, limits: _Limits) -> _Wheel:
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
    except (InvalidWheelFilename, zipfile.BadZipFile, OSError) as exc:
        raise InstallError(f"cannot be opened as a wheel: {exc}", where=filename) from None
    infos = archive.infolist()
    _check_sizes(filename, infos, size, limits)
    names: set[str] = set()
    for info in infos:
        if info.filename in names:
            raise _refused(filename, info.filename, "appears twice in the archive")
        names.add(info.filename)
        _check_entry(filename, info)
    dist_info = _dist_info(filename, names, name, version)
    _check_metadata(filename, archive, dist_info, name, version)
    try:
        source = _Source(archive)
    except ValueError as exc:
        raise InstallError(f"cannot be read as a wheel: {exc}", where=filename) from None
    records = _records(filename, archive, dist_info)
    planned = _Wheel(filename, archive, source, name, version, f"{layout.site}/{dist_info}")
    planned.scripts = _scripts(filename, archive, dist_info, names)
    for target in planned.scripts:
        _check_length(filename, f"{dist_info}/entry_points.txt", target, layout)
    scheme_dirs = layout.scheme_dirs(source.distribution)
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
        record = records.get(info.filename)
        if record is None or record.hash_ is None or record.size is None:
            raise _refused(filename, info.filename, "has no hash and size in RECORD")
        if record.hash_.name in _WEAK:
            raise _refused(filename, info.filename, f"is hashed with {record.hash_.name} in RECORD")
        if record.size != info.file_size:
            raise _refused(
                filename, info.filename, f"is {info.file_size} bytes, RECORD says {record.size}"
            )
        scheme, target = _target(filename, info.filename, source.data_dir, scheme_dirs)
        _check_length(filename, info.filename, target, layout)
        planned.members.append(_Member(info.filename, target, scheme, record))
    return planned


def _check_length(wheel: str, member: str, target: str, layout: _Layout) -> None:
    if len(f"{layout.prefix}/{target}".encode()) > _MAX_PATH:
        raise _refused(wheel, member, f"would be installed at a path over {_MAX_PATH} bytes")


def _check_sizes(wheel: str, infos: list[zipfile.ZipInfo], size: int, limits: _Limits) -> None:
    if not infos:
        raise InstallError("is an empty archive", where=wheel, hint=_HINT)
    total = sum(info.file_size for info in infos)
    largest = max(infos, key=lambda info: info.file_size).filename
    if total > limits.max_bytes:
        raise _refused(
            wheel,
            largest,
            f"is the largest of {total} uncompressed bytes, over the limit of {limits.max_bytes}",
        )
    if total > limits.max_ratio * size:
        raise _refused(
            wheel,
            largest,
            f"is the largest of {total} bytes inflated from {size}: a ratio over "
            f"{limits.max_ratio:g} (a zip bomb?)",
        )


def _check_entry(wheel: str, info: zipfile.ZipInfo) -> None:
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refused(wheel, info.filename, f"is a {_KINDS.get(kind, 'special file')}")
    if info.flag_bits & 0x1:
        raise _refused(wheel, info.filename, "is encrypted")
    problem = _path_problem(info.filename.removesuffix("/"))
    if problem:
        raise _refused(wheel, info.filename, problem)


def _path_problem(path: str) -> str | None:
    """Why a relative path could land outside its directory or fail on some file system."""
    if path.startswith("/"):
        return "is an absolute path"
    if "\\" in path or "\0" in path:
        return "contains a backslash or NUL"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return f"has a {part!r} path component"
        if len(part.encode()) > _MAX_NAME:
            return f"has a name over {_MAX_NAME} bytes"
    return None


def _dist_info(wheel: str, names: set[str], name: str, version: Version) -> str:
    """installer only compares names; a wheel for another version is refused as well."""
    found = sorted(
        {top for top in (n.split("/", 1)[0] for n in names) if top.endswith(".dist-info")}
    )
    if len(found) != 1:
        raise InstallError(
            f"needs exactly one .dist-info directory, has {found or 'none'}",
            where=wheel,
            hint=_HINT,
        )
    dist_name, _, dist_version = found[0].removesuffix(".dist-info").rpartition("-")
    if canonicalize_name(dist_name) != name or not _same_version(dist_version, version):
        raise _refused(wheel, found[0], f"is not the .dist-info of {name} {version}")
    return found[0]


def _same_version(text: str | None, version: Version) -> bool:
    try:
        return text is not None and Version(text) == version
    except InvalidVersion:
        return False


def _read_text(wheel: str, archive: zipfile.ZipFile, member: str) -> str:
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise _refused(wheel, member, "is missing") from None
    if info.file_size > _MAX_METADATA:
        raise _refused(wheel, member, f"is over {_MAX_METADATA} bytes")
    try:
        return archive.read(info).decode("utf-8")
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _refused(wheel, member, f"cannot be read: {exc}") from None


def _check_metadata(
    wheel: str, archive: zipfile.ZipFile, dist_info: str, name: str, version: Version
) -> None:
    headers = HeaderParser().parsestr(_read_text(wheel, archive, f"{dist_info}/METADATA"))
    stated_name, stated_version = headers.get("Name"), headers.get("Version")
    if canonicalize_name(stated_name or "") != name or not _same_version(stated_version, version):
        raise _refused(
            wheel,
            f"{dist_info}/METADATA",
            f"describes {stated_name} {stated_version}, not {name} {version}",
        )
    wheel_version = HeaderParser().parsestr(_read_text(wheel, archive, f"{dist_info}/WHEEL"))
    if not (wheel_version.get("Wheel-Version") or "").startswith("1."):
        raise _refused(wheel, f"{dist_info}/WHEEL", "does not declare Wheel-Version 1.x")


def _records(wheel: str, archive: zipfile.ZipFile, dist_info: str) -> dict[str, RecordEntry]:
    member = f"{dist_info}/RECORD"
    rows = _read_text(wheel, archive, member).splitlines()
    try:
        return {row[0]: RecordEntry.from_elements(*row) for row in parse_record_file(rows)}
    except InvalidRecordEntry as exc:
        raise _refused(wheel, member, f"has an invalid row: {exc}") from None


def _scripts(wheel: str, archive: zipfile.ZipFile, dist_info: str, names: set[str]) -> list[str]:
    """Targets of the entry-point scripts installer will generate."""
    member = f"{dist_info}/entry_points.txt"
    if member not in names:
        return []
    parser = _CaseKeeping(delimiters=("=",), interpolation=None)
    try:
        parser.read_string(_read_text(wheel, archive, member))
    except configparser.Error as exc:
        raise _refused(wheel, member, f"cannot be parsed: {exc}") from None
    targets = []
    for section in ("console_scripts", "gui_scripts"):
        for script in parser.options(section) if parser.has_section(section) else []:
            problem = _path_problem(script)
            if problem or "/" in script:
                raise _refused(wheel, member, f"declares script {script!r}, which is not a name")
            targets.append(f"bin/{script}")
    return targets


def _target(wheel: str, member: str, data_dir: str, scheme_dirs: dict[str, str]) -> tuple[str, str]:
    """The scheme and root-relative path installer will give ``member``."""
    parts = member.split("/")
    if parts[0] != data_dir:
        return "purelib", posixpath.join(scheme_dirs["purelib"], member)
    if len(parts) < 3 or parts[1] not in scheme_dirs:
        raise _refused(wheel, member, f"is not inside a scheme directory of {data_dir}")
    return parts[1], posixpath.join(scheme_dirs[parts[1]], *parts[2:])


def _assign_owners(
    wheels: list[_Wheel], layout: _Layout, others: Sequence[WheelClaims] = ()
) -> None:
    """Give every path one owner among ``wheels`` and ``others``; a member of ``wheels`` that
    another wheel owns is skipped."""
    by_file = {wheel.filename: wheel for wheel in wheels}
    everything = sorted([*map(_claims, wheels), *others], key=lambda wheel: wheel.filename)
    for filename, skipped in _owners(everything, layout).items():
        if filename in by_file:
            wheel = by_file[filename]
            wheel.source.skip.update(skipped)
            wheel.members = [m for m in wheel.members if m.name not in skipped]


def _claims(wheel: _Wheel) -> WheelClaims:
    """The paths a vetted wheel would write (before any is skipped), sorted by target."""
    claims: list[Claim] = [(m.target, m.name, _content(m.record)) for m in wheel.members]
    dist_info = posixpath.basename(wheel.dist_info)
    claims += [(target, f"{dist_info}/entry_points.txt", None) for target in wheel.scripts]
    claims += [
        (f"{wheel.dist_info}/{n}", f"{dist_info}/{n}", None) for n in ("INSTALLER", "RECORD")
    ]
    return WheelClaims(
        wheel.name,
        wheel.filename,
        wheel.dist_info,
        tuple(sorted(claims, key=lambda claim: claim[0])),
        tuple(sorted(wheel.source.skip)),
    )


def _owners(wheels: Sequence[WheelClaims], layout: _Layout) -> dict[str, set[str]]:
    """Every path's one owner, in file-name order (``wheels`` are sorted), so no outcome depends
    on input order: the members each wheel skips, by file name. Refuses a second wheel for one
    distribution; ``PathLedger.claim`` judges every path."""
    ledger = PathLedger()
    for path, kind in layout.generated_kinds():
        ledger.claim(_LAYOUT, path, kind)
    for path, kind in sorted(layout.existing):
        ledger.claim(_RECORDS if path.split("/", 1)[0] == "conda-meta" else _CONDA, path, kind)
    distributions: dict[str, str] = {}
    skipped: dict[str, set[str]] = {}
    for wheel in wheels:
        if wheel.name in distributions:
            raise InstallError(
                f"is a second wheel for {wheel.name}, after {distributions[wheel.name]}",
                where=wheel.filename,
                hint="install one wheel per distribution",
            )
        distributions[wheel.name] = wheel.filename
        owner = Owner(wheel.filename, "wheel", _HINT, metadata=wheel.dist_info)
        skipped[wheel.filename] = {
            member
            for target, member, content in wheel.claims
            if not ledger.claim(owner, target, "file", member=member, content=content)
        }
    return skipped


def _content(record: RecordEntry) -> tuple[str, int] | None:
    """What two wheels must agree on to share a path: RECORD's hash and size."""
    if record.hash_ is None or record.size is None:
        return None
    return f"{record.hash_.name}={record.hash_.value}", record.size


def _build(
    root: Path,
    wheels: list[_Wheel],
    layout: _Layout,
    bytecode: Literal["none", "hash"],
    reporter: Reporter,
    jobs: int,
) -> InstallResult:
    generated = _write_venv(root, layout)
    parents = {posixpath.dirname(m.target) for wheel in wheels for m in wheel.members}
    parents |= {wheel.dist_info for wheel in wheels}
    for parent in sorted(parents - {""}):
        (root / parent).mkdir(parents=True, exist_ok=True)  # before threads race to create them
    installed = _install_all(root, wheels, layout, reporter, jobs)
    if bytecode == "hash":
        _compile(root, layout, installed, reporter, jobs)
    for wheel, files in zip(wheels, installed, strict=True):
        _write_record(root, layout, wheel, files)
    _normalise_modes(root)
    regular = [info for _, info in _tree(root) if stat.S_ISREG(info.st_mode)]
    distributions = sorted(
        (
            InstalledDistribution(
                wheel.name,
                str(wheel.version),
                wheel.dist_info,
                tuple(sorted([*files, f"{wheel.dist_info}/RECORD"])),
            )
            for wheel, files in zip(wheels, installed, strict=True)
        ),
        key=lambda dist: dist.name,
    )
    return InstallResult(
        len(regular), sum(info.st_size for info in regular), tuple(distributions), generated
    )


def _relative_kinds(root: Path) -> list[tuple[str, Kind]]:
    """Every path below ``root`` with its kind; a symlink is never followed."""
    kinds: dict[int, Kind] = {stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink"}
    return [
        (path.relative_to(root).as_posix(), kinds.get(stat.S_IFMT(info.st_mode), "file"))
        for path, info in _tree(root)
    ]


def _write_venv(root: Path, layout: _Layout) -> tuple[str, ...]:
    (root / layout.site).mkdir(parents=True, exist_ok=not layout.venv)
    (root / "bin").mkdir(exist_ok=not layout.venv)
    if not layout.venv:
        return ()  # conda laid out the prefix and its Python
    for path, text in layout.venv_files().items():
        (root / path).write_bytes(text.encode())
    for path, target in layout.venv_links().items():
        (root / path).symlink_to(target)
    return layout.generated()


def _install_all(
    root: Path, wheels: list[_Wheel], layout: _Layout, reporter: Reporter, jobs: int
) -> list[dict[str, tuple[str, int]]]:
    """Wheels write disjoint files, so they install concurrently; errors come in wheel order."""
    return _each(
        reporter, "Installing wheels", "wheels", jobs,
        [functools.partial(_install_one, root, wheel, layout) for wheel in wheels],
    )  # fmt: skip


def _each(
    reporter: Reporter, title: str, unit: str, jobs: int, calls: Sequence[Callable[[], _T]]
) -> list[_T]:
    """Run ``calls`` on ``jobs`` threads with a progress task; results (and the first error)
    in the order given."""
    with (
        reporter.task(title, total=len(calls), unit=unit) as task,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        futures = [pool.submit(call) for call in calls]
        for _ in as_completed(futures):
            task.advance()
    return [future.result() for future in futures]


def _install_one(root: Path, wheel: _Wheel, layout: _Layout) -> dict[str, tuple[str, int]]:
    """Root-relative path -> (RECORD hash, size) of every file the wheel wrote."""
    scheme_dirs = layout.scheme_dirs(wheel.source.distribution)
    destination = _Destination(
        scheme_dict={scheme: str(root / path) for scheme, path in scheme_dirs.items()},
        interpreter=f"{layout.prefix}/bin/python",
        script_kind="posix",
    )
    try:
        install(wheel.source, destination, {"INSTALLER": _INSTALLER})
    except _INSTALL_FAILURES as exc:
        hint = _DISK if isinstance(exc, OSError) else _HINT
        raise InstallError(f"cannot be installed: {exc}", where=wheel.filename, hint=hint) from exc
    written = {
        posixpath.join(scheme_dirs[scheme], entry.path): entry
        for scheme, entry in destination.written
    }
    for member in wheel.members:
        if not _matches(wheel, member, written[member.target]):
            raise _refused(
                wheel.filename, member.name, "does not match its hash and size in RECORD"
            )
        if member.scheme == "scripts":
            (root / member.target).chmod(0o755)  # whatever mode the zip recorded
    return {path: (str(entry.hash_), entry.size or 0) for path, entry in written.items()}


def _matches(wheel: _Wheel, member: _Member, written: RecordEntry) -> bool:
    """Compare the sha256 taken while writing; re-read only rewritten scripts and other hashes."""
    expected = member.record.hash_
    assert expected is not None and written.hash_ is not None  # _plan refuses hashless members
    want = _digest(expected.name, expected.value)
    if member.scheme != "scripts" and expected.name == "sha256":
        got = _digest("sha256", written.hash_.value)
        return written.size == member.record.size and got == want
    hasher, size = hashlib.new(expected.name), 0
    with wheel.archive.open(member.name) as stream:
        while chunk := stream.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    return size == member.record.size and hasher.digest() == want


def _digest(algorithm: str, value: str) -> bytes | None:
    """RECORD digests are urlsafe base64; some build tools (gmsh's) write hex, which binds too."""
    try:
        if len(value) == 2 * hashlib.new(algorithm).digest_size:
            return bytes.fromhex(value)
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return None


def _compile(
    root: Path,
    layout: _Layout,
    installed: list[dict[str, tuple[str, int]]],
    reporter: Reporter,
    jobs: int,
) -> None:
    """Hash-based .pyc for every module, naming the final paths: one fresh interpreter per
    distribution, so a package's .pyc bytes never depend on which other packages were compiled
    in the same run (a layer cache reuses packages one by one)."""
    calls = [functools.partial(_compile_one, root, layout, files) for files in installed]
    failed = sum(_each(reporter, "Compiling bytecode", "packages", jobs, calls))
    if failed:
        reporter.info(f"{failed} file(s) are not valid Python and were not byte-compiled")


def _compile_one(root: Path, layout: _Layout, files: dict[str, tuple[str, int]]) -> int:
    """Compile one distribution's modules in sorted order; adds the .pyc to ``files``."""
    sources = sorted(p for p in files if p.startswith(f"{layout.site}/") and p.endswith(".py"))
    if not sources:
        return 0
    caches = {path: importlib.util.cache_from_source(path, optimization="") for path in sources}
    work = [(str(root / p), str(root / caches[p]), f"{layout.prefix}/{p}") for p in sources]
    done = subprocess.run(
        [sys.executable, "-S", "-B", "-c", _COMPILER],
        input=json.dumps(work),
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "0"},
        check=False,
    )
    if done.returncode != 0:
        raise InstallError(
            f"byte-compiling failed: {done.stderr.strip()[-2000:]}", where="bytecode"
        )
    failed = set(json.loads(done.stdout))
    for path in sources:
        if str(root / path) not in failed:
            data = (root / caches[path]).read_bytes()
            files[caches[path]] = (_record_hash(data), len(data))
    return len(failed)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _write_record(
    root: Path, layout: _Layout, wheel: _Wheel, files: dict[str, tuple[str, int]]
) -> None:
    """RECORD paths are relative to site-packages, scripts and data reach it through ``..``."""
    record = f"{wheel.dist_info}/RECORD"
    rows = [
        (posixpath.relpath(path, layout.site), digest, str(size))
        for path, (digest, size) in files.items()
    ]
    rows.append((posixpath.relpath(record, layout.site), "", ""))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(sorted(rows))
    (root / record).write_bytes(buffer.getvalue().encode())


def _normalise_modes(root: Path) -> None:
    """0755 for directories and executables, 0644 otherwise, whatever the umask was."""
    root.chmod(0o755)
    for path, info in _tree(root):
        if stat.S_ISDIR(info.st_mode):
            path.chmod(0o755)
        elif stat.S_ISREG(info.st_mode):
            path.chmod(0o755 if info.st_mode & 0o111 else 0o644)


def _tree(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry below ``root``, never following a symlink."""
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            yield path, path.lstat()


# ---------------------------------------------------------------------------------------------
# Conda packages


def check_conda_packages(
    packages: Sequence[tuple[str, Path]],
    *,
    max_bytes: int = MAX_WHEEL_BYTES,
    max_ratio: float = MAX_RATIO,
) -> None:
    """Vet conda packages (file name, path) completely before rattler unpacks any of them.

    rattler 0.28 installs symlinks that leave the prefix and device files as they are, and
    panics on absolute paths (an internal error, not a refusal), so every member of every tar
    inside, and every path ``info/paths.json`` and ``info/files`` list, is checked first: the
    wheel rules, plus symlinks that stay inside the prefix (relative, climbing no higher than
    their own depth), hardlinks only to earlier files of the package, and no member below a
    symlink of any of the packages (it would be written through it). Names differing only in
    case are allowed: ncurses ships terminfo/E and terminfo/e. Across packages, ``PathLedger``
    judges every installed member: none below another's symlink, none a file where another has a
    directory, one path shared only with the sha256 and size ``info/paths.json`` gives, and none
    in mlenv's names (``conda-meta/``, ``bin/conda-unpack``, ``pyvenv.cfg``). Bombs: the bytes
    each tar has consumed, headers included, are counted from its headers before any member is
    inflated.
    """
    vetted = [_vet_conda(name, path, _Limits(max_bytes, max_ratio)) for name, path in packages]
    claims = sorted(
        (
            (package, member, kind)
            for package in vetted
            for member, kind in package.kinds.items()
            if member.split("/", 1)[0] != "info"  # the package's own metadata, never installed
        ),
        key=lambda claim: (claim[1].split("/"), claim[0].filename),
    )
    ledger = PathLedger()
    for package, member, kind in claims:
        owner = Owner(package.filename, "conda", _CONDA_HINT)
        target = package.targets.get(member)
        content = package.measured.get(member) if target is None else (target, 0)
        ledger.claim(owner, member, kind, content=content)


def _vet_conda(filename: str, path: Path, limits: _Limits) -> _CondaVetting:
    vetting = _CondaVetting(filename, limits)
    try:
        vetting.size = path.stat().st_size
        if filename.endswith(".tar.bz2"):
            with bz2.open(path) as stream:
                vetting.read_tar(stream)
        elif filename.endswith(".conda"):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if info.filename.endswith(".tar.zst"):
                        with (
                            archive.open(info) as raw,
                            ZstdDecompressor().stream_reader(raw, read_across_frames=True) as tar,
                        ):
                            vetting.read_tar(tar)
        else:
            raise InstallError(
                "is not a conda package (.tar.bz2 or .conda)", where=filename, hint=_CONDA_HINT
            )
    except (OSError, EOFError, ValueError, tarfile.TarError, zipfile.BadZipFile, ZstdError) as exc:
        raise InstallError(
            f"cannot be read as a conda package: {exc}", where=filename, hint=_CONDA_HINT
        ) from None
    for listing, listed in vetting.listed:
        if problem := _path_problem(listed):
            raise vetting.refuse(listing, f"lists {listed!r}, which {problem}")
    if (lie := vetting.lies()) is not None:
        raise lie
    return vetting


def _measure(tar: tarfile.TarFile, member: tarfile.TarInfo) -> tuple[str, int]:
    """sha256 and size of a member's bytes, streamed (the tar is read once, in order)."""
    digest = hashlib.sha256()
    handle = tar.extractfile(member)
    size = 0
    while handle is not None and (chunk := handle.read(1 << 20)):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@dataclass
class _CondaVetting:
    filename: str
    limits: _Limits
    size: int = 0
    consumed: int = 0  # decompressed bytes of the tars before the current one
    kinds: dict[str, Kind] = field(default_factory=dict)  # member -> file | dir | symlink
    listed: list[tuple[str, str]] = field(default_factory=list)  # (listing member, path)
    contents: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> sha256, size
    measured: dict[str, tuple[str, int]] = field(default_factory=dict)  # what the tar holds
    targets: dict[str, str] = field(default_factory=dict)  # symlink -> its target

    def refuse(self, member: str, problem: str) -> InstallError:
        return _refused(self.filename, member, problem, _CONDA_HINT)

    def read_tar(self, stream: IO[bytes]) -> None:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            end = 0
            for member in tar:
                end = member.offset_data + member.size
                self._check_size(member.name, self.consumed + end)
                self._check_member(member)
                if member.name in ("info/paths.json", "info/files"):
                    self._read_listing(tar, member)
                elif member.isreg():
                    self.measured[member.name] = _measure(tar, member)
            self.consumed += end

    def lies(self) -> InstallError | None:
        """A file whose bytes are not what ``info/paths.json`` says: the ledger lets two
        packages share a path only with the same content, so that content is measured, never
        taken from the package's word (security invariant 6)."""
        for path, (sha256, size) in sorted(self.contents.items()):
            held = self.measured.get(path)
            if held is not None and held != (sha256, size):
                return self.refuse(
                    path,
                    f"is {held[1]} bytes with sha256 {held[0]}, but info/paths.json says "
                    f"{size} bytes with sha256 {sha256}",
                )
        return None

    def _check_size(self, member: str, total: int) -> None:
        if total > self.limits.max_bytes:
            raise self.refuse(
                member, f"takes the package past {self.limits.max_bytes} uncompressed bytes"
            )
        if total > self.limits.max_ratio * self.size:
            raise self.refuse(
                member,
                f"takes the package past {total} bytes inflated from {self.size}: a ratio "
                f"over {self.limits.max_ratio:g} (a bomb?)",
            )

    def _check_member(self, member: tarfile.TarInfo) -> None:
        name = member.name
        problem = _path_problem(name)
        if problem:
            raise self.refuse(name, problem)
        if len(name.encode()) > _MAX_PATH:
            raise self.refuse(name, f"is a path over {_MAX_PATH} bytes")
        if name in self.kinds:
            raise self.refuse(name, "appears twice in the archive")
        if member.isreg():
            self.kinds[name] = "file"
        elif member.isdir():
            self.kinds[name] = "dir"
        elif member.issym():
            if problem := _link_problem(name, member.linkname):
                raise self.refuse(name, problem)
            self.kinds[name] = "symlink"
            self.targets[name] = member.linkname
        elif member.islnk():
            if self.kinds.get(member.linkname) != "file":
                raise self.refuse(
                    name, f"is a hardlink to {member.linkname!r}, not to an earlier file of it"
                )
            self.kinds[name] = "file"
        else:
            raise self.refuse(name, f"is a {_TAR_KINDS.get(member.type, 'special file')}")

    def _read_listing(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """The paths rattler links into the prefix come from these files, not from the tar."""
        if member.size > _MAX_METADATA:
            raise self.refuse(member.name, f"is over {_MAX_METADATA} bytes")
        handle = tar.extractfile(member)
        data = handle.read() if handle is not None else b""
        if member.name == "info/files":
            paths: list[object] = [line for line in data.decode().splitlines() if line]
        else:
            document = json.loads(data)
            entries = document.get("paths") if isinstance(document, dict) else None
            if not isinstance(entries, list):
                raise self.refuse(member.name, "has no list of paths")
            paths = [entry.get("_path") if isinstance(entry, dict) else None for entry in entries]
            self.contents = {
                entry["_path"]: (str(entry["sha256"]), entry["size_in_bytes"])
                for entry in entries
                if isinstance(entry, dict)
                and isinstance(entry.get("_path"), str)
                and isinstance(entry.get("sha256"), str)
                and type(entry.get("size_in_bytes")) is int
            }
        for path in paths:
            if not isinstance(path, str):
                raise self.refuse(member.name, f"lists {path!r}, which is not a path")
            self.listed.append((member.name, path))


def _link_problem(path: str, target: str) -> str | None:
    """Why a symlink's target could leave the prefix. Only leading '..' are allowed, at most
    as many as the link is deep: a later '..' could climb out through another symlink."""
    if target.startswith("/"):
        return f"is a symlink to the absolute path {target!r}"
    parts = [part for part in target.split("/") if part not in ("", ".")]
    ups = len(parts) - len(list(itertools.dropwhile(lambda part: part == "..", parts)))
    if ".." in parts[ups:] or ups > path.count("/"):
        return f"is a symlink to {target!r}, which may leave the prefix"
    return None
