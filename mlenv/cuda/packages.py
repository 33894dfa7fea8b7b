"""GPU packages whose CUDA is not in their name: the table, the undetermined case, the hints.

onnxruntime-gpu, tensorflow, paddlepaddle-gpu, vllm ... name no CUDA version in their
distribution name or (on PyPI) their version; what they are built for depends on the release
and on the index that served them. ``mlenv/data/gpu_packages.json`` holds those facts, each row
with its source, apart from NVIDIA's driver table (``cuda.json``). ``cuda.extract`` consults it
when an artifact's own tags say nothing; a GPU package whose CUDA still cannot be read is an
error (``cuda-undetermined``) unless the manifest lists it in ``[cuda] unverified``, and then a
warning on every lock and verify (``cuda-unverified``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlenv import data_text
from mlenv.cuda.tags import CudaNeed
from mlenv.cuda.versions import CudaVersion
from mlenv.lazy_pattern import LazyPattern

TYPE_CHECKING = False
if TYPE_CHECKING:  # a lock reads the table for every pin; only a CUDA target's needs rules
    from mlenv.cuda.package_table import Family, Row, Table
    from mlenv.cuda.rules import Finding

UNVERIFIED = "unverified"  # the lock's ``cuda`` value for a package listed in [cuda] unverified


@functools.cache
def _raw() -> Any:
    """Read the packaged table once; it never changes while mlenv runs."""
    return json.loads(data_text("gpu_packages.json"))


@functools.cache
def _table() -> Table:
    from mlenv.cuda.package_table import build

    return build(_raw())


@functools.cache
def _listed() -> frozenset[str]:
    """The packages the table has rows for, without building it: a lock asks about every pin,
    and most locks hold none of them."""
    return frozenset(canonicalize_name(row["package"]) for row in _raw()["packages"])


def known(name: str) -> bool:
    """Whether the table lists the package at all (for [cuda] unverified validation)."""
    return canonicalize_name(name) in _listed()


def _row(package: str, version: str, index: str, filename: str = "") -> Row | None:
    """The first row whose package, versions, index and file name fit; None when none does.
    A row with a file name pattern never fits a release asked about without its file."""
    if package not in _listed():
        return None
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    for row in _table().rows:
        if row.package != package or not row.versions.contains(parsed, prereleases=True):
            continue
        if row.files is not None and not row.files.search(filename):
            continue
        if row.index is None or row.index.search(index):
            return row
    return None


def table_need(package: str, version: str, index: str, filename: str = "") -> CudaNeed | None:
    """The CUDA the table gives this release (this file) from this index, when it gives one."""
    row = _row(package, version, index, filename)
    if row is None:
        return None
    evidence = f"{package} {version}" + (f" from {index}" if index else "")
    rule = f"gpu-packages:{package}"
    if row.cuda == "from-index":
        match = row.index.search(index) if row.index is not None else None
        if match is None:  # _row matched this index, so only a broken table gets here
            return None
        digits = match["digits"]
        cuda = CudaVersion(int(digits[:-1]), int(digits[-1]))
        return CudaNeed(cuda, False, rule, evidence, row.source)
    if row.multi is not None:
        newest = CudaVersion(row.multi.majors[-1], 0)
        return CudaNeed(newest, True, rule, evidence, row.source, multi=row.multi)
    from mlenv.cuda.package_table import FIXED_RE  # loaded: a row was found

    fixed = FIXED_RE.fullmatch(row.cuda)
    if fixed is None:
        return None
    major_only = fixed["minor"] == "x"
    cuda = CudaVersion(int(fixed["major"]), 0 if major_only else int(fixed["minor"]))
    return CudaNeed(cuda, major_only, rule, evidence, row.source)


def undetermined(name: str, version: str, index: str) -> str | None:
    """What mlenv could not read about a GPU package with no CUDA evidence; None if it is no
    GPU package, not pinned to a CUDA (triton), or a CPU build (torch without +cuXYZ)."""
    package = canonicalize_name(name)
    if not known(package):
        return None
    row = _row(package, version, index)
    if row is not None and row.cuda in ("none", "from-tags-or-cpu"):
        return None
    served = f"served by {index}" if index else "served by an unnamed index"
    missing = "no CUDA version in its name, version or Requires-Dist"
    if row is None:
        return f"{missing}, and no row of mlenv's GPU package table fits this release ({served})"
    return f"{missing}, and mlenv's GPU package table says only those can tell ({served})"


def _family(package: str) -> Family | None:
    return next((f for f in _table().families if f.match.search(package)), None)


def family(name: str) -> str | None:
    """The package family ("pytorch", "nvidia", "jax" ...) whose hint applies to the package."""
    found = _family(canonicalize_name(name))
    return None if found is None else found.id


def hint(name: str, cuda: CudaVersion) -> str | None:
    """Where to get a build of this package for the target CUDA (its family's place)."""
    package = canonicalize_name(name)
    found = _family(package)
    if found is None:
        return None
    text = found.hint.get(str(cuda.major), found.hint["*"])
    cu = f"cu{cuda.major}{cuda.minor}"
    return text.format(name=package, cuda=cuda, major=cuda.major, cu=cu)


# The index a family's place names, to copy as it is: only a URL the text calls an index or a
# feed (a GitHub release page or PyG's wheel page, ``torch-<torch version>+cu128.html``, is no
# index a sources line can name).
_INDEX_URL = LazyPattern(r"\b(?:index|feed) (https?://[^\s()<>,;]+)")


def place_index(place: str) -> str | None:
    """The index a ``hint`` text names as the place to take builds from, if it names one."""
    found = _INDEX_URL.search(place)
    return None if found is None else found[1]


def placed(name: str, cuda: CudaVersion, advice: str, need: CudaNeed) -> str:
    """The advice followed by where builds for the target CUDA come from: a conda record's
    own remedy (``mlenv.cuda.conda_tags``), never pip's; else the family's place."""
    if need.conda:
        from mlenv.cuda.conda_tags import conda_hint

        return conda_hint(name, cuda, advice, need)
    place = hint(name, cuda)
    return f"{advice}; {place}" if place else advice


def finding(
    name: str, version: str, what: str, unverified: Collection[str], target: CudaVersion | None
) -> Finding:
    """The one verdict on a GPU package whose CUDA cannot be read: an error, or a warning when
    the manifest accepts it unverified (reported on every lock and verify)."""
    from mlenv.cuda.rules import Finding

    package = canonicalize_name(name)
    place = hint(package, target) if target is not None else None
    if package in {canonicalize_name(listed) for listed in unverified}:
        return Finding(
            "warning",
            "cuda-unverified",
            package,
            "unverified",
            "[cuda] unverified",
            f"{package} {version}: its CUDA was not checked ([cuda] unverified): {what}",
            place or "remove it from [cuda] unverified once a build with a known CUDA exists",
        )
    advice = f'add "{package}" to [cuda] unverified to accept it unchecked'
    return Finding(
        "error",
        "cuda-undetermined",
        package,
        "a known CUDA version",
        "",
        f"mlenv cannot tell which CUDA {package} {version} needs: {what}",
        f"{place}, or {advice}" if place else advice,
    )
