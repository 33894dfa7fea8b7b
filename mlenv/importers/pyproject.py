"""`mlenv init --from pyproject.toml`: PEP 621 dependencies, optional-dependencies and PEP 735
dependency groups, with what uv, Poetry and pixi add to the file (pylock.toml: importers.pylock).

Poetry's tables are translated by ``importers.poetry``, uv's indexes by ``importers.uv``, a
``[tool.pixi]`` workspace by ``importers.pixi``. A requirement only the build backend knows
(``dynamic``), or one taken from git, a path or a per-package index, is refused, naming the
key: importing the rest would leave it out without a word.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlenv.importers.core import Imported, _Collector, _requirement_line, _toml
from mlenv.importers.pixi import read_pixi
from mlenv.importers.poetry import (
    allows_prereleases,
    explicit_source,
    poetry_groups,
    poetry_indexes,
    poetry_tables,
    prerelease_note,
    well_typed,
)
from mlenv.importers.uv import uv_indexes
from mlenv.inputs import manifest_indexes

_MAX_GROUP_DEPTH = 64


def read_pyproject(path: Path, groups: Sequence[str]) -> Imported:
    """[project].dependencies, plus the optional-dependencies or dependency-groups asked for.
    A key of the wrong type (a string where PEP 621 says a list) is a problem, not a guess."""
    data = _toml(path)
    collector = _Collector()
    project = _typed(data, "project", dict, path, collector)
    optional = _typed(project, "optional-dependencies", dict, path, collector)
    dependency_groups = _typed(data, "dependency-groups", dict, path, collector)
    dynamic = _typed(project, "dynamic", list, path, collector)
    tool = _table(data.get("tool"))
    poetry = _table(tool.get("poetry"))
    poetry_owns = "dependencies" not in project and bool(_table(poetry.get("dependencies")))
    pixi_table = _table(tool.get("pixi"))
    pixi_workspace = pixi_table.get("workspace") or pixi_table.get("project")
    if "project" not in data and not poetry_owns and not pixi_workspace and not groups:
        # PEP 621: without [project] the metadata is the backend's (setup.py, setup.cfg); an
        # empty manifest would drop every requirement without a word
        collector.fail(
            f"{path}: [project]",
            "the file has no [project] table (nor Poetry's or pixi's dependencies): the "
            "project's requirements are kept elsewhere, setup.py or setup.cfg, say",
            "import the project's requirements file (--from requirements.txt), or list the "
            "requirements under [project] dependencies",
        )
    if "dependencies" in dynamic and not poetry_owns:  # Poetry 2 reads them from its table
        collector.fail(
            f"{path}: [project] dynamic",
            "the dependencies are dynamic: the build backend computes them, mlenv cannot",
            "import the file the backend reads them from (e.g. --from requirements.txt)",
        )
    lines: list[tuple[str, str]] = _strings(
        _typed(project, "dependencies", list, path, collector),
        f"{path}: [project] dependencies",
        collector,
    )
    pinned: list[tuple[str, str]] = []  # Poetry's explicit sources: (name, URL)
    allowing: list[str] = []  # Poetry's dependencies with allow-prereleases = true
    requires = project.get("requires-python")
    python_where = f"{path}: [project] requires-python"
    if poetry_owns:
        # Poetry 1's layout, or Poetry 2's with dynamic dependencies: its tables are the
        # project's requirements
        tables = poetry_tables(poetry, path, groups, collector)
        lines += tables.lines
        pinned += tables.sources
        allowing += tables.prereleases
        if tables.python and not requires:
            requires = tables.python
            python_where = f"{path}: [tool.poetry.dependencies] python"
        groups = [g for g in groups if g not in poetry_groups(poetry)]
    elif own := [g for g in groups if g in poetry_groups(poetry, extras=False)]:
        # Poetry 2: [project] holds the requirements and extras, Poetry's groups stay its own
        tables = poetry_tables(poetry, path, own, collector, main=False)
        lines, pinned = lines + list(tables.lines), pinned + list(tables.sources)
        allowing += tables.prereleases
        groups = [g for g in groups if g not in own]
    if requires is not None and not isinstance(requires, str):  # uv and pip refuse the file
        collector.fail(python_where, f"{requires!r} is not a string: the Python range cannot "
                       "be read", 'quote it: requires-python = ">=3.10"')  # fmt: skip
    pixi = _table(tool.get("pixi"))
    pixi_groups = {*_table(pixi.get("feature")), *_table(pixi.get("environments"))}
    asked, groups = list(groups), [g for g in groups if g not in pixi_groups]
    # extra and group names compare normalised (PEP 685, PEP 735), as pip and uv compare them
    extras = {canonicalize_name(key): key for key in optional}
    group_names = {canonicalize_name(key) for key in dependency_groups}
    chosen: set[tuple[str, str]] = set()  # what uv's extra/group sources are judged on
    uv = _table(tool.get("uv"))  # uv's legacy dev-dependencies are its "dev" group
    uv_dev = (
        _strings(uv["dev-dependencies"], f"{path}: [tool.uv] dev-dependencies", collector)
        if "dev-dependencies" in uv
        else []
    )
    for group in groups:
        name = canonicalize_name(group)
        chosen |= {(kind, name) for kind, names in (("extra", extras), ("group", group_names))
                   if name in names}  # fmt: skip
        lines += uv_dev if name == "dev" else []
        if canonicalize_name(group) in extras:
            key = extras[canonicalize_name(group)]
            where = f"{path}: [project.optional-dependencies] {key}"
            lines += _strings(optional[key], where, collector)
        elif canonicalize_name(group) in group_names:
            lines += _group(dependency_groups, group, path, collector, ())
        elif name == "dev" and "dev-dependencies" in uv:
            pass
        elif "optional-dependencies" in dynamic:
            collector.fail(
                f"{path}: group {group!r}",
                "the optional-dependencies are dynamic: the build backend computes them",
                "import the file the backend reads them from",
            )
        else:
            known = sorted({*optional, *dependency_groups, *pixi_groups})
            collector.fail(
                f"{path}: group {group!r}",
                "no such optional-dependencies or dependency-groups entry",
                f"groups here: {', '.join(known) or 'none'}",
            )
    taken = _included({canonicalize_name(g) for g in asked}, dependency_groups)
    defaults = uv.get("default-groups", ["dev"])  # uv sync installs these; "all": every one
    present = {*dependency_groups, *(["dev"] if "dev-dependencies" in uv else [])}
    defaults = sorted(present) if defaults == "all" else defaults
    left = [g for g in defaults if isinstance(g, str) and g in present]
    if "uv" in tool and (left := [g for g in left if canonicalize_name(g) not in taken]):
        collector.notes.append(
            f"uv installs the group(s) {', '.join(left)} by default "
            "(default-groups); not imported: pass --group to import"
        )
    lines = _own_extras(lines, project.get("name"), optional, collector, set())
    pinned += _foreign(tool, path, collector, has_project="dependencies" in project)
    if "dependencies" in project:  # Poetry 2: its table enriches [project]'s dependencies
        enriching = _table(poetry.get("dependencies")).items()
        allowing += [f"{path}: [tool.poetry.dependencies] {name}"
                     for name, spec in enriching if allows_prereleases(spec)]  # fmt: skip
    result = Imported()
    for where, line in lines:
        result = _requirement_line(line.split(), line, where, collector, result)
    if allowing:
        collector.notes.append(prerelease_note(allowing))
    if indexes := poetry_indexes(poetry, path, collector):
        index_url, extra = manifest_indexes(indexes[0])
        result = replace(result, index_url=index_url, extra_index_urls=extra,
                         index_strategy=indexes[1])  # fmt: skip
    if pinned:
        result = replace(result, sources=tuple(sorted(dict(pinned).items())))
    result = uv_indexes(tool.get("uv"), result, path, collector, chosen)
    result = replace(result, collisions=collector.check(str(path)))
    if pixi.get("workspace") or pixi.get("project"):
        result = _with_pixi(result, read_pixi(path, [g for g in asked if g in pixi_groups],
                                              pixi, "tool.pixi.", collector.read))  # fmt: skip
    python_range = result.python_range  # uv's environments', or pixi's python spec
    if isinstance(requires, str) and requires:  # both hold: uv resolves where both do
        python_range = (python_where, requires) if python_range is None or pixi_workspace else (
            f"{python_where} and {python_range[0]}", f"{requires},{python_range[1]}")  # fmt: skip
    return replace(
        result,
        pypi=tuple(dict.fromkeys(result.pypi)),
        python_range=python_range,
        name=next(  # result.name: [tool.pixi.workspace]'s (or [tool.pixi.project]'s)
            (
                n
                for n in (project.get("name"), poetry.get("name"), result.name)
                if isinstance(n, str)
            ),
            None,
        ),
        notes=tuple(dict.fromkeys((*collector.notes, *result.notes))),  # pixi's too
    )


def _typed(table: dict[str, Any], key: str, kind: type, path: Path, collector: _Collector) -> Any:
    """``table[key]`` when it is a ``kind`` (absent: an empty one); otherwise a problem."""
    value = table.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        what = "table" if kind is dict else "list"
        collector.fail(f"{path}: {key}", f"must be a {what}, not {type(value).__name__}")
        return kind()
    return value


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _own_extras(
    lines: list[tuple[str, str]],
    name: object,
    optional: dict[str, Any],
    collector: _Collector,
    seen: set[str],
) -> list[tuple[str, str]]:
    """``mypkg[gpu]`` inside mypkg's own file means mypkg's gpu extra (as pip reads
    ``pip install .[all]``), not a package of that name from an index."""
    if not isinstance(name, str):
        return lines
    extras = {canonicalize_name(key): key for key in optional}
    expanded: list[tuple[str, str]] = []
    for where, line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            expanded.append((where, line))  # refused with its place by _requirement_line
            continue
        if canonicalize_name(requirement.name) != canonicalize_name(name):
            expanded.append((where, line))
            continue
        if requirement.marker is not None or not requirement.extras:
            collector.fail(where, f"{line!r} requires the project itself, which mlenv cannot lock",
                           "list the extra's requirements, or drop the line")  # fmt: skip
            continue
        for extra in sorted(canonicalize_name(e) for e in requirement.extras):
            if extra not in extras:
                collector.fail(where, f"{name} has no optional-dependencies entry {extra!r}")
            elif extra not in seen:
                key = extras[extra]
                inner = _strings(optional[key], f"{where} -> {key}", collector)
                expanded += _own_extras(inner, name, optional, collector, seen | {extra})
    return expanded


def _included(names: set[str], groups: dict[str, Any]) -> set[str]:
    """``names`` with every group they include (PEP 735 ``include-group``), normalised."""
    tables: dict[str, Any] = {canonicalize_name(key): value for key, value in groups.items()}
    todo, seen = list(names), set(names)
    while todo:
        entries = tables.get(todo.pop())
        for item in entries if isinstance(entries, list) else []:
            name = item.get("include-group") if isinstance(item, dict) else None
            if isinstance(name, str) and (key := canonicalize_name(name)) not in seen:
                seen.add(key)
                todo.append(key)
    return seen


def _strings(items: object, where: str, collector: _Collector) -> list[tuple[str, str]]:
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        collector.fail(where, "must be a list of requirement strings")
        return []
    return [(f"{where}[{position}]", item) for position, item in enumerate(items)]


def _group(
    table: dict[str, Any], name: str, path: Path, collector: _Collector, chain: tuple[str, ...]
) -> list[tuple[str, str]]:
    """A PEP 735 group with its ``{include-group = ...}`` entries expanded (names compare
    normalised, as the PEP says); a cycle or an unknown group is a problem."""
    where = f"{path}: [dependency-groups] {name}"
    by_name = {canonicalize_name(key): key for key in table}
    key = by_name.get(canonicalize_name(name))
    if key is None or canonicalize_name(name) in chain or len(chain) > _MAX_GROUP_DEPTH:
        problem = "includes itself" if key is not None else "includes an unknown group"
        collector.fail(where, problem, f"groups here: {', '.join(sorted(table)) or 'none'}")
        return []
    items = table[key]
    if not isinstance(items, list):
        collector.fail(where, "must be a list of requirements and {include-group = ...} tables")
        return []
    lines: list[tuple[str, str]] = []
    for position, item in enumerate(items):
        if isinstance(item, str):
            lines.append((f"{where}[{position}]", item))
        elif isinstance(item, dict) and set(item) == {"include-group"}:
            inner = (*chain, canonicalize_name(name))
            lines += _group(table, str(item["include-group"]), path, collector, inner)
        else:
            collector.fail(f"{where}[{position}]", f"cannot read {item!r}",
                           "write a requirement string or {include-group = \"NAME\"}")  # fmt: skip
    return lines


def _with_pixi(result: Imported, pixi: Imported) -> Imported:
    """[project] requirements with what pixi adds: conda packages, channels, platforms and
    its PyPI indexes (pixi, not uv, resolves this file)."""
    return replace(
        pixi,
        pypi=(*result.pypi, *pixi.pypi),
        notes=(*result.notes, *pixi.notes),
    )


def _foreign(
    tool: dict[str, Any], path: Path, collector: _Collector, has_project: bool
) -> list[tuple[str, str]]:
    """What Poetry 2 adds to [project] dependencies (an explicit source, returned as (name,
    URL); git or a path is refused) and pixi's own tables, which mlenv does not read."""
    poetry = _table(tool.get("poetry"))
    own, pinned = _table(poetry.get("dependencies")), []
    for name in [name for name in own if name != "python"] if has_project else ():
        spec, where = own[name], f"{path}: [tool.poetry.dependencies] {name}"
        if not well_typed(spec, where, collector):
            continue
        if isinstance(spec, dict) and {"git", "path", "url"} & set(spec):
            collector.fail(where, "comes from git, a URL or a path, which mlenv cannot express",
                           "publish it to an index and require it from there")  # fmt: skip
        elif pin := explicit_source(poetry, name, spec, where, collector):
            pinned.append(pin)
    pixi = _table(tool.get("pixi"))
    for key in ("dependencies", "pypi-dependencies", "feature"):
        if pixi.get(key) and not (pixi.get("workspace") or pixi.get("project")):
            collector.fail(
                f"{path}: [tool.pixi.{key}]",
                "pixi's tables without [tool.pixi.workspace] are not a pixi workspace",
                "add [tool.pixi.workspace] with its channels and platforms",
            )
    return pinned
