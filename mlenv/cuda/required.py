"""The driver an environment needs for its full feature set: each package's Table 3 driver
(its CUDA release, Linux or Windows column, and any ``__cuda`` floor), and the highest of those
within the target's major, with the package that sets it."""

from __future__ import annotations

from collections.abc import Sequence

from mlenv.cuda.driver_cuda import floor_driver
from mlenv.cuda.matrix import known_cuda_versions, min_driver, table3_driver
from mlenv.cuda.rules import CudaTarget, PackageNeed
from mlenv.cuda.versions import CudaError, DriverVersion


def package_driver(item: PackageNeed, *, windows: bool = False) -> tuple[DriverVersion, str] | None:
    """The driver one package needs for its full feature set, and the release that sets it, in
    Table 3's Linux column or (``windows``: a WSL 2 host's driver) its Windows column.

    None when the package fixes only a CUDA major and asks no ``__cuda`` floor (or is a
    placeholder): then the target's toolkit decides.
    """
    need = item.need
    if need.stub is not None:
        return None
    floor = need if need.driver_only else need.driver_cuda  # __cuda: the driver's CUDA
    above = floor_driver(floor, windows=windows) if floor is not None else None
    if need.major_only or need.driver_only:
        return above
    known = need.cuda in known_cuda_versions()
    found = table3_driver(need.cuda, need.release, windows=windows) if known else None
    if found is not None and above is not None:
        return max(found, above)
    if found is None:
        raise CudaError(
            f"the minimum driver for CUDA {need.cuda} is not known",
            where=f"{item.name} {item.version}",
            hint=f"use a build of {item.name} for a CUDA release with a known driver",
        )
    return found


def required_driver(target: CudaTarget, needs: Sequence[PackageNeed]) -> tuple[DriverVersion, str]:
    """The driver the environment needs for its full feature set, and which package sets it.

    Packages of another major or fixing only the major do not raise it; judge() reports them.
    """
    best = min_driver(target.cuda)
    why = f"target CUDA {target.cuda}"
    for item in needs:
        if item.need.cuda.major != target.cuda.major and not item.need.driver_only:
            continue
        found = package_driver(item)
        if found is not None and found[0] > best:
            best, why = found[0], f"{item.name} {item.version} ({found[1]})"
    return best, why
