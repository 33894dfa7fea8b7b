"""NVIDIA's split CUDA packages on conda (cuda-cudart, cuda-nvrtc, libcublas, libcufft ... from
conda-forge or the nvidia channel) read as the NVIDIA wheel of the same component and version.

Both are built from NVIDIA's redistributable archive of one toolkit update and carry its
version (the conda-forge recipes download ``<component>-<platform>-<version>-archive``), so
``cuda-cudart 12.6.77`` is traced to CUDA 12.6 Update 2, and its driver, by the very rows and
tag patterns that trace ``nvidia-cuda-runtime-cu12==12.6.77``: one place, no second table.
"""

from __future__ import annotations

from mlenv.cuda.matrix import components, conda_component, facts
from mlenv.cuda.tags import CudaNeed, _first, _Pin
from mlenv.cuda.versions import CudaError, CudaVersion, leading_numbers

# NVIDIA's conda metapackages are versioned as the toolkit release they pin, as PyPI's
# cuda-toolkit is (cuda.json conda_components): read as that wheel, to the update's driver.
_TOOLKIT = "cuda-toolkit"
# conda's monolithic pre-12 toolkit: conda-forge's recipe repackages NVIDIA's runfile
# cuda_<X.Y.Z>_<driver>_linux.run from compute/cuda/<X.Y.Z>/local_installers at version X.Y.Z
# (11.2.1 is cuda_11.2.1_460.32.03_linux.run), so an X.Y.Z that Table 3 lists is that update.
_MONOLITHIC = "cudatoolkit"
_MONOLITHIC_SOURCE = (
    "conda-forge/cudatoolkit-feedstock@02c236d129d4f6297fca77506b60229b32c94612:recipe/meta.yaml"
)


def _major(component: str, version: tuple[int, ...]) -> int | None:
    """The CUDA major whose toolkits shipped this component version, by the longest prefix
    of the version that any ``component_versions`` row shares; None when no row shares one
    or rows of two majors do (curand 10.3 is in 11.8 and in every 12.x)."""
    rows = components(component)
    for depth in (4, 3, 2):
        majors = {row.cuda.major for row in rows if row.version[:depth] == version[:depth]}
        if majors:
            return majors.pop() if len(majors) == 1 else None
    return None


def component_needs(name: str, version: str, *, where: str) -> list[CudaNeed]:
    """The need of a conda record of an NVIDIA CUDA component, as the NVIDIA wheel of that
    version reads (an exact pin: the update that shipped it, when the rows know it); [] for
    other packages and for versions no row places, which the conda-spec patterns then read."""
    if name == _MONOLITHIC:
        return _monolithic(version, where=where)
    component = conda_component(name)
    if component is None:
        return []
    if component == _TOOLKIT:  # cuda-toolkit, cuda-runtime ... X.Y.Z: release X.Y.Z itself
        return _first("name", _TOOLKIT, _Pin(version, "exact"), f"{name} {version}", where=where)
    try:
        numbers = leading_numbers(version, where=where)
    except CudaError:
        return []
    major = _major(component, numbers)
    if major is None:
        return []
    # NVIDIA's wheel names: -cu11 and -cu12 suffixes, unsuffixed from CUDA 13 (cuda.md §8.2)
    wheel = f"nvidia-{component}" + ("" if major >= 13 else f"-cu{major}")
    return _first("name", wheel, _Pin(version, "exact"), f"{name} {version}", where=where)


def _monolithic(version: str, *, where: str) -> list[CudaNeed]:
    """``cudatoolkit X.Y.Z`` as the toolkit update X.Y.Z when Table 3 lists that release;
    other numbers (Anaconda's 11.0.221 and 11.1.74 are libcudart's) stay with the spec
    patterns, which read X.Y."""
    try:
        numbers = leading_numbers(version, where=where)
    except (CudaError, ValueError):  # past int()'s digit limit: the spec patterns refuse it
        return []
    if len(numbers) < 3 or not any(row.version == numbers[:3] for row in facts().releases):
        return []
    release = ".".join(map(str, numbers[:3]))
    cuda = CudaVersion(numbers[0], numbers[1])
    evidence = f"{_MONOLITHIC} {version}"
    return [
        CudaNeed(cuda, False, "conda-cudatoolkit-release", evidence, _MONOLITHIC_SOURCE, release)
    ]
