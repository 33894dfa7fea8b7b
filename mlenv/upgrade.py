"""Which pins of an earlier lock may move: `mlenv lock --upgrade` and `--upgrade-package`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from mlenv.conda.records import conda_name
from mlenv.errors import UsageError
from mlenv.names import PROJECT_NAME

# conda's name characters, led by the "_" PEP 508 refuses (conda-forge's _openmp_mutex)
_CONDA_ONLY = re.compile(r"_[A-Za-z0-9_.\-]*[A-Za-z0-9]")  # "_" or "_-" alone names nothing


@dataclass(frozen=True)
class Upgrade:
    """Which existing pins may move: none (minimal change), all, or the named packages; and
    whether a moved pin may take other bytes under a file name the earlier lock pinned (only
    ``--upgrade``/``-P`` ask for that: ``add``/``remove`` move the names they edit to fit the
    edit, and took a rebuilt file with them unsaid). ``conda``: the named conda packages, as
    conda compares names (``-P typing_extensions`` moved conda-forge's ``typing-extensions``,
    another package, too)."""

    everything: bool = False
    packages: frozenset[NormalizedName] = field(default_factory=frozenset)
    new_bytes: bool = True
    conda: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, everything: bool, packages: Iterable[str], *, new_bytes: bool = True) -> Upgrade:
        """What ``--upgrade``/``--upgrade-package`` ask for, each name read from the command
        line (``_upgraded``)."""
        moved = cls.edited([_upgraded(p) for p in packages])
        return replace(moved, everything=everything, new_bytes=new_bytes)

    @classmethod
    def edited(cls, names: Iterable[str]) -> Upgrade:
        """The pins of names an edit already read by their section's rules (``add``'s): they
        move, their bytes do not. A PyPI name moves the conda package of that name too (it may
        provide the project); a name only conda spells moves that conda package alone."""
        names = list(names)
        pypi = frozenset(canonicalize_name(n) for n in names if PROJECT_NAME.fullmatch(n))
        return cls(False, pypi, False, frozenset(conda_name(name) for name in names))


def _upgraded(text: str) -> str:
    """The project an --upgrade-package names. Extras say nothing about which pin moves
    (``torch[cuda]`` is torch, as pip-tools reads it); a version or marker would be silently
    ignored (uv's ``-P 'iniconfig<2'`` bounds the move), so it is refused instead. A conda
    package no PEP 508 name spells (``_openmp_mutex``) names that conda package alone."""
    try:
        parsed = Requirement(text)
    except InvalidRequirement:
        if _CONDA_ONLY.fullmatch(text):
            return text
        parsed = None
    if parsed is None or parsed.specifier or parsed.marker or parsed.url:
        raise UsageError(
            f"--upgrade-package {text!r}: expected a package name",
            hint="name the package (-P iniconfig); to bound where it moves, add the range to "
            "[pypi] constraints",
        )
    return parsed.name
