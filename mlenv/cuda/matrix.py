"""NVIDIA's facts: minimum drivers, compatibility floors, architectures, tag patterns and
component versions.

They live in ``mlenv/data/cuda.json`` with a source on every row; this module only reads them
(the release table and architectures through ``cuda.releases``, built on first use).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from mlenv import data_text
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion, leading_numbers
from mlenv.lazy_pattern import LazyPattern

TYPE_CHECKING = False
if TYPE_CHECKING:  # built on the first CUDA judgement, not by reading tags
    from mlenv.cuda.archs import Archs
    from mlenv.cuda.releases import Matrix


@dataclass(frozen=True)
class Pattern:
    """One way a version, name or build string states its CUDA (cuda.json tag_patterns).

    ``cuda`` is the release a ``fixed`` pattern's code stands for (Paddle 1.x ``.post97`` is
    CUDA 9.0: its digits are CUDA and cuDNN majors, so no rule could compute it); ``known_only``
    refuses a reading that is no CUDA release, for digits that are not always CUDA's.
    """

    id: str
    applies_to: str
    kind: str
    regex: LazyPattern  # a pattern whose name pattern never fits is never compiled
    name: re.Pattern[str] | None
    replacement: str
    source: str
    cuda: CudaVersion | None = None
    known_only: bool = False
    placeholder: tuple[int, ...] = ()  # a version starting so is the name's placeholder


@dataclass(frozen=True)
class Component:
    """A CUDA component's version as one toolkit release shipped it."""

    component: str
    version: tuple[int, ...]
    cuda: CudaVersion
    release: str
    source: str


@functools.cache
def _raw() -> Any:
    """Read the packaged data once; it never changes while mlenv runs."""
    return json.loads(data_text("cuda.json"))


def table(name: str) -> list[Any]:
    """One table of cuda.json as stored (empty when absent), for the modules that read it."""
    return list(_raw().get(name, []))


@functools.cache
def facts() -> Matrix:
    """Releases, compatibility floors and architectures: what judging a CUDA target needs."""
    from mlenv.cuda.releases import build_matrix

    return build_matrix(_raw())


_DATA = "mlenv/data/cuda.json"


@functools.cache
def patterns(applies_to: str) -> tuple[Pattern, ...]:
    """The tag patterns for one kind of subject, in precedence order, compiled on first use:
    a lock reads wheel versions and names only, and compiling every pattern cost it more
    than reading."""
    rows = [row for row in _raw()["tag_patterns"] if row["applies_to"] == applies_to]
    return tuple(
        Pattern(
            id=str(row["id"]),
            applies_to=str(row["applies_to"]),
            kind=str(row["kind"]),
            regex=LazyPattern(row["regex"], re.IGNORECASE),
            name=re.compile(row["name"]) if "name" in row else None,
            replacement=str(row.get("replacement", "")),
            source=str(row["source"]),
            cuda=_fixed_cuda(row),
            known_only=bool(row.get("known_only", False)),
            placeholder=leading_numbers(row.get("placeholder", ""), where=_DATA)
            if "placeholder" in row
            else (),
        )
        for row in sorted(rows, key=lambda row: row["precedence"])
    )


def _fixed_cuda(row: Any) -> CudaVersion | None:
    """The release a ``fixed`` pattern stands for; a fixed pattern without one (or a value on
    another kind) is a broken data file, refused rather than read as no CUDA."""
    where = f"mlenv/data/cuda.json tag_patterns {row['id']}"
    if (row["kind"] == "fixed") != ("cuda" in row):
        raise CudaError(
            "a fixed pattern needs a cuda value, and only a fixed pattern has one",
            where=where,
            hint='give the row "kind": "fixed" and "cuda": "X.Y" together',
        )
    return CudaVersion.parse(row["cuda"], where=where) if "cuda" in row else None


@functools.cache
def components(component: str) -> tuple[Component, ...]:
    """The versions of one CUDA component that toolkit updates shipped: read only for the
    NVIDIA wheels a lock holds, not all 700 rows on every lock."""
    where = "mlenv/data/cuda.json"
    return tuple(
        Component(
            component=component,
            version=leading_numbers(row["version"], where=where),
            cuda=CudaVersion(*leading_numbers(row["release"], where=where)[:2]),
            release=str(row["release"]),
            source=str(row["source"]),
        )
        for row in _raw()["component_versions"]
        if row["component"] == component
    )


# A split CUDA package's outputs share its version: cuda-cudart-dev, cuda-cudart-static_linux-64,
# cuda-nvcc-impl, cuda-nvcc-tools (conda-forge's cuda-cudart and cuda-nvcc recipes).
_CONDA_OUTPUT_RE = LazyPattern(
    r"(?P<base>[a-z0-9-]+?)(?:-dev|-static|-impl|-tools)?(?:_(?:linux|win)-(?:64|aarch64|ppc64le))?"
)


