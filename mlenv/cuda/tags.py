"""What CUDA an artifact needs, read from its file name, local version, tags and requirements
(wheels) or its depends and constrains (conda): where a new CUDA tagging scheme plugs in
(a pattern in ``mlenv/data/cuda.json``, or a row of the GPU package table)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mlenv.cuda import matrix
from mlenv.cuda.flavours import flavour_line
from mlenv.cuda.matrix import Component, Pattern, components, patterns, require_release
from mlenv.cuda.requires_said import against_base, names_extra, said_by_extras, spans_majors
from mlenv.cuda.versions import (
    CudaError,
    CudaVersion,
    component_numbers,
    leading_numbers,
    refuse_placeholder,
    spec_floor,
)
from mlenv.lazy_pattern import LazyPattern
from mlenv.pep508 import marker_holds, marker_text
from mlenv.pep508 import metadata_requirement as parsed

if TYPE_CHECKING:  # built only by the GPU package table's multi rows
    from mlenv.cuda.multi import MultiCuda


@dataclass(frozen=True)
class CudaNeed:
    """What one artifact needs from CUDA, with the evidence, so every finding can say why.

    ``major_only`` marks builds that fix only the major (cupy-cuda12x, -cu12 suffixes); ``release``
    is the toolkit update a component version was pinned by, when known; ``stub`` names the real
    package of a placeholder; ``conflicts``: the same artifact's signals that disagree.
    """

    cuda: CudaVersion
    major_only: bool
    rule: str
    evidence: str
    source: str
    release: str | None = None
    stub: str | None = None
    conflicts: tuple[CudaNeed, ...] = ()
    driver_only: bool = False  # only a floor on the driver's CUDA (__cuda), no build claim
    driver_cuda: CudaNeed | None = None  # a newer major's __cuda floor: the driver must run it
    open_above: bool = False  # an open constrains floor (cudatoolkit >=11.2): newer CUDAs meet it
    multi: MultiCuda | None = None  # libraries for several CUDAs (bitsandbytes); cuda: the newest
    conda: bool = False  # read from a conda record: its remedy is a conda one, never pip's

    def of_major(self, major: int) -> bool:
        """Whether it is a build for CUDA ``major`` (a multi-CUDA wheel: one of its majors)."""
        return major == self.cuda.major or (self.multi is not None and major in self.multi.majors)

    @property
    def label(self) -> str:
        single = f"{self.cuda.major}.x" if self.major_only else str(self.cuda)
        return single if self.multi is None else self.multi.label


_Exactness = Literal["exact", "compatible", "lower"]
_DRIVER_RULE = "conda-virtual-cuda"  # __cuda: the driver's CUDA, met by newer majors' drivers


@dataclass(frozen=True)
class _Pin:
    """A version read from a package or a requirement, and how tightly it is fixed."""

    version: str
    exactness: _Exactness


_PIN_RANK: dict[str, tuple[int, _Exactness]] = {
    "==": (0, "exact"),
    "===": (0, "exact"),
    "~=": (1, "compatible"),
    ">=": (2, "lower"),
    ">": (2, "lower"),
}


def _digits(text: str) -> CudaVersion:
    """cuXYZ: every digit but the last is the major, the last is the minor (cu118 -> 11.8)."""
    return CudaVersion(int(text[:-1]), int(text[-1]))


def _shipped_in(component: str, version: tuple[int, ...], cuda: CudaVersion) -> Component | None:
    """The toolkit update that shipped this component version (``component_versions``); one
    between two pins (a standalone patch, e.g. cuBLAS 13.4.1.1) is traced to the newest earlier
    update of its CUDA minor: a lower bound of its driver, never a guess."""
    rows = [row for row in components(component) if row.cuda == cuda and row.version <= version]
    return max(rows, key=lambda row: row.version, default=None)


def _lookup(
    component: str, version: tuple[int, ...], major: int, *, exact: bool
) -> tuple[CudaVersion, str | None, str] | None:
    """CUDA of a component version from the cuda-toolkit pins, when unambiguous (its update
    only for an exact pin)."""
    rows = [row for row in components(component) if row.cuda.major == major]
    for depth in (4, 3, 2):
        hits = [row for row in rows if row.version[:depth] == version[:depth]]
        if len({row.cuda for row in hits}) == 1:
            shipped = _shipped_in(component, version, hits[0].cuda) if exact else None
            if shipped is None:
                return hits[0].cuda, None, hits[0].source
            return shipped.cuda, shipped.release, shipped.source
        if hits:
            return None
    return None


def _need(
    pattern: Pattern, match: re.Match[str], pin: _Pin | None, evidence: str, where: str
) -> CudaNeed | None:
    """Turn one pattern match into a need, following the pattern's kind."""
    groups = match.groupdict()
    if pattern.placeholder and pin is not None and pin.exactness == "exact":
        refuse_placeholder(pin.version, evidence, pattern.placeholder, where=where)

    def make(
        cuda: CudaVersion,
        major_only: bool = False,
        release: str | None = None,
        source: str = pattern.source,
    ) -> CudaNeed:
        return CudaNeed(cuda, major_only, pattern.id, evidence, source, release)

    def major(number: int) -> CudaNeed:
        return make(CudaVersion(number, 0), major_only=True)

    kind = pattern.kind
    if pattern.cuda is not None:  # kind "fixed": a code whose CUDA the source states
        return make(pattern.cuda)
    if kind == "digits":
        digits = groups["digits"]
        if len(digits) == 2 and digits[0] == "1":  # cu12: CUDA 12.x, there was no CUDA 1.2
            return major(int(digits))
        return make(_digits(digits))
    if kind == "major":
        return major(int(groups["major"]))
    if kind == "cuda":  # X.Y, or the X.Y.Z toolkit update (its own Table 3 row) when named
        return make(CudaVersion.parse(groups["cuda"], where=where), release=groups.get("release"))
    if kind == "stub":
        stub = pattern.replacement.format(base=groups["base"])
        return replace(major(int(groups["major"])), stub=stub)
    if kind == "spec":
        floor = spec_floor(groups["spec"], where=where)
        if floor is None:
            return None
        return make(CudaVersion(floor[0], floor[1])) if len(floor) > 1 else major(floor[0])
    # Other kinds read the package version: a -cu11/-cu12 fixes the major, else CUDA 13's wheels.
    suffix = int(groups["major"]) if groups.get("major") else None
    expected = suffix if suffix is not None else 13
    if pin is None:
        return major(expected) if kind in ("version", "table") else None
    version = component_numbers(pin.version, evidence, exact=pin.exactness == "exact", where=where)
    if kind == "version-major" or pin.exactness == "lower" or len(version) < 2:
        found = major(expected if kind == "table" else version[0])
    elif kind == "table":
        component, exact = groups["component"], pin.exactness == "exact"
        hit = _lookup(component, version, expected, exact=exact)
        if hit is None and suffix is None and version < matrix.first_version(component, 13):
            hit = _lookup(component, version, 11, exact=exact)
            if hit is None:
                reading = f"{pattern.id} it is older than every CUDA 13 {component} and no 11.x pin"
                require_release(CudaVersion(13, 0), False, evidence, reading, where=where)
        found = major(expected) if hit is None else make(hit[0], release=hit[1], source=hit[2])
    elif kind == "release":
        exact = pin.exactness == "exact" and len(version) > 2
        release = ".".join(map(str, version[:3])) if exact else None
        found = make(CudaVersion(version[0], version[1]), release=release)
    else:
        found = make(CudaVersion(version[0], version[1]))
        shipped = None
        if pin.exactness == "exact" and len(version) > 2:
            shipped = _shipped_in(groups["component"], version, found.cuda)
        if shipped is not None:
            found = make(shipped.cuda, release=shipped.release, source=shipped.source)
    if suffix is not None and suffix != found.cuda.major:
        suffix_need = CudaNeed(
            CudaVersion(suffix, 0), True, pattern.id, match.string, pattern.source
        )
        return replace(found, conflicts=(suffix_need,))
    return found


