"""What a GPU package's Requires-Dist says of its CUDA beyond one plain line read alone.

- Extras, when nothing else says it. onnxruntime-gpu 1.24 and later name no CUDA in their name,
  version or base Requires-Dist; only their ``cuda``/``cudnn`` extras do (1.24-1.26:
  ``nvidia-cuda-runtime-cu12~=12.0``, 1.27: ``-cu13``, 1.28 on: the unsuffixed CUDA-13
  ``nvidia-cuda-runtime~=13.0``). Those extras fetch the libraries the binary was linked
  against, so they tell its CUDA even when the extra is not asked for. They are read only for a
  package the GPU table lists, and only when every extra names one CUDA major: a package
  offering ``[cuda12]`` and ``[cuda13]`` is built for neither.
- A range over two majors of a package whose version major is the CUDA major (cuda-bindings,
  cuda-python): nvidia-cutlass-dsl-libs-core 4.8.1, pure Python, requires
  ``cuda-bindings>=12.8``, which a CUDA 13 cuda-bindings meets; it claims no CUDA 12 build (the
  cuda-bindings locked is judged on its own).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet

from mlenv.cuda.matrix import patterns
from mlenv.cuda.versions import CudaError

if TYPE_CHECKING:
    from mlenv.cuda.tags import CudaNeed

_EXTRA_NAME_RE = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def said_by_extras(
    package: str, requires_dist: Sequence[str], where: str, markers: Mapping[str, str]
) -> list[CudaNeed]:
    """The needs in a listed GPU package's extra-gated lines (an unreadable line skipped);
    none when they disagree on the major."""
    from mlenv.cuda.packages import known
    from mlenv.cuda.tags import _from_requirement

    if not known(package):
        return []
    needs = []
    for raw in requires_dist:
        for extra in dict.fromkeys(_EXTRA_NAME_RE.findall(raw)):
            try:
                needs += _from_requirement(raw, where=where, markers=markers, extra=extra)
            except CudaError:
                continue  # a range no release pins (nvidia-curand~=10.0) is no evidence
    return needs if len({need.cuda.major for need in needs}) == 1 else []


def spans_majors(need: CudaNeed, specifier: SpecifierSet) -> bool:
    """Whether a requirement read by a version-major pattern also admits the next major."""
    kinds = {pattern.id: pattern.kind for pattern in patterns("name")}
    if kinds.get(need.rule) != "version-major":
        return False
    after = need.cuda.major + 1
    return any(specifier.contains(f"{after}.{minor}", prereleases=True) for minor in (0, 9))
