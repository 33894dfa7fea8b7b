"""A conda ``__cuda`` floor of a newer CUDA major than the build (``pytorch cuda126_*`` with
``depends: __cuda >=13``): no contradiction, a driver floor.

``__cuda`` is the newest CUDA the *driver* supports (shared/reference/cuda.md §4, §8.11) and
NVIDIA's driver is backward compatible (release notes, "CUDA Driver"; cuda.md §2): a driver
for CUDA 13 runs a 12.6 build. So the build stays what its tags say, and the driver must be
one that reports the floor's CUDA: Table 3's driver for that release, or the "CUDA Version"
nvidia-smi reports on a checked host, the very number conda compares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlenv.cuda.matrix import known_cuda_versions, table3_driver
from mlenv.cuda.versions import CudaVersion, DriverVersion

if TYPE_CHECKING:
    from mlenv.cuda.rules import CudaTarget
    from mlenv.cuda.tags import CudaNeed


def offered_cuda(target: str, floor: str) -> str:
    """conda's ``__cuda`` for a fleet whose oldest driver is ``floor`` (a lock solves for the
    fleet, not this host): the newest CUDA X.Y whose Table 3 driver the floor meets, since a
    driver that runs X.Y's full feature set reports at least X.Y (cuda.md §1, §4), and never
    less than the ``target`` CUDA. A 580.65.06 floor offers 13.0, so a 12.6 build asking the
    driver for ``__cuda >=13`` is solved, as ``verify`` passes it (attack 104). No floor: the
    target."""
    offered = CudaVersion.parse(target)
    if not floor:
        return target
    driver = DriverVersion.parse(floor)
    for cuda in known_cuda_versions():
        found = table3_driver(cuda)
        if found is not None and found[0] <= driver and cuda > offered:
            offered = cuda
    return str(offered)


def newer_major_floor(need: CudaNeed, target_major: int) -> CudaNeed | None:
    """The ``__cuda`` floor above the build's (or the target's) major that the driver must
    meet; None when there is none."""
    if need.driver_only:
        return need if need.cuda.major > target_major else None
    return need.driver_cuda


def floor_driver(floor: CudaNeed, *, windows: bool = False) -> tuple[DriverVersion, str] | None:
    """Table 3's driver (and row) for the floor's CUDA; None when NVIDIA gives none."""
    if floor.cuda not in known_cuda_versions():
        return None
    return table3_driver(floor.cuda, windows=windows)


def driver_floor_said(
    target: CudaTarget, floor: CudaNeed, who: str
) -> tuple[str, str, str, str] | None:
    """(code, needs, message, hint) when the target's driver is below the floor, else None."""
    asks = f"{who} asks for a driver that supports CUDA {floor.cuda} ({floor.evidence!r})"
    if target.reported is not None:
        if target.reported >= floor.cuda:
            return None
        return (
            "cuda-driver-floor",
            f"CUDA Version >= {floor.cuda}",
            f"{asks}; {target.driver_said} reports CUDA Version {target.reported}",
            "upgrade the driver to one that reports CUDA Version "
            f"{floor.cuda} or newer, or use a build without that floor",
        )
    found = floor_driver(floor, windows=target.windows)
    if found is None:
        return (
            "driver-unconfirmed",
            f"CUDA {floor.cuda}",
            f"{asks}, whose minimum driver is unconfirmed",
            "use a build without that floor",
        )
    if target.driver_floor >= found[0]:
        return None
    return (
        "cuda-driver-floor",
        f"driver >= {found[0]}",
        f"{asks}: driver {found[0]} ({found[1]}), but {target.driver_is}",
        f"{target.raise_driver(found[0])}, or use a build without that floor",
    )
