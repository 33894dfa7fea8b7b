"""``NVIDIA_REQUIRE_CUDA``: what an image asks of the container runtime, and a prediction of
how libnvidia-container judges a driver against it."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlenv.cuda.driver_cuda import offered_cuda
from mlenv.cuda.forward import newer_branch
from mlenv.cuda.matrix import known_cuda_versions, table3_driver
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion, dotted

_OPERATOR_CHARS = "<>=!"
# libnvidia-container's numbers: digits, runs of dots between them, dots after (470..0 is 470)
_NUMBER_RE = re.compile(r"[0-9]+(?:\.+[0-9]+)*\.*")
_NUMBER_LIMIT = 2**64 - 1  # strtoumax's overflow value: the runtime calls the expression invalid
_NUMERIC_PROPERTIES = ("cuda", "driver", "arch")
# dsl.c formats a failed constraint as "prop op value" into 128 bytes; one that does not fit
# makes the whole expression invalid instead of unsatisfied.
_EXPR_MAX = 128
_MAX_REQUIREMENTS = 32  # src/cli/cli.h: char *reqs[32]
# The whole run of operator characters must be one of these; a lone "!" is the runtime's "!="
# (it matches operators by the run's length as a prefix).
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "!": operator.ne,
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
    """One comparison as written (``text``), its property, operator and value."""

    text: str
    prop: str
    op: str
    value: str


# strcasecmp in the C locale: only A-Z fold (casefold read "brand=te\u017fla" as Tesla)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _invalid(text: str, why: str, hint: str) -> CudaError:
    return CudaError(f"invalid expression {text!r}{why}", where=_REQUIRE_WHERE, hint=hint)


def _constraint(text: str) -> _Constraint:
    """One constraint cut as libnvidia-container's ``evaluate_rule`` cuts it: the property up
    to the first of ``<>=!``, the whole run of those characters as the operator, the rest as
    the value (``brand==tesla`` is invalid, not brand = "=tesla")."""
    cut = next((i for i, char in enumerate(text) if char in _OPERATOR_CHARS), len(text))
    end = cut
    while end < len(text) and text[end] in _OPERATOR_CHARS:
        end += 1
    prop, op, value = text[:cut].translate(_ASCII_LOWER), text[cut:end], text[end:]
    if not prop or op not in _OPERATORS or not value:
        why = f": {op!r} is not an operator" if prop and op and value else ""
        raise _invalid(text, why, "constraints look like cuda>=12.4 or brand=tesla,driver>=470")
    op = "!=" if op == "!" else op
    if prop == "brand":
        if op not in ("=", "!="):
            hint = "write brand=tesla or brand!=geforce"
            raise _invalid(text, ": brand compares only with = and !=", hint)
        return _Constraint(text, prop, op, value)
    if prop not in _NUMERIC_PROPERTIES:
        hint = "properties are cuda, driver, arch and brand"
        raise _invalid(text, f": unknown property {text[:cut]!r}", hint)
    if _NUMBER_RE.fullmatch(value) is None:
        raise _invalid(text, f": {value!r} is not a version", _VERSION_HINT)
    return _Constraint(text, prop, op, value)


_VERSION_HINT = "versions are dotted numbers, e.g. cuda>=12.4 or driver>=470"


def _compare_version(actual: str, constraint: _Constraint) -> bool:
    """``dsl_compare_version``: numbers paired left to right until one pair differs or a side
    ends, then a side's rest counts only if it holds a digit but 0. A number is read only when
    paired, so one past 2**64-2 is invalid there alone: ``cuda>=11.<25 nines>`` holds on 12.4
    (12 > 11 ends the reading), as does ``cuda>=12.4.<25 nines>`` (past 12.4's end)."""
    mine = [part for part in actual.split(".") if part]
    theirs = [part for part in constraint.value.split(".") if part]
    for left, right in zip(mine, theirs, strict=False):
        a, b = _component(left, constraint), _component(right, constraint)
        if a != b:
            return bool(_OPERATORS[constraint.op](a, b))
    paired = min(len(mine), len(theirs))
    rest_a = any(part.strip("0") for part in mine[paired:])
    rest_b = any(part.strip("0") for part in theirs[paired:])
    return bool(_OPERATORS[constraint.op](rest_a, rest_b))


def _component(part: str, constraint: _Constraint) -> int:
    digits = part.lstrip("0") or "0"
    if len(digits) > 20 or int(digits) >= _NUMBER_LIMIT:  # strtoumax's overflow value
        shown = constraint.value[:40]
        raise _invalid(
            constraint.text, f": {shown!r} is past the runtime's number limit", _VERSION_HINT
        )
    return int(digits)


def evaluate_requirement(
    expr: str, *, cuda: str, driver: str, arch: str | None = None, brand: str | None = None
) -> bool:
    """Predict libnvidia-container (``src/cli/dsl.c``): single spaces OR, commas AND, empty
    pieces skipped, read left to right and only as far as the verdict needs (a malformed
    constraint past the first term that holds is never read), numbers ignore trailing zeros.

    ``cuda`` is the driver's CUDA version (nvidia-smi's), not the image's toolkit. A constraint
    on an arch or brand that is not given is unsatisfied: the prediction errs toward refusal.
    """
    facts = {"cuda": cuda, "driver": driver, "arch": arch}
    for prop, value in facts.items():
        if value is not None:
            dotted(value, what=f"{prop} version", where=prop, hint="give a dotted number")
            facts[prop] = value.strip()

    def holds(constraint: _Constraint) -> bool:
        if constraint.prop == "brand":
            compare = _OPERATORS[constraint.op]
            mine = None if brand is None else brand.translate(_ASCII_LOWER)
            return mine is not None and compare(mine, constraint.value.translate(_ASCII_LOWER))
        actual = facts[constraint.prop]
        return actual is not None and _compare_version(actual, constraint)

    verdict = True
    for term in expr.split(" "):  # only a space separates: a tab is part of a constraint
        if not term:
            continue  # two spaces in a row
        pieces = [piece for piece in term.split(",") if piece]  # a trailing comma is skipped
        if not pieces:  # a term of commas ends the reading: the last verdict stands
            return verdict
        for piece in pieces:  # read lazily, as the runtime does: an unread piece is no error
            constraint = _constraint(piece)
            verdict = holds(constraint)
            if not verdict:
                said = f"{constraint.prop} {constraint.op} {constraint.value}".encode()
                if len(said) >= _EXPR_MAX:  # "prop op value" did not fit its 128 bytes
                    hint = "keep each constraint short"
                    raise _invalid(piece, ": too long for the runtime to report", hint)
                break
        else:
            return True
    return verdict


# golang.org/x/mod/semver as nvidia-container-toolkit applies it to CUDA_VERSION ("v" added):
# numbers without leading zeros; 12 and 12.4 are short for 12.0.0 and 12.4.0; a pre-release
# and build suffix only after all three numbers.
_SEMVER_NUMBER = r"(?:0|[1-9][0-9]*)"
_SEMVER_IDS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_LEGACY_VERSION_RE = re.compile(
    rf"v?({_SEMVER_NUMBER})(?:\.({_SEMVER_NUMBER})"
    rf"(?:\.{_SEMVER_NUMBER}(?:-{_SEMVER_IDS})?(?:\+{_SEMVER_IDS})?)?)?"
)


def base_requirement(env: Mapping[str, str]) -> str | None:
    """What the NVIDIA runtime requires of a base image through NVIDIA_REQUIRE_CUDA: its value,
    or for a "legacy" image (CUDA_VERSION set, NVIDIA_REQUIRE_CUDA unset or empty:
    nvidia-container-toolkit ``cuda_image.go`` ``IsLegacy``) ``cuda>=<major.minor>``, which an
    image's own NVIDIA_REQUIRE_CUDA would otherwise silently end. None when it requires nothing
    (a CUDA_VERSION Go's semver refuses stops the runtime's hook, so it is no requirement to
    keep)."""
    if value := env.get("NVIDIA_REQUIRE_CUDA"):
        return value
    match = _LEGACY_VERSION_RE.fullmatch(env.get("CUDA_VERSION", ""))
    if match is None:
        return None
    return f"cuda>={match[1]}.{match[2] or 0}"


# What libnvidia-container reports as a GPU's brand (src/driver.c maps every other NVML brand,
# data-center "NVIDIA" included, to Unknown).
RUNTIME_BRANDS = ("Tesla", "Unknown", "Quadro", "NVS", "GRID", "GeForce", "TITAN")


def runtime_requirements(env: Mapping[str, str]) -> list[str]:
    """The values nvidia-container-toolkit hands libnvidia-container for an image's ``env``
    (``cuda_image.go``): none when NVIDIA_DISABLE_REQUIRE is a Go true, else every
    NVIDIA_REQUIRE_* but NVIDIA_REQUIRE_JETPACK*, and a legacy image's ``cuda>=X.Y``."""
    if env.get("NVIDIA_DISABLE_REQUIRE") in ("1", "t", "T", "TRUE", "true", "True"):
        return []
    values = [
        value
        for key, value in env.items()
        if key.startswith("NVIDIA_REQUIRE_") and not key.startswith("NVIDIA_REQUIRE_JETPACK")
    ]
    legacy = None if env.get("NVIDIA_REQUIRE_CUDA") else base_requirement(env)
    return values if legacy is None else [*values, legacy]


def admitted_brands(values: list[str], *, cuda: str, driver: str) -> list[str]:
    """The GPU brands (as the runtime names them) for which every value holds on ``driver``
    reporting CUDA ``cuda``; a CudaError when the runtime cannot read one, or takes no more
    (nvidia-container-cli ``configure`` holds 32 ``--require``: "too many requirements")."""
    if len(values) > _MAX_REQUIREMENTS:
        raise CudaError(
            f"{len(values)} NVIDIA_REQUIRE_* values: the runtime takes at most {_MAX_REQUIREMENTS}",
            where=_REQUIRE_WHERE,
            hint="use a base that carries fewer NVIDIA_REQUIRE_* variables",
        )
    return [
        brand
        for brand in RUNTIME_BRANDS
        if all(evaluate_requirement(v, cuda=cuda, driver=driver, brand=brand) for v in values)
    ]


def shortened(values: list[str]) -> str:
    short = " ".join(values)
    return short if len(short) <= 40 else short.split(" ")[0] + " …"


def reported_cuda(driver: str) -> str:
    """The CUDA Version a driver reports, at least: the newest X.Y whose Table 3 driver it
    meets (cuda.md §4; 0.0 below every row), never raised to a target's as ``offered_cuda``."""
    return offered_cuda("0.0", driver)


def runtime_cuda(driver: str, reported: str) -> str:
    """The CUDA version libnvidia-container compares ``cuda>=`` with on a host whose ``driver``
    reports CUDA ``reported`` ("" when unknown): what the driver's own libcuda gives. A CUDA
    only a newer branch's libcuda reports comes from a cuda-compat package on the loader path of
    whoever ran nvidia-smi; the runtime's hook reads the driver's libcuda, and an image's
    compat libraries are used only after its requirement held (through its ``brand=...,
    driver>=N`` terms), so that CUDA is not the one the requirement is judged by."""
    own = reported_cuda(driver)
    if not reported:
        return own
    newer = newer_branch(CudaVersion.parse(reported), DriverVersion.parse(driver))
    return own if newer else reported


def base_refusal(values: list[str], cuda: CudaVersion, floor: DriverVersion) -> str | None:
    """Why the NVIDIA runtime would refuse an image whose base requires ``values`` on a driver
    the lock runs on (the floor, or a newer Table 3 driver, with the CUDA version it reports),
    for some GPU brand; None when every such driver passes for every brand. The lock's own
    requirement does not see the base's CUDA libraries, so nothing else tells."""
    newer = (found[0] for known in known_cuda_versions() if (found := table3_driver(known)))
    candidates = [floor, *sorted(driver for driver in newer if driver > floor)]
    refused: list[tuple[DriverVersion, list[str]]] = []
    for driver in dict.fromkeys(candidates):
        reported = reported_cuda(driver.text)
        try:
            admitted = admitted_brands(values, cuda=reported, driver=driver.text)
        except CudaError as error:
            return f"the NVIDIA runtime refuses the base image's requirement: {error.message}"
        if len(admitted) < len(RUNTIME_BRANDS):
            refused.append((driver, admitted))
    if not refused:
        return None
    driver, admitted = refused[0]
    above = [d for d in candidates if d > refused[-1][0]]
    remedy = f"raise the driver floor to {above[0]}, or " if above else ""
    return (
        f"the base image's NVIDIA_REQUIRE_CUDA ({shortened(values)!r}) makes the NVIDIA runtime "
        f"refuse the image on driver {driver} (CUDA {reported_cuda(driver.text)}), "
        + (
            f"which the lock runs on, for GPUs other than {', '.join(admitted)} (those pass "
            "only through its forward-compatibility terms: data-center GPUs with the base's "
            "cuda-compat)"
            if admitted
            else "which the lock runs on, for every GPU"
        )
        + f": {remedy}use a base for CUDA {cuda} or older"
    )
