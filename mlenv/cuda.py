"""The CUDA compatibility engine: what CUDA each artifact needs, and whether the target runs it.

Facts (minimum drivers, compatibility floors, architectures, tag patterns, component versions)
live in ``mlenv/data/cuda.json`` with a source on every row; this module only interprets them.

How the driver floor is judged (``judge``), after ``shared/reference/cuda.md`` §2 and §9:

- The target toolkit's Table 3 value (its GA release) is a hard floor. Minor-version
  compatibility would load the libraries on an older driver of the same major, but the image
  carries ``NVIDIA_REQUIRE_CUDA=cuda>=X.Y`` and the container runtime refuses to start it on a
  driver whose CUDA version is lower, so a warning would be a lie.
- A build for a newer minor than the target is refused unless the driver floor reaches that
  minor's own Table 3 value (minor-version compatibility gives no PTX JIT).
- The warning tier of §9 rule 3: a package from a later *update* of a minor (known from the
  ``cuda-toolkit`` pin table, e.g. cuBLAS 13.1.0.3 is CUDA 13.0 Update 2, driver 580.95.05) on
  a driver at or above the minor's GA value but below the update's value runs under
  minor-version compatibility only; that is a warning, not an error.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Literal

from packaging.requirements import InvalidRequirement
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from mlenv.errors import MlenvError
from mlenv.pep508 import requirement as parsed


class CudaError(MlenvError):
    """A CUDA version, driver version or requirement that cannot be understood or judged."""


# ---------------------------------------------------------------------------------------------
# Versions

_CUDA_RE = re.compile(r"(\d+)\.(\d+)")
_DOTTED_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*")
# A driver version as NVIDIA prints it: ASCII digits only (``\d`` also takes fullwidth and
# Arabic-Indic digits), no sign, no empty component, a major without a leading zero, at most
# four components.
_DRIVER_TEXT_RE = re.compile(r"[1-9][0-9]{0,3}(?:\.[0-9]{1,3}){0,3}")
_ASCII_SPACE = " \t\r\n"
_LEADING_NUMBERS_RE = re.compile(r"(?:\d+!)?(\d+(?:\.\d+)*)")


@dataclass(frozen=True, order=True)
class CudaVersion:
    """A CUDA major.minor: the unit in which NVIDIA states compatibility."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str, *, where: str = "CUDA version") -> CudaVersion:
        match = _CUDA_RE.fullmatch(text.strip())
        if match is None:
            raise CudaError(
                f"{text!r} is not a CUDA version", where=where, hint="write major.minor, e.g. 12.4"
            )
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def _dotted(text: str, *, what: str, where: str, hint: str) -> tuple[int, ...]:
    """Numeric components without trailing zeros, so 580 == 580.0 as in libnvidia-container."""
    stripped = text.strip()
    if _DOTTED_RE.fullmatch(stripped) is None:
        raise CudaError(f"{text!r} is not a {what}", where=where, hint=hint)
    parts = [int(part) for part in stripped.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True, order=True)
class DriverVersion:
    """An NVIDIA driver version; compares numerically, keeps its text for messages."""

    key: tuple[int, ...]
    text: str = field(compare=False)

    @classmethod
    def parse(
        cls, text: str, *, where: str = "driver version", trim: bool = False
    ) -> DriverVersion:
        """The one reader of driver versions (flags, variables, manifest, lock, host probes).

        ``trim`` drops surrounding ASCII whitespace, for text that comes from a file, a command
        or the shell; a value typed into a manifest or lock must be exact.
        """
        value = text.strip(_ASCII_SPACE) if trim else text
        if _DRIVER_TEXT_RE.fullmatch(value) is None:
            raise CudaError(
                f"{text!r} is not a driver version",
                where=where,
                hint="write it as nvidia-smi prints it, e.g. 550.54.14",
            )
        parts = [int(part) for part in value.split(".")]
        while parts and parts[-1] == 0:
            parts.pop()
        return cls(tuple(parts), value)

    def __str__(self) -> str:
        return self.text


def _numbers(version: str, *, where: str) -> tuple[int, ...]:
    """The numeric release part of a package version ("13.0.48.post1" -> (13, 0, 48))."""
    match = _LEADING_NUMBERS_RE.match(version.strip())
    if match is None:
        raise CudaError(
            f"version {version!r} has no numeric release",
            where=where,
            hint="CUDA components are versioned like 12.4.127",
        )
    return tuple(int(part) for part in match[1].split("."))


