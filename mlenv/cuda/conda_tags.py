"""What CUDA a conda record needs, from its build string, itself, its depends and constrains.

``constrains`` binds only a package something else installs: numba's and Open MPI's
``cuda-version >=11.2`` / ``cudatoolkit >=11.2`` say "a CUDA toolkit, if there is one, is at
least 11.2" (conda-forge numba-feedstock recipe.yaml ``run_constraints``), and no build of
theirs needs CUDA. Such an open floor is read only beside another CUDA signal of the record,
and never contradicts a newer build there; ``__cuda`` in constrains always binds (the driver's
virtual package is always there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mlenv.conda.records import match_spec_name, match_spec_text
from mlenv.cuda.tags import _CUDA_TAG_RE, _DRIVER_RULE, CudaNeed, _combine, _first, _tagged
from mlenv.cuda.versions import CudaVersion, spec_open_above

# conda's monolithic toolkit ends at 11.8: from CUDA 12 conda-forge ships NVIDIA's split
# packages instead ("the cudatoolkit package no longer exists", conda-forge.github.io#1963)
_MONOLITHIC_LAST = 11


def _from_specs(specs: Sequence[str], label: str, *, where: str) -> list[CudaNeed]:
    return [
        need
        for spec in specs
        for need in _first("conda-spec", match_spec_text(spec), None, f"{label}{spec}", where=where)
    ]


def _constrained(specs: Sequence[str], *, where: str) -> list[CudaNeed]:
    """The needs of ``constrains``, an open toolkit floor marked so (``open_above``): it says
    only that a toolkit, if installed, is at least that old. A depends floor stays a build
    claim: a package that installs cuda-cudart >=12.1 was linked against CUDA 12's runtime."""
    found = []
    for spec in specs:
        for need in _from_specs([spec], "constrains ", where=where):
            text = match_spec_text(spec)  # no blank need part name and version: cudatoolkit>=11.2
            version = text[len(match_spec_name(text) or "") :].strip()
            is_open = need.rule != _DRIVER_RULE and spec_open_above(version)
            found.append(replace(need, open_above=is_open))
    return found


def conda_record_need(
    name: str, version: str, build: str, depends: Sequence[str], constrains: Sequence[str]
) -> CudaNeed | None:
    """The CUDA a conda package needs; None for a package with no CUDA signal but open
    toolkit floors in its constrains (a CPU build that merely admits a CUDA toolkit)."""
    from mlenv.cuda.conda_components import component_needs  # an NVIDIA component's update

    where = f"{name} {version} {build}".strip()
    own = _tagged("conda-build", build, _CUDA_TAG_RE.findall(build), f"build {build}", where=where)
    own += component_needs(name, version, where=where)
    own += _from_specs([f"{name} {version}"], "", where=where)
    required = _from_specs(depends, "depends ", where=where)
    constrained = _constrained(constrains, where=where)
    if not own and all(need.rule == _DRIVER_RULE for need in required):
        constrained = [n for n in constrained if n.rule == _DRIVER_RULE or not n.open_above]
    found = _combine(own, required + constrained)
    return None if found is None else replace(found, conda=True)


def conda_hint(name: str, cuda: CudaVersion, advice: str, need: CudaNeed) -> str:
    """The advice for a conda record, with the conda remedy: the cuda-version pin that
    ``mlenv lock`` constrains the solve with (``mlenv.conda.virtual``), never a pip install;
    ``cudatoolkit`` past 11.x has no build to use at all; a ``__cuda`` floor alone is the
    driver's, which no cuda-version pin meets."""
    if need.driver_only:
        return advice
    from mlenv.conda.virtual import cuda_version_constraint
    from mlenv.cuda.conda_components import _MONOLITHIC

    pin = cuda_version_constraint(str(cuda))
    if name == _MONOLITHIC and cuda.major > _MONOLITHIC_LAST:
        return (
            f"{name} ends at CUDA {_MONOLITHIC_LAST}.x: for CUDA {cuda} drop it and depend "
            f"on {pin} and the split packages that replace it (cuda-cudart, libcublas ...), "
            f"or target CUDA {_MONOLITHIC_LAST}.x"
        )
    again = "lock again: mlenv constrains the solve to it"
    if pin.startswith(f"{name} "):  # cuda-version itself
        return f"{advice}; on conda: pin {pin} ({again})"
    return f"{advice}; on conda: a build of {name} that admits {pin} ({again})"
