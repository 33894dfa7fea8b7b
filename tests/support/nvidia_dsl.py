"""How NVIDIA's container runtime decides an ``NVIDIA_REQUIRE_*`` value, restated from its
source apart from mlenv's ``cuda.requirement``, and the real values NVIDIA's images carry.

Read in libnvidia-container ``src/cli/dsl.c`` (``dsl_evaluate``, ``evaluate_rule``,
``dsl_compare_version``) and ``src/cli/configure.c`` (the four rules and what they see):

- the value is cut at single spaces (``strsep(" ")``) into ORed terms, each term at commas into
  ANDed constraints; an empty piece (two spaces, a trailing comma) is skipped;
- evaluation stops at the first term whose constraints all hold (later terms are never read),
  and inside a term at the first constraint that fails: a malformed constraint is an error
  ("invalid expression") only when it is reached;
- a constraint is a property (the text before the first of ``<>=!``, compared without case),
  the whole run of ``<>=!`` characters after it, which must be one of ``=``, ``!=``, ``<``,
  ``<=``, ``>``, ``>=`` (or a lone ``!``, which its prefix match reads as ``!=``), and a
  non-empty value; properties are cuda, driver, arch and brand, any other is an error;
- cuda, driver and arch compare as dotted numbers: both sides only digits and dots, a number
  first, runs of dots between numbers, trailing zero components ignored; anything else is an
  error, and so is a number of 2**64-1 or more that is read (numbers are read in pairs, and only
  until a pair differs or a side ends); brand compares as text without ASCII case (strcasecmp),
  = and != only;
- a failed constraint is written as "prop op value" into 128 bytes for the error message; one
  that does not fit makes the expression invalid;
- ``cuda`` is the driver's CUDA version as ``major.minor``, ``driver`` the kernel driver's
  version, ``brand`` one of Quadro, Tesla, NVS, GRID, GeForce, TITAN or Unknown (``driver.c``
  maps every other NVML brand to Unknown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIXTURE = Path(__file__).parents[2] / "fixtures" / "nvidia_require_cuda" / "nvidia_cuda_images.json"
# What libnvidia-container's driver.c reports as a GPU's brand (its whole mapping).
RUNTIME_BRANDS = ("Quadro", "Tesla", "NVS", "GRID", "GeForce", "TITAN", "Unknown")
_UINTMAX = 2**64 - 1


class Invalid(Exception):
    """The runtime's "invalid expression": the container does not start."""


@dataclass(frozen=True)
class RealValue:
    value: str
    image_cuda: str
    source: str


def real_values() -> list[RealValue]:
    """Every NVIDIA_REQUIRE_CUDA value of NVIDIA's CUDA images, with the file that sets it."""
    doc = json.loads(FIXTURE.read_text())
    return [RealValue(item["value"], item["image_cuda"], item["source"]) for item in doc["strings"]]


def _number_at(text: str, at: int) -> tuple[int, int]:
    """strtoumax at ``at``: the number and where it ends; Invalid at no digit or its overflow."""
    end = at
    while end < len(text) and text[end].isascii() and text[end].isdigit():
        end += 1
    digits = text[at:end].lstrip("0") or "0"
    if end == at or len(digits) > len(str(_UINTMAX)) or int(digits) >= _UINTMAX:
        raise Invalid(text)
    return int(text[at:end]), end


def _compare(v1: str, op: str, v2: str) -> bool:
    """dsl_compare_version step by step: a number is read only while both sides have one, and
    what is left after the shorter side counts only if it holds a digit but 0."""
    for text in (v1, v2):
        if any(c not in "0123456789." for c in text):
            raise Invalid(text)
    i = j = 0
    while i < len(v1) and j < len(v2):
        n1, i = _number_at(v1, i)
        n2, j = _number_at(v2, j)
        if n1 != n2:
            return {"=": False, "!=": True}.get(op, n1 < n2 if "<" in op else n1 > n2)
        while i < len(v1) and v1[i] == ".":
            i += 1
        while j < len(v2) and v2[j] == ".":
            j += 1
    left, right = v1[i:].lstrip(".0"), v2[j:].lstrip(".0")
    if op == "!=":
        return bool(left or right)
    if op in ("=", "<=", ">=") and not left and not right:
        return True
    if op == "=":
        return False
    return (not left and bool(right)) if "<" in op else (bool(left) and not right)


def _holds(constraint: str, host: dict[str, str | None]) -> bool:
    cut = next((i for i, c in enumerate(constraint) if c in "<>=!"), len(constraint))
    end = cut
    while end < len(constraint) and constraint[end] in "<>=!":
        end += 1
    prop, run, value = constraint[:cut].lower(), constraint[cut:end], constraint[end:]
    op = "!=" if run == "!" else run
    if not prop or op not in ("=", "!=", "<", "<=", ">", ">=") or not value:
        raise Invalid(constraint)
    if prop == "brand":
        if op not in ("=", "!="):
            raise Invalid(constraint)
        brand = host.get("brand")
        if brand is None:  # no GPU visible: configure.c assumes the brand is fine
            return True
        ascii_equal = brand.encode().lower() == value.encode("utf-8", "surrogatepass").lower()
        return ascii_equal == (op == "=")  # strcasecmp folds A-Z alone
    if prop not in ("cuda", "driver", "arch"):
        raise Invalid(constraint)
    actual = host.get(prop)
    if actual is None:  # no device (arch) or no driver fact: configure.c says true
        return True
    return _compare(actual, op, value)


def _reportable(constraint: str) -> None:
    """dsl.c writes a failed constraint as "prop op value" into a 128-byte buffer; when that
    does not fit, the expression is invalid rather than unsatisfied."""
    cut = next(i for i, c in enumerate(constraint) if c in "<>=!")
    end = cut
    while constraint[end] in "<>=!":
        end += 1
    op = "!=" if constraint[cut:end] == "!" else constraint[cut:end]
    if len(f"{constraint[:cut]} {op} {constraint[end:]}".encode()) >= 128:
        raise Invalid(constraint)


def runtime_accepts(value: str, *, cuda: str, driver: str, brand: str | None) -> bool:
    """True when libnvidia-container starts the container; raises Invalid where it refuses
    the value itself."""
    host: dict[str, str | None] = {"cuda": cuda, "driver": driver, "brand": brand}
    result = True
    for term in value.split(" "):
        if not term:
            continue  # two spaces in a row
        pieces = [piece for piece in term.split(",") if piece]
        if not pieces:  # a term of commas only ends the reading: the last verdict stands
            return result
        for piece in pieces:
            result = _holds(piece, host)
            if not result:
                _reportable(piece)
                break
        else:
            return True
    return result