# ---------------------------------------------------------------------------------------------
# The packaged data


@dataclass(frozen=True)
class _Release:
    version: tuple[int, ...]
    cuda: CudaVersion
    label: str
    linux: DriverVersion | None


@dataclass(frozen=True)
class _Archs:
    ccs: tuple[int, ...]
    added_in: dict[int, CudaVersion]


@dataclass(frozen=True)
class _Pattern:
    id: str
    applies_to: str
    kind: str
    regex: re.Pattern[str]
    name: re.Pattern[str] | None
    replacement: str
    source: str


@dataclass(frozen=True)
class _Component:
    component: str
    version: tuple[int, ...]
    cuda: CudaVersion
    release: str
    source: str


@dataclass(frozen=True)
class _Matrix:
    releases: tuple[_Release, ...]
    compat: dict[int, DriverVersion]
    archs: dict[int, _Archs]
    patterns: tuple[_Pattern, ...]
    components: tuple[_Component, ...]


def _build_matrix(raw: Any) -> _Matrix:
    where = "mlenv/data/cuda.json"
    releases = []
    for row in raw["toolkits"]:
        version = _numbers(row["release"], where=where)
        driver = row["linux_min_driver"]
        releases.append(
            _Release(
                version=version,
                cuda=CudaVersion(version[0], version[1]),
                label=str(row["label"]),
                linux=None if driver is None else DriverVersion.parse(driver, where=where),
            )
        )
    patterns = tuple(
        _Pattern(
            id=str(row["id"]),
            applies_to=str(row["applies_to"]),
            kind=str(row["kind"]),
            regex=re.compile(row["regex"], re.IGNORECASE),
            name=re.compile(row["name"]) if "name" in row else None,
            replacement=str(row.get("replacement", "")),
            source=str(row["source"]),
        )
        for row in sorted(
            raw["tag_patterns"], key=lambda row: (row["applies_to"], row["precedence"])
        )
    )
    return _Matrix(
        releases=tuple(sorted(releases, key=lambda release: release.version)),
        compat={
            int(row["major"]): DriverVersion.parse(row["linux"], where=where)
            for row in raw["minor_compat"]
        },
        archs={
            int(row["major"]): _Archs(
                ccs=tuple(arch_cc(arch) for arch in row["list"]),
                added_in={
                    arch_cc(arch): CudaVersion.parse(cuda, where=where)
                    for arch, cuda in row["added_in"].items()
                },
            )
            for row in raw["gpu_archs"]
        },
        patterns=patterns,
        components=tuple(
            _Component(
                component=str(row["component"]),
                version=_numbers(row["version"], where=where),
                cuda=CudaVersion(*_numbers(row["release"], where=where)[:2]),
                release=str(row["release"]),
                source=str(row["source"]),
            )
            for row in raw["component_versions"]
        ),
    )


@functools.cache
def _matrix() -> _Matrix:
    """Read the packaged data once; it never changes while mlenv runs."""
    text = (resources.files("mlenv") / "data" / "cuda.json").read_text(encoding="utf-8")
    return _build_matrix(json.loads(text))


# ---------------------------------------------------------------------------------------------
# Data access


@functools.cache
def known_cuda_versions() -> tuple[CudaVersion, ...]:
    """Every CUDA major.minor with a release in the data, oldest first."""
    return tuple(sorted({release.cuda for release in _matrix().releases}))


def _known_hint(major: int) -> str:
    same = [str(cuda) for cuda in known_cuda_versions() if cuda.major == major]
    if same:
        return f"known CUDA {major} releases: {', '.join(same)}"
    majors = sorted({cuda.major for cuda in known_cuda_versions()})
    return f"known CUDA majors: {', '.join(map(str, majors))}"


def _minimum(cuda: CudaVersion, release: str | None = None) -> tuple[DriverVersion, str] | None:
    """Table 3 driver and row label of X.Y's GA, or of the given update; None if unconfirmed.

    An update without a confirmed value falls back to the newest confirmed earlier row of the
    same minor: a known lower bound, never a guess.
    """
    rows = [
        (driver, row)
        for row in _matrix().releases
        if row.cuda == cuda and (driver := row.linux) is not None
    ]
    if not rows:
        return None
    driver, chosen = rows[0]
    if release is not None:
        key = _numbers(release, where=f"CUDA release {release}")
        for candidate_driver, row in rows:
            if row.version <= key:
                driver, chosen = candidate_driver, row
    return driver, chosen.label


