"""A toy resolvelib world for resolver tests: integer versions, each release's needs one
version, a set of versions or any; the provider prefers names alphabetically so runs are
reproducible. Shared by the loop and backtracking tests and the brute-force comparison."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolvelib.providers import AbstractProvider

# a release's dependency: one version, a set of versions, or None for any
Wanted = int | frozenset[int] | None
World = Mapping[str, Mapping[int, Sequence[tuple[str, Wanted]]]]


@dataclass(frozen=True)
class Need:
    name: str
    versions: frozenset[int] | None  # None: any

    @classmethod
    def of(cls, name: str, wanted: Wanted) -> Need:
        return cls(name, frozenset([wanted]) if isinstance(wanted, int) else wanted)

    def allows(self, version: int) -> bool:
        return self.versions is None or version in self.versions


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

    def reads(self, identifier: str) -> tuple[str, ...]:
        return (identifier,)

    def narrows(self, requirement: Need) -> bool:
        return requirement.versions is not None and not set(self.world[requirement.name]) <= (
            requirement.versions
        )

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
            if v not in bad and all(n.allows(v) for n in needs)
        ]

    def is_satisfied_by(self, requirement: Need, candidate: Release) -> bool:
        return requirement.allows(candidate.version)

    def get_dependencies(self, candidate: Release) -> list[Need]:
        return [Need.of(n, v) for n, v in self.world[candidate.name][candidate.version]]
