"""GPU architectures a framework's own CUDA builds leave out, below what the CUDA release
itself still supports (cuda.json ``framework_archs``): PyTorch's CUDA 12.8/12.9 wheels carry
no Maxwell or Pascal code although CUDA 12.x builds for them, so a fleet of P100s passed a
``+cu128`` torch and failed at its first kernel ("no kernel image is available"). The list
differs between releases (2.7 and 2.11 on also leave out Volta), so each row names the
releases it holds for; the first row naming the package's release decides. A row with a
``highest`` architecture and no PTX also leaves out every GPU of a newer major: NVIDIA runs a
cubin for X.y only on X.z (z >= y), and only PTX on a newer architecture, so PyTorch's CUDA 12.6
wheels (up to sm_90) have no code for a Blackwell GPU."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from mlenv.cuda.matrix import table
from mlenv.cuda.versions import CudaVersion, arch_cc

if TYPE_CHECKING:
    from mlenv.cuda.rules import CudaTarget, PackageNeed


@dataclass(frozen=True)
class _Floor:
    """One ``framework_archs`` row of cuda.json."""

    packages: dict[str, SpecifierSet]  # package -> the releases the row holds for
    first: CudaVersion
    last: CudaVersion
    lowest: str
    built: str
    instead: str
    highest: str | None  # the newest architecture with code, when no PTX follows it
    newer: str  # the remedy for a GPU of a newer major than ``highest``


@functools.cache
def _floors() -> tuple[_Floor, ...]:
    return tuple(
        _Floor(
            {name: SpecifierSet(spec) for name, spec in row["packages"].items()},
            CudaVersion.parse(row["cuda_from"]),
            CudaVersion.parse(row["cuda_to"]),
            str(row["lowest"]),
            str(row["built"]),
            str(row["instead"]),
            str(row["highest"]) if "highest" in row else None,
            str(row.get("newer", "")),
        )
        for row in table("framework_archs")
    )


def unbuilt_archs(target: CudaTarget, item: PackageNeed) -> list[tuple[str, str, str, str]]:
    """(code, needs, message, hint) for each target GPU architecture below the lowest one the
    package's build carries, or of a newer major than its newest without PTX; empty when it
    carries them all or mlenv knows no list for it."""
    need = item.need
    said: list[tuple[str, str, str, str]] = []
    floor = _floor(item)
    if floor is None:
        return said
    for arch in target.archs:
        if arch_cc(arch) < arch_cc(floor.lowest):
            needs, why, instead = floor.lowest, "", floor.instead
        elif floor.highest is not None and arch_cc(arch) // 10 > arch_cc(floor.highest) // 10:
            needs, instead = f"<= {floor.highest}", floor.newer
            why = ", with no PTX a newer GPU could compile"
        else:
            continue
        said.append(
            (
                "arch-not-built",
                needs,
                f"{item.name} {item.version} is built for CUDA {need.cuda}, and its CUDA "
                f"{need.cuda} builds carry no code for {arch} (they are built for "
                f"{floor.built}{why}); the GPU fails at its first kernel",
                f"use {instead} of {item.name}, or drop {arch} from the fleet",
            )
        )
    return said


def _floor(item: PackageNeed) -> _Floor | None:
    """The first row naming the package, its CUDA and its release (the local label ignored:
    +cu128 is the build, not the release; a pre-release read as the release it leads to:
    ``>=2.11`` holds no 2.11.0rc1, which is built as 2.11.0 is); a release that cannot be
    parsed meets only a row holding every release."""
    try:
        release: Version | None = Version(Version(item.version).base_version)
    except InvalidVersion:
        release = None
    for floor in _floors():
        releases = floor.packages.get(item.name)
        if releases is None or not floor.first <= item.need.cuda <= floor.last:
            continue
        if release is None and str(releases):
            continue
        if release is None or releases.contains(release, prereleases=True):
            return floor
    return None