def min_driver(cuda: CudaVersion) -> DriverVersion:
    """The Linux driver the X.Y GA toolkit needs (release notes Table 3)."""
    if cuda not in known_cuda_versions():
        raise CudaError(
            f"CUDA {cuda} is not a known CUDA release",
            where=f"CUDA {cuda}",
            hint=_known_hint(cuda.major),
        )
    found = _minimum(cuda)
    if found is None:
        raise CudaError(
            f"the minimum driver for CUDA {cuda} is unconfirmed",
            where=f"CUDA {cuda}",
            hint="no NVIDIA Table 3 value is known for it; target a release whose driver is known",
        )
    return found[0]


def minor_compat_floor(major: int) -> DriverVersion:
    """The oldest Linux driver on which CUDA major.x applications load (minor-version compat)."""
    floor = _matrix().compat.get(major)
    if floor is None:
        raise CudaError(
            f"CUDA {major}.x has no minor-version compatibility floor",
            where=f"CUDA {major}.x",
            hint="each toolkit of this major needs its own minimum driver (min_driver)",
        )
    return floor


def _archs(major: int) -> _Archs:
    archs = _matrix().archs.get(major)
    if archs is None:
        raise CudaError(
            f"no GPU architecture data for CUDA {major}.x",
            where=f"CUDA {major}.x",
            hint=_known_hint(major),
        )
    return archs


def supported_archs(major: int) -> tuple[str, ...]:
    """The GPU architectures some toolkit of the major compiles for, oldest first."""
    return tuple(f"sm_{cc}" for cc in _archs(major).ccs)


# ---------------------------------------------------------------------------------------------
# Extraction


@dataclass(frozen=True)
class CudaNeed:
    """What one artifact needs from CUDA, with the evidence, so every finding can say why.

    ``major_only`` marks builds that fix only the major (cupy-cuda12x, -cu12 suffixes);
    ``release`` is the toolkit update a component version was pinned by, when known;
    ``stub`` names the real package when the artifact is a placeholder; ``conflicts`` holds
    the signals of the same artifact that disagree with this one.
    """

    cuda: CudaVersion
    major_only: bool
    rule: str
    evidence: str
    source: str
    release: str | None = None
    stub: str | None = None
    conflicts: tuple[CudaNeed, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.cuda.major}.x" if self.major_only else str(self.cuda)


_Exactness = Literal["exact", "compatible", "lower"]


@dataclass(frozen=True)
class _Pin:
    """A version read from a package or a requirement, and how tightly it is fixed."""

    version: str
    exactness: _Exactness


_EXTRA_MARKER_RE = re.compile(r"\bextra\s*==")
_SPEC_BOUND_RE = re.compile(r"(?:>=|==|=|>|~=)?\s*(\d+(?:\.\d+)*)(?:[a-z]+\d*)?(?:\.\*|\*)?")
_PIN_RANK: dict[str, tuple[int, _Exactness]] = {
    "==": (0, "exact"),
    "===": (0, "exact"),
    "~=": (1, "compatible"),
    ">=": (2, "lower"),
    ">": (2, "lower"),
}


@functools.cache
def _patterns(applies_to: str) -> tuple[_Pattern, ...]:
    """Filtered once: every Requires-Dist line of every pin asks for the name patterns."""
    return tuple(p for p in _matrix().patterns if p.applies_to == applies_to)


def _digits(text: str) -> CudaVersion:
    """cuXYZ: every digit but the last is the major, the last is the minor (cu118 -> 11.8)."""
    return CudaVersion(int(text[:-1]), int(text[-1]))


def _shipped_in(component: str, version: tuple[int, ...], cuda: CudaVersion) -> _Component | None:
    """The toolkit update that shipped this component version (``component_versions``).

    A version between two pinned ones (a standalone patch, e.g. cuBLAS 13.4.1.1) is traced to
    the newest earlier update of the same CUDA minor: a lower bound of its driver, never a guess.
    """
    rows = [
        row
        for row in _matrix().components
        if row.component == component and row.cuda == cuda and row.version <= version
    ]
    return max(rows, key=lambda row: row.version, default=None)


