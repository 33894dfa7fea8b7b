"""Read ``mlenv.toml`` into a frozen ``Manifest``.

Every problem in a manifest is collected in one pass and reported together, each naming the
file, the key path and what was expected, because users fix manifests faster that way than one
error per run.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from packaging.utils import canonicalize_name

from mlenv.errors import ManifestError, Problem
from mlenv.inputs import (
    DEFAULT_GLIBC,
    DEFAULT_INDEX,
    DEFAULT_PLATFORMS,
    DEFAULT_PRERELEASE,
    DEFAULT_STRATEGY,
    MAX_MANIFEST_CHARS,
    PRERELEASES,
    TOOL_MODES,
    UV_STRATEGIES,
    Prerelease,
)
from mlenv.instants import CUTOFF_HINT, cutoff, cutoff_problem
from mlenv.lazy_pattern import LazyPattern
from mlenv.limits import parse_toml
from mlenv.manifest import (
    COMPRESSIONS,
    INDEX_STRATEGIES,
    MAX_LAYERS,
    OUTPUTS,
    PYTHON_MINORS,
    Build,
    Cache,
    Compression,
    Conda,
    Cuda,
    Environment,
    IndexStrategy,
    Layers,
    Manifest,
    PyPI,
)
from mlenv.manifest_checker import _SCHEMA_KEYS, _Checker, _one_of
from mlenv.manifest_requirements import (
    constraint_problem,
    direct_names,
    requirement_hint,
    requirement_problem,
)
from mlenv.manifest_values import (
    _CUDA,
    _CUDA_WANTED,
    _MATCH_SPEC_HINT,
    _NAME,
    _NAME_WANTED,
    _arch,
    _channel,
    _channel_hint,
    _driver,
    _driver_hint,
    _env_name_hint,
    _glibc,
    _location,
    _location_hint,
    _match_spec,
    _pattern,
    _python,
    _repository,
    _unseen_hint,
    _url,
)
from mlenv.names import PROJECT_NAME
from mlenv.placement import judge_placement
from mlenv.platforms import NAMES
from mlenv.pypi_sources import lower_scheme, read_sources
from mlenv.spelled import IMAGE_OUTPUTS, cuda_version, glibc_version, python_version

TYPE_CHECKING = False
if TYPE_CHECKING:  # the CUDA tables load only when a manifest names CUDA
    from mlenv.cuda.versions import CudaVersion, DriverVersion


def loads(text: str, source: str = "mlenv.toml") -> Manifest:
    """Parse manifest text; ``source`` is the file name used in every message."""
    if len(text) > MAX_MANIFEST_CHARS:
        raise ManifestError(
            f"{source}: too big to be a manifest",
            [Problem(source, f"{len(text)} characters, over the limit of {MAX_MANIFEST_CHARS}",
                     "check that this is the mlenv.toml you meant")],
        )  # fmt: skip
    if text.startswith("\ufeff"):  # tomllib: "Invalid statement" at 1:1, an invisible cause
        raise ManifestError(
            f"{source}: not valid TOML",
            [Problem(f"{source}:1:1", "the file starts with a byte-order mark (U+FEFF)",
                     'save it as UTF-8 without a byte-order mark (an editor\'s "UTF-8", not '
                     '"UTF-8 with BOM")')],
        )  # fmt: skip
    try:
        data = parse_toml(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(
            f"{source}: not valid TOML",
            [_syntax_problem(source, exc)],
        ) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and tables
        raise ManifestError(
            f"{source}: not valid TOML",
            [Problem(source, "arrays or tables nested too deeply to read",
                     "a manifest needs two levels of tables at most")],
        ) from None  # fmt: skip
    return parse(data, source)


_POSITION = LazyPattern(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    match = _POSITION.match(text)
    if match is None:
        return Problem(source, f"invalid TOML: {text}", "check the file with a TOML linter")
    return Problem(
        f"{source}:{match['line']}:{match['col']}",
        f"invalid TOML: {match['msg']}",
        "fix the TOML syntax at this position (strings need quotes, tables need [brackets])",
    )


def parse(data: Mapping[str, Any], source: str = "mlenv.toml") -> Manifest:
    """Validate a decoded TOML mapping; raise one ManifestError listing every problem."""
    check = _Checker(source)
    top = check.table(data, "", _SCHEMA_KEYS[""], required=("environment",))
    environment = _environment(check, check.subtable(top, "environment"))
    cuda = _cuda(check, check.subtable(top, "cuda")) if "cuda" in top else None
    conda = _conda(check, check.subtable(top, "conda"))
    pypi = _pypi(check, check.subtable(top, "pypi"))
    build = _build(check, check.subtable(top, "build"))
    cache = Cache(check.string(check.subtable(top, "cache"), "cache.registry", None, _repository))
    if check.count:
        noun = "problem" if check.count == 1 else "problems"
        more = check.count - len(check.problems)
        shown = list(check.problems)
        if more:
            shown.append(Problem(source, f"and {more:,} more {noun} not shown"))
        raise ManifestError(f"{source}: {check.count:,} {noun} in the manifest", shown)
    return Manifest(environment, cuda, conda, pypi, build, source, cache)


def _environment(check: _Checker, table: Mapping[str, Any]) -> Environment:
    name = check.string(
        table, "environment.name", "", _pattern(_NAME, _NAME_WANTED), _env_name_hint
    )
    python = check.string(
        table, "environment.python", "", _python, lambda value: python_version(value, PYTHON_MINORS)
    )
    platforms = check.string_list(table, "environment.platforms", DEFAULT_PLATFORMS, _one_of(NAMES))
    if "platforms" in table and isinstance(table["platforms"], list) and not table["platforms"]:
        check.add("environment.platforms", "must list at least one platform", 'e.g. ["linux-64"]')
    glibc = check.string(table, "environment.glibc", DEFAULT_GLIBC, _glibc, glibc_version)
    prefix = check.string(table, "environment.prefix", f"/opt/mlenv/{name}")
    interpreter = check.string(table, "environment.interpreter", None)
    placement = judge_placement(prefix, interpreter, python)
    for problem in placement.problems:
        check.add(f"environment.{problem.key}", problem.message, problem.hint)
    return Environment(name, python, platforms, glibc, placement.prefix, placement.interpreter)


def _cuda(check: _Checker, table: Mapping[str, Any]) -> Cuda:
    version = check.string(table, "cuda.version", "", _pattern(_CUDA, _CUDA_WANTED), cuda_version)
    floor = check.string(table, "cuda.driver-floor", "", _driver, _driver_hint)
    archs = check.string_list(table, "cuda.archs", (), _arch)
    if version and floor:
        _check_driver_floor(check, version, floor, archs)
    if version and archs:
        _check_archs(check, version, table["archs"])
    cpu_ok = _package_names(check, table, "cpu-ok", "torch")
    return Cuda(
        version, floor, archs, cpu_ok, _package_names(check, table, "unverified", "xformers")
    )


def _check_archs(check: _Checker, version: str, archs: Sequence[object]) -> None:
    """Every GPU in cuda.archs must exist and be one the target CUDA compiles for, before any
    resolving: a typo or a dropped architecture (CUDA 13 has no sm_50-sm_72) fails here."""
    from mlenv.cuda.matrix import min_driver
    from mlenv.cuda.rules import CudaTarget, arch_findings
    from mlenv.cuda.versions import CudaError, CudaVersion

    try:
        cuda = CudaVersion.parse(version)
        target = CudaTarget(cuda, min_driver(cuda))
    except CudaError:
        return  # _check_driver_floor reports the unknown CUDA
    for position, arch in enumerate(archs):
        if not isinstance(arch, str) or _arch(arch) is not None:
            continue  # string_list reported it
        try:
            found = arch_findings(replace(target, archs=(arch,)))
        except CudaError as exc:
            check.add(f"cuda.archs[{position}]", exc.message, exc.hint)
            continue
        for finding in found:
            check.add(f"cuda.archs[{position}]", finding.message, finding.hint)


def _package_names(
    check: _Checker, table: Mapping[str, Any], key: str, example: str
) -> tuple[str, ...]:
    """A [cuda] list of distribution names (cpu-ok, unverified): PEP 503-normalised, each once."""
    names = check.string_list(
        table, f"cuda.{key}", (), _pattern(PROJECT_NAME, f'a distribution name like "{example}"')
    )
    spellings = Counter(canonicalize_name(name) for name in set(names))
    for name, count in sorted(spellings.items()):
        if count > 1:
            check.add(
                f"cuda.{key}",
                f"{name!r} is listed more than once (names compare PEP 503-normalised)",
                "list each package once",
            )
    return tuple(sorted(spellings))


def _check_driver_floor(check: _Checker, version: str, floor: str, archs: Sequence[str]) -> None:
    """The fleet's oldest driver must run the target toolkit (release notes Table 3)."""
    from mlenv.cuda.matrix import known_cuda_versions, min_driver, minor_compat_note
    from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion

    cuda = CudaVersion.parse(version)
    if cuda not in known_cuda_versions():
        known = ", ".join(str(v) for v in known_cuda_versions() if v.major == cuda.major)
        check.add(
            "cuda.version",
            f"CUDA {cuda} is not a known CUDA release",
            f"known CUDA {cuda.major}.x releases: {known}" if known else "use a released CUDA",
        )
        return
    try:
        needed = min_driver(cuda)
    except CudaError as exc:
        check.add("cuda.version", exc.message, exc.hint)
        return
    if DriverVersion.parse(floor) >= needed:
        return
    if _jetson_fleet(archs):
        check.add("cuda.driver-floor", *_jetson_floor(floor, cuda, needed))
        return
    check.add(
        "cuda.driver-floor",
        f"driver {floor} is below {needed}, the driver CUDA {cuda} needs: the container "
        f"runtime will not start an image for CUDA {cuda} (NVIDIA_REQUIRE_CUDA) on it",
        f"raise driver-floor to {needed}, or target an older CUDA release "
        f"({minor_compat_note(cuda.major)})",
    )