@functools.cache
def conda_component(name: str) -> str | None:
    """The NVIDIA component (as ``component_versions`` names it) that a conda package of
    NVIDIA's split CUDA packages (cuda-cudart, libcublas ...) carries at NVIDIA's own version;
    None for any other package (cudnn and nccl are no toolkit components)."""
    match = _CONDA_OUTPUT_RE.fullmatch(name)
    base = "" if match is None else match["base"]
    rows = _raw().get("conda_components", ())
    return next((str(row["component"]) for row in rows if row["conda"] == base), None)


def first_version(component: str, major: int) -> tuple[int, ...]:
    """The oldest version of a component that a CUDA ``major`` toolkit pins; () when none.

    An unsuffixed NVIDIA wheel older than its CUDA 13 one is no CUDA 13 build: NGC's index
    (nvidia-pyindex, for nvidia-tensorflow) served CUDA 11 libraries under those names.
    """
    return min(
        (row.version for row in components(component) if row.cuda.major == major), default=()
    )


@functools.cache
def known_cuda_versions() -> tuple[CudaVersion, ...]:
    """Every CUDA major.minor with a release in the data, oldest first."""
    return tuple(sorted({release.cuda for release in facts().releases}))


def known_hint(major: int) -> str:
    same = [str(cuda) for cuda in known_cuda_versions() if cuda.major == major]
    if same:
        return f"known CUDA {major} releases: {', '.join(same)}"
    majors = sorted({cuda.major for cuda in known_cuda_versions()})
    return f"known CUDA majors: {', '.join(map(str, majors))}"


def require_release(
    cuda: CudaVersion, exact: bool, evidence: str, reading: str, *, where: str
) -> None:
    """Refuse a tag whose reading is no CUDA release NVIDIA shipped (or a major alone)."""
    if exact and cuda in known_cuda_versions():
        return
    raise CudaError(
        f"{evidence!r} names no CUDA release: as {reading}",
        where=where,
        hint=f"mlenv reads the shapes of the tag_patterns in mlenv/data/cuda.json "
        f"({known_hint(cuda.major)}); use a build tagged one of those ways, or report the "
        "new shape",
    )


def table3_driver(
    cuda: CudaVersion, release: str | None = None, *, windows: bool = False
) -> tuple[DriverVersion, str] | None:
    """Table 3 driver and row label of X.Y's first row, or of the given update; None if
    unconfirmed. The first row is the GA's, but for 11.0 it is the 11.0.1 RC's (450.36.06),
    the driver Table 2's footnote says 11.0 shipped with, as uv's ``cu110`` takes it.

    The one place a driver floor's column is chosen: Linux, or Windows for a driver that is
    the Windows host's (WSL 2, where nvidia-smi prints the Windows driver's number); 13.x has
    no Windows value (N/A in Table 3), so None.
    An update without a confirmed value falls back to the newest confirmed earlier row of the
    same minor: a known lower bound, never a guess.
    """
    rows = [
        (driver, row)
        for row in facts().releases
        if row.cuda == cuda and (driver := row.driver(windows)) is not None
    ]
    if not rows:
        return None
    driver, chosen = rows[0]
    if release is None:
        return driver, chosen.label
    key = _release_key(leading_numbers(release, where=f"CUDA release {release}"))
    for candidate_driver, row in rows:
        if _release_key(row.version) <= key:
            driver, chosen = candidate_driver, row
    own = [row for row in facts().releases if _release_key(row.version) == key]
    if own and own[0].driver(windows) is None and own[0] is not chosen:
        # 13.0.3 has no Table 3 row: 13.0 Update 2's driver is only its lower bound
        return driver, f"{chosen.label}; {own[0].label} itself has no confirmed driver"
    return driver, chosen.label


def _release_key(version: tuple[int, ...]) -> tuple[int, ...]:
    """A release without trailing zero parts: PyPI's cuda-toolkit 13.0.3.0 is CUDA 13.0.3."""
    parts = list(version)
    while len(parts) > 3 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def release_drivers(cuda: CudaVersion) -> frozenset[DriverVersion]:
    """The Linux drivers Table 3 gives X.Y's GA and its updates: every driver floor a build
    for X.Y can set (``table3_driver`` of one of its releases)."""
    return frozenset(row.linux for row in facts().releases if row.cuda == cuda and row.linux)


