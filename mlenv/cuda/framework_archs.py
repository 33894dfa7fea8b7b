"""GPU architectures a framework's own CUDA builds leave out, below what the CUDA release
itself still supports (cuda.json ``framework_archs``): PyTorch's CUDA 12.8/12.9 wheels carry
no Maxwell or Pascal code although CUDA 12.x builds for them, so a fleet of P100s passed a
``+cu128`` torch and failed at its first kernel ("no kernel image is available"). The list
differs between releases (2.7 and 2.11 on also leave out Volta), so each row names the
releases it holds for; the first row naming the package's release decides."""

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
    packages: dict[str, SpecifierSet]  # package -> the releases the row holds for
    first: CudaVersion
    last: CudaVersion
    lowest: str
    built: str
    instead: str


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
        )
        for row in table("framework_archs")
    )


def unbuilt_archs(target: CudaTarget, item: PackageNeed) -> list[tuple[str, str, str, str]]:
    """(code, needs, message, hint) for each target GPU architecture below the lowest one the
    package's build carries; empty when it carries them all or mlenv knows no list for it."""
    need = item.need
    said = []
    floor = _floor(item)
    if floor is not None:
        for arch in target.archs:
            if arch_cc(arch) >= arch_cc(floor.lowest):
                continue
            said.append(
                (
                    "arch-not-built",
                    floor.lowest,
                    f"{item.name} {item.version} is built for CUDA {need.cuda}, and its CUDA "
                    f"{need.cuda} builds carry no code for {arch} (they are built for "
                    f"{floor.built}); the GPU fails at its first kernel",
                    f"use {floor.instead} of {item.name}, or drop {arch} from the fleet",
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