def _jetson_fleet(archs: Sequence[str]) -> bool:
    """Whether every GPU of the fleet is one only Jetson modules have (Orin's sm_87 ...)."""
    from mlenv.cuda.versions import JETSON_ONLY_CCS, CudaError, arch_cc

    try:
        return bool(archs) and all(arch_cc(arch) in JETSON_ONLY_CCS for arch in archs)
    except CudaError:  # _check_archs reports it
        return False


def _jetson_floor(floor: str, cuda: CudaVersion, needed: DriverVersion) -> tuple[str, str]:
    """(message, hint) for a Jetson fleet's floor below Table 3: its driver is Jetson Linux's,
    which reports the CUDA its JetPack ships (JetPack 6.1's 540.4.0 runs CUDA 12.6, the
    number the container runtime compares), so neither raising it to a desktop driver nor the
    runtime's refusal applies; mlenv ranks drivers by Table 3 alone."""
    return (
        f"driver {floor} is below {needed}, CUDA {cuda}'s minimum in NVIDIA's Table 3, which "
        "ranks desktop and data-center drivers; [cuda] archs are Jetson GPUs only, whose "
        "driver is Jetson Linux's, numbered apart from Table 3, so mlenv cannot judge it",
        "a Jetson runs the CUDA its JetPack release ships (the CUDA Version nvidia-smi prints "
        "there); mlenv locks only for drivers Table 3 ranks, so not for Jetson modules: build "
        "their images from NVIDIA's JetPack (L4T) containers and keep [cuda] archs here to the "
        "fleet's desktop and data-center GPUs",
    )


