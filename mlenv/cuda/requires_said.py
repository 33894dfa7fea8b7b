"""What a GPU package's Requires-Dist says of its CUDA beyond one plain line read alone.

- Extras, when nothing else says it. onnxruntime-gpu 1.24 and later name no CUDA in their name,
  version or base Requires-Dist; only their ``cuda``/``cudnn`` extras do (1.24-1.26:
  ``nvidia-cuda-runtime-cu12~=12.0``, 1.27: ``-cu13``, 1.28 on: the unsuffixed CUDA-13
  ``nvidia-cuda-runtime~=13.0``). Those extras fetch the libraries the binary was linked
  against, so they tell its CUDA even when the extra is not asked for. They are read only for a
  package the GPU table lists, and only when every extra names one CUDA major: a package
  offering ``[cuda12]`` and ``[cuda13]`` is built for neither (and, when its tags or row name
  a major, each extra is held against it). An extra is found however its
  marker spells it (``"cuda12" == extra``, ``extra === "cuda12"``, ``extra in "cuda12"``), as the
  resolver evaluates it. A package whose own tags or table row say one major and whose extras
  say another is contradicted (``tags.extract``): PyPI's onnxruntime-gpu 1.28 is CUDA 13, a
  mirror's CUDA 12 build of it is not.
- A generic CUDA extra against the base. The extras named for the CUDA libraries a binary
  links (``cuda``, ``cudnn``, ``and-cuda``, ``with-cuda``: no major in the name) say what the
  binary was built for, so one naming another major than the unconditional lines is a
  contradiction, listed or not (``against_base``). An extra named for a major (``cu13``,
  ``cuda13``, ``qnx-cu13``) is a choice among builds, as jax's ``[cuda12]``/``[cuda13]``:
  PyPI's nvidia-cutlass-dsl 4.6-4.8.1 requires ``nvidia-cutlass-dsl-libs-cu12`` and, under
  ``[cu13]``, ``-libs-cu13``, both installed side by side (``libs-base`` loads the newest
  flavour the driver runs), no contradiction. Read 2026-12 from PyPI's wheels: no torch
  2.4-2.15, tensorflow 2.15-2.21, vllm, jax or jax-cuda plugin, onnxruntime-gpu, cupy,
  bitsandbytes, xformers or flashinfer release pairs CUDA lines of two majors so.
- A range over two majors of a package whose version major is the CUDA major (cuda-bindings,
  cuda-python): nvidia-cutlass-dsl-libs-core 4.8.1, pure Python, requires
  ``cuda-bindings>=12.8``, which a CUDA 13 cuda-bindings meets; it claims no CUDA 12 build (the
  cuda-bindings locked is judged on its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from mlenv.cuda.matrix import patterns
from mlenv.cuda.versions import CudaError
from mlenv.lazy_pattern import LazyPattern
from mlenv.pep508 import marker_text
from mlenv.pep508 import metadata_requirement as parsed

if TYPE_CHECKING:
    from mlenv.cuda.tags import CudaNeed

_QUOTED_RE = LazyPattern(r"'([^']*)'|\"([^\"]*)\"")
_EXTRA_VARIABLE_RE = LazyPattern(r"(?<![\w.-])extra(?![\w.-])")


def names_extra(marker: str) -> bool:
    """Whether a marker reads the ``extra`` variable, on either side of any operator (its
    quoted values left out: ``platform_release == "extra"`` names none)."""
    return _EXTRA_VARIABLE_RE.search(_QUOTED_RE.sub("", marker)) is not None


def _extras_named(raw: str) -> list[str]:
    """The quoted values of a line's marker, when it reads ``extra``: every extra the line can
    be gated on is one of them, whatever the operator or its side."""
    try:
        marker = parsed(raw).marker
    except InvalidRequirement:
        return []  # read as a plain line, which refuses it
    text = "" if marker is None else marker_text(marker)
    if not names_extra(text):
        return []
    return list(dict.fromkeys(a or b for a, b in _QUOTED_RE.findall(text) if a or b))


def said_by_extras(
    package: str,
    requires_dist: Sequence[str],
    where: str,
    markers: Mapping[str, str],
    *,
    held: bool = False,
) -> list[CudaNeed]:
    """The needs in a listed GPU package's extra-gated lines (an unreadable line skipped);
    none when they disagree on the major, unless ``held`` against the package's own tags or
    row: then each is, or a decoy extra of the row's major hid a CUDA 12 build's cu12 one."""
    from mlenv.cuda.packages import known
    from mlenv.cuda.tags import _from_requirement

    if not known(package):
        return []
    needs = []
    for raw in requires_dist:
        extras = _extras_named(raw)
        try:
            if extras and _from_requirement(raw, where=where, markers=markers):
                continue  # it holds without an extra: a plain line, read as one
            for extra in extras:
                needs += _from_requirement(raw, where=where, markers=markers, extra=extra)
        except CudaError:
            continue  # a range no release pins (nvidia-curand~=10.0) is no evidence
    return needs if held or len({need.cuda.major for need in needs}) == 1 else []


# a CUDA major in an extra's name, its separator kept or not (cuda12, cu13, cuda-12, cuda_12x)
_MAJOR_RE = LazyPattern(r"(?<![^-])cu(?:da)?-?[0-9]+x?(?![^-])")
_GENERIC_PARTS = frozenset({"cuda", "cudnn"})


def generic_cuda_extra(extra: str) -> bool:
    """An extra named for CUDA without a major (``cuda``, ``And_CUDA``, ``with-cuda``), as
    PEP 685 normalises its name; one naming a major (``cuda12``, ``qnx-cu13``, ``cuda_13``)
    is not."""
    name = canonicalize_name(extra)
    return bool(_GENERIC_PARTS.intersection(name.split("-"))) and _MAJOR_RE.search(name) is None


def against_base(
    requires_dist: Sequence[str], where: str, markers: Mapping[str, str], base: CudaNeed
) -> tuple[CudaNeed, ...]:
    """The first line of each other major under a generic CUDA extra, when the unconditional
    lines say ``base``: a wheel that needs CUDA 12 libraries and fetches CUDA 13 ones for its
    ``cuda`` extra is built for one of them, and mlenv cannot tell which."""
    from mlenv.cuda.tags import _from_requirement

    found: dict[int, CudaNeed] = {}
    for raw in requires_dist:
        extras = [extra for extra in _extras_named(raw) if generic_cuda_extra(extra)]
        try:
            if not extras or _from_requirement(raw, where=where, markers=markers):
                continue  # no generic CUDA extra, or a plain line (read with the base)
            for extra in extras:
                for need in _from_requirement(raw, where=where, markers=markers, extra=extra):
                    if need.cuda.major != base.cuda.major and need.cuda.major not in found:
                        said = f"Requires-Dist [{extra}]: {raw}"
                        found[need.cuda.major] = replace(need, evidence=said)
        except CudaError:
            continue  # a range no release pins (nvidia-curand~=10.0) is no evidence
    return tuple(found.values())


def spans_majors(need: CudaNeed, specifier: SpecifierSet) -> bool:
    """Whether a requirement read by a version-major pattern also admits the next major."""
    kinds = {pattern.id: pattern.kind for pattern in patterns("name")}
    if kinds.get(need.rule) != "version-major":
        return False
    after = need.cuda.major + 1
    return any(specifier.contains(f"{after}.{minor}", prereleases=True) for minor in (0, 9))
