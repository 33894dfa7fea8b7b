"""GPU architectures a framework's own CUDA builds leave out, below what the CUDA release
itself still supports (cuda.json ``framework_archs``): PyTorch's CUDA 12.8/12.9 wheels carry
no Maxwell or Pascal code although CUDA 12.x builds for them, so a fleet of P100s passed a
``+cu128`` torch and failed at its first kernel ("no kernel image is available")."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlenv.cuda.matrix import table
from mlenv.cuda.versions import CudaVersion, arch_cc

if TYPE_CHECKING:
    from mlenv.cuda.rules import CudaTarget, PackageNeed


@dataclass(frozen=True)
class _Floor:
    packages: frozenset[str]
    first: CudaVersion
    last: CudaVersion
    lowest: str
    built: str
    instead: str


@functools.cache
def _floors() -> tuple[_Floor, ...]:
    return tuple(
        _Floor(
            frozenset(row["packages"]),
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
    for floor in _floors():
        if item.name not in floor.packages or not floor.first <= need.cuda <= floor.last:
            continue
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
