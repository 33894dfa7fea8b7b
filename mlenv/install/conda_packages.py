"""Conda packages vetted completely before rattler unpacks any of them."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Any

from zstandard import ZstdDecompressor, ZstdError

from mlenv.install import conda_readers as readers
from mlenv.install.conda_noarch import (
    LINK,
    entry_point_scripts,
    installed,
    link_scripts,
    read_index,
)
from mlenv.install.conda_rewrites import Rewrites, from_has_prefix, from_paths_json
from mlenv.install.ownership import Kind, Owner, PathLedger
from mlenv.install.safety import (
    MAX_METADATA,
    MAX_PATH,
    MAX_RATIO,
    MAX_WHEEL_BYTES,
    InstallError,
    Limits,
    link_problem,
    member_problem,
    refused,
)

# What a tar's reader may read past its last member: one record of read-ahead and the
# end-of-archive blocks (bytes the member bound never counted).
_SLACK = tarfile.RECORDSIZE + 2 * tarfile.BLOCKSIZE
CONDA_HINT = "the conda package is corrupt or malicious: lock another build or rebuild it"
_TAR_KINDS = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "FIFO",
}


def check_conda_packages(
    packages: Sequence[tuple[str, Path]],
    *,
    max_bytes: int = MAX_WHEEL_BYTES,
    max_ratio: float = MAX_RATIO,
    target_prefix: str = "",
    noarch_python: Collection[str] = (),
    python_site: str = "",
) -> dict[str, list[str]]:
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
    inflated. A binary file's prefix placeholder shorter than ``target_prefix`` is refused:
    the installer cannot write a longer string into a compiled file (conda's PaddingError).
    The members of ``noarch_python`` packages (file names) are judged where the installer puts
    them: ``site-packages/`` below ``python_site``, ``python-scripts/`` in ``bin/``.
    Returns each package's link scripts (``bin/.NAME-post-link.sh`` and the like), which are
    installed as files and never run.
    """
    vetted = [_vet_conda(name, path, Limits(max_bytes, max_ratio)) for name, path in packages]
    noarch = [package for package in vetted if package.filename in noarch_python]
    for package in vetted:
        package.check_room(target_prefix)
        package.check_growth(target_prefix)
        package.check_noarch(package in noarch if python_site else None)
    claims = sorted(
        [
            *(
                (package, installed(member, package in noarch, python_site), kind, member)
                for package in vetted
                for member, kind in package.kinds.items()
                # its own metadata is never installed, unless it lists it: rattler links that
                if member.split("/", 1)[0] != "info" or member in package.linked
            ),
            *((package, path, "file", LINK) for package in vetted for path in package.scripts),
        ],
        key=lambda claim: (claim[1].split("/"), claim[0].filename),
    )
    ledger = PathLedger()
    for package, path, kind, member in claims:
        owner = Owner(package.filename, "conda", CONDA_HINT)
        ledger.claim(owner, path, kind, member=member, content=package.content(member))
    scripts = {
        package.filename: link_scripts(package.kinds, package in noarch, python_site)
        for package in vetted
    }
    return {filename: found for filename, found in scripts.items() if found}


def _vet_conda(filename: str, path: Path, limits: Limits) -> _CondaVetting:
    vetting = _CondaVetting(filename, limits)
    try:
        vetting.size = path.stat().st_size
        if filename.endswith(".tar.bz2"):
            with path.open("rb") as file:
                vetting.read_tar(io.BufferedReader(readers.FirstBz2Stream(file)))
        elif filename.endswith(".conda"):
            with zipfile.ZipFile(path) as archive:
                if (layout := readers.zip_layout_problem(archive)) is not None:
                    raise vetting.refuse(*layout)
                for info in archive.infolist():
                    if info.filename.endswith(".tar.zst"):
                        with (
                            readers.zip_member(archive, info) as raw,
                            ZstdDecompressor().stream_reader(raw, read_across_frames=True) as tar,
                        ):
                            vetting.read_tar(tar)
        else:
            raise InstallError(
                "is not a conda package (.tar.bz2 or .conda)", where=filename, hint=CONDA_HINT
            )
    except (OSError, EOFError, ValueError, tarfile.TarError, zipfile.BadZipFile,
            ZstdError) as exc:  # fmt: skip
        raise InstallError(
            f"cannot be read as a conda package: {exc}", where=filename, hint=CONDA_HINT
        ) from None
    for listing, listed in vetting.listed:
        if problem := member_problem(listed):
            raise vetting.refuse(listing, f"lists {listed!r}, which {problem}")
        if listed not in vetting.kinds:  # rattler links what it lists, from its own reading
            raise vetting.refuse(
                listing,
                f"lists {listed!r}, which the package does not hold (as Python's tarfile reads "
                "it: a tar reader that reads other names would install what was never vetted)",
            )
    if (lie := vetting.lies()) is not None:
        raise lie
    if not vetting.has_paths_json:  # rattler reads info/has_prefix only then
        vetting.rewrites = from_has_prefix(vetting.has_prefix, vetting.kinds)
    return vetting


