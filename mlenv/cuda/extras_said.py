"""The CUDA a GPU package's optional extras say it was built for, when nothing else says it.

onnxruntime-gpu 1.24 and later name no CUDA in their name, version or base Requires-Dist; only
their ``cuda``/``cudnn`` extras do (1.24-1.26: ``nvidia-cuda-runtime-cu12~=12.0``, 1.27:
``-cu13``, 1.28 on: the unsuffixed CUDA-13 ``nvidia-cuda-runtime~=13.0``). Those extras fetch
the libraries the binary was linked against, so they tell its CUDA even when the extra is not
asked for. They are read only for a package the GPU table lists, and only when every extra names
one CUDA major: a package offering ``[cuda12]`` and ``[cuda13]`` is built for neither.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mlenv.cuda.versions import CudaError

if TYPE_CHECKING:
    from mlenv.cuda.tags import CudaNeed

_EXTRA_NAME_RE = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def said_by_extras(
    package: str, requires_dist: Sequence[str], read: Callable[[str, str], list[CudaNeed]]
) -> list[CudaNeed]:
    """The needs ``read(line, extra)`` finds in a listed GPU package's extra-gated lines (an
    unreadable line skipped); none when they disagree on the major."""
    from mlenv.cuda.packages import known

    if not known(package):
        return []
    needs = []
    for raw in requires_dist:
        for extra in dict.fromkeys(_EXTRA_NAME_RE.findall(raw)):
            try:
                needs += read(raw, extra)
            except CudaError:
                continue  # a range no release pins (nvidia-curand~=10.0) is no evidence
    return needs if len({need.cuda.major for need in needs}) == 1 else []
