"""pixi's ``pypi-options``, laid over each other as pixi merges an environment's features, and
its ``dependency-overrides`` as mlenv's ``[pypi] overrides`` (``mlenv init --from``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlenv.importers.core import _Collector
from mlenv.manifest_requirements import requirement_problem


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def pypi_options(layers: Sequence[object]) -> dict[str, Any]:
    """pixi's pypi-options of the environment: ``[workspace.pypi-options]`` (every
    environment's base), then the default feature's ``[pypi-options]`` and each selected
    feature's laid over it, a single value replaced and a list (indexes, find-links) merged."""
    merged: dict[str, Any] = {}
    for layer in map(_table, layers):
        for key, value in layer.items():
            if key in ("extra-index-urls", "find-links") and isinstance(value, list):
                merged[key] = [*merged.get(key, []), *value]
            elif key == "dependency-overrides" and isinstance(value, dict):
                merged[key] = {**_table(merged.get(key)), **value}  # a feature's per package
            else:
                merged[key] = value
    return merged


def dependency_overrides(table: object, where: str, collector: _Collector) -> tuple[str, ...]:
    """pixi's ``dependency-overrides`` (uv's override-dependencies, by package) as mlenv's
    ``[pypi] overrides``; an override that changes a package's index is refused."""
    overrides: list[str] = []
    for name, spec in _table(table).items():
        version = spec.get("version", "*") if isinstance(spec, dict) else spec
        if (isinstance(spec, dict) and set(spec) - {"version"}) or not isinstance(version, str):
            collector.fail(f"{where} {name}", f"cannot read {spec!r} as an override mlenv holds",
                           'write a version spec such as ">=2.0"; for an index, add [pypi] '
                           "sources to mlenv.toml after the import")  # fmt: skip
            continue
        line = f"{name}{'' if version.strip() in ('*', '') else version.strip()}"
        if (said := requirement_problem(line)) is not None:
            collector.fail(f"{where} {name}", f"{line!r}: {said}")
            continue
        overrides.append(line)
    return tuple(overrides)