class _Bounded(io.RawIOBase):
    """A package's decompressed tar stream, refused by ``_CondaVetting.check_stream`` as soon
    as it passes the package's bounds, whatever part of the tar (a member, a header) reads it."""

    def __init__(self, vetting: _CondaVetting, stream: IO[bytes]) -> None:
        self._vetting = vetting
        self._stream = stream
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        self._read += len(data)
        self._vetting.check_stream(self._read)
        buffer[: len(data)] = data
        return len(data)


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
    limits: Limits
    size: int = 0
    consumed: int = 0  # decompressed bytes of the tars before the current one
    kinds: dict[str, Kind] = field(default_factory=dict)  # member -> file | dir | symlink
    listed: list[tuple[str, str]] = field(default_factory=list)  # (listing member, path)
    contents: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> sha256, size
    measured: dict[str, tuple[str, int]] = field(default_factory=dict)  # what the tar holds
    targets: dict[str, str] = field(default_factory=dict)  # symlink -> its target
    scripts: list[str] = field(default_factory=list)  # bin/<name> of noarch entry points
    has_paths_json: bool = False
    rewrites: Rewrites = field(default_factory=lambda: Rewrites({}, {}, {}))  # of the installer
    has_prefix: str = ""  # info/has_prefix, read for ``rewrites`` without info/paths.json
    hardlinks: dict[str, str] = field(default_factory=dict)  # member -> the file it links
    noarch_python: bool | None = None  # what info/index.json says (rattler installs by it)

    def check_room(self, target_prefix: str) -> None:
        """Each binary placeholder the installer will replace holds the deploy prefix. rattler
        reads ``info/has_prefix`` only when ``info/paths.json`` is absent, and so does this."""
        for path, room in sorted(self.rewrites.binary.items()):
            if target_prefix and len(target_prefix.encode()) > room:
                raise InstallError(
                    f"member {path!r} holds a binary prefix placeholder of {room} bytes, shorter "
                    f"than the deploy prefix {target_prefix!r} ({len(target_prefix.encode())} "
                    "bytes): a compiled file cannot take a longer string",
                    where=self.filename,
                    hint=f"choose an [environment] prefix of at most {room} bytes, or lock "
                    "another build (conda-build pads its placeholder to 255 bytes)",
                )

    @cached_property
    def linked(self) -> set[str]:
        """What rattler links into the prefix: every path a listing names (once all read)."""
        return {path for _, path in self.listed}

    def check_growth(self, target_prefix: str) -> None:
        """The bounds hold as installed: a 1-byte placeholder made 7.9 KB install 211 MB."""
        sizes = {path: held[1] for path, held in self.measured.items()}
        sizes.update((link, sizes.get(file, 0)) for link, file in self.hardlinks.items())
        growth = self.rewrites.growth(sizes, target_prefix)
        if growth:
            self._check_size("(prefix placeholders)", self.consumed + growth)

    def check_noarch(self, declared: bool | None) -> None:
        """rattler lays a package out by its own ``info/index.json`` (noarch python: into
        site-packages), the ledger by the locked record: the two agree, or it is refused."""
        if self.noarch_python is None:
            raise self.refuse("info/index.json", "is missing: every conda package carries it")
        if declared is not None and self.noarch_python != declared:
            says = "is" if self.noarch_python else "is not"
            problem = f"says the package {says} noarch python, against its locked record"
            raise self.refuse("info/index.json", f"{problem}: it would be installed elsewhere")

    def content(self, member: str) -> tuple[str, int] | None:
        """What the installer writes at a member, for the ledger: a symlink's target, or a
        file's measured bytes with every rewrite stated for it (two packages sharing a file
        must agree on both, or one rewrites the other's file: a text placeholder of ``True``
        turned another package's ``VERIFY = True`` into ``VERIFY = /opt/...``)."""
        if (target := self.targets.get(member)) is not None:
            return (target, 0)
        held = self.measured.get(member)
        stated = self.rewrites.stated.get(member)
        if held is None or not stated:
            return held
        return (f"{held[0]} rewritten {json.dumps(stated)}", held[1])

    def refuse(self, member: str, problem: str) -> InstallError:
        return refused(self.filename, member, problem, CONDA_HINT)

    def read_tar(self, stream: IO[bytes]) -> None:
        """Every member of one tar, in order. The decompressed stream itself is bounded
        (``_Bounded``): tarfile reads an extension record (a PAX or GNU long-name header)
        whole into memory before it yields the member it describes, so a bound counted from
        the members came after a record of gigabytes was held."""
        bounded = io.BufferedReader(_Bounded(self, stream), tarfile.RECORDSIZE)
        with tarfile.open(fileobj=bounded, mode="r|", tarinfo=readers.TarHeaders) as tar:
            end = 0
            for member in tar:
                end = member.offset_data + member.size
                self._check_size(member.name, self.consumed + end)
                self._check_member(member)
                if member.name in ("info/paths.json", "info/files"):
                    self._read_listing(tar, member)
                elif member.name == "info/has_prefix":
                    self.has_prefix = self._metadata(tar, member).decode(errors="replace")
                elif member.name == LINK:
                    self._read_entry_points(tar, member)
                elif member.name == "info/index.json":
                    self.noarch_python, problem = read_index(self._json(tar, member), self.filename)
                    if problem is not None:
                        raise self.refuse(member.name, problem)
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

    def check_stream(self, total: int) -> None:
        """``total`` decompressed bytes of the current tar read so far, headers included; a
        tar's reader runs up to one record (and the end-of-archive blocks) past the last
        member, which the member bound never counted."""
        self._check_size("(tar headers)", self.consumed + total - _SLACK)

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
        problem = member_problem(name)
        if problem:
            raise self.refuse(name, problem)
        if problem := readers.ambiguity(member):
            raise self.refuse(
                name,
                f"{problem}: tar readers (Python's tarfile, which vets it, and rattler's, which "
                "installs it) take different names or bytes from that",
            )
        if len(name.encode()) > MAX_PATH:
            raise self.refuse(name, f"is a path over {MAX_PATH} bytes")
        if name in self.kinds:
            raise self.refuse(name, "appears twice in the archive")
        if member.isreg():
            self.kinds[name] = "file"
        elif member.isdir():
            self.kinds[name] = "dir"
        elif member.issym():
            if problem := link_problem(name, member.linkname):
                raise self.refuse(name, problem)
            self.kinds[name] = "symlink"
            self.targets[name] = member.linkname
        elif member.islnk():
            if self.kinds.get(member.linkname) != "file":
                raise self.refuse(
                    name, f"is a hardlink to {member.linkname!r}, not to an earlier file of it"
                )
            self.kinds[name] = "file"
            self.hardlinks[name] = self.hardlinks.get(member.linkname, member.linkname)
        else:
            raise self.refuse(name, f"is a {_TAR_KINDS.get(member.type, 'special file')}")

    def _read_entry_points(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """A noarch python package's entry points: the installer writes ``bin/<name>`` for
        each, so each is judged like a wheel's console script and claimed like a member."""
        document = self._json(tar, member)
        scripts, problem = entry_point_scripts(document)
        if problem is not None:
            raise self.refuse(LINK, problem)
        self.scripts.extend(scripts)

    def _json(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> object:
        """A JSON metadata member, read as rattler's reader reads it, or refused."""
        where = f"{self.filename}: {member.name}"
        document, problem = readers.metadata_json(self._metadata(tar, member), where=where)
        if problem is not None:
            raise self.refuse(member.name, problem)
        return document

    def _metadata(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
        """A metadata member's bytes, bounded."""
        if member.size > MAX_METADATA:
            raise self.refuse(member.name, f"is over {MAX_METADATA} bytes")
        handle = tar.extractfile(member)
        return handle.read() if handle is not None else b""

    def _read_listing(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """The paths rattler links into the prefix come from these files, not from the tar."""
        if member.name == "info/files":
            data = self._metadata(tar, member).decode()
            paths: list[object] = [line for line in data.splitlines() if line]
        else:
            document = self._json(tar, member)
            entries = document.get("paths") if isinstance(document, dict) else None
            if not isinstance(entries, list):
                raise self.refuse(member.name, "has no list of paths")
            paths = [entry.get("_path") if isinstance(entry, dict) else None for entry in entries]
            self.has_paths_json = True
            self.rewrites = from_paths_json(entries)
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