def _lookup(
    component: str, version: tuple[int, ...], major: int, *, exact: bool
) -> tuple[CudaVersion, str | None, str] | None:
    """CUDA of a component version from the cuda-toolkit pins, only when unambiguous; the
    update that shipped it only for an exact pin."""
    rows = [
        row
        for row in _matrix().components
        if row.component == component and row.cuda.major == major
    ]
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


def _spec_floor(spec: str, *, where: str) -> tuple[int, ...] | None:
    """The lowest version a conda version spec admits ('>=12.6,<13' -> (12, 6))."""
    floors: list[tuple[int, ...]] = []
    for alternative in spec.split("|"):
        lows: list[tuple[int, ...]] = []
        for part in alternative.split(","):
            part = part.strip()
            if not part or part.startswith(("<", "!=")):
                continue
            match = _SPEC_BOUND_RE.fullmatch(part)
            if match is None:
                raise CudaError(
                    f"conda version spec {spec!r} cannot be read",
                    where=where,
                    hint="expected a spec like '>=12.4,<13' or '12.4.*'",
                )
            lows.append(tuple(int(number) for number in match[1].split(".")))
        if not lows:
            return None
        floors.append(max(lows))
    return min(floors)


def _need(
    pattern: _Pattern, match: re.Match[str], pin: _Pin | None, evidence: str, where: str
) -> CudaNeed | None:
    """Turn one pattern match into a need, following the pattern's kind."""
    groups = match.groupdict()

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
    if kind == "digits":
        digits = groups["digits"]
        if len(digits) == 2 and digits[0] == "1":  # cu12: CUDA 12.x, there was no CUDA 1.2
            return major(int(digits))
        return make(_digits(digits))
    if kind == "major":
        return major(int(groups["major"]))
    if kind == "cuda":
        return make(CudaVersion.parse(groups["cuda"], where=where))
    if kind == "stub":
        stub = pattern.replacement.format(base=groups["base"])
        return replace(major(int(groups["major"])), stub=stub)
    if kind == "spec":
        floor = _spec_floor(groups["spec"], where=where)
        if floor is None:
            return None
        return make(CudaVersion(floor[0], floor[1])) if len(floor) > 1 else major(floor[0])
    # The remaining kinds read the package version; -cu11/-cu12 suffixes fix the major and
    # unsuffixed NVIDIA component wheels are the CUDA 13 ones.
    suffix = int(groups["major"]) if groups.get("major") else None
    expected = suffix if suffix is not None else 13
    if pin is None:
        return major(expected) if kind in ("version", "table") else None
    version = _numbers(pin.version, where=where)
    if kind == "version-major" or pin.exactness == "lower" or len(version) < 2:
        found = major(expected if kind == "table" else version[0])
    elif kind == "table":
        hit = _lookup(groups["component"], version, expected, exact=pin.exactness == "exact")
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
    for pattern in _patterns(applies_to):
        if pattern.name is not None and pattern.name.search(name) is None:
            continue
        match = pattern.regex.search(subject)
        if match is not None:
            need = _need(pattern, match, pin, evidence, where)
            return [] if need is None else [need]
    return []


# "cu" or "cuda" and two digits, not after a letter: a CUDA tag in a local version label or a
# conda build string ("cudnn89", "nocuda126" are none); in a distribution name only as a whole
# dash-separated part (cudf-cu12, spconv-cu120, not cu2qu). Each must be read by a pattern.
_CUDA_TAG_RE = re.compile(r"(?<![a-z])cu(?:da)?_?[0-9]{2,}", re.IGNORECASE)
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


def _from_requirement(raw: str, *, where: str) -> list[CudaNeed]:
    """A Requires-Dist entry as evidence; extras are optional and placeholders judged alone."""
    try:
        requirement = parsed(raw)
    except InvalidRequirement as exc:
        raise CudaError(
            f"Requires-Dist {raw!r} cannot be parsed: {exc}",
            where=where,
            hint="the package metadata is broken; use another build of the package",
        ) from exc
    if requirement.marker is not None and _EXTRA_MARKER_RE.search(str(requirement.marker)):
        return []
    needs = _first(
        "name",
        canonicalize_name(requirement.name),
        _pin(requirement.specifier),
        f"Requires-Dist: {raw}",
        where=where,
    )
    return [need for need in needs if need.stub is None]


def _disagree(first: CudaNeed, other: CudaNeed, *, same_artifact: bool) -> bool:
    """Different majors always disagree; tags of one artifact must also agree on the minor."""
    if first.cuda.major != other.cuda.major:
        return True
    both_minor = not first.major_only and not other.major_only
    return same_artifact and both_minor and first.cuda != other.cuda


