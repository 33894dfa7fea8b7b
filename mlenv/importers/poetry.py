"""Poetry's own dependency tables as PEP 508 requirements, for `mlenv init --from pyproject.toml`.

Constraints are translated by ``importers.poetry_constraints``; a git, path or URL dependency
is refused, as is a key of the wrong type. A dependency on an explicit source becomes a [pypi]
source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from mlenv.importers.core import _PYPI, _Collector
from mlenv.importers.places import unslashed
from mlenv.importers.poetry_constraints import (
    PoetryConstraintError,
    post_release_gaps,
    translate,
)
from mlenv.importers.targets import MARKER_ERRORS, on_targets, target_split
from mlenv.limits import MAX_IMPORTED_REQUIREMENTS, enforce

_UNREADABLE = {"git", "path", "url", "source", "develop"}  # "source": explicit_source
# The type each key of a dependency table has in Poetry's schema, and an example of it.
_KEY_TYPES: dict[str, tuple[type, str]] = {
    **dict.fromkeys(("version", "python"), (str, '"^1.2"')),
    **dict.fromkeys(("source", "git", "path", "url"), (str, '"name"')),
    "markers": (str, "\"sys_platform == 'linux'\""),
    "platform": (str, '"linux"'),
    **dict.fromkeys(("optional", "allow-prereleases", "develop"), (bool, "true")),
    "extras": (list, '["opt"]'),
}
_PLATFORM = re.compile(r"[A-Za-z0-9_.+-]+")  # a sys_platform value, quoted into a marker


@dataclass(frozen=True)
class PoetryTables:
    """What Poetry's tables say: requirements (where, PEP 508 line) and the Python range."""

    lines: tuple[tuple[str, str], ...]
    python: str | None
    sources: tuple[tuple[str, str], ...] = ()  # (PEP 503 name, the explicit source's URL)
    prereleases: tuple[str, ...] = ()  # where an imported dependency says allow-prereleases


def _python_marker(constraint: str) -> str:
    specifiers = translate(constraint)
    clauses = [
        re.sub(r"^([<>=!~]+)(.*)$", r'python_full_version \1 "\2"', s)
        for s in specifiers.split(",")
        if s
    ]
    return " and ".join(clauses)


def _own_marker(text: object) -> str:
    try:
        Marker(str(text))
    except MARKER_ERRORS as error:
        raise PoetryConstraintError(
            f"markers = {str(text)!r} is not a PEP 508 environment marker: {error}",
            "write one marker, e.g. markers = \"sys_platform == 'linux'\"",
        ) from error
    return str(text)


def _markers(spec: dict[str, Any]) -> list[str]:
    """A dependency table's ``markers``, ``python`` and ``platform`` as PEP 508 clauses. The
    ``markers`` text must be a marker on its own, as Poetry reads it: wrapped in parentheses,
    ``"a') or ('b"`` became one, and changed what the clauses joined to it mean. ``python =
    "*"`` is no clause (it was ``()``, refused as no marker)."""
    markers = [f"({_own_marker(spec['markers'])})"] if spec.get("markers") else []
    if spec.get("python") and (python := _python_marker(str(spec["python"]))):
        markers.append(f"({python})")
    if spec.get("platform"):
        markers.append(f'sys_platform == "{spec["platform"]}"')
    return markers


