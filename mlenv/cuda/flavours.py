"""Packages one release installs in several CUDA flavours side by side, loading the one the
driver runs.

From 4.6, ``nvidia-cutlass-dsl`` always installs ``nvidia-cutlass-dsl-libs-cu12`` and, with its
``[cu13]`` extra (NVIDIA's install for CUDA 13), ``-libs-cu13`` beside it; ``-libs-base`` then
loads the newest flavour whose major the driver supports (``_select_and_load_cutlass_ir_toolkit``
in its ``cutlass/_mlir/_mlir_libs/__init__.py``). So a Requires-Dist line naming a flavour
claims no build for the package that requires it, and a flavour of an older major than the
target is never the one loaded when the flavour of the target's major, same release, is locked
beside it. Alone, it is a build of another major (``unpaired``, once all are pinned); of a newer
major than the target it is what a newer driver loads, refused as any other build of another
major (``cuda.rules``, so the resolver walks back past a requirer of ``[cu13]`` on a CUDA 12
fleet). The rows are ``side_by_side`` in ``mlenv/data/cuda.json``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv.cuda.matrix import table

if TYPE_CHECKING:
    from mlenv.cuda.rules import PackageNeed


@dataclass(frozen=True)
class _Row:
    """One ``side_by_side`` row of cuda.json."""

    match: re.Pattern[str]  # a flavour's name; (?P<major>...) is its CUDA major
    package: str  # the flavour of one major: "...-cu{major}"
    versions: SpecifierSet  # the releases installed side by side
    parent: str  # the package whose extras choose the flavours
    extra: str  # the parent's extra adding the flavour of one major: "cu{major}"


@functools.cache
def _rows() -> tuple[_Row, ...]:
    return tuple(
        _Row(
            re.compile(row["regex"]),
            str(row["package"]),
            SpecifierSet(row["versions"]),
            str(row["parent"]),
            str(row["extra"]),
        )
        for row in table("side_by_side")
    )


def _flavour(name: str) -> tuple[_Row, int] | None:
    package = canonicalize_name(name)
    for row in _rows():
        if (found := row.match.fullmatch(package)) is not None:
            return row, int(found["major"])
    return None


def _releases(specifier: SpecifierSet) -> list[Version]:
    """The releases a requirement pins or starts from (``==4.8.1``, ``>=4.6``)."""
    said = []
    for spec in specifier:
        if spec.operator in ("==", "===", ">=", "~="):
            try:
                said.append(Version(spec.version.removesuffix(".*")))
            except InvalidVersion:
                return []
    return said


def _side_by_side(row: _Row, version: Version) -> bool:
    """Whether a release is one installed side by side; a pre-release (4.9.0rc1) too, whatever
    the installed ``packaging`` does by default (before 25 ``in`` left pre-releases out)."""
    return row.versions.contains(version, prereleases=True)


def flavour_line(name: str, specifier: SpecifierSet) -> bool:
    """Whether a Requires-Dist line names a flavour, at releases that are all installed side by
    side (a line that could reach an older, single-flavour release claims a build as before)."""
    found = _flavour(name)
    releases = _releases(specifier)
    if found is None or not releases:
        return False
    return all(_side_by_side(found[0], v) for v in releases)


def _release_flavour(name: str, version: str) -> tuple[_Row, int] | None:
    """The row and CUDA major of a flavour release installed side by side; None otherwise."""
    found = _flavour(name)
    try:
        return found if found is not None and _side_by_side(found[0], Version(version)) else None
    except InvalidVersion:
        return None


def flavour_major(name: str, version: str) -> int | None:
    """The CUDA major of a flavour release installed side by side; None for anything else."""
    found = _release_flavour(name, version)
    return None if found is None else found[1]


def unpaired(major: int, needs: Sequence[PackageNeed]) -> list[tuple[str, str, str, str]]:
    """(package, needs, message, hint) for each flavour of an older CUDA major than the
    target's that the flavour of the target's major, same release, does not stand beside in
    ``needs`` (one platform's packages); a newer major's is judged alone (``cuda.rules``)."""
    locked = {(canonicalize_name(item.name), item.version) for item in needs}
    said = []
    for item in needs:
        found = _release_flavour(item.name, item.version)
        if found is None or found[1] >= major:
            continue
        row, own = found
        sibling = row.package.format(major=major)
        if (sibling, item.version) in locked:
            continue
        extra = row.extra.format(major=major)
        said.append(
            (
                item.name,
                f"CUDA {major}.x ({sibling} {item.version} beside it)",
                f"{item.name} {item.version} is the CUDA {own}.x flavour of {row.parent}, but "
                f"the target is CUDA {major}.x and {sibling} {item.version} is not locked "
                "beside it, so the CUDA "
                f"{own}.x flavour is what would be loaded",
                f'ask for "{row.parent}[{extra}]" (NVIDIA\'s install for CUDA {major}), which '
                f"locks {sibling} beside it",
            )
        )
    return said