def _strength(need: CudaNeed) -> tuple[bool, CudaVersion, tuple[int, ...]]:
    release = _numbers(need.release, where=need.evidence) if need.release else ()
    return (not need.major_only, need.cuda, release)


def _combine(own: list[CudaNeed], required: list[CudaNeed]) -> CudaNeed | None:
    """The artifact's own tags win; dependencies decide only when it has none (§9 rule 1)."""
    if own:
        primary = own[0]
        conflicts = [need for need in own[1:] if _disagree(primary, need, same_artifact=True)]
    elif required:
        primary = max(required, key=_strength)
        conflicts = []
    else:
        return None
    conflicts += [need for need in required if _disagree(primary, need, same_artifact=False)]
    return replace(primary, conflicts=primary.conflicts + tuple(conflicts))


def extract(
    name: str,
    version: str,
    filename: str = "",
    requires_dist: Sequence[str] = (),
    index: str = "",
) -> CudaNeed | None:
    """The CUDA a Python package needs, from its version tag, wheel name, name, the GPU package
    table (release and ``index``, for onnxruntime-gpu, tensorflow ...) and metadata."""
    from mlenv.cudapkg import table_need

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
        own += _tagged(
            "version",
            wheel_version,
            _local_tags(wheel_version),
            filename,
            where=where,
            name=package,
        )
    own += _tagged(
        "name",
        package,
        _NAME_TAG_RE.findall(package),
        where,
        where=where,
        pin=_Pin(version, "exact"),
    )
    if not own and (listed := table_need(package, version, index)) is not None:
        own.append(listed)
    required = [need for raw in requires_dist for need in _from_requirement(raw, where=where)]
    return _combine(own, required)


def _from_specs(specs: Sequence[str], label: str, *, where: str) -> list[CudaNeed]:
    return [
        need
        for spec in specs
        for need in _first("conda-spec", spec.strip(), None, f"{label}{spec}", where=where)
    ]


def extract_conda(
    name: str, version: str, build: str, depends: Sequence[str], constrains: Sequence[str]
) -> CudaNeed | None:
    """The CUDA a conda package needs, from its build string, itself, depends and constrains."""
    where = f"{name} {version} {build}".strip()
    own = _tagged("conda-build", build, _CUDA_TAG_RE.findall(build), f"build {build}", where=where)
    own += _from_specs([f"{name} {version}"], "", where=where)
    required = _from_specs(depends, "depends ", where=where)
    required += _from_specs(constrains, "constrains ", where=where)
    return _combine(own, required)


# ---------------------------------------------------------------------------------------------
# Rules

_ARCH_RE = re.compile(r"sm_(?P<cc>[0-9]{2,3})(?P<suffix>[af]?)")
# Arch-specific "a" targets exist from Hopper (sm_90a, CUDA 12.0), family "f" targets from
# Blackwell (sm_100f) since CUDA 12.9 (release notes); sm_75a or sm_80f name no GPU target.
_SUFFIX_FROM = {"a": 90, "f": 100}
_SUFFIX_SINCE = {"a": CudaVersion(12, 0), "f": CudaVersion(12, 9)}


def arch_cc(arch: str) -> int:
    """Compute capability x10 of sm_XY (family suffixes a/f run on the base architecture)."""
    match = _ARCH_RE.fullmatch(arch)
    if match is None or int(match["cc"]) < _SUFFIX_FROM.get(match["suffix"], 0):
        raise CudaError(
            f"{arch!r} is not a GPU architecture",
            where="cuda.archs",
            hint="write sm_ and the compute capability without the dot, e.g. sm_80 (an a/f "
            "suffix only on sm_90a and newer / sm_100f and newer)",
        )
    return int(match["cc"])


@dataclass(frozen=True)
class CudaTarget:
    """What the fleet promises: the CUDA toolkit, the oldest driver and the GPUs to support."""

    cuda: CudaVersion
    driver_floor: DriverVersion
    archs: tuple[str, ...] = ()
    checked: bool = False  # the driver of one machine (verify --driver/--host), not the floor

    def __post_init__(self) -> None:
        for arch in self.archs:
            arch_cc(arch)

    @property
    def driver_said(self) -> str:
        """How messages name the driver: the fleet's floor, or the one machine's driver."""
        if self.checked:
            return f"driver {self.driver_floor} (checked)"
        return f"driver floor {self.driver_floor}"

    @property
    def driver_is(self) -> str:
        if self.checked:
            return f"the driver is {self.driver_floor} (checked)"
        return f"the driver floor is {self.driver_floor}"

    def raise_driver(self, version: DriverVersion) -> str:
        """The remedy when the driver is too old, for the floor or for the checked machine."""
        if self.checked:
            return f"upgrade the driver to {version}"
        return f"raise the driver floor to {version}"