def _conda(check: _Checker, table: Mapping[str, Any]) -> Conda:
    channels = check.string_list(table, "conda.channels", (), _channel, _channel_hint)
    dependencies = check.string_list(
        table, "conda.dependencies", (), _match_spec, lambda _: _MATCH_SPEC_HINT
    )
    if dependencies and not channels:
        check.add(
            "conda.channels",
            "conda dependencies are listed but no channel is",
            'add channels = ["conda-forge"] or a local channel URL',
        )
    return Conda(channels, dependencies)


def _pypi(check: _Checker, table: Mapping[str, Any]) -> PyPI:
    strategy = check.choice(
        table, "pypi.index-strategy", INDEX_STRATEGIES, DEFAULT_STRATEGY, UV_STRATEGIES
    )
    prerelease = check.choice(table, "pypi.prerelease", PRERELEASES, DEFAULT_PRERELEASE, TOOL_MODES)
    index_url = check.string(table, "pypi.index-url", DEFAULT_INDEX, _url, _unseen_hint)
    index_url = lower_scheme(index_url)
    extra = check.string_list(table, "pypi.extra-index-urls", (), _url, _unseen_hint)
    links = check.string_list(table, "pypi.find-links", (), _location, _location_hint)
    extra, links = tuple(map(lower_scheme, extra)), tuple(map(lower_scheme, links))
    raw = table.get("dependencies")
    sources = read_sources(
        table.get("sources"),
        report=check.add,
        valid_url=_url,
        general=(index_url, *extra, *links),
        direct=direct_names(raw if isinstance(raw, list) else []),
    )
    return PyPI(
        index_url=index_url,
        extra_index_urls=extra,
        find_links=links,
        dependencies=check.string_list(
            table,
            "pypi.dependencies",
            (),
            requirement_problem,
            requirement_hint,
        ),
        index_strategy=cast(IndexStrategy, strategy),
        prerelease=cast(Prerelease, prerelease),
        sources=sources,
        constraints=check.string_list(
            table, "pypi.constraints", (), constraint_problem, requirement_hint
        ),
        overrides=check.string_list(
            table, "pypi.overrides", (), requirement_problem, requirement_hint
        ),
        exclude_newer=_cutoff(
            check.string(table, "pypi.exclude-newer", None, cutoff_problem, _when)
        ),
    )


