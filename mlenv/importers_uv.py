"""uv's index settings in pyproject.toml, as mlenv's [pypi] indexes, for `mlenv init --from`.

uv consults its indexes in priority order: ``[[tool.uv.index]]`` entries as written, then the
legacy ``extra-index-url`` list, then the default index (one marked ``default = true``,
``index-url``, or PyPI), and by default takes a package from the first index that has it.
mlenv's ``first-index`` strategy over ``index-url`` then ``extra-index-urls`` is the same rule,
so the order is kept and the strategy written. An ``explicit`` index serves only the packages
``[tool.uv.sources]`` pins to it, which is what ``[pypi] sources`` says (``pypi_sources``): each
such pin is written there. One that holds only for some markers, extras or groups is refused:
mlenv's sources hold for every package and platform.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv.importers import _PYPI, Imported, _Collector
from mlenv.inputs import index_order, manifest_indexes

_STRATEGIES = {"first-index": "first-index", "unsafe-best-match": "best-match"}


def _urls(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return [str(item).rstrip("/") for item in items]


def uv_indexes(uv: object, result: Imported, path: Path, collector: _Collector) -> Imported:
    """``result`` with uv's indexes, find-links and index strategy, when the file names any;
    a source uv takes from git, a path, a URL, a workspace or an explicit index is refused."""
    if not isinstance(uv, dict):
        return result
    where = f"{path}: [tool.uv]"
    entries = [e for e in uv.get("index") or [] if isinstance(e, dict) and e.get("url")]
    named = {str(e.get("name")): e for e in entries}
    ordered: list[str] = []
    links = [*result.find_links, *_urls(uv.get("find-links"))]
    default = next((str(e["url"]).rstrip("/") for e in entries if e.get("default")), None)
    for entry in entries:
        url = str(entry["url"]).rstrip("/")
        if entry.get("explicit") or entry.get("default"):
            continue
        (links if entry.get("format") == "flat" else ordered).append(url)
    ordered += _urls(uv.get("extra-index-url"))
    legacy_default = _urls(uv.get("index-url"))
    default = default or (legacy_default[0] if legacy_default else None)
    strategy = uv.get("index-strategy")
    if strategy is not None and strategy not in _STRATEGIES:
        collector.fail(f"{where} index-strategy", f"uv's {strategy!r} has no mlenv equivalent",
                       'use "first-index" (uv\'s default) or "unsafe-best-match"')  # fmt: skip
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
    return _sources(uv, named, result, path, collector)


def _sources(
    uv: dict[str, Any], named: dict[str, Any], result: Imported, path: Path, collector: _Collector
) -> Imported:
    """``result`` with uv's explicit-index pins as ``[pypi] sources``. Every other source for
    an imported requirement must mean nothing mlenv's order does not: an index source is
    faithful only when that index is the first one mlenv consults."""
    sources = uv.get("sources") if isinstance(uv.get("sources"), dict) else {}
    wanted = {canonicalize_name(Requirement(line).name) for line in result.pypi}
    first = index_order(result.index_url or _PYPI, result.extra_index_urls)[0]
    pinned: dict[str, str] = {}
    for name, source in (sources or {}).items():
        if canonicalize_name(name) not in wanted:
            continue
        where = f"{path}: [tool.uv.sources] {name}"
        if isinstance(source, list):
            collector.fail(
                where,
                f"uv chooses among {len(source)} sources for {name} by marker; mlenv.toml has "
                "one set of indexes for every package and platform",
                "keep the one source for your Linux target, its index listed first",
            )
            continue
        index = source.get("index") if isinstance(source, dict) else None
        if index is None or set(source) - {"index", "marker", "extra", "group"}:
            hint = "publish it to an index and name that index in [[tool.uv.index]]"
            collector.fail(where, f"uv takes {name} from {source!r}, which mlenv cannot lock", hint)
            continue
        entry = named.get(str(index))
        if entry is None:
            collector.fail(where, f"names the index {index!r}, which no [[tool.uv.index]] defines")
            continue
        url = str(entry["url"]).rstrip("/")
        if entry.get("explicit"):
            if conditions := sorted(set(source) & {"marker", "extra", "group"}):
                collector.fail(
                    where,
                    f"uv takes {name} from the explicit index {index!r} ({url}) only for some "
                    f"{', '.join(conditions)}; mlenv's [pypi] sources hold for every platform",
                    f"drop the {conditions[0]} to take {name} from {url} everywhere, or keep "
                    "the source your Linux target needs",
                )
            else:
                pinned[canonicalize_name(name)] = url
        elif url != first:
            collector.fail(
                where,
                f"uv takes {name} only from {url}, but mlenv would take it from {first}, "
                "the first index that lists it",
                f"list [[tool.uv.index]] {index!r} first",
            )
    return replace(result, sources=tuple(sorted(pinned.items()))) if pinned else result
