"""`mlenv init --from pixi.toml`: a pixi workspace's channels, Linux platforms, conda and PyPI
dependencies, with the features ``--group`` names (a feature or an environment).

pixi reads its conda specs with rattler, as mlenv's lock does, so ``numpy = ">=1.26,<2"`` is
written as the MatchSpec ``numpy >=1.26,<2`` and means the same. A per-package ``index`` is a
``[pypi] sources`` pin. What has no place in mlenv.toml (a git, path or URL source, an index
for some platforms only, a dependency for one of two locked platforms) is refused, naming its
key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv.errors import Problem
from mlenv.importers.conda import _python_minor
from mlenv.importers.core import (
    _PYPI,
    Imported,
    ImportFileError,
    _Collector,
    _requirement_line,
    _toml,
)
from mlenv.importers.options import TOOL_MODE_HINT
from mlenv.importers.pixi_machines import read_machines
from mlenv.importers.pixi_options import dependency_overrides, pypi_options
from mlenv.importers.pixi_platforms import (
    Platform,
    assumed_notes,
    is_selector,
    read_platforms,
    selects,
)
from mlenv.importers.places import unslashed
from mlenv.inputs import TOOL_MODES, index_order, manifest_indexes
from mlenv.pypi_sources import index_key

_LINUX = ("linux-64", "linux-aarch64")
_MACHINE = {"linux-64": "x86_64", "linux-aarch64": "aarch64"}
# what an environment may hold of its own, as a feature does (pixi's inline environments)
_OWN_TABLES = ("dependencies", "pypi-dependencies", "target", "channels", "pypi-options")


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class _Found:
    conda: list[str] = field(default_factory=list)
    pypi: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    python: str | None = None
    python_range: tuple[str, str] | None = None
    sources: dict[str, str] = field(default_factory=dict)  # pixi's per-package ``index``


def _conda(name: str, spec: object, where: str, found: _Found, collector: _Collector) -> None:
    if isinstance(spec, dict):
        if set(spec) - {"version", "build", "channel"}:
            collector.fail(where, f"{name} comes from {spec!r}, which mlenv cannot lock",
                           "publish it to a channel and require it by version")  # fmt: skip
            return
        channel = f"{spec['channel']}::" if spec.get("channel") else ""
        version, build = str(spec.get("version") or "*"), str(spec.get("build") or "")
    elif isinstance(spec, str):
        channel, version, build = "", spec.strip() or "*", ""
    else:
        collector.fail(where, f"cannot read {spec!r}", 'write a version spec such as ">=1.26"')
        return
    text = f"{channel}{name} {version} {build}".strip()
    found.conda.append(text)
    if name == "python":
        found.python = _python_minor(version)
        found.python_range = (where, version) if version != "*" else None


def _source(
    name: str, index: object, where: str, marker: str, found: _Found, collector: _Collector
) -> bool:
    """pixi's ``index`` (the package from that index alone) as a [pypi] sources pin; one that
    holds for some platforms only, or differs between features, has no such pin."""
    url = unslashed(str(index))
    key = canonicalize_name(name)
    if marker:
        collector.fail(
            where,
            f"{name} comes from {url} only on some platforms; mlenv's [pypi] sources hold "
            "for every platform",
            "name the index in the [pypi-dependencies] every platform shares",
        )
        return False
    if index_key(found.sources.setdefault(key, url)) != index_key(url):  # HTTPS:// is https://
        collector.fail(
            where,
            f"{name} comes from {url} here and {found.sources[key]} elsewhere",
            "take it from one index in every feature imported",
        )
        return False
    return True


def _pypi(
    name: str, spec: object, where: str, marker: str, found: _Found, collector: _Collector
) -> None:
    extras = ""
    if isinstance(spec, dict):
        if set(spec) - {"version", "extras", "index"}:
            collector.fail(
                where,
                f"{name} comes from {spec!r}, which mlenv cannot lock",
                "publish it to an index and name that index under [pypi-options] "
                "extra-index-urls, or as its own index (index = URL)",
            )
            return
        if "index" in spec and not _source(name, spec["index"], where, marker, found, collector):
            return
        extras = f"[{','.join(map(str, spec.get('extras') or []))}]" if spec.get("extras") else ""
        spec = spec.get("version", "*")
    if not isinstance(spec, str):
        collector.fail(where, f"cannot read {spec!r}", 'write a PEP 440 spec such as ">=2.1"')
        return
    version = "" if spec.strip() in ("*", "") else spec.strip()
    line = f"{name}{extras}{version}{f'; {marker}' if marker else ''}"
    result = _requirement_line(line.split(), line, where, collector, Imported())
    found.pypi += result.pypi


def _tables(
    owner: dict[str, Any], title: str, path: Path, entries: Sequence[Platform],
    platforms: Sequence[str], found: _Found, collector: _Collector,
) -> None:  # fmt: skip
    """A workspace's or feature's dependencies, and those of its targets for the platforms:
    a target is for the Linux platforms its key selects among ``entries`` (pixi's selectors).
    A target's spec replaces the feature's spec of the same package on its platforms, later
    targets over earlier ones, as pixi's ``combined_dependencies`` overwrites them."""
    parts: list[tuple[str, dict[str, Any], str | None]] = [(title, owner, None)]
    for name, table in _table(owner.get("target")).items():
        parts.append((f"{title}target.{name}.", _table(table), str(name)))
    conda: dict[str, tuple[str, object, str]] = {}  # conda name: (name, spec, where)
    pypi: dict[str, dict[str, tuple[str, object, str]]] = {}  # PEP 503 name: platform: same
    for prefix, table, target in parts:
        listed = bool(table.get("dependencies") or table.get("pypi-dependencies"))
        hits = [entry for entry in entries if target is not None and selects(target, entry)]
        chosen = [p for p in platforms if any(entry.subdir == p for entry in hits)]
        if target is not None and not chosen:
            if listed and (hits or is_selector(target)):
                collector.notes.append(f"[{prefix[:-1]}] is not for {', '.join(platforms)}")
            elif listed:
                named = ", ".join(dict.fromkeys(n for e in entries for n in e.names))
                collector.fail(f"{path}: [{prefix[:-1]}]", f"{target!r} names no platform of "
                               f"[{title}workspace] platforms (pixi names them {named})",
                               f'give the platform entry name = "{target}", or key the table '
                               "by one of those names")  # fmt: skip
            continue
        if split := [e.label for e in entries if e.subdir in chosen and e not in hits]:
            if listed:  # two variants of one subdir with different dependencies
                took = ", ".join(e.label for e in hits if e.subdir in chosen)
                collector.fail(f"{path}: [{prefix[:-1]}]", f"is for {took} but not "
                               f"{', '.join(split)}, of the same subdir: an mlenv.toml "
                               "holds one environment per platform", "import a copy of the file "
                               f"that keeps one {chosen[0]} entry")  # fmt: skip
            continue
        chosen = list(platforms) if target is None else chosen
        for name, spec in _table(table.get("dependencies")).items():
            where = f"{path}: [{prefix}dependencies] {name}"
            if len(chosen) < len(platforms):
                collector.fail(where, f"a conda dependency for {chosen[0]} only cannot be "
                               "expressed", "lock one platform, or move it to "
                               "[dependencies]")  # fmt: skip
                continue
            conda[str(name).lower()] = (str(name), spec, where)
        for name, spec in _table(table.get("pypi-dependencies")).items():
            where = f"{path}: [{prefix}pypi-dependencies] {name}"
            on = pypi.setdefault(canonicalize_name(str(name)), {})
            on.update(dict.fromkeys(chosen, (str(name), spec, where)))
    for name, spec, where in conda.values():
        _conda(name, spec, where, found, collector)
    for on in pypi.values():
        for said in [v for i, v in enumerate(on.values()) if v not in list(on.values())[:i]]:
            machines = [_MACHINE[p] for p in platforms if on.get(p) == said]
            marker = f'platform_machine == "{machines[0]}"' if len(machines) == 1 else ""
            _pypi(*said, "" if len(machines) == len(platforms) else marker, found, collector)


def read_pixi(
    path: Path,
    groups: Sequence[str],
    data: dict[str, Any] | None = None,
    title: str = "",
    beside: Sequence[tuple[str, Requirement]] = (),
) -> Imported:
    """The default environment, plus each feature (or environment's features) ``groups``
    names, for the workspace's Linux platforms. ``data`` and ``title`` are pyproject.toml's
    ``[tool.pixi]`` table and its name, when pixi's tables live there, and ``beside`` its
    ``[project]`` requirements, which pixi solves with its own: one project pinned in both so
    that no version is both is refused here, as within either."""
    data = _toml(path) if data is None else data
    workspace = _table(data.get("workspace") or data.get("project"))
    if not workspace:
        raise ImportFileError(
            f"{path}: not a pixi manifest",
            [Problem(f"{path}: [{title}workspace]", "has no workspace table",
                     "see pixi's manifest format")],
        )  # fmt: skip
    collector = _Collector(read=list(beside))
    entries = _platforms(workspace.get("platforms"), f"{path}: [{title}workspace] platforms",
                         collector)  # fmt: skip
    platforms = [p for p in _LINUX if any(entry.subdir == p for entry in entries)]
    found = _Found()
    features = _table(data.get("feature"))
    environments = _table(data.get("environments"))
    chosen, own, no_default = _selection(groups, features, environments, path, collector)
    channels = list(workspace.get("channels") or [])
    if not no_default:
        _tables(data, title, path, entries, platforms or list(_LINUX[:1]), found, collector)
    tables: list[tuple[str, str | None, dict[str, Any]]] = [
        (f"{title}feature.{n}.", n, _table(features.get(n))) for n in dict.fromkeys(chosen)
    ]
    tables += [(f"{title}environments.{name}.", None, env) for name, env in own]
    for prefix, name, feature in tables:
        if name is not None and name not in features:
            where = f"{path}: [{title}environments] {name}"
            collector.fail(where, "names a feature that is not defined")
        channels += list(feature.get("channels") or [])
        _tables(feature, prefix, path, entries, platforms or [_LINUX[0]], found, collector)
    if left := [name for name in features if name not in chosen]:
        collector.notes.append(_left_out(left, environments))
    layers = [workspace.get("pypi-options"), None if no_default else data.get("pypi-options")]
    options = pypi_options([*layers, *(table.get("pypi-options") for _, _, table in tables)])
    requirements = [] if no_default else [(f"{path}: [{title}system-requirements]", data)]
    requirements += [(f"{path}: [{p}system-requirements]", t) for p, _, t in tables]
    machines = read_machines(entries, platforms, [
        (where, _table(table.get("system-requirements"))) for where, table in requirements
    ], f"{path}: [{title}workspace] platforms")  # fmt: skip
    collector.notes += machines.notes
    overrides = dependency_overrides(
        options.get("dependency-overrides"),
        f"{path}: [{title}pypi-options] dependency-overrides",
        collector,
    )
    collector.check(str(path))
    # pixi resolves with uv: extra-index-urls come before index-url, the first that lists a
    # package supplies it, as mlenv's first-index does (``inputs.index_order``)
    extra = [unslashed(str(url)) for url in options.get("extra-index-urls") or []]
    index = unslashed(str(options.get("index-url") or _PYPI))
    index_url, extra_urls = manifest_indexes(list(dict.fromkeys([*extra, index])))
    sources = _sources_beside(found.sources, index_order(index_url, extra_urls), path, collector)
    strategy = options.get("index-strategy")
    if strategy not in (None, "first-index", "unsafe-best-match"):
        where = f"{path}: [{title}pypi-options] index-strategy"
        collector.fail(where, f"{strategy!r} has no mlenv equivalent",
                       'use "first-index" or "unsafe-best-match"')  # fmt: skip
    mode = options.get("prerelease-mode")  # uv's modes: pixi resolves with uv
    if mode is not None and (not isinstance(mode, str) or mode not in TOOL_MODES):
        where = f"{path}: [{title}pypi-options] prerelease-mode"
        collector.fail(where, f"{mode!r} has no mlenv equivalent", TOOL_MODE_HINT)
    collisions = collector.check(str(path))
    return Imported(
        pypi=tuple(dict.fromkeys(found.pypi)),
        conda=tuple(dict.fromkeys(found.conda)),
        channels=_by_priority(channels),
        index_url=index_url,
        extra_index_urls=extra_urls,
        find_links=tuple(_link(path, x) for x in options.get("find-links") or []),
        index_strategy="best-match" if strategy == "unsafe-best-match" else "first-index",
        prerelease=TOOL_MODES.get(mode) if isinstance(mode, str) else None,
        sources=sources,
        overrides=overrides,
        python=found.python,
        python_range=found.python_range,
        platforms=tuple(platforms),
        glibc=machines.glibc,
        driver_cuda=machines.cuda,
        notes=tuple(dict.fromkeys(collector.notes)),
        collisions=collisions,
        name=workspace["name"] if isinstance(workspace.get("name"), str) else None,
    )


def _platforms(raw: object, where: str, collector: _Collector) -> list[Platform]:
    """``platforms`` read as pixi reads it (subdirs and rich entries), with a problem when
    no entry is a Linux one. Two entries of one subdir (a CUDA and a CPU variant) are one
    platform to mlenv, refused only where a target tells them apart (``_tables``)."""
    entries, unread = read_platforms(raw)
    for text in unread:
        hint = 'write a subdir ("linux-64") or a table with platform = "linux-64"'
        collector.fail(where, f"cannot read the entry {text}", hint)
    linux = [entry for entry in entries if entry.subdir in _LINUX]
    listed = list(dict.fromkeys(entry.subdir for entry in entries))
    if not linux and not unread:
        collector.fail(where, f"no Linux platform: {listed}",
                       'mlenv builds Linux images: add "linux-64" to platforms')  # fmt: skip
    elif linux and len({e.subdir for e in linux}) < len(listed):
        chosen = [p for p in _LINUX if p in listed]
        collector.notes.append(f"only {', '.join(chosen)} of {', '.join(listed)} imported")
    collector.notes += assumed_notes(linux, where)
    return entries


def _selection(
    groups: Sequence[str], features: dict[str, Any], environments: dict[str, Any], path: Path,
    collector: _Collector,
) -> tuple[list[str], list[tuple[str, dict[str, Any]]], bool]:  # fmt: skip
    """The features ``groups`` select (a feature, or an environment's features), the selected
    environments' own tables (``[environments.docs] dependencies = ...``), and whether the
    default feature is left out: an environment with ``no-default-feature = true`` has only
    its own features in pixi, not the default feature nor the default environment's."""
    leave = [g for g in groups if _table(environments.get(g)).get("no-default-feature") is True]
    if leave:
        said = ", ".join(leave)
        collector.notes.append(f"the environment(s) {said} leave out the default feature "
                               "(no-default-feature): its tables are not imported")  # fmt: skip
    chosen: list[str] = []
    own: list[tuple[str, dict[str, Any]]] = []
    for group in ("default", *groups) if "default" in environments and not leave else groups:
        env = environments.get(group)
        names = env.get("features", []) if isinstance(env, dict) else env
        if group in features:
            chosen.append(group)
        elif isinstance(names, list):
            chosen += [str(n) for n in names]
            if isinstance(env, dict) and set(env) & set(_OWN_TABLES):
                own.append((group, env))
        else:
            known = sorted({*features, *environments})
            hint = f"features and environments here: {', '.join(known) or 'none'}"
            collector.fail(f"{path}: group {group!r}", "no such feature or environment", hint)
    return chosen, own, bool(leave)


def _left_out(left: list[str], environments: dict[str, Any]) -> str:
    """The note naming features no selected environment has, and the --group that adds each:
    the feature, or an environment that has it."""
    said = []
    for name in left:
        homes = [env for env, value in environments.items() if name in _features_of(value)]
        said.append(f"{name} (--group {' or --group '.join(dict.fromkeys([name, *homes]))})")
    return f"feature(s) in no selected environment, not imported: {', '.join(said)}"


def _features_of(environment: object) -> list[str]:
    names = environment.get("features") if isinstance(environment, dict) else environment
    return [str(n) for n in names] if isinstance(names, list) else []


def _link(path: Path, entry: object) -> str:
    """A find-links ``{url = ...}`` or ``{path = ...}``; a path is pixi.toml's, kept absolute
    until the manifest's place is known (as a requirements file's ``-f`` is)."""
    link = _table(entry).get("url") or _table(entry).get("path") or entry
    local = path.parent / str(link)
    return str(local.resolve()) if "://" not in str(link) and local.exists() else str(link)


def _by_priority(channels: Sequence[object]) -> tuple[str, ...]:
    """pixi's channel order: a higher ``priority`` first, then the order written (workspace,
    then features); a channel is a name or URL, or a table with a priority."""

    def priority(channel: object) -> int:
        value = _table(channel).get("priority", 0)
        return -value if isinstance(value, int) else 0

    ordered = sorted(channels, key=priority)
    return tuple(dict.fromkeys(str(_table(c).get("channel") or c) for c in ordered))


def _sources_beside(
    sources: dict[str, str], order: tuple[str, ...], path: Path, collector: _Collector
) -> tuple[tuple[str, str], ...]:
    """pixi's per-package indexes as [pypi] sources. One also among the pypi-options indexes
    serves every project there, which a source may not: the package comes from it anyway when
    it is the first index asked, and otherwise could not, as pixi takes it."""
    kept = []
    keys = [index_key(url) for url in order]  # as the manifest's reader compares them
    for name, url in sorted(sources.items()):
        if index_key(url) not in keys:
            kept.append((name, url))
        elif index_key(url) != keys[0]:
            collector.fail(
                f"{path}: [pypi-dependencies] {name}",
                f"pixi takes {name} only from {url}, also an index for every package, but "
                f"mlenv would take it from {order[0]}, the first index that lists it",
                f"list {url} first in extra-index-urls, or drop it from them",
            )
    return tuple(kept)
