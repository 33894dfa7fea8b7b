"""A toy resolvelib world for resolver-loop tests: integer versions, each release's needs
pinned or open; the provider prefers names alphabetically so runs are reproducible."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolvelib.providers import AbstractProvider

World = Mapping[str, Mapping[int, Sequence[tuple[str, int | None]]]]


@dataclass(frozen=True)
class Need:
    name: str
    version: int | None  # None: any


@dataclass(frozen=True)
class Release:
    name: str
    version: int


class ToyProvider(AbstractProvider[Need, Release, str]):
    def __init__(self, world: World) -> None:
        self.world = world

    def identify(self, requirement_or_candidate: Need | Release) -> str:
        return requirement_or_candidate.name

    def get_preference(self, identifier: str, *args: Any, **kwargs: Any) -> str:
        return identifier

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Need]],
        incompatibilities: Mapping[str, Iterator[Release]],
    ) -> Iterable[Release]:
        bad = {r.version for r in incompatibilities[identifier]}
        needs = list(requirements[identifier])
        return [
            Release(identifier, v)
            for v in sorted(self.world[identifier], reverse=True)
            if v not in bad and all(n.version in (None, v) for n in needs)
        ]

    def is_satisfied_by(self, requirement: Need, candidate: Release) -> bool:
        return requirement.version in (None, candidate.version)

    def get_dependencies(self, candidate: Release) -> list[Need]:
        return [Need(n, v) for n, v in self.world[candidate.name][candidate.version]]