def _first(
    applies_to: str, subject: str, pin: _Pin | None, evidence: str, *, where: str, name: str = ""
) -> list[CudaNeed]:
    """The need from the first pattern (in precedence order) that matches the subject."""
    for pattern in patterns(applies_to):
        if pattern.name is not None and pattern.name.search(name) is None:
            continue
        match = pattern.regex.search(subject)
        if match is not None:
            need = _need(pattern, match, pin, evidence, where)
            if need is not None and pattern.known_only:
                # known_only: Paddle's .post107 is CUDA 10.0 with cuDNN 7; others are unreadable
                reading = f"{pattern.id} it would read CUDA {need.label}"
                require_release(need.cuda, not need.major_only, need.evidence, reading, where=where)
            return [] if need is None else [need]
    return []


# "cu"/"cuda" and two digits or a major.minor (cuda9.2.148; +cu12.4.cu12.8 names two CUDAs), not
# after a letter: a CUDA tag in a local label or conda build ("cudnn89", "nocuda126" are none);
# in a name only as a whole dash-separated part (cudf-cu12, not cu2qu). Each must be read by one.
_CUDA_TAG_RE = re.compile(r"(?<![a-z])cu(?:da)?_?[0-9](?:[0-9]*\.[0-9]+|[0-9]+)", re.IGNORECASE)
_NAME_TAG_RE = re.compile(r"(?<![^-])cu(?:da)?[0-9]+x?(?![^-])")


