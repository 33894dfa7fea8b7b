"""The GPU package table (``mlenv/data/gpu_packages.json``) as rows and families, validated.

Apart from ``cuda.packages``, which asks it, so that a lock whose pins the table does not list
(a data stack) neither builds it nor defines its classes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from mlenv.cuda.multi import LOADERS, MultiCuda
from mlenv.cuda.versions import CudaError, CudaVersion

_WHERE = "mlenv/data/gpu_packages.json"
_MODES = ("from-index", "from-tags", "from-tags-or-cpu", "none", "multi")
FIXED_RE = re.compile(r"(?P<major>\d+)\.(?P<minor>\d+|x)")


@dataclass(frozen=True)
class Row:
    """What CUDA one GPU package's releases (from an index) are built for, and the source."""

    package: str
    versions: SpecifierSet
    index: re.Pattern[str] | None
    cuda: str
    source: str
    files: re.Pattern[str] | None = None  # on the file name: PyPI's torch 1.12 is CUDA on x86_64
    multi: MultiCuda | None = None  # "multi": the CUDA releases its wheels ship libraries for


@dataclass(frozen=True)
class Family:
    """GPU packages of one publisher: how to recognise them, where their builds live."""

    id: str
    match: re.Pattern[str]
    hint: Mapping[str, str]


@dataclass(frozen=True)
class Table:
    """gpu_packages.json, validated once."""

    rows: tuple[Row, ...]
    families: tuple[Family, ...]


def _cuda_value(text: str) -> str:
    if text not in _MODES and FIXED_RE.fullmatch(text) is None:
        raise CudaError(
            f"{text!r} is not a CUDA value of the GPU package table",
            where=_WHERE,
            hint=f"use X.Y, X.x or one of {', '.join(_MODES)}",
        )
    return text


def build(raw: Any) -> Table:
    try:
        rows = tuple(
            Row(
                package=canonicalize_name(row["package"]),
                versions=SpecifierSet(row["versions"]),
                index=re.compile(row["index"]) if "index" in row else None,
                cuda=_cuda_value(row["cuda"]),
                source=str(row["source"]),
                files=re.compile(row["files"]) if "files" in row else None,
                multi=_multi(row) if row["cuda"] == "multi" else None,
            )
            for row in raw["packages"]
        )
    except InvalidSpecifier as exc:
        raise CudaError(str(exc), where=_WHERE, hint="versions are PEP 440 specifiers") from exc
    for row in rows:
        if row.cuda == "from-index" and (row.index is None or "digits" not in row.index.groupindex):
            raise CudaError(
                f"the from-index row of {row.package} has no index pattern with a digits group",
                where=_WHERE,
                hint="give it an index regex with (?P<digits>...) for the cuXYZ digits",
            )
    families = tuple(
        Family(str(row["id"]), re.compile(row["match"]), dict(row["hint"]))
        for row in raw["families"]
    )
    return Table(rows, families)


def _multi(row: Mapping[str, Any]) -> MultiCuda:
    """A "multi" row's ``builds`` (X.Y each), ``loader`` and ``follows``, or where it is wrong."""
    package = row.get("package")
    try:
        builds = tuple(sorted({CudaVersion.parse(str(text)) for text in row["builds"]}))
        loader, follows = row["loader"], canonicalize_name(str(row["follows"]))
        machines = tuple(str(machine) for machine in row.get("machines", ()))
    except (KeyError, TypeError, CudaError) as exc:
        raise CudaError(
            f"the multi row of {package} has no valid builds, loader and follows ({exc})",
            where=_WHERE,
            hint='give it "builds": ["12.4", ...], "loader" and the package it "follows"',
        ) from exc
    if not builds or loader not in LOADERS:
        raise CudaError(
            f"the multi row of {package} needs at least one build and a loader of "
            f"{', '.join(LOADERS)}",
            where=_WHERE,
            hint="list the CUDA releases its wheels ship libraries for",
        )
    return MultiCuda(builds, loader, follows, machines)