@dataclass(frozen=True)
class PackageNeed:
    """One locked package and the CUDA it needs."""

    name: str
    version: str
    need: CudaNeed


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One verdict: ``needs`` is what the package (or target) requires, ``promised`` what the
    target offers; ``package`` is empty for findings about the target itself."""

    severity: Severity
    code: str
    package: str
    needs: str
    promised: str
    message: str
    hint: str


def _promise(target: CudaTarget) -> str:
    return f"CUDA {target.cuda}, driver {target.driver_floor}"


def _target_findings(target: CudaTarget, needs: Sequence[PackageNeed]) -> list[Finding]:
    cuda, driver = target.cuda, target.driver_floor

    def finding(code: str, needs: str, message: str, hint: str) -> list[Finding]:
        return [Finding("error", code, "", needs, _promise(target), message, hint)]

    if cuda not in known_cuda_versions():
        message = f"CUDA {cuda} is not a known CUDA release"
        return finding("cuda-unknown", "a known CUDA release", message, _known_hint(cuda.major))
    found = _minimum(cuda)
    if found is None:
        confirmed = [c for c in known_cuda_versions() if _minimum(c) is not None]
        return finding(
            "driver-unconfirmed",
            "a known minimum driver",
            f"the minimum driver for CUDA {cuda} is unconfirmed, "
            f"so {target.driver_said} cannot be checked",
            f"target CUDA {max(confirmed)} or older, whose minimum drivers are known",
        )
    minimum = found[0]
    if driver >= minimum:
        return []
    users = [
        f"{item.name} {item.version}"
        for item in needs
        if item.need.stub is None and item.need.cuda.major == cuda.major
    ]
    message = f"{target.driver_said} is below {minimum}, the minimum driver for CUDA {cuda}"
    if users:
        message += f"; needed by {', '.join(users)}"
    hint = f"{target.raise_driver(minimum)} or newer"
    older = [
        candidate
        for candidate in known_cuda_versions()
        if candidate.major == cuda.major
        and candidate < cuda
        and (low := _minimum(candidate)) is not None
        and low[0] <= driver
    ]
    if older:
        hint += f", or target CUDA {max(older)}"
    return finding("driver-below-toolkit", f"driver >= {minimum}", message, hint)


def arch_findings(target: CudaTarget) -> list[Finding]:
    """cuda.archs against the target CUDA: unknown, not yet added, or dropped (CUDA 13: sm_75+)."""
    cuda = target.cuda
    archs = _matrix().archs.get(cuda.major)
    if archs is None:
        return []
    findings = []
    for arch in target.archs:
        cc = arch_cc(arch)
        added = archs.added_in.get(cc)
        if cc in archs.ccs:
            since = _SUFFIX_SINCE.get(arch[-1])
            if since is not None and cuda < since:
                code = "arch-unsupported"
                message = f"{arch} (an {arch[-1]!r} target) needs CUDA {since} or newer"
                hint = f"target CUDA {since} or newer, or write {arch[:-1]}"
                findings.append(Finding("error", code, "", arch, _promise(target), message, hint))
                continue
            if added is None or added <= cuda:
                continue
            code = "arch-unsupported"
            message = f"{arch} needs CUDA {added} or newer; the target is CUDA {cuda}"
            hint = f"target CUDA {added} or newer, or drop {arch} from cuda.archs"
        elif cc < archs.ccs[0]:
            code = "arch-dropped"
            message = (
                f"CUDA {cuda.major}.x does not support {arch}; its oldest architecture is "
                f"sm_{archs.ccs[0]}"
            )
            last = [major for major, other in _matrix().archs.items() if cc in other.ccs]
            hint = f"drop {arch} from cuda.archs"
            if last:
                hint += f" or target CUDA {max(last)}.x, the last major that supports it"
        else:
            code = "arch-unsupported"
            message = f"CUDA {cuda.major}.x has no {arch}"
            supported = ", ".join(f"sm_{known}" for known in archs.ccs)
            hint = f"check the GPU's compute capability; CUDA {cuda.major}.x supports {supported}"
        findings.append(Finding("error", code, "", arch, _promise(target), message, hint))
    return findings


def _place(name: str, cuda: CudaVersion, hint: str) -> str:
    """A hint followed by where the package's family publishes builds for the target CUDA."""
    from mlenv.cudapkg import hint as family_hint

    place = family_hint(name, cuda)
    return f"{hint}; {place}" if place else hint


