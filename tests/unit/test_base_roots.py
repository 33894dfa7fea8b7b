"""nearest.base_roots: a pin on ``pkg`` is named when ``pkg[x]``'s requirement conflicts."""

from __future__ import annotations

from dataclasses import dataclass

from resolvelib.structs import RequirementInformation

from mlenv.nearest import base_roots


@dataclass(frozen=True)
class _Req:
    name: str
    spec: str
    extras: frozenset[str] = frozenset()


def test_the_base_pin_beside_an_extra_is_named() -> None:
    pin, extra = _Req("pkg", "==1.0"), _Req("pkg", ">1", frozenset({"ext1"}))
    other = _Req("dep", "")
    added = base_roots([RequirementInformation(extra, None)], [pin, extra, other])
    assert [info.requirement for info in added] == [pin]


def test_nothing_is_added_without_extras() -> None:
    pin, newer = _Req("pkg", "==1.0"), _Req("pkg", ">1")
    assert base_roots([RequirementInformation(newer, None)], [pin, newer]) == []
