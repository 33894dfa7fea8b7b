"""`mlenv diff`: what a lock change does to the environment, for a reviewer.

Two locks in, one ``LockDiff`` out: per platform the packages added, removed, upgraded,
downgraded or rebuilt, the download size change, each package's CUDA change, the driver the
environment needs before and after, and the verification warnings the change brings. Rendered
as text for a terminal, Markdown for a pull-request comment, or JSON.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.conda.records import CondaRecord, conda_name
from mlenv.conda.version_order import compare as conda_order
from mlenv.errors import MlenvError, UsageError
from mlenv.judge import verify_lock
from mlenv.lockfile import Lock, LockedPackage
from mlenv.lockfile_read import loads as load_lock
from mlenv.report import human_bytes
from mlenv.userfiles import read_input

Source = Literal["pypi", "conda"]
Kind = Literal["added", "removed", "upgraded", "downgraded", "changed", "rebuilt"]
_MARK: dict[str, str] = {
    "added": "+",
    "removed": "-",
    "upgraded": "^",
    "downgraded": "v",
    "changed": "~",
    "rebuilt": "*",
}
_KINDS: tuple[Kind, ...] = ("added", "removed", "upgraded", "downgraded", "changed", "rebuilt")


@dataclass(frozen=True)
class Side:
    """One package as one lock has it."""

    version: str
    sha256: str
    size: int
    cuda: str | None
    requires_driver: str | None


@dataclass(frozen=True)
class PackageChange:
    source: Source
    name: str
    kind: Kind
    old: Side | None
    new: Side | None

    @property
    def size_delta(self) -> int:
        return (self.new.size if self.new else 0) - (self.old.size if self.old else 0)

    @property
    def cuda_changed(self) -> bool:
        return (self.old.cuda if self.old else None) != (self.new.cuda if self.new else None)


@dataclass(frozen=True)
class PlatformDiff:
    platform: str
    changes: tuple[PackageChange, ...]
    old_size: int
    new_size: int

    def count(self, kind: Kind) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


@dataclass(frozen=True)
class LockDiff:
    old_label: str
    new_label: str
    platforms: tuple[PlatformDiff, ...]
    old_cuda: str | None
    new_cuda: str | None
    old_driver: str | None
    new_driver: str | None
    new_driver_because: str | None
    new_warnings: tuple[str, ...]
    gone_warnings: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return (
            any(p.changes for p in self.platforms)
            or self.old_driver != self.new_driver
            or self.old_cuda != self.new_cuda
            or bool(self.new_warnings or self.gone_warnings)
        )

    def to_dict(self) -> dict[str, Any]:
        def side(s: Side | None) -> dict[str, Any] | None:
            return None if s is None else {k.replace("_", "-"): v for k, v in asdict(s).items()}

        def change(c: PackageChange) -> dict[str, Any]:
            return {
                "source": c.source,
                "name": c.name,
                "kind": c.kind,
                "old": side(c.old),
                "new": side(c.new),
                "size-delta": c.size_delta,
            }

        return {
            "old": self.old_label,
            "new": self.new_label,
            "changed": self.changed,
            "cuda": {"old": self.old_cuda, "new": self.new_cuda},
            "requires-driver": {
                "old": self.old_driver,
                "new": self.new_driver,
                "because": self.new_driver_because,
            },
            "new-warnings": list(self.new_warnings),
            "gone-warnings": list(self.gone_warnings),
            "platforms": [
                {
                    "platform": p.platform,
                    "download-size": {"old": p.old_size, "new": p.new_size},
                    "counts": {k: p.count(k) for k in _KINDS},
                    "changes": [change(c) for c in p.changes],
                }
                for p in self.platforms
            ],
        }


# ---------------------------------------------------------------------------------------------
# Comparing


def _sides(lock: Lock, platform: str) -> dict[tuple[str, str], Side]:
    """Every package of one platform by (source, name as the source compares names: PEP 503,
    ``conda_name``)."""
    result: dict[tuple[str, str], Side] = {}
    entries: list[LockedPackage | CondaRecord] = []
    for locked in lock.platforms:
        if locked.platform == platform:
            entries = [*locked.packages, *locked.conda]
    for entry in entries:
        if isinstance(entry, CondaRecord):
            key = ("conda", conda_name(entry.name))
            version = f"{entry.version}={entry.build}"
        else:
            key, version = ("pypi", canonicalize_name(entry.name)), entry.version
        result[key] = Side(version, entry.sha256, entry.size, entry.cuda, entry.requires_driver)
    return result


def _kind(source: str, old: Side | None, new: Side | None) -> Kind | None:
    """A conda version moves by conda's order (``1.1.1v`` to ``1.1.1w`` is an upgrade), a
    PyPI one by PEP 440's; a version neither can order is "changed"."""
    if old is None:
        return "added"
    if new is None:
        return "removed"
    if old == new:
        return None
    before, after = old.version.split("=")[0], new.version.split("=")[0]  # conda: version=build
    if before == after:
        return "rebuilt"  # another artifact (or conda build) of the same version
    if source == "conda":
        order = conda_order(after, before)
    else:
        try:
            order = (Version(after) > Version(before)) - (Version(after) < Version(before))
        except ValueError:  # InvalidVersion, or a number past int's digit limit
            order = None
    return {1: "upgraded", -1: "downgraded"}.get(order, "changed")  # type: ignore[return-value,arg-type]


