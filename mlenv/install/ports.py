"""installer, mlenv's port to the wheel format: vetted wheels written concurrently through
installer's own writer, and what it wrote checked against RECORD."""

from __future__ import annotations

import base64
import configparser
import functools
import hashlib
import lzma
import os
import posixpath
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, TypeVar

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import Hash, RecordEntry

from mlenv.direct import BIG, direct
from mlenv.install.checks import Member, VettedWheel
from mlenv.install.inflate import member_chunks
from mlenv.install.layout import Layout
from mlenv.install.prefix_scan import PrefixKind, PrefixScan
from mlenv.install.safety import DISK_HINT, WHEEL_HINT, InstallError, refused
from mlenv.install.streamed import MISMATCH, StreamedMember
from mlenv.report import Reporter
from mlenv.spent import Spent

_T = TypeVar("_T")
# What becomes of a wheel's big members: written and scanned for the prefix (conda-pack's
# listing reads which name it), or left in the wheel for the one layer writer of an OCI-only
# build, a placeholder in the tree (``mlenv.install.streamed``; nothing is scanned).
BigMembers = Literal["scan", "stream"]
_INSTALLER = b"mlenv\n"
_CHUNK = 1 << 20
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
    lzma.LZMAError,  # a corrupt LZMA member (zipfile lets it through)
    configparser.Error,
)


@dataclass
class _Destination(SchemeDictionaryDestination):
    """installer's own writer, minus RECORD and bytecode: mlenv regenerates both at the end."""

    written: list[tuple[str, RecordEntry]] = field(default_factory=list)

    def finalize_installation(
        self, scheme: str, record_file_path: str, records: Iterable[tuple[str, RecordEntry]]
    ) -> None:
        self.written = [(name, entry) for name, entry in records if entry.hash_ is not None]

    def write_to_fs(
        self, scheme: str, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        """installer's write for paths mlenv vetted (``checks.plan_wheel``: relative, no '..')
        into directories ``_build`` made: one exclusive open instead of its existence checks
        and two path resolutions, 16,000 times for a torch stack (a fifth of the install)."""
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"Attempting to write {path} outside of the target directory")
        target = posixpath.join(self.scheme_dict[scheme], path)
        try:
            handle = open(target, "xb")  # noqa: SIM115  # closed below, once made
        except FileNotFoundError:  # a scheme's directory, first written here
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            handle = open(target, "xb")  # noqa: SIM115
        hasher, size = hashlib.new(self.hash_algorithm), 0
        with handle:
            while data := stream.read(_CHUNK):
                hasher.update(data)
                handle.write(data)
                size += len(data)
        if is_executable:
            os.chmod(target, 0o755)  # noqa: PTH101  # modes are normalised once the tree is whole
        return RecordEntry(path, _hash_of(self.hash_algorithm, hasher.digest()), size)


def install_all(
    root: Path,
    wheels: list[VettedWheel],
    layout: Layout,
    reporter: Reporter,
    jobs: int,
    spent: Spent | None = None,
    *,
    big: BigMembers = "scan",
) -> list[Installed]:
    """Wheels write disjoint files, so they install concurrently; errors come in wheel order.
    A wheel's big members are written on threads of their own meanwhile (``_write_big``): a
    500 MB library inflates as long as the rest of its wheel, and the biggest wheels come last.
    Each wheel is closed once installed, and reported to ``spent`` (scratch copies go then).
    ``big``: see ``BigMembers``."""
    members = ThreadPoolExecutor(jobs, thread_name_prefix="mlenv-member")
    needle = layout.prefix.encode() if big == "scan" else None
    stream = big == "stream"
    try:
        return each(
            reporter, "Installing wheels", "wheels", jobs,
            [functools.partial(_install_one, root, wheel, layout, spent, members, needle, stream)
             for wheel in wheels],
        )  # fmt: skip
    finally:
        members.shutdown(wait=True, cancel_futures=True)