def driver_release(cuda: CudaVersion, driver: DriverVersion) -> str | None:
    """The first release of X.Y whose Linux driver is ``driver`` (as ``table3_driver`` reads a
    release back), or None when Table 3 gives it to none."""
    rows = (row for row in facts().releases if row.cuda == cuda and row.linux == driver)
    return next((".".join(map(str, row.version)) for row in rows), None)


def min_driver(cuda: CudaVersion) -> DriverVersion:
    """The Linux driver the X.Y GA toolkit needs (release notes Table 3)."""
    if cuda not in known_cuda_versions():
        raise CudaError(
            f"CUDA {cuda} is not a known CUDA release",
            where=f"CUDA {cuda}",
            hint=known_hint(cuda.major),
        )
    found = table3_driver(cuda)
    if found is None:
        raise CudaError(
            f"the minimum driver for CUDA {cuda} is unconfirmed",
            where=f"CUDA {cuda}",
            hint="no NVIDIA Table 3 value is known for it; target a release whose driver is known",
        )
    return found[0]


def minor_compat_floor(major: int) -> DriverVersion:
    """The oldest Linux driver on which CUDA major.x applications load (minor-version compat)."""
    floor = facts().compat.get(major)
    if floor is None:
        raise CudaError(
            f"CUDA {major}.x has no minor-version compatibility floor",
            where=f"CUDA {major}.x",
            hint="each toolkit of this major needs its own minimum driver (min_driver)",
        )
    return floor


def major_floor(major: int, *, windows: bool = False) -> tuple[DriverVersion, str] | None:
    """The oldest driver any CUDA major.x build can run on, for a build that names only
    its major (cupy-cuda12x, nvidia-cudnn-cu12): the stricter of the major's minor-version
    compatibility floor (12.x: 525.60.13, minor-version-compatibility page) and its first
    toolkit's Table 3 driver (13.0 GA: 580.65.06, NVIDIA states the 13.x floor as ">= 580").
    ``windows`` takes both from the Windows columns (a WSL 2 host's driver: 12.x 527.41, the
    guide's value; 13.x has none). A lower bound, never the build's full need; None when
    neither is known."""
    bounds: list[tuple[DriverVersion, str]] = []
    floors = facts().compat_windows if windows else facts().compat
    if (compat := floors.get(major)) is not None:
        column = " (Windows)" if windows else ""
        bounds.append((compat, f"the CUDA {major}.x minor-version compatibility floor{column}"))
    first = [cuda for cuda in known_cuda_versions() if cuda.major == major]
    if first and (found := table3_driver(first[0], windows=windows)) is not None:
        bounds.append((found[0], found[1]))
    return max(bounds, key=lambda bound: bound[0], default=None)


def minor_compat_note(major: int) -> str:
    """What NVIDIA's minor-version compatibility allows a driver below a CUDA X.Y minimum: on
    11.x and newer it loads the libraries (the image's NVIDIA_REQUIRE_CUDA still refuses it);
    before 11.0 it did not exist, each release needing its own driver."""
    if major not in facts().compat:
        return f"CUDA {major}.x has no minor-version compatibility: it began with 11.0"
    return (
        "minor-version compatibility would load the libraries on an older driver of the same "
        "major, without PTX JIT, but not past that requirement"
    )


def _archs(major: int) -> Archs:
    archs = facts().archs.get(major)
    if archs is None:
        raise CudaError(
            f"no GPU architecture data for CUDA {major}.x",
            where=f"CUDA {major}.x",
            hint=known_hint(major),
        )
    return archs


def supported_archs(major: int) -> tuple[str, ...]:
    """The GPU architectures some toolkit of the major compiles for, oldest first."""
    return tuple(f"sm_{cc}" for cc in _archs(major).ccs)


def forward_compat(cuda: CudaVersion, driver: DriverVersion) -> str | None:
    """The ``cuda-compat-X-Y`` package with which NVIDIA supports CUDA X.Y on this driver's
    branch (forward compatibility: data-center GPUs, NGC Server Ready RTX and Jetson only,
    compat libraries on the loader path, neither of which mlenv can see); None when NVIDIA's
    matrix does not list the pair."""
    for row in _raw()["forward_compat"]:
        branch = driver.key[0] if driver.key else None
        if CudaVersion.parse(row["cuda"]) == cuda and branch in row["branches"]:
            return str(row["package"])
    return None


def driver_status(cuda: CudaVersion) -> str:
    """How sure the Table 3 driver of X.Y's GA is: "confirmed", or "secondary" when only
    third-party quotes of NVIDIA's notes were found (13.3), so a hint can say so."""
    rows = [row.status for row in facts().releases if row.cuda == cuda and row.linux]
    return rows[0] if rows else "unconfirmed"