def _tagged(
    applies_to: str,
    subject: str,
    tags: Sequence[str],
    evidence: str,
    *,
    where: str,
    name: str = "",
    pin: _Pin | None = None,
) -> list[CudaNeed]:
    """``_first``, refusing instead of passing silently when the subject carries a CUDA tag
    (``tags``: those in the local label, name or build string) that no pattern reads, or two
    different ones: a CUDA build read as CPU is never safe."""
    needs = _first(applies_to, subject, pin, evidence, where=where, name=name)
    distinct = sorted({tag.lower() for tag in tags})
    if (needs or not distinct) and len(distinct) < 2:
        return needs
    shape = "two CUDA tags" if len(distinct) > 1 else "a CUDA tag in a shape mlenv cannot read"
    raise CudaError(
        f"{evidence!r} has {shape} ({', '.join(distinct)})",
        where=where,
        hint=f"mlenv reads the {applies_to} tags of the tag_patterns in mlenv/data/cuda.json "
        "(+cu124, +cu124.cxx11.abi, +pt25cu124, +cuda12.cudnn89, -cu12, cuda126_...); use a "
        "build tagged one of those ways, or report the new shape",
    )


def _local_tags(version: str) -> list[str]:
    """The CUDA tags in a version's local label (after "+"), where builds name their CUDA."""
    return _CUDA_TAG_RE.findall(version.partition("+")[2])


def _pin(specifier: SpecifierSet) -> _Pin | None:
    """The most telling version in a specifier: an exact pin, then ~=, then a lower bound."""
    best: tuple[int, _Exactness, str] | None = None
    for spec in specifier:
        rank = _PIN_RANK.get(spec.operator)
        if rank is not None and (best is None or rank[0] < best[0]):
            best = (rank[0], rank[1], spec.version.removesuffix(".*"))
    return None if best is None else _Pin(best[2], best[1])


def _from_requirement(
    raw: str, *, where: str, markers: Mapping[str, str] | None, extra: str = ""
) -> list[CudaNeed]:
    """A Requires-Dist entry as evidence; a line whose marker fails on the target (``markers``,
    no extra: as the resolver reads it) is no dependency there, placeholders and side-by-side
    flavours are judged alone. Without ``markers``, a line naming an extra is skipped."""
    try:
        requirement = parsed(raw)
    except InvalidRequirement as exc:
        raise CudaError(
            f"Requires-Dist {raw!r} cannot be parsed: {exc}",
            where=where,
            hint="the package metadata is broken; use another build of the package",
        ) from exc
    marker = requirement.marker
    if marker is not None and (
        not marker_holds(marker, markers, extra)
        if markers is not None  # 'extra == "cuda" or platform_machine == "x86_64"' may hold
        else names_extra(marker_text(marker))
    ):
        return []
    name = canonicalize_name(requirement.name)
    if flavour_line(name, requirement.specifier):  # judged on its own (cuda.flavours)
        return []
    needs = _first("name", name, _pin(requirement.specifier), f"Requires-Dist: {raw}", where=where)
    return [n for n in needs if n.stub is None and not spans_majors(n, requirement.specifier)]


def _disagree(first: CudaNeed, other: CudaNeed, *, same_artifact: bool) -> bool:
    """Majors disagree (never with a ``__cuda`` driver floor: the driver is backward
    compatible, so a CUDA 13 driver runs a 12.6 build); one artifact's minors, too."""
    low = min(first, other, key=lambda need: need.cuda)
    if first.cuda.major != other.cuda.major:  # an open floor below the other is met by it
        return other.rule != _DRIVER_RULE and not low.open_above
    both_minor = not first.major_only and not other.major_only
    return same_artifact and both_minor and first.cuda != other.cuda


def _strength(need: CudaNeed) -> tuple[bool, CudaVersion, tuple[int, ...]]:
    release = leading_numbers(need.release, where=need.evidence) if need.release else ()
    return (not need.major_only, need.cuda, release)