def _linux_table(name: str, tables: list[Any], where: str, collector: _Collector) -> Any:
    """The table of a per-platform list that holds on mlenv's Linux targets (``on_targets``),
    None when none does or on a problem. A table for macOS or Windows only is as if absent, as
    pip on Linux skips its line, so the source it names does not matter."""
    holding: list[Any] = []
    for table in tables:
        try:
            clauses = _markers(table) if isinstance(table, dict) else []
            true, false = on_targets(Marker(" and ".join(clauses)) if clauses else None)
        except (PoetryConstraintError, *MARKER_ERRORS):
            return None  # the table's own line is refused, naming it (_entry)
        if true and false:
            collector.fail(where, f"takes {name} from source {table.get('source')!r} only where "
                           f"{' and '.join(clauses)}, which is {target_split(true, false)}; a "
                           "[pypi] source holds on every platform and Python",
                           "keep one table, for Linux")  # fmt: skip
            return None
        holding += [table] if true else []
    if len({str(t.get("source") if isinstance(t, dict) else None).lower() for t in holding}) > 1:
        collector.fail(where, f"{len(holding)} tables for {name} hold on Linux, from different "
                       "sources; mlenv.toml pins a package to one index",
                       "keep one table, for Linux")  # fmt: skip
        return None
    return holding[0] if holding else None


def explicit_source(
    poetry: dict[str, Any], name: str, spec: Any, where: str, collector: _Collector
) -> tuple[str, str] | None:
    """(PEP 503 name, URL) when ``spec`` takes ``name`` from an explicit Poetry source: Poetry
    asks that source only, and the source serves nothing else, which is a [pypi] source.
    ``source = "pypi"`` needs none where PyPI is the primary index. Of a list of tables (one
    per platform) the one for Linux counts. Another source named there is a problem; None when
    ``spec`` names none."""
    if isinstance(spec, list):
        spec = _linux_table(name, spec, where, collector)
    if not isinstance(spec, dict) or not isinstance(source := spec.get("source"), str):
        return None
    if source.lower() == "pypi":  # Poetry's reserved name: PyPI alone serves it
        primary = [s for s in poetry.get("source") or [] if isinstance(s, dict)
                   and str(s.get("priority") or "primary") in ("primary", "default")]  # fmt: skip
        if all(str(s.get("name")).lower() == "pypi" for s in primary):
            return None  # PyPI is the first index mlenv asks (poetry_indexes)
        collector.fail(where, f"comes from PyPI only, but mlenv asks the primary source "
                       f"{primary[0].get('name')!r} first", "make PyPI the primary source, "
                       "or drop source = \"pypi\"")  # fmt: skip
        return None
    for entry in poetry.get("source") or []:
        if isinstance(entry, dict) and str(entry.get("name")).lower() == source.lower():
            url = unslashed(str(entry.get("url") or ""))
            if entry.get("priority") == "explicit" and url:
                return canonicalize_name(name), url
    collector.fail(where, f"comes from a Poetry source, {source!r}, that is not an explicit "
                   "[[tool.poetry.source]] with a url; mlenv takes a package from one index "
                   "only when that index serves nothing else",
                   f'give the source {source!r} priority = "explicit"')  # fmt: skip
    return None


def _wrong_type(spec: dict[str, Any]) -> tuple[str, str] | None:
    """The first key of a dependency table whose value has another type than Poetry's schema
    gives it, as (what is wrong, the fix), so no key is read as something it does not say:
    ``source = 5`` was no source (PyPI's torch), ``optional = "false"`` true, ``extras =
    "opt"`` three extras, ``platform = 'linux" or "1'`` a marker of its own."""
    for key, (kind, example) in _KEY_TYPES.items():
        if key in spec and not isinstance(value := spec[key], kind):
            kind_name = "string" if kind is str else kind.__name__
            return f"{key} = {value!r} is not a {kind_name}", f"write {key} = {example}"
    if not all(isinstance(e, str) for e in spec.get("extras") or []):
        return f"extras = {spec['extras']!r} is not a list of names", 'write extras = ["opt"]'
    if "platform" in spec and not _PLATFORM.fullmatch(spec["platform"]):
        return f"platform = {spec['platform']!r} is not a sys_platform value", (
            'write platform = "linux"'
        )
    return None