def _warnings(lock: Lock) -> set[str]:
    verdict = verify_lock(lock, lock.inputs_hash, None)
    return {f"{f.severity}: {f.message}" for f in verdict.findings}


def compare(old: Lock, new: Lock, old_label: str, new_label: str) -> LockDiff:
    """What changes from ``old`` to ``new``, platform by platform, sorted by name."""
    platforms = []
    names = sorted({p.platform for p in old.platforms} | {p.platform for p in new.platforms})
    for platform in names:
        before, after = _sides(old, platform), _sides(new, platform)
        changes = []
        for key in sorted(before.keys() | after.keys(), key=lambda k: (k[1], k[0])):
            kind = _kind(key[0], before.get(key), after.get(key))
            if kind is not None:
                source: Source = "conda" if key[0] == "conda" else "pypi"
                changes.append(PackageChange(source, key[1], kind, before.get(key), after.get(key)))
        platforms.append(
            PlatformDiff(
                platform,
                tuple(changes),
                sum(s.size for s in before.values()),
                sum(s.size for s in after.values()),
            )
        )
    old_warnings, new_warnings = _warnings(old), _warnings(new)
    return LockDiff(
        old_label,
        new_label,
        tuple(platforms),
        old.target.cuda,
        new.target.cuda,
        old.target.requires_driver,
        new.target.requires_driver,
        new.target.requires_driver_because,
        tuple(sorted(new_warnings - old_warnings)),
        tuple(sorted(old_warnings - new_warnings)),
    )


# ---------------------------------------------------------------------------------------------
# Reading the two sides


def read_side(spec: str | None, default: Path) -> tuple[str, Lock]:
    """A lock named on the command line: a file, ``REV:PATH`` in git, or a git revision of
    the default lock (None means HEAD)."""
    if spec is not None and os.path.lexists(spec):
        try:
            data = read_input(Path(spec), "lock")
        except FileNotFoundError:  # lexists saw a symlink; what it names is not there
            raise UsageError(
                "no lock here: a symlink to a file that does not exist",
                where=spec,
                hint="name an existing lock file, or a revision such as HEAD~1 or main",
            ) from None
        return spec, _parse(data, spec)
    rev, _, path = (spec or "HEAD").partition(":")
    if rev.startswith("-") or not rev:
        # git would take it as an option (--output=FILE writes files)
        raise UsageError(
            f"{spec!r} is neither a lock file nor a git revision",
            where=spec or "",
            hint="name an existing lock file, or a revision such as HEAD~1 or main",
        )
    where = Path(path) if path else default
    label = f"{rev}:{path or default.name}"
    return label, _parse(_git_show(rev, where), label)