def _package_findings(target: CudaTarget, item: PackageNeed) -> list[Finding]:
    need, cuda, driver = item.need, target.cuda, target.driver_floor
    who = f"{item.name} {item.version}"

    def finding(severity: Severity, code: str, needs: str, message: str, hint: str) -> Finding:
        return Finding(severity, code, item.name, needs, _promise(target), message, hint)

    if need.stub is not None:
        message = f"{who} is a placeholder package, not a CUDA library"
        return [finding("error", "cuda-stub-package", need.stub, message, f"depend on {need.stub}")]
    findings = [
        finding(
            "error",
            "cuda-contradiction",
            f"CUDA {need.label}",
            f"{who}: CUDA {need.label} from {need.evidence!r} contradicts "
            f"CUDA {other.label} from {other.evidence!r}",
            f"use a build of {item.name} whose tags and dependencies agree on one CUDA version",
        )
        for other in need.conflicts
    ]
    if need.cuda.major != cuda.major:
        findings.append(
            finding(
                "error",
                "cuda-major-mismatch",
                f"CUDA {need.label}",
                f"{who} is built for CUDA {need.label}, but the target is CUDA {cuda}",
                _place(
                    item.name,
                    cuda,
                    f"use a CUDA {cuda.major} build of {item.name}, "
                    f"or target CUDA {need.cuda.major}.x",
                ),
            )
        )
        return findings
    if need.major_only:
        return findings
    if need.cuda not in known_cuda_versions():
        findings.append(
            finding(
                "error",
                "cuda-unknown",
                f"CUDA {need.cuda}",
                f"{who} names CUDA {need.cuda} ({need.evidence!r}), "
                "which is not a known CUDA release",
                _known_hint(need.cuda.major),
            )
        )
        return findings
    target_minimum = _minimum(cuda) if cuda in known_cuda_versions() else None
    own = _minimum(need.cuda)
    full = _minimum(need.cuda, need.release)
    if own is None or full is None:
        if need.cuda > cuda:
            findings.append(
                finding(
                    "error",
                    "driver-unconfirmed",
                    f"CUDA {need.cuda}",
                    f"{who} is built for CUDA {need.cuda}, whose minimum driver is unconfirmed",
                    f"use a build of {item.name} for CUDA {cuda} or older",
                )
            )
    elif need.cuda > cuda and driver < own[0]:
        findings.append(
            finding(
                "error",
                "cuda-newer-minor",
                f"CUDA {need.cuda}, driver >= {own[0]}",
                f"{who} is built for CUDA {need.cuda}, newer than the target CUDA {cuda}; "
                f"it needs driver {own[0]} but {target.driver_is}",
                _place(
                    item.name,
                    cuda,
                    f"use a build of {item.name} for CUDA {cuda} or older, "
                    f"or {target.raise_driver(own[0])}",
                ),
            )
        )
    elif target_minimum is not None and max(target_minimum[0], own[0]) <= driver < full[0]:
        findings.append(
            finding(
                "warning",
                "driver-minor-compat",
                f"driver >= {full[0]}",
                f"{who} uses CUDA {need.release} ({need.evidence!r}), whose full feature set "
                f"needs driver {full[0]} ({full[1]}); {target.driver_said} runs it only under "
                "minor-version compatibility (no PTX JIT, newer-driver features fail at run time)",
                target.raise_driver(full[0]),
            )
        )
    return findings


def judge(target: CudaTarget, needs: Sequence[PackageNeed]) -> tuple[Finding, ...]:
    """Every CUDA finding for the target and the packages at once, target findings first."""
    findings = _target_findings(target, needs) + arch_findings(target)
    for item in needs:
        findings += _package_findings(target, item)
    return tuple(findings)


