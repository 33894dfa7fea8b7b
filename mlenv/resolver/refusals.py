"""Why files were never candidates: each refused file with its reason, the refusal worth
reporting for a release (that of the file closest to the target), and a yanked file's reason.
Kept apart from the page reading so the accounts of a failure and the CUDA checks share them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from packaging.version import Version

from mlenv.index import IndexFile
from mlenv.resolver.model import Refusal
from mlenv.target import Target, interpreter_order


def fit(file: IndexFile, target: Target) -> tuple[int, int, str]:
    """How well a file fits the target, lower first: a wheel with the target's tags (by tag
    rank), then wheels only a newer glibc floor would take, then wheels of the target's
    platform for another Python (the newest Python first), then other platforms, then
    sdists."""
    if not file.is_wheel:
        return 4, 0, file.filename
    ranks = [target.tag_priority[tag] for tag in file.tags if tag in target.tag_priority]
    if ranks:
        return 0, min(ranks), file.filename
    if target.glibc_above(file.tags):
        return 1, 0, file.filename
    if pythons := target.other_python(file.tags):
        return 2, -interpreter_order(pythons[0]), file.filename
    return 3, 0, file.filename


def best_refusal(refusals: Iterable[Refusal], target: Target) -> Refusal:
    """The refusal to report for a release: that of the file closest to the target (the CUDA
    refusal of the x86_64 wheel, not the tag refusal of the aarch64 one)."""
    return min(refusals, key=lambda r: fit(r.file, target))


@dataclass
class _Rejections:
    """Why files of one project were not candidates: every file's reason is kept."""

    versions: set[Version] = field(default_factory=set)
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    files: list[Refusal] = field(default_factory=list)
    by_policy: bool = False

    def add(self, file: IndexFile, reason: str, *, by_policy: bool) -> None:
        self.reasons[reason] += 1
        self.files.append(Refusal(file, reason))
        self.by_policy |= by_policy

    def refused(self, target: Target) -> dict[Version, str]:
        """Each refused release with the reason of its best-fitting file."""
        by_version: dict[Version, list[Refusal]] = defaultdict(list)
        for refusal in self.files:
            by_version[refusal.file.version].append(refusal)
        return {v: best_refusal(found, target).reason for v, found in by_version.items()}

    def add_provided(self, version: Version, refused: str = "") -> None:
        """``refused``: why the resolution cannot take conda's version (a constraint)."""
        self.versions.add(version)
        because = f", {refused}" if refused else ""
        self.reasons[f"the conda environment provides {version}{because}"] += 1


def yank_reason(file: IndexFile | None) -> str | None:
    """PEP 592: a yanked file is its own reason, with the index's yank reason when given."""
    if file is None or file.yanked is None:
        return None
    because = f" ({file.yanked})" if file.yanked else ""
    pin = f"=={file.version}"  # the exact version: ==1.0 does not select 1.0+cu124
    return f"{file.version} is yanked{because}; only a manifest pin {pin} selects it"
