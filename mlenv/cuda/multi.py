"""Wheels that carry libraries for several CUDA releases and load one at run time.

bitsandbytes ships ``libbitsandbytes_cudaXY`` for many CUDA releases in one wheel and loads the
one for the CUDA PyTorch was built with (``torch.version.cuda``): up to 0.49 exactly that
release, from 0.50 the nearest one of the same major (the newest below it, else the oldest
above), never one of another major (``cextension.get_cuda_bnb_library_path`` of each release).
So such a wheel runs on a fleet of any major it ships a library for, and beside a torch built
for CUDA X.Y only if a library it would load is there. The releases each wheel ships are read
from the wheels themselves (their file lists) into ``mlenv/data/gpu_packages.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from packaging.utils import canonicalize_name

from mlenv.cuda.versions import CudaVersion

if TYPE_CHECKING:
    from mlenv.cuda.rules import PackageNeed

Loader = Literal["exact", "same-major"]
LOADERS: tuple[Loader, ...] = ("exact", "same-major")
# a followed PyPI package by its conda names too: the pytorch channel's and conda-forge's
# ``pytorch`` is the torch whose ``torch.version.cuda`` bitsandbytes reads
_CONDA_NAMES = {"torch": ("pytorch",)}


@dataclass(frozen=True)
class MultiCuda:
    """The CUDA releases one wheel ships libraries for, how it picks one, and whose CUDA it
    follows (the package whose build decides which library is loaded)."""

    builds: tuple[CudaVersion, ...]
    loader: Loader
    follows: str
    machines: tuple[str, ...] = ()  # the CPUs its libraries are built for; () for every one

    @property
    def majors(self) -> tuple[int, ...]:
        return tuple(sorted({build.major for build in self.builds}))

    @property
    def label(self) -> str:
        """The lock's ``cuda`` for such a wheel: every major it runs on (``11.x|12.x``)."""
        return "|".join(f"{major}.x" for major in self.majors)

    def loads(self, cuda: CudaVersion) -> CudaVersion | None:
        """The library it loads beside a ``follows`` built for ``cuda``; None when none."""
        if cuda in self.builds:
            return cuda
        if self.loader == "exact":
            return None
        same = [build for build in self.builds if build.major == cuda.major]
        below = [build for build in same if build < cuda]
        return max(below) if below else min(same, default=None)


def unloadable(needs: Sequence[PackageNeed], machine: str = "") -> list[tuple[str, str, str, str]]:
    """(package, needs, message, hint) for each multi-CUDA wheel that ships no library it would
    load beside the locked build it follows, among packages installed together (one platform's,
    of CPU ``machine``: ``rules.judge`` asks per platform); nothing when that build fixes only a
    major. bitsandbytes up to 0.42 is one py3-none-any wheel of x86_64 libraries, which pip
    installs on aarch64 too: there it loads none."""
    said = []
    for item in needs:
        if (multi := item.need.multi) is None:
            continue
        if machine and multi.machines and machine not in multi.machines:
            built = ", ".join(multi.machines)
            said.append(
                (
                    item.name,
                    f"a library for {machine}",
                    f"{item.name} {item.version} ships CUDA libraries built for {built} only, "
                    f"none for {machine}; its GPU functions fail at run time",
                    f"pin a release of {item.name} with a {machine} wheel (bitsandbytes 0.46 "
                    "or later), or leave it off this platform with a platform_machine marker",
                )
            )
            continue
        said += _missing(item, multi, needs)
    return said


def _missing(
    item: PackageNeed, multi: MultiCuda, needs: Sequence[PackageNeed]
) -> list[tuple[str, str, str, str]]:
    names = {multi.follows, *_CONDA_NAMES.get(multi.follows, ())}
    found = []
    for followed in needs:
        if canonicalize_name(followed.name) not in names or followed.need.major_only:
            continue
        cuda = followed.need.cuda
        if followed.need.stub is not None or multi.loads(cuda) is not None:
            continue
        shipped = ", ".join(map(str, multi.builds))
        rule = "that release only" if multi.loader == "exact" else f"a CUDA {cuda.major}.x one"
        found.append(
            (
                item.name,
                f"a library for CUDA {cuda}",
                f"{item.name} {item.version} loads the library for the CUDA "
                f"{followed.name} {followed.version} is built for ({cuda}), {rule}, but ships "
                f"libraries for CUDA {shipped} only; its GPU functions fail at run time",
                f"pin a release of {item.name} that ships a CUDA {cuda} library, or a build of "
                f"{followed.name} for one of its CUDA releases",
            )
        )
    return found