def each(
    reporter: Reporter, title: str, unit: str, jobs: int, calls: Sequence[Callable[[], _T]]
) -> list[_T]:
    """Run ``calls`` on ``jobs`` threads with a progress task; results (and the first error)
    in the order given."""
    with (
        reporter.task(title, total=len(calls), unit=unit) as task,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        futures = [pool.submit(call) for call in calls]
        try:
            for _ in as_completed(futures):
                task.advance()
        except BaseException:  # Ctrl-C: only the calls under way are waited for, not the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [future.result() for future in futures]


@dataclass(frozen=True)
class Installed:
    """One wheel installed: root-relative path -> (RECORD hash, size) of every file it wrote
    (or left in the wheel, ``streamed``), and of each big one whether it names the prefix."""

    files: dict[str, tuple[str, int]]
    kinds: dict[str, PrefixKind | None]
    streamed: tuple[StreamedMember, ...]


def _install_one(
    root: Path,
    wheel: VettedWheel,
    layout: Layout,
    spent: Spent | None,
    members: Executor,
    needle: bytes | None,
    stream: bool,
) -> Installed:
    scheme_dirs = layout.scheme_dirs(wheel.name)
    destination = _Destination(
        scheme_dict={scheme: str(root / path) for scheme, path in scheme_dirs.items()},
        interpreter=f"{layout.prefix}/bin/python",
        script_kind="posix",
    )
    big = [m for m in wheel.members if m.scheme != "scripts" and (m.record.size or 0) >= BIG]
    wheel.source.skip.update(member.name for member in big)
    streamed = [s for m in big if stream and (s := _streamable(root, wheel, m)) is not None]
    left = {s.target for s in streamed}
    big = [m for m in big if m.target not in left]
    futures = [members.submit(_write_big, root, wheel, member, needle) for member in big]
    try:
        install(wheel.source, destination, {"INSTALLER": _INSTALLER})
        done = {m.target: future.result() for m, future in zip(big, futures, strict=True)}
    except _INSTALL_FAILURES as exc:
        # bz2 refuses corrupt data with an OSError of no errno: the wheel's fault, not the disk's
        hint = DISK_HINT if isinstance(exc, OSError) and exc.errno is not None else WHEEL_HINT
        raise InstallError(f"cannot be installed: {exc}", where=wheel.filename, hint=hint) from exc
    finally:  # the archive is closed below or by the caller: no member may still be reading it
        for future in futures:
            future.cancel()
        wait(futures)
    written = {target: entry for target, (entry, _) in done.items()}
    written.update({s.target: RecordEntry(s.target, _hash(s.sha256), s.size) for s in streamed})
    for scheme, entry in destination.written:
        written[posixpath.join(scheme_dirs[scheme], entry.path)] = entry
    for member in wheel.members:
        if not _matches(wheel, member, written[member.target]):
            raise refused(wheel.filename, member.name, MISMATCH)
        if member.scheme == "scripts":
            (root / member.target).chmod(0o755)  # whatever mode the zip recorded
    wheel.archive.close()
    if spent is not None and not streamed:
        spent.read(wheel.path)
    files = {path: (str(entry.hash_), entry.size or 0) for path, entry in written.items()}
    kinds = {} if needle is None else {target: kind for target, (_, kind) in done.items()}
    return Installed(files, kinds, tuple(streamed))


def _streamable(root: Path, wheel: VettedWheel, member: Member) -> StreamedMember | None:
    """``member`` left in the wheel, an empty placeholder at its path: only when RECORD names
    its sha256 (what the layer writer checks) and nothing after the install reads it (bytecode
    is compiled from the tree's ``.py`` files)."""
    expected = member.record.hash_
    if expected is None or expected.name != "sha256" or member.target.endswith(".py"):
        return None
    digest = _digest("sha256", expected.value)
    if digest is None or len(digest) != hashlib.sha256().digest_size:
        return None
    info = wheel.archive.getinfo(member.name)
    if member.record.size != info.file_size:  # refused by the write, naming RECORD
        return None
    (root / member.target).open("xb").close()
    _keep_executable(root / member.target, info)
    return StreamedMember(member.target, wheel.path, wheel.filename, info, info.file_size, digest)


def _write_big(
    root: Path, wheel: VettedWheel, member: Member, needle: bytes | None
) -> tuple[RecordEntry, PrefixKind | None]:
    """One big member written with O_DIRECT (``mlenv.direct.BIG``): the layer and archive
    writers read it back the same way, so the staging tree's bulk never takes memory. Hashed
    as installer hashes what it writes. Scanned for ``needle`` (the prefix) on the way, if
    given, so conda-pack's listing need not read it again."""
    target = root / member.target
    info = wheel.archive.getinfo(member.name)
    hasher, size, scan = hashlib.sha256(), 0, None if needle is None else PrefixScan(needle)
    with target.open("xb") as handle, direct(handle) as out:
        for chunk in member_chunks(wheel.path, info, _CHUNK):
            hasher.update(chunk)
            if scan is not None:
                scan.feed(chunk)
            out.write(chunk)
            size += len(chunk)
    _keep_executable(target, info)
    return RecordEntry(
        member.target, _hash(hasher.digest()), size
    ), None if scan is None else scan.kind


def _keep_executable(target: Path, info: zipfile.ZipInfo) -> None:
    """Executable as installer makes it: any x bit in the zip's mode (the modes are normalised
    once the tree is complete)."""
    mode = info.external_attr >> 16
    if stat.S_ISREG(mode) and mode & 0o111:
        target.chmod(0o755)


def _hash(digest: bytes) -> Hash:
    """A sha256 as RECORD writes it: urlsafe base64, unpadded."""
    return _hash_of("sha256", digest)


def _hash_of(algorithm: str, digest: bytes) -> Hash:
    return Hash(algorithm, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("="))


def _matches(wheel: VettedWheel, member: Member, written: RecordEntry) -> bool:
    """Compare the sha256 taken while writing; re-read only rewritten scripts and other hashes."""
    expected = member.record.hash_
    assert expected is not None and written.hash_ is not None  # plan_wheel refuses hashless members
    want = _digest(expected.name, expected.value)
    if member.scheme != "scripts" and expected.name == "sha256":
        got = _digest("sha256", written.hash_.value)
        return written.size == member.record.size and got == want
    hasher, size = hashlib.new(expected.name), 0
    with wheel.archive.open(member.name) as stream:
        while chunk := stream.read(_CHUNK):
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
