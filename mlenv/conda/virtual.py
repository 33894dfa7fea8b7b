"""What the target offers the conda solver: virtual packages and the CUDA constraint.

Why virtual packages come from the manifest: a lock is made for a fleet, not for the host that
runs ``mlenv lock``, so ``__cuda``, ``__glibc``, ``__linux``, ``__unix`` and ``__archspec`` are
stated explicitly and never detected.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlenv.conda.records import CondaError
from mlenv.platforms import NAMES, by_name

# The manifest states no kernel; 5.10 is what conda-lock assumes too, so locks agree.
LINUX_KERNEL = "5.10"


@dataclass(frozen=True)
class VirtualPackage:
    """A virtual package the target provides (plain data: the parent never imports rattler)."""

    name: str
    version: str
    build: str = "0"

    def __str__(self) -> str:
        return f"{self.name}={self.version}={self.build}"


def virtual_packages(
    platform: str, *, cuda: str | None, glibc: str, driver_floor: str = ""
) -> tuple[VirtualPackage, ...]:
    """What the target offers the solver, from the manifest alone, sorted by name: ``__cuda``
    is the driver's CUDA, the one the fleet's ``driver_floor`` supports (``offered_cuda``)."""
    try:
        arch = by_name(platform).archspec  # a baseline CPU family: no x86_64_v3 builds
    except KeyError:
        raise CondaError(
            f"mlenv cannot solve conda packages for {platform!r}",
            where="environment.platforms",
            hint=f"supported platforms: {', '.join(sorted(NAMES))}",
        ) from None
    found = [
        VirtualPackage("__archspec", "1", arch),
        VirtualPackage("__glibc", glibc),
        VirtualPackage("__linux", LINUX_KERNEL),
        VirtualPackage("__unix", "0"),
    ]
    if cuda is not None:
        from mlenv.cuda.driver_cuda import offered_cuda

        found.append(VirtualPackage("__cuda", offered_cuda(cuda, driver_floor)))
    return tuple(sorted(found, key=lambda package: package.name))


def cuda_version_constraint(cuda: str) -> str:
    """Keeps ``cuda-version`` at the target minor when anything pulls it in.

    A constraint, not a requirement: CPU-only channels have no ``cuda-version`` and still
    solve, while CUDA packages (which depend on ``cuda-version >=X.0,<X+1``) can no longer
    drift to a newer minor than the manifest names. ``X.Y.*`` rather than ``==X.Y`` so that
    channels publishing ``12.4.1`` also match.
    """
    return f"cuda-version {cuda}.*"