def well_typed(spec: Any, where: str, collector: _Collector) -> bool:
    """Whether every table of ``spec`` (one, or a list of them) has Poetry's types; each that
    has not is a problem naming its key (``_wrong_type``), whichever layout reads it."""
    tables = list(enumerate(spec)) if isinstance(spec, list) else [(None, spec)]
    typed = True
    for position, table in tables:
        if isinstance(table, dict) and (wrong := _wrong_type(table)) is not None:
            collector.fail(where if position is None else f"{where}[{position}]", *wrong)
            typed = False
    return typed


def _entry(
    name: str, spec: Any, where: str, collector: _Collector, extras: set[str]
) -> list[tuple[str, str]]:
    """The PEP 508 lines one dependency entry stands for (a list of tables is several); a
    named source is read by ``explicit_source``."""
    if isinstance(spec, list):
        lines: list[tuple[str, str]] = []
        for position, item in enumerate(spec):
            lines += _entry(name, item, f"{where}[{position}]", collector, extras)
        return lines
    if isinstance(spec, str):
        spec = {"version": spec}
    if not isinstance(spec, dict):
        collector.fail(where, f"cannot read {spec!r}", 'write a constraint such as "^1.2"')
        return []
    if not well_typed(spec, where, collector):
        return []
    if unreadable := sorted(_UNREADABLE & set(spec) - {"source"}):
        what = "/".join(unreadable)
        collector.fail(where, f"comes from a Poetry {what}, which mlenv cannot express",
                       "publish it to an index and require it from there")  # fmt: skip
        return []
    if spec.get("optional") and name.lower() not in extras:
        return []
    try:
        version = translate(str(spec.get("version", "*")))
        markers = _markers(spec)
        extra = spec.get("extras") or []
    except PoetryConstraintError as exc:
        hint = exc.hint or 'write one range, e.g. ">=1.2,<3"'
        collector.fail(where, str(exc), hint)
        return []
    for gap in post_release_gaps(str(spec.get("version", "*"))):
        if not SpecifierSet(version).contains(f"{gap}.post1", prereleases=True):
            continue  # another bound (">1.0,!=1.0") keeps them out already
        collector.notes.append(
            f"{where}: Poetry's \"!={gap}\" also excludes {gap}'s post-releases "
            f"({gap}.post1, ...); PEP 440's, written to the manifest, admits them: add "
            f'"!={gap}.postN" for each one to keep out'
        )
    bracket = f"[{','.join(str(e) for e in extra)}]" if extra else ""
    marker = f"; {' and '.join(markers)}" if markers else ""
    return [(where, f"{name}{bracket}{version}{marker}")]


def poetry_tables(
    poetry: dict[str, Any],
    path: Path,
    groups: Sequence[str],
    collector: _Collector,
    main: bool = True,
) -> PoetryTables:
    """``[tool.poetry.dependencies]`` (unless not ``main``: Poetry 2's [project] has them) and
    the groups or extras ``groups`` names."""
    chosen_tables: list[tuple[str, Any]] = (
        [("[tool.poetry.dependencies]", poetry.get("dependencies"))] if main else []
    )
    poetry_groups = _mapping(poetry.get("group"))
    extras_table = _mapping(poetry.get("extras"))
    extras: set[str] = set()
    for group in groups:
        if isinstance(extras_table.get(group), list):
            extras |= {str(n).lower() for n in extras_table[group]}
        elif isinstance(poetry_groups.get(group), dict):
            chosen_tables.append(
                (
                    f"[tool.poetry.group.{group}.dependencies]",
                    poetry_groups[group].get("dependencies"),
                )
            )
        elif group == "dev" and isinstance(poetry.get("dev-dependencies"), dict):
            chosen_tables.append(("[tool.poetry.dev-dependencies]", poetry["dev-dependencies"]))
    python = None
    lines: list[tuple[str, str]] = []
    pinned: list[tuple[str, str]] = []
    prereleases: list[str] = []
    for title, table in chosen_tables:
        if not isinstance(table, dict):
            continue
        for name, spec in table.items():
            where = f"{path}: {title} {name}"
            if name == "python":
                try:
                    if not isinstance(spec, str):
                        raise PoetryConstraintError(f"python = {spec!r} is not a string")
                    python = translate(spec)
                except PoetryConstraintError as exc:
                    hint = exc.hint or 'write one range, e.g. ">=3.10,<3.13"'
                    collector.fail(where, str(exc), hint)
                continue
            # as a requirements file's lines (each list item is a line, judged on every target)
            count = len(lines) + (len(spec) if isinstance(spec, list) else 1)
            enforce(count, MAX_IMPORTED_REQUIREMENTS, "requirements", where=where)
            found = _entry(name, spec, where, collector, extras)
            if found and (pin := explicit_source(poetry, name, spec, where, collector)):
                pinned.append(pin)
            if found and allows_prereleases(spec):
                prereleases.append(where)
            lines += found
    return PoetryTables(tuple(lines), python, tuple(dict.fromkeys(pinned)), tuple(prereleases))


