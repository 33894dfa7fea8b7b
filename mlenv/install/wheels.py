"""Wheels into a staging tree laid out for the final prefix, as a venv for the target interpreter.

The tree's bytes depend only on the wheels and the arguments: the venv files are generated for
the target paths (never copied from the host), RECORD is regenerated sorted once every file is
final, modes are normalised whatever the umask, and nothing written names the staging directory.
Wheels are untrusted input, so every member is vetted (``mlenv.install.checks``) before anything
is written, and the tree is built beside ``staging`` and renamed onto it only when complete.
Decisions:

- ``lib64 -> lib`` is always created, as ``venv`` does on 64-bit POSIX: every target platform
  (linux-64, linux-aarch64) is 64-bit.
- ``bin/activate`` is POSIX sh only: images run commands, not interactive fish or csh sessions.
- ``INSTALLER`` says ``mlenv``; ``REQUESTED`` and ``direct_url.json`` are never written (a lock
  has no notion of "requested", and a URL would name the cache). Copies inside a wheel are
  dropped, as are ``__pycache__`` members and RECORD signatures (they sign the old RECORD).
- Files of the scripts scheme are executable whatever mode the wheel's zip recorded: they are
  there to be run.
- Scripts named after the Python that built the wheel (``pip3.10``, ``easy_install-3.6``) are
  made for the target's instead, as pip makes them (``mlenv.install.scripts.versioned``).
- Two wheels may ship one path only with identical bytes (NVIDIA's ``-cu12`` wheels all ship
  ``nvidia/__init__.py``); the first wheel by file name owns it. Different bytes are an error.
- Paths equal under case folding are refused: an archive of the environment may be unpacked on
  case-insensitive storage, where one file would silently replace the other.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from installer.records import RecordEntry

from mlenv.install.bytecode import check_host_python, compile_bytecode
from mlenv.install.checks import NamedWheel, VettedWheel, plan_wheel
from mlenv.install.conda_packages import CONDA_HINT
from mlenv.install.layout import Layout, clean_path, python_minor, write_venv
from mlenv.install.ownership import Kind, Owner, PathLedger
from mlenv.install.ports import BigMembers, install_all
from mlenv.install.prefix_scan import PrefixKind
from mlenv.install.record import write_record
from mlenv.install.safety import (
    DISK_HINT,
    MAX_RATIO,
    MAX_WHEEL_BYTES,
    WHEEL_HINT,
    InstallError,
    Limits,
)
from mlenv.install.streamed import StreamedMember
from mlenv.report import Reporter
from mlenv.spent import Spent

_LAYOUT = Owner("mlenv's venv layout", "mlenv", WHEEL_HINT)
# The prefix rattler made is judged like the packages it came from (its noarch entry points
# and relocated paths were not tar members); its records are rattler's own.
_CONDA = Owner("the conda environment", "conda", CONDA_HINT)
_RECORDS = Owner("rattler's conda-meta", "mlenv", CONDA_HINT)


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

    @classmethod
    def from_dict(cls, wheel: Mapping[str, Any]) -> WheelClaims:
        """A recorded ``WheelClaims`` (``dataclasses.asdict`` through JSON) of exactly that
        shape (ValueError otherwise): its paths decide owners and layer keys, so a record of
        another shape is a miss, never used."""

        def text(value: object) -> str:
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a string")
            return value

        def relative(value: object) -> str:
            path = text(value)
            if path.startswith("/") or posixpath.normpath(path) != path or ".." in path.split("/"):
                raise ValueError(f"{path!r} is not a normalised relative path")
            return path

        def content(value: object) -> tuple[str, int] | None:
            if value is None:
                return None
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)):
                raise ValueError(f"{value!r} is not a RECORD hash and size")
            return text(value[0]), value[1]

        claims = tuple((relative(t), text(m), content(c)) for t, m, c in wheel["claims"])
        dropped = wheel["dropped"]
        if not isinstance(dropped, list):
            raise ValueError("dropped is not a list")
        return cls(
            text(wheel["name"]),
            text(wheel["filename"]),
            relative(wheel["dist_info"]),
            claims,
            tuple(text(member) for member in dropped),
        )


@dataclass(frozen=True)
class InstallResult:
    files: int  # regular files in the whole tree
    bytes: int
    distributions: tuple[InstalledDistribution, ...]  # sorted by name
    generated: tuple[str, ...]  # the venv layout written by mlenv itself, sorted
    # Big files written, by path, and whether they name the prefix (found as they were
    # written): the conda-pack writer need not read them again.
    scanned: tuple[tuple[str, PrefixKind | None], ...] = ()
    streamed: tuple[StreamedMember, ...] = ()  # big members left in their wheels (``big``)


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
    spent: Spent | None = None,
    big: BigMembers = "scan",
) -> InstallResult:
    """Install ``wheels`` into ``staging`` so that the tree runs unchanged once moved to ``prefix``.

    All or nothing: ``staging`` must be absent or empty and receives the finished tree only.
    ``onto`` is a conda prefix (already laid out for ``prefix``) to install on top of instead
    of a venv: it is moved into the tree, and a wheel that would overwrite one of its files is
    refused. ``others`` are wheels of the environment not written (a layer cache has them):
    they own the paths they claim first, as if installed, so the tree is the same part of the
    whole environment's. Each wheel installed is reported to ``spent`` (scratch copies go).
    ``big="stream"`` leaves big members in their wheels (``InstallResult.streamed``; empty
    placeholders in the tree, ``scanned`` empty): for a tree read once, by one layer writer,
    which must keep the wheels until it has.
    """
    layout = _layout(prefix, interpreter, python, onto)
    if bytecode == "hash":
        check_host_python(python)
    if staging.is_symlink() or (
        staging.exists() and (not staging.is_dir() or any(staging.iterdir()))
    ):
        raise InstallError("must be absent or an empty directory", where=str(staging))
    staging.parent.mkdir(parents=True, exist_ok=True)
    limits = Limits(max_wheel_bytes, max_ratio)
    with ExitStack() as stack:
        planned = sorted(
            (plan_wheel(wheel, stack, layout, limits) for wheel in wheels),
            key=lambda wheel: wheel.filename,
        )
        _assign_owners(planned, layout, others)
        for wheel in planned:
            for note in wheel.notes():
                reporter.warning(f"{wheel.filename}: {note}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{staging.name}.", dir=staging.parent))
        try:
            if onto is not None:
                onto.rename(tmp)  # over the empty directory: the conda tree becomes the base
            result = _build(tmp, planned, layout, bytecode, reporter, jobs, spent, big)
            tmp.rename(staging)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise InstallError(
                f"cannot write the tree: {exc}", where=str(staging), hint=DISK_HINT
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
    limits = Limits(max_wheel_bytes, max_ratio)
    with ExitStack() as stack:
        vetted = [_claims(plan_wheel(wheel, stack, layout, limits)) for wheel in wheels]
    everything = sorted([*vetted, *others], key=lambda wheel: wheel.filename)
    skipped = _owners(everything, layout)
    plans = tuple(
        PlannedWheel(w.name, w.filename, tuple(sorted({*w.dropped, *skipped[w.filename]})))
        for w in everything
    )
    return tuple(vetted), plans


def _layout(prefix: str, interpreter: str, python: str, onto: Path | None) -> Layout:
    existing = frozenset(_relative_kinds(onto)) if onto is not None else frozenset()
    return Layout(
        clean_path(prefix, "prefix"),
        clean_path(interpreter, "interpreter"),
        python_minor(python),
        existing,
        venv=onto is None,
    )


def _assign_owners(
    wheels: list[VettedWheel], layout: Layout, others: Sequence[WheelClaims] = ()
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


def _claims(wheel: VettedWheel) -> WheelClaims:
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


def _owners(wheels: Sequence[WheelClaims], layout: Layout) -> dict[str, set[str]]:
    """Every path's one owner, in file-name order (``wheels`` are sorted), so no outcome depends
    on input order: the members each wheel skips, by file name. Refuses a second wheel for one
    distribution; ``PathLedger.claim`` judges every path."""
    ledger = PathLedger()
    for path, kind in layout.generated_kinds():
        ledger.claim(_LAYOUT, path, kind)
    for path, kind, target in sorted(layout.existing, key=lambda entry: entry[0]):
        owner = _RECORDS if path.split("/", 1)[0] == "conda-meta" else _CONDA
        ledger.claim(owner, path, kind, content=None if target is None else (target, 0))
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
        owner = Owner(wheel.filename, "wheel", WHEEL_HINT, metadata=wheel.dist_info)
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
    wheels: list[VettedWheel],
    layout: Layout,
    bytecode: Literal["none", "hash"],
    reporter: Reporter,
    jobs: int,
    spent: Spent | None,
    big: BigMembers,
) -> InstallResult:
    generated = write_venv(root, layout)
    parents = {posixpath.dirname(m.target) for wheel in wheels for m in wheel.members}
    parents |= {wheel.dist_info for wheel in wheels}
    for parent in sorted(parents - {""}):
        (root / parent).mkdir(parents=True, exist_ok=True)  # before threads race to create them
    results = install_all(root, wheels, layout, reporter, jobs, spent, big=big)
    installed = [result.files for result in results]
    if bytecode == "hash":
        compile_bytecode(root, layout, installed, reporter, jobs)
    for wheel, files in zip(wheels, installed, strict=True):
        write_record(root, layout, wheel, files)
    regular = _normalise_modes(root)
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
    scanned = sorted(kind for result in results for kind in result.kinds.items())
    streamed = sorted((s for result in results for s in result.streamed), key=lambda s: s.target)
    return InstallResult(
        len(regular),
        sum(info.st_size for info in regular) + sum(s.size for s in streamed),
        tuple(distributions),
        generated,
        tuple(scanned),
        tuple(streamed),
    )


def _relative_kinds(root: Path) -> list[tuple[str, Kind, str | None]]:
    """Every path below ``root`` with its kind and a symlink's target; never followed."""
    kinds: dict[int, Kind] = {stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink"}
    return [
        (
            path.relative_to(root).as_posix(),
            kinds.get(stat.S_IFMT(info.st_mode), "file"),
            str(path.readlink()) if stat.S_ISLNK(info.st_mode) else None,
        )
        for path, info in _tree(root)
    ]


def _normalise_modes(root: Path) -> list[os.stat_result]:
    """0755 for directories and executables, 0644 otherwise, whatever the umask was (a mode
    already right is left alone); the regular files' stats, for the tree's totals."""
    root.chmod(0o755)
    regular = []
    for path, info in _tree(root):
        kind = stat.S_IFMT(info.st_mode)
        if kind == stat.S_IFREG:
            regular.append(info)
        mode = 0o755 if kind == stat.S_IFDIR or info.st_mode & 0o111 else 0o644
        if kind in (stat.S_IFREG, stat.S_IFDIR) and stat.S_IMODE(info.st_mode) != mode:
            path.chmod(mode)
    return regular


def _tree(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every entry below ``root``, never following a symlink."""
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            yield path, path.lstat()