def _git_show(rev: str, path: Path) -> bytes:
    directory = path.absolute().parent
    try:
        result = subprocess.run(
            ["git", "show", f"{rev}:./{path.name}"],
            cwd=directory,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError(
            "git is not installed, so no revision can be read",
            where=f"{rev}:{path}",
            hint="name two lock files: mlenv diff OLD.lock NEW.lock",
        ) from None
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(
            f"cannot read {path.name} at {rev!r} from git" + (f" ({detail[-1]})" if detail else ""),
            where=f"{rev}:{path}",
            hint="name an existing lock file or a revision that has one, "
            "e.g. mlenv diff main mlenv.lock",
        )
    return result.stdout


def _parse(data: bytes, label: str) -> Lock:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MlenvError(
            "not a lock: the file is not UTF-8 text", where=label, hint="name an mlenv.lock"
        ) from None
    return load_lock(text, source=label)


# ---------------------------------------------------------------------------------------------
# Rendering


def _signed(n: int) -> str:
    return ("+" if n >= 0 else "-") + human_bytes(abs(n))


def _version(change: PackageChange) -> str:
    if change.old and change.new:
        return f"{change.old.version} -> {change.new.version}"
    side = change.new or change.old
    assert side is not None
    return side.version


def _cuda(change: PackageChange) -> str:
    old = change.old.cuda if change.old else None
    new = change.new.cuda if change.new else None
    if not change.cuda_changed:
        return f"CUDA {new}" if new and change.kind in ("added", "removed") else ""
    return f"CUDA {old or 'none'} -> {new or 'none'}"


def _summary(p: PlatformDiff) -> str:
    counts = ", ".join(f"{p.count(k)} {k}" for k in _KINDS if p.count(k))
    return (
        f"{counts or 'no package changes'}; download {_signed(p.new_size - p.old_size)} "
        f"({human_bytes(p.old_size)} -> {human_bytes(p.new_size)})"
    )


def _driver(diff: LockDiff) -> str:
    because = f" (because {diff.new_driver_because})" if diff.new_driver_because else ""
    if diff.old_driver == diff.new_driver:
        return f"driver needed: {diff.new_driver or 'none'}, unchanged"
    return f"driver needed: {diff.old_driver or 'none'} -> {diff.new_driver or 'none'}{because}"


def render_text(diff: LockDiff) -> str:
    lines = [f"mlenv diff {diff.old_label} -> {diff.new_label}"]
    for p in diff.platforms:
        lines.append(f"{p.platform}: {_summary(p)}")
        width = max((len(c.name) for c in p.changes), default=0)
        for c in p.changes:
            tail = "  ".join(x for x in (_signed(c.size_delta).rjust(12), _cuda(c)) if x)
            lines.append(
                f"  {_MARK[c.kind]} {c.name.ljust(width)}  {_version(c).ljust(28)} {tail}".rstrip()
            )
    lines += _target_lines(diff)
    return "\n".join(lines) + "\n"


def _target_lines(diff: LockDiff) -> list[str]:
    lines = []
    if diff.old_cuda != diff.new_cuda:
        lines.append(f"CUDA target: {diff.old_cuda or 'none'} -> {diff.new_cuda or 'none'}")
    lines.append(_driver(diff))
    lines += [f"new {w}" for w in diff.new_warnings]
    lines += [f"gone {w}" for w in diff.gone_warnings]
    return lines


def render_markdown(diff: LockDiff) -> str:
    """A pull-request comment: a summary per platform and a table of the changed packages.
    What the locks say (labels, versions, builds, CUDA labels, warnings) is written as code
    spans, so a reviewer reads it as the text renderer prints it."""
    lines = [f"### mlenv.lock: {_code(diff.old_label)} → {_code(diff.new_label)}", ""]
    for p in diff.platforms:
        lines += [f"**{p.platform}**: {_summary(p)}", ""]
        if p.changes:
            lines += ["| | package | version | download | CUDA |", "|---|---|---|---:|---|"]
            lines += ["| " + " | ".join(_cell(text) for text in _row(c)) + " |" for c in p.changes]
            lines.append("")
    lines += [f"- {_code(line)}" for line in _target_lines(diff)]
    return "\n".join(lines) + "\n"


def _row(c: PackageChange) -> tuple[str, ...]:
    cells = (f"{_code(c.name)} ({c.source})", _code(_version(c)), _signed(c.size_delta))
    return (c.kind, *cells, _code(_cuda(c)))


def _code(text: str) -> str:
    """``text`` as a Markdown code span, which holds no markup, HTML or @mention: a conda
    version ``1.0=h0<!--`` and build ``-->`` of a hand-edited lock showed a changed entry as
    ``1.0=h0 -> 1.0=h0``. The fence outruns every backtick run of the text; blanks around it
    keep a text that starts or ends with a backtick or blank as it is (CommonMark drops one
    from each end when both are there, unless the text is blanks alone)."""
    if not text:
        return ""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    padded = text.strip(" ") != "" and (text[0] in "` " or text[-1] in "` ")
    return f"{fence} {text} {fence}" if padded else f"{fence}{text}{fence}"


def _cell(text: str) -> str:
    """A table cell's text with its pipes escaped: a multi-CUDA wheel's ``11.x|12.x`` split
    the row into extra columns (GFM splits a row before it reads code spans)."""
    return text.replace("|", "\\|")