def allows_prereleases(spec: Any) -> bool:
    """Whether a dependency entry (a table, or a list of them) says allow-prereleases = true."""
    tables = spec if isinstance(spec, list) else [spec]
    return any(
        isinstance(table, dict) and table.get("allow-prereleases") is True for table in tables
    )


def prerelease_note(wheres: Sequence[str]) -> str:
    """Poetry's per-dependency opt-in has no mlenv equivalent; the default is kept, since
    ``[pypi] prerelease = "allow"`` would let every other project's pre-releases in too.
    The advice comes first: a note is cut at ``echoed.LINE_LIMIT``, and a name may be long."""
    return (
        "Poetry's allow-prereleases = true holds for one dependency alone and mlenv has no "
        "per-package rule, so the default was kept (a pre-release only where no final release "
        'in range can be taken): to lock one, pin it ("pkg==2.0rc1") or set [pypi] prerelease '
        f'= "allow", which holds for every project; set on {", ".join(wheres)}'
    )


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def poetry_groups(poetry: dict[str, Any], extras: bool = True) -> set[str]:
    """The names ``--group`` may choose in Poetry's tables (its groups, and its extras unless
    [project] holds them)."""
    groups = set(_mapping(poetry.get("group"))) | (
        set(_mapping(poetry.get("extras"))) if extras else set()
    )
    return groups | ({"dev"} if poetry.get("dev-dependencies") else set())


def poetry_indexes(
    poetry: dict[str, Any], path: Path, collector: _Collector
) -> tuple[tuple[str, ...], str] | None:
    """``[[tool.poetry.source]]`` as (indexes in mlenv's order, index strategy), or None when
    there are none. Poetry takes a package from the highest priority class that has it:
    primary sources (or PyPI when there is none), then supplemental ones; within a class the
    best version wins. An explicit source serves only dependencies that name it (refused there)."""
    sources = [s for s in poetry.get("source") or [] if isinstance(s, dict)]
    if not sources:
        return None
    classes: dict[str, list[str]] = {"primary": [], "supplemental": []}
    where = f"{path}: [[tool.poetry.source]]"
    for source in sources:
        name = str(source.get("name"))
        url = _PYPI if name.lower() == "pypi" else unslashed(str(source.get("url") or ""))
        priority = str(source.get("priority") or "primary")
        priority = "primary" if priority == "default" else priority
        if priority == "explicit":
            continue
        if priority not in classes or not url:
            hint = 'use priority "primary", "supplemental" or "explicit" with a url'
            collector.fail(f"{where} {name}", f"priority {priority!r} or url {url!r}", hint)
            continue
        classes[priority].append(url)
    primary = classes["primary"] or [_PYPI]
    if len(primary) > 1 and classes["supplemental"]:
        collector.fail(
            where,
            "several primary sources and supplemental ones: Poetry takes the best version "
            "among the primary ones, then asks the others, which mlenv cannot express",
            "make one source primary, or none supplemental",
        )
    if len(primary) > 1:
        return tuple(primary), "best-match"
    return (*primary, *classes["supplemental"]), "first-index"