def _when(_value: str) -> str:
    return CUTOFF_HINT


def _cutoff(value: str | None) -> datetime | None:
    return None if value is None else cutoff(value)


def _build(check: _Checker, table: Mapping[str, Any]) -> Build:
    outputs = check.string_list(
        table, "build.outputs", OUTPUTS, _one_of(OUTPUTS, IMAGE_OUTPUTS, "oci")
    )
    if table.get("outputs") == []:  # a build that writes nothing (was an internal error)
        check.add("build.outputs", "must list at least one output", 'e.g. ["oci"]')
    base = check.string(table, "build.base-image", None, _location)
    compression = check.choice(table, "build.compression", COMPRESSIONS, "gzip")
    image_tar = table.get("image-tar", True)
    if not isinstance(image_tar, bool):
        check.wrong_type("build.image-tar", image_tar, "true or false")
        image_tar = True
    layers = _layers(check, table)
    return Build(outputs, base, cast(Compression, compression), layers, image_tar)


def _layers(check: _Checker, table: Mapping[str, Any]) -> Layers:
    """A count or "auto"; a TOML boolean is no count, though Python calls it an int."""
    expected = f'"auto" or an integer from 1 to {MAX_LAYERS}'
    value = table.get("layers", 1)
    if value == "auto" or (type(value) is int and 1 <= value <= MAX_LAYERS):
        return cast(Layers, value)
    if isinstance(value, str) or type(value) is int:
        quoted = (
            isinstance(value, str)
            and value.isascii()
            and value.isdigit()
            and 0 < int(value) <= MAX_LAYERS
        )
        check.add(
            "build.layers",
            f"{value!r} is not valid: expected {expected}",
            f"write layers = {value} without quotes: a TOML integer is unquoted"
            if quoted
            else '"auto" gives big packages their own layers; 1 keeps one layer',
        )
    else:
        check.wrong_type("build.layers", value, expected)
    return 1
