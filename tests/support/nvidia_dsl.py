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
  first, runs of dots between numbers, trailing zero components ignored; anything else (and a
  component of 2**64-1 or more) is an error; brand compares as text without case, = and != only;
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


def _numbers(text: str) -> tuple[int, ...]:
    if not text or any(c not in "0123456789." for c in text) or text[0] == ".":
        raise Invalid(text)
    digits = [p.lstrip("0") or "0" for p in text.split(".") if p]
    if any(len(d) > len(str(_UINTMAX)) for d in digits):  # past strtoumax's range
        raise Invalid(text)
    parts = [int(d) for d in digits]
    if any(p >= _UINTMAX for p in parts):
        raise Invalid(text)
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


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
        return (brand.lower() == value.lower()) == (op == "=")
    if prop not in ("cuda", "driver", "arch"):
        raise Invalid(constraint)
    actual = host.get(prop)
    if actual is None:  # no device (arch) or no driver fact: configure.c says true
        return True
    a, b = _numbers(actual), _numbers(value)
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


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
