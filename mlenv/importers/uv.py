"""uv's index settings in pyproject.toml, as mlenv's [pypi] indexes, for `mlenv init --from`.

uv consults its indexes in priority order: ``[[tool.uv.index]]`` entries as written, then the
legacy ``extra-index-url`` list, then the default index (one marked ``default = true``,
``index-url``, or PyPI), and by default takes a package from the first index that has it.
mlenv's ``first-index`` strategy over ``index-url`` then ``extra-index-urls`` is the same rule,
so the order is kept and the strategy written. An ``explicit`` index serves only the packages
``[tool.uv.sources]`` pins to it, which is what ``[pypi] sources`` says (``pypi_sources``): each
such pin is written there.

A source may hold only under a ``marker``, an ``extra`` or a ``group``, and a package may list
several (uv's PyTorch guide: CPU wheels off Linux, CUDA wheels on it); uv applies the one whose
condition holds and, where none does, takes the package from its default indexes. mlenv builds
for Linux only, so each condition is judged on every target an imported manifest can have
(every platform in ``PLATFORMS`` by every Python minor mlenv accepts) and on the extras and
groups asked for with ``--group``: a source true on all of them is the package's source, one
false on all of them is dropped. A marker true on some Linux targets and false on others, or
two sources holding at once, is refused: mlenv's sources hold for every platform and Python.
Where mlenv deliberately differs from uv: uv applies an ``extra``/``group`` source only to the
requirement listed in that extra or group, mlenv to the package once that extra or group is
asked (the import merges every asked requirement into one list); and uv only requires source
markers to be disjoint, mlenv refuses a marker that splits its Linux targets even if the
sources are disjoint.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv.importers.core import _PYPI, Imported, _Collector
from mlenv.importers.options import TOOL_MODE_HINT
from mlenv.importers.places import unslashed
from mlenv.importers.targets import MARKER_ERRORS, TARGETS, on_targets, target_split
from mlenv.inputs import TOOL_MODES, UV_STRATEGIES, index_order, manifest_indexes
from mlenv.instants import CUTOFF_HINT, cutoff_problem
from mlenv.manifest import PYTHON_MINORS
from mlenv.manifest_requirements import constraint_problem, requirement_problem
from mlenv.pep508 import requirement as parsed_requirement
from mlenv.platforms import PLATFORMS
from mlenv.target import Target

_STRATEGIES = UV_STRATEGIES


def _urls(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return [unslashed(str(item)) for item in items]


def uv_indexes(
    uv: object,
    result: Imported,
    path: Path,
    collector: _Collector,
    asked: Collection[tuple[str, str]] = (),
) -> Imported:
    """``result`` with uv's indexes, find-links and index strategy, when the file names any,
    and uv's sources that hold for mlenv's targets; ``asked`` holds the ``("extra", name)``
    and ``("group", name)`` pairs ``--group`` chose, names normalised. A source uv takes from
    git, a path, a URL or a workspace is refused."""
    if not isinstance(uv, dict):
        return result
    where = f"{path}: [tool.uv]"
    bounds = _texts(uv, "constraint-dependencies", where, collector, constraint_problem)
    replacing = _texts(uv, "override-dependencies", where, collector, requirement_problem)
    # a constraint no pinned dependency meets is refused as a -c line is (pins.conflicting_pins);
    # an override replaces the requirements it names, so it contradicts none
    collector.read += [(at, parsed_requirement(text)) for at, text in bounds]
    result = replace(  # uv's constraints and overrides are mlenv's
        result,
        constraints=(*result.constraints, *(text for _, text in bounds)),
        overrides=(*result.overrides, *(text for _, text in replacing)),
    )
    listed = uv.get("index") or []
    if not isinstance(listed, list):  # `index = true` or one table: uv refuses the file too
        collector.fail(
            f"{where} index",
            f"is {type(listed).__name__}, not an array of tables",
            'write each index as [[tool.uv.index]] with name = "..." and url = "..."',
        )
        listed = []
    entries = [e for e in listed if isinstance(e, dict) and e.get("url")]
    named = {str(e.get("name")): e for e in entries}
    ordered: list[str] = []
    links = [*result.find_links, *_urls(uv.get("find-links"))]
    default = next((unslashed(str(e["url"])) for e in entries if e.get("default")), None)
    for entry in entries:
        url = unslashed(str(entry["url"]))
        if entry.get("explicit") or entry.get("default"):
            continue
        (links if entry.get("format") == "flat" else ordered).append(url)
    ordered += _urls(uv.get("extra-index-url"))
    legacy_default = _urls(uv.get("index-url"))
    default = default or (legacy_default[0] if legacy_default else None)
    strategy = uv.get("index-strategy")
    if strategy is not None and (not isinstance(strategy, str) or strategy not in _STRATEGIES):
        collector.fail(f"{where} index-strategy", f"uv's {strategy!r} has no mlenv equivalent",
                       'use "first-index" (uv\'s default) or "unsafe-best-match"')  # fmt: skip
    result = _environments(uv, where, collector, result)
    result = _prerelease(uv.get("prerelease"), f"{where} prerelease", collector, result)
    result = _exclude_newer(uv.get("exclude-newer"), f"{where} exclude-newer", collector, result)
    if not ordered and default is None and strategy is None and not links:
        result = replace(result, find_links=tuple(links))
    else:
        index_url, extra = manifest_indexes(list(dict.fromkeys([*ordered, default or _PYPI])))
        result = replace(
            result,
            index_url=index_url,
            extra_index_urls=extra,
            find_links=tuple(dict.fromkeys(links)),
            index_strategy=_STRATEGIES.get(str(strategy), "first-index"),
        )
    return _sources(uv, named, result, path, collector, asked)


def _texts(
    uv: dict[str, Any],
    key: str,
    where: str,
    collector: _Collector,
    problem: Callable[[str], str | None],
) -> list[tuple[str, str]]:
    """uv's array of requirements ``key`` that are requirements, each with its place; the
    others are problems named in the file read, not in the manifest not yet written."""
    listed = uv.get(key) or []
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        collector.fail(f"{where} {key}", "is not an array of strings")
        return []
    kept: list[tuple[str, str]] = []
    for position, text in enumerate(listed):
        at = f"{where} {key}[{position}]"
        if (said := problem(text)) is not None:
            collector.fail(at, f"{text!r}: {said}")
        else:
            kept.append((at, text))
    return kept


def _prerelease(mode: object, where: str, collector: _Collector, result: Imported) -> Imported:
    if mode is None:
        return result
    if not isinstance(mode, str) or mode not in TOOL_MODES:
        collector.fail(where, f"uv's prerelease = {mode!r} has no mlenv equivalent", TOOL_MODE_HINT)
        return result
    return replace(result, prerelease=TOOL_MODES[mode])


def _environments(
    uv: dict[str, Any], where: str, collector: _Collector, result: Imported
) -> Imported:
    """``result`` for the Linux platforms and Pythons uv's lock covers. uv resolves only where
    one of ``environments`` holds (on no Linux target: a problem) and requires wheels where
    one of ``required-environments`` holds (uv's guide: aarch64 beside x86_64), so the
    manifest locks the platforms uv's lock covers (mlenv's default linux-64 only when it is
    one), for a Python ``environments`` admits."""
    names = [platform.name for platform in PLATFORMS]
    held = _held(uv.get("environments"), f"{where} environments", collector)
    if held is not None and not held:
        collector.fail(f"{where} environments", f"uv resolves this project only where "
                       f"{uv['environments']!r} holds, on none of mlenv's Linux targets",
                       "add a Linux marker (sys_platform == 'linux') to environments, or "
                       "import the project's Linux requirements")  # fmt: skip
        return result
    allowed = [n for n in names if held is None or any(t.platform == n for t in held)]
    required = _held(uv.get("required-environments"), f"{where} required-environments",
                     collector) or []  # fmt: skip
    chosen = tuple(n for n in allowed if n == allowed[0] or any(t.platform == n for t in required))
    if chosen != tuple(names[:1]):
        result = replace(result, platforms=chosen)
    pythons = {target.python for target in held or TARGETS}
    admitted = [minor for minor in PYTHON_MINORS if minor in pythons]
    if admitted and len(admitted) < len(PYTHON_MINORS):  # as a floor when it is one
        top = list(PYTHON_MINORS[-len(admitted) :]) == admitted
        left = (m for m in PYTHON_MINORS if m not in pythons)
        range_ = f">={admitted[0]}" if top else ",".join(f"!={minor}.*" for minor in left)
        result = replace(result, python_range=(f"{where} environments", range_))
    return result


def _held(value: object, where: str, collector: _Collector) -> list[Target] | None:
    """mlenv's targets on which one of uv's markers ``value`` holds; ``None`` when there are
    no markers (or they are not PEP 508 markers: a problem)."""
    markers = [value] if isinstance(value, str) else value
    if not isinstance(markers, list) or not markers:
        return None
    try:
        return [target for marker in markers for target in on_targets(Marker(str(marker)))[0]]
    except MARKER_ERRORS as error:
        collector.fail(where, f"{markers!r} is not a list of PEP 508 markers: {error}")
        return None


def _exclude_newer(value: object, where: str, collector: _Collector, result: Imported) -> Imported:
    """uv's cutoff as mlenv's, written as uv spelled it; one mlenv refuses (uv's relative
    "3 weeks", which moves with every lock, or a local time) is refused here, not written."""
    if value is None:
        return result
    problem = cutoff_problem(value) if isinstance(value, str) else "is not a string"
    if problem is not None:
        collector.fail(where, f"{value!r}: {problem}", CUTOFF_HINT)
        return result
    return replace(result, exclude_newer=str(value))


_INDEX_KEYS = frozenset({"index", "marker", "extra", "group"})


def _sources(
    uv: dict[str, Any],
    named: dict[str, Any],
    result: Imported,
    path: Path,
    collector: _Collector,
    asked: Collection[tuple[str, str]],
) -> Imported:
    """``result`` with the explicit-index source that holds for each imported requirement as
    ``[pypi] sources``. Every other source that holds must mean nothing mlenv's order does
    not: an index source is faithful only when that index is the first one mlenv consults."""
    sources = uv.get("sources") if isinstance(uv.get("sources"), dict) else {}
    wanted = {canonicalize_name(Requirement(line).name) for line in result.pypi}
    first = index_order(result.index_url or _PYPI, result.extra_index_urls)[0]
    pinned: dict[str, str] = {}
    for name, value in (sources or {}).items():
        if canonicalize_name(name) not in wanted:
            continue
        where = f"{path}: [tool.uv.sources] {name}"
        entries = value if isinstance(value, list) else [value]
        if not _known_indexes(entries, named, where, collector):
            continue
        source = _holding(name, entries, where, asked, collector)
        if source is None:
            continue  # no source on Linux: uv takes it from its indexes, as mlenv does
        index = source["index"]
        entry = named[str(index)]
        url = unslashed(str(entry["url"]))
        if entry.get("explicit"):
            pinned[canonicalize_name(name)] = url
        elif url != first:
            collector.fail(
                where,
                f"uv takes {name} only from {url}, but mlenv would take it from {first}, "
                "the first index that lists it",
                f"list [[tool.uv.index]] {index!r} first",
            )
    return replace(result, sources=tuple(sorted(pinned.items()))) if pinned else result


def _known_indexes(
    entries: list[Any], named: dict[str, Any], where: str, collector: _Collector
) -> bool:
    """Whether every index ``entries`` name is defined (uv refuses the file otherwise, on
    every platform)."""
    for entry in entries:
        index = entry.get("index") if isinstance(entry, dict) else None
        if index is not None and str(index) not in named:
            collector.fail(where, f"names the index {index!r}, which no [[tool.uv.index]] defines")
            return False
    return True


def _holding(
    name: str,
    entries: list[Any],
    where: str,
    asked: Collection[tuple[str, str]],
    collector: _Collector,
) -> Any:
    """The one entry of ``entries`` that holds on every mlenv target, ``None`` when none does
    on any. One that holds on some targets only, or a second that holds, is a problem (and
    ``None``)."""
    holding: list[Any] = []
    for entry in entries:
        verdict = _verdict(entry, where, asked, collector)
        if verdict is None:
            return None
        true, false = verdict
        if true and not _is_index(entry):  # whatever its marker: the source is what mlenv lacks
            on = f" (its condition is {target_split(true, false)})" if false else ""
            collector.fail(where, f"uv takes {name} from {_unmarked(entry)!r}, which mlenv "
                           f"cannot lock{on}", "publish it to an index and name that index in "
                           "[[tool.uv.index]]")  # fmt: skip
            return None
        if true and false:
            marker = entry.get("marker") if isinstance(entry, dict) else None
            collector.fail(
                where,
                f"uv takes {name} from {_named(entry)} only where {marker!r} holds, which is "
                f"{target_split(true, false)}; mlenv.toml's sources hold on every platform and "
                "Python",
                "make the marker true or false on every Linux target mlenv builds for (e.g. "
                "sys_platform == 'linux'), or keep only the source your targets need",
            )
            return None
        if true:
            holding.append(entry)
    if len(holding) > 1:
        conditional = [
            f"--group {entry[kind]}"
            for entry in holding
            if isinstance(entry, dict)
            for kind in ("extra", "group")
            if kind in entry
        ]
        collector.fail(
            where,
            f"{len(holding)} of uv's sources for {name} hold at once on mlenv's Linux targets "
            f"({', '.join(_named(entry) for entry in holding)}); mlenv.toml pins a package to "
            "one index",
            f"ask for only one of {', '.join(conditional)}"
            if len(conditional) == len(holding)
            else "keep one source whose marker holds on Linux",
        )
        return None
    return holding[0] if holding else None


def _verdict(
    entry: Any, where: str, asked: Collection[tuple[str, str]], collector: _Collector
) -> tuple[list[Target], list[Target]] | None:
    """The targets on which ``entry`` holds and those on which it does not; ``None`` (and a
    problem) for a marker that is not PEP 508."""
    if not isinstance(entry, dict):
        return list(TARGETS), []
    chosen = all(
        (kind, canonicalize_name(str(entry[kind]))) in asked
        for kind in ("extra", "group")
        if kind in entry
    )
    text = entry.get("marker")
    try:
        return on_targets(None if text is None else Marker(str(text)), chosen)
    except MARKER_ERRORS as error:
        collector.fail(
            f"{where} marker",
            f"{text!r} is not a PEP 508 environment marker: {error}",
            "write it as uv's docs do, e.g. marker = \"sys_platform == 'linux'\"",
        )
        return None


def _is_index(entry: Any) -> bool:
    """Whether uv takes the package from an index here (not git, a URL, a path or a
    workspace member), the one kind of source mlenv.toml holds."""
    return isinstance(entry, dict) and "index" in entry and not set(entry) - _INDEX_KEYS


def _unmarked(entry: Any) -> Any:
    """The source without the conditions it holds under: what uv would fetch."""
    if not isinstance(entry, dict):
        return entry
    return {key: value for key, value in entry.items() if key not in ("marker", "extra", "group")}


def _named(entry: Any) -> str:
    if isinstance(entry, dict) and "index" in entry:
        return f"the index {entry['index']!r}"
    return repr(entry)