def _combine(own: list[CudaNeed], required: list[CudaNeed]) -> CudaNeed | None:
    """The artifact's own tags win; dependencies decide only when it has none (§9 rule 1)."""
    if own:
        build, conflicts = own[0], [n for n in own[1:] if _disagree(own[0], n, same_artifact=True)]
    elif builds := [need for need in required if need.rule != _DRIVER_RULE]:
        claims = [need for need in builds if not need.open_above] or builds  # no open floor's
        build, conflicts = max(claims, key=_strength), []  # the major, never __cuda's
    elif required:  # __cuda alone: the highest floor is the driver the package needs
        build, conflicts = replace(max(required, key=lambda n: n.cuda), driver_only=True), []
    else:
        return None
    # a __cuda floor of the build's major above its claim is what the driver must run
    same = [n for n in required if n.rule == _DRIVER_RULE and n.cuda.major == build.cuda.major]
    primary = max([build, *same], key=lambda need: need.cuda)
    conflicts += [need for need in required if _disagree(primary, need, same_artifact=False)]
    # a __cuda floor of a newer major asks the driver for that CUDA (cuda.md §4), no build
    newer = [n for n in required if n.rule == _DRIVER_RULE and n.cuda.major > primary.cuda.major]
    above = None if primary.driver_only else max(newer, key=lambda n: n.cuda, default=None)
    return replace(primary, conflicts=build.conflicts + tuple(conflicts), driver_cuda=above)


def extract(
    name: str,
    version: str,
    filename: str = "",
    requires_dist: Sequence[str] = (),
    index: str = "",
    markers: Mapping[str, str] | None = None,
) -> CudaNeed | None:
    """The CUDA a Python package needs, from its version tag, wheel name, name, the GPU package
    table (release and ``index``, for onnxruntime-gpu, tensorflow ...) and metadata. ``markers``
    is the target's PEP 508 environment: PyPI's CPU-only aarch64 torch 2.9.0 carries the x86_64
    wheel's ``nvidia-*-cu12==...; platform_machine == "x86_64"`` lines, no CUDA need on it."""
    from mlenv.cuda.packages import table_need

    package = canonicalize_name(name)
    where = f"{package} {version}"
    own = _tagged("version", version, _local_tags(version), version, where=where, name=package)
    if filename.endswith(".whl"):
        try:
            wheel_version = str(parse_wheel_filename(filename)[1])
        except InvalidWheelFilename as exc:
            raise CudaError(
                f"{filename!r} is not a valid wheel file name",
                where=where,
                hint="wheel names look like name-version-pytag-abitag-platform.whl",
            ) from exc
        tags = _local_tags(wheel_version)
        own += _tagged("version", wheel_version, tags, filename, where=where, name=package)
    name_tags = _NAME_TAG_RE.findall(package)
    own += _tagged("name", package, name_tags, where, where=where, pin=_Pin(version, "exact"))
    if not own and (listed := table_need(package, version, index, filename)) is not None:
        own.append(listed)
    required = [
        need
        for raw in requires_dist
        for need in _from_requirement(raw, where=where, markers=markers)
    ]
    if markers is not None and (own or not required):  # onnxruntime-gpu 1.24+
        # what its extras say: the need when nothing else says one, else held against its own
        required += said_by_extras(package, requires_dist, where, markers, held=bool(own))
    elif markers is not None and (need := _combine(own, required)) is not None:
        # the unconditional lines said it: a generic CUDA extra of another major contradicts
        clash = () if need.driver_only else against_base(requires_dist, where, markers, need)
        return replace(need, conflicts=need.conflicts + clash)
    return _combine(own, required)


def extract_conda(
    name: str, version: str, build: str, depends: Sequence[str], constrains: Sequence[str]
) -> CudaNeed | None:
    """The CUDA a conda package needs, from its build string, itself, depends and constrains
    (read in ``mlenv.cuda.conda_tags``)."""
    from mlenv.cuda.conda_tags import conda_record_need

    return conda_record_need(name, version, build, depends, constrains)


# A local segment of a non-CUDA build (+cpu, +cpu.cxx11.abi, +rocm6.2, +xpu, PyG's +pt25cpu).
_NON_CUDA_SEGMENT = LazyPattern(r"(?:pt[0-9]+)?(?:cpu|rocm[0-9]*|xpu)")


def is_cpu_variant(name: str, version: str) -> bool:
    """A local version that names a build other than CUDA (``+cpu``, ``+rocm6.2``)."""
    try:
        local = Version(version).local
    except InvalidVersion:
        return False
    if local is None or not any(_NON_CUDA_SEGMENT.fullmatch(s) for s in local.split(".")):
        return False
    try:
        return extract(name, version) is None
    except CudaError:
        return False  # an unreadable CUDA tag: a CUDA variant, judged elsewhere