def package_driver(item: PackageNeed) -> tuple[DriverVersion, str] | None:
    """The driver one package needs for its full feature set, and the release that sets it.

    None when the package fixes only a CUDA major (or is a placeholder): then the target's
    toolkit decides.
    """
    need = item.need
    if need.stub is not None or need.major_only:
        return None
    found = _minimum(need.cuda, need.release) if need.cuda in known_cuda_versions() else None
    if found is None:
        raise CudaError(
            f"the minimum driver for CUDA {need.cuda} is not known",
            where=f"{item.name} {item.version}",
            hint=f"use a build of {item.name} for a CUDA release with a known driver",
        )
    return found


def required_driver(target: CudaTarget, needs: Sequence[PackageNeed]) -> tuple[DriverVersion, str]:
    """The driver the environment needs for its full feature set, and which package sets it.

    Packages of another major or fixing only the major do not raise it; judge() reports them.
    """
    best = min_driver(target.cuda)
    why = f"target CUDA {target.cuda}"
    for item in needs:
        if item.need.cuda.major != target.cuda.major:
            continue
        found = package_driver(item)
        if found is not None and found[0] > best:
            best, why = found[0], f"{item.name} {item.version} ({found[1]})"
    return best, why


# ---------------------------------------------------------------------------------------------
# NVIDIA_REQUIRE_CUDA

_CONSTRAINT_RE = re.compile(r"(?P<prop>[A-Za-z]+)(?P<op>!=|<=|>=|=|<|>)(?P<value>[^,\s]+)")
_NUMERIC_PROPERTIES = ("cuda", "driver", "arch")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_REQUIRE_WHERE = "NVIDIA_REQUIRE_CUDA"


def nvidia_require_cuda(cuda: CudaVersion) -> str:
    """The image's NVIDIA_REQUIRE_CUDA: the container runtime refuses drivers below X.Y."""
    return f"cuda>={cuda}"


@dataclass(frozen=True)
class _Constraint:
    """One comparison; ``number`` is the parsed value of cuda, driver and arch constraints."""

    prop: str
    op: str
    value: str
    number: tuple[int, ...] = ()


def _constraint(text: str) -> _Constraint:
    match = _CONSTRAINT_RE.fullmatch(text)
    if match is None:
        raise CudaError(
            f"invalid expression {text!r}",
            where=_REQUIRE_WHERE,
            hint="constraints look like cuda>=12.4 or brand=tesla,driver>=470",
        )
    prop, op, value = match["prop"].lower(), match["op"], match["value"]
    if prop == "brand":
        if op not in ("=", "!="):
            raise CudaError(
                f"invalid expression {text!r}: brand compares only with = and !=",
                where=_REQUIRE_WHERE,
                hint="write brand=tesla or brand!=geforce",
            )
        return _Constraint(prop, op, value)
    if prop not in _NUMERIC_PROPERTIES:
        raise CudaError(
            f"invalid expression {text!r}: unknown property {match['prop']!r}",
            where=_REQUIRE_WHERE,
            hint="properties are cuda, driver, arch and brand",
        )
    if _DOTTED_RE.fullmatch(value) is None:
        raise CudaError(
            f"invalid expression {text!r}: {value!r} is not a version",
            where=_REQUIRE_WHERE,
            hint="versions are dotted numbers, e.g. cuda>=12.4 or driver>=470",
        )
    return _Constraint(prop, op, value, _dotted(value, what="version", where="", hint=""))


def evaluate_requirement(
    expr: str, *, cuda: str, driver: str, arch: str | None = None, brand: str | None = None
) -> bool:
    """Predict libnvidia-container: spaces OR, commas AND, numbers ignore trailing zeros.

    ``cuda`` is the driver's CUDA version (nvidia-smi's), not the image's toolkit. A constraint
    on an arch or brand that is not given is unsatisfied: the prediction errs toward refusal.
    """
    terms = [[_constraint(text) for text in term.split(",")] for term in expr.split()]
    numbers = {
        prop: None
        if value is None
        else _dotted(value, what=f"{prop} version", where=prop, hint="give a dotted number")
        for prop, value in (("cuda", cuda), ("driver", driver), ("arch", arch))
    }

    def holds(constraint: _Constraint) -> bool:
        compare = _OPERATORS[constraint.op]
        if constraint.prop == "brand":
            return brand is not None and compare(brand.casefold(), constraint.value.casefold())
        actual = numbers[constraint.prop]
        return actual is not None and compare(actual, constraint.number)

    return not terms or any(all(holds(constraint) for constraint in term) for term in terms)
