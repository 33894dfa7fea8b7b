"""A project's index page judged for the target: the files refused and why (exclude-newer,
constraints, pre-releases, sdists, tags, Requires-Python) and one file per release in the order
the resolver tries them. A mixin of the provider, apart from how and when pages are read."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from mlenv.errors import printable
from mlenv.exclude_newer import excluded
from mlenv.index import Index, IndexFile, IndexGroup
from mlenv.inputs import Prerelease
from mlenv.pep508 import lenient
from mlenv.requires_python import python_floor
from mlenv.resolver.policy import CandidatePolicy
from mlenv.target import Target, build_preference

DISALLOWED = 'a pre-release ([pypi] prerelease = "disallow")'  # why _reject refused a file
CONSTRAINED = "([pypi] constraints)"  # the end of _reject's reason for a constrained version
SDIST_ONLY = "only an sdist (mlenv locks wheels only)"  # _reject's reason for a non-wheel
NO_WHEEL = "no wheel for the target's tags"  # its reason for a wheel of another platform
OTHER_PYTHON = f"{NO_WHEEL}: built for another Python"  # the start of another Python's reason
_PRINTABLE_ASCII = re.compile(r"[ -~]*")


@dataclass(frozen=True)
class _Offer:
    """A project's page judged for the target (``_Pages._rank``)."""

    versions: frozenset[Version]  # of every file listed, refused or not
    refused: tuple[tuple[IndexFile, str, bool], ...]  # file, reason, by the policy
    ordered: tuple[IndexFile, ...]  # one file per release, in the order they are tried
    # a deferred file -> its release's next best file, which stands in if the policy refuses it
    after: Mapping[IndexFile, IndexFile] = field(default_factory=dict)


class _Pages:
    """The page judging of ``_Provider``, which sets this state."""

    index: Index
    target: Target
    policy: CandidatePolicy
    prerelease: Prerelease
    exclude_newer: datetime | None
    constraints: dict[NormalizedName, tuple[SpecifierSet, str]]
    python: Version

    def _rank(self, name: NormalizedName) -> _Offer:
        """``name``'s page read and judged: the files refused and why, and one candidate file
        per release in the order the resolver tries them. Records nothing: the lookahead reads
        offers of projects the resolver may never ask about."""
        files = self.index.files(name)
        refused: list[tuple[IndexFile, str, bool]] = []
        fitting: dict[Version, list[tuple[tuple[bool, int, tuple[int, ...], str], IndexFile]]]
        fitting = defaultdict(list)
        for file in files:
            reason = self._reject(file)
            if reason is not None:
                refused.append((file, reason, False))
                continue
            reason = self.policy.reject(file)
            if reason is not None:
                refused.append((file, reason, True))
                continue
            rank = min(self.target.tag_priority.get(tag, 1 << 30) for tag in file.tags)
            # PEP 592 yanks files: a release's unyanked wheel stands for it before a yanked one
            # of better tags (which made the whole release look yanked), as pip and uv read it.
            # then the highest build tag, as pip (an equal tag rebuilt as -1-, -2-: PEP 427)
            key = (file.yanked is not None, rank, build_preference(file.filename), file.filename)
            fitting[file.version].append((key, file))
        best = []
        after: dict[IndexFile, IndexFile] = {}
        for found in fitting.values():
            found.sort(key=lambda item: item[0])  # stable: the first listed of equal keys
            best.append(found[0])
            if self.policy.deferred(found[0][1]):  # its METADATA may refuse it when tried
                after.update(pairwise(f for _, f in found))
        # Newest release first; its variants (local versions such as +cu124) in policy order
        # (a deferred variant's rank is a floor: find_matches places it once it is judged).
        ordered = sorted(
            best,
            key=lambda item: (Version(item[1].version.public), -self.policy.rank(item[1]),
                              item[1].version),
            reverse=True,
        )  # fmt: skip
        return _Offer(
            frozenset(file.version for file in files),
            tuple(refused),
            tuple(file for _, file in ordered),
            after,
        )

    def _reject(self, file: IndexFile) -> str | None:
        cutoff = self.exclude_newer
        if cutoff is not None and not self._own_wheel(file) and (cut := excluded(file, cutoff)):
            return cut
        bound = self.constraints.get(file.name)
        if bound is not None and not bound[0].contains(file.version, prereleases=True):
            return self._outside(bound[1])
        if self.prerelease == "disallow" and file.version.is_prerelease:
            return DISALLOWED
        if not file.is_wheel:
            return SDIST_ONLY
        if not any(tag in self.target.tag_priority for tag in file.tags):
            if glibc := self.target.glibc_above(file.tags):
                return f"built for glibc {glibc}, above [environment] glibc {self.target.glibc}"
            if python := self.target.other_python(file.tags):
                return f"{OTHER_PYTHON} ({python[0]}), not CPython {self.target.python}"
            return NO_WHEEL
        if file.requires_python:
            return self._python_refusal(file.requires_python)
        return None

    def _own_wheel(self, file: IndexFile) -> bool:
        """Whether ``file`` came from a find-links location, which no cutoff filters."""
        return isinstance(self.index, IndexGroup) and self.index.from_find_links(file)

    @staticmethod
    def _outside(constraints: str) -> str:
        return f"outside the constraint {constraints} {CONSTRAINED}"

    def _python_refusal(self, requires_python: str) -> str | None:
        """Why a Requires-Python (a page's, or a wheel's METADATA) refuses the target."""
        # The page's text goes into the lock as it is: packaging reads ">=3.8\u2028" (any
        # Unicode blank around a clause), which put a line separator or a C1 control there.
        if not _PRINTABLE_ASCII.fullmatch(requires_python):
            return f"unreadable Requires-Python {printable(requires_python, 80)}"
        try:
            floor = python_floor(SpecifierSet(lenient(requires_python)))
            runs = floor.contains(self.python, prereleases=True)
        except ValueError:  # InvalidSpecifier, or a number past int's digit limit
            return f"unreadable Requires-Python {printable(requires_python, 80)}"
        return None if runs else f"requires Python {requires_python}"
