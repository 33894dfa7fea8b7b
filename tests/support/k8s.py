"""Kubernetes' node-affinity matching, as its documentation states it, to check what mlenv
exports against the scheduler's rules rather than against mlenv's own reading of them.

nodeSelectorTerms are ORed (none matches nothing); a term's matchExpressions are ANDed;
In/NotIn compare strings; Exists/DoesNotExist test presence; Gt/Lt take one value, and both it
and the label's value are parsed as base-10 integers (Go's strconv.ParseInt: an optional sign
and digits, so "03" is 3 and "" parses as nothing and does not match).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_INT = re.compile(r"[+-]?[0-9]+")


def _integer(text: str) -> int | None:
    return int(text) if _INT.fullmatch(text) else None


def _expression(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values: list[str] = expression.get("values") or []
    value = labels.get(key)
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    assert operator in ("Gt", "Lt") and len(values) == 1, expression
    bound, actual = _integer(values[0]), None if value is None else _integer(value)
    assert bound is not None, f"{values[0]!r} is not an integer: the API server rejects it"
    if actual is None:
        return False
    return actual > bound if operator == "Gt" else actual < bound


def admits(affinity: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether requiredDuringScheduling node affinity lets a pod onto a node with ``labels``."""
    required = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return any(
        all(_expression(e, labels) for e in term["matchExpressions"])
        for term in required["nodeSelectorTerms"]
    )
