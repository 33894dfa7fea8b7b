"""What a resolution takes and gives: requirements and candidates as the resolver sees them,
and the pins and refusals it hands to the lock. Plain values, shared by every part of the
resolver and by the CUDA checks that read a resolution after it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from mlenv.errors import MlenvError
from mlenv.index import IndexFile
from mlenv.target import Target

TYPE_CHECKING = False
if TYPE_CHECKING:  # pypi_rules builds on this module
    from mlenv.resolver.pypi_rules import OptIns


class ResolutionError(MlenvError):
    """The requirements cannot be satisfied together for the target."""


@dataclass(frozen=True)
class Req:
    """A requirement as the resolver sees it: markers already decided for the target."""

    name: NormalizedName
    specifier: SpecifierSet
    extras: frozenset[str] = frozenset()
    text: str = ""

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def __str__(self) -> str:
        return self.text or f"{self.name}{self.specifier}"


@dataclass(frozen=True)
class Candidate:
    """A release to try; ``file`` is None for one another installer (conda) provides."""

    name: NormalizedName
    version: Version
    file: IndexFile | None
    extras: frozenset[str] = frozenset()

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Pin:
    """One resolved distribution and the names it depends on for this target."""

    name: NormalizedName
    version: Version
    file: IndexFile
    dependencies: tuple[NormalizedName, ...]


@dataclass(frozen=True)
class Refusal:
    """One file that was never a candidate, and the rule that refused it."""

    file: IndexFile
    reason: str


@dataclass(frozen=True)
class Resolution:
    """One platform's pins, with what was refused and offered for later checks."""

    target: Target
    pins: tuple[Pin, ...]
    # the versions whose yanked files it could take, and who opted into each
    opt_ins: OptIns
    # every refused file of each project the resolution looked at, for checks after it
    refused: Mapping[NormalizedName, tuple[Refusal, ...]] = field(default_factory=dict)
    # the candidate files (one per release) of each pinned project, chosen or not
    offered: Mapping[NormalizedName, tuple[IndexFile, ...]] = field(default_factory=dict)
    # what the roots, the constraints and the pins' dependencies allow of each project: a newer
    # release outside it was out of reach whatever refused it
    allowed: Mapping[NormalizedName, SpecifierSet] = field(default_factory=dict)

    def by_name(self) -> dict[NormalizedName, Pin]:
        return {pin.name: pin for pin in self.pins}


def _identifier(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def to_req(requirement: Requirement) -> Req:
    """The requirement without its marker, which the caller has already decided."""
    text = str(requirement).split(";", 1)[0].strip()
    extras = frozenset(canonicalize_name(e) for e in requirement.extras)
    return Req(canonicalize_name(requirement.name), requirement.specifier, extras, text)
