"""``NVIDIA_REQUIRE_CUDA``: what an image asks of the container runtime, and a prediction of
how libnvidia-container judges a driver against it."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlenv.cuda.versions import DOTTED_RE, CudaError, CudaVersion, dotted

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
    if DOTTED_RE.fullmatch(value) is None:
        raise CudaError(
            f"invalid expression {text!r}: {value!r} is not a version",
            where=_REQUIRE_WHERE,
            hint="versions are dotted numbers, e.g. cuda>=12.4 or driver>=470",
        )
    return _Constraint(prop, op, value, dotted(value, what="version", where="", hint=""))


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
        else dotted(value, what=f"{prop} version", where=prop, hint="give a dotted number")
        for prop, value in (("cuda", cuda), ("driver", driver), ("arch", arch))
    }

    def holds(constraint: _Constraint) -> bool:
        compare = _OPERATORS[constraint.op]
        if constraint.prop == "brand":
            return brand is not None and compare(brand.casefold(), constraint.value.casefold())
        actual = numbers[constraint.prop]
        return actual is not None and compare(actual, constraint.number)

    return not terms or any(all(holds(constraint) for constraint in term) for term in terms)
