"""The mlenv.toml `mlenv init --from` writes: the starter manifest holding what was imported."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomlkit

from mlenv.importers import Imported
from mlenv.manifest import loads
from mlenv.templates import starter_manifest


def manifest_text(
    imported: Imported,
    *,
    name: str,
    python: str,
    cuda: tuple[str, str] | None,
    source: str,
    base: Path,
) -> str:
    """The starter manifest holding what was imported, validated as a whole; local find-links
    directories are written relative to ``base``, the manifest's directory."""
    doc = tomlkit.parse(starter_manifest(name, python, cuda))
    if imported.platforms:
        doc["environment"]["platforms"] = list(imported.platforms)
    pypi: Any = doc["pypi"]
    if imported.index_url is not None:
        pypi["index-url"] = imported.index_url
    pypi["extra-index-urls"].extend(imported.extra_index_urls)
    if imported.extra_index_urls:
        # pip's rule, which the imported file was written for
        pypi["index-strategy"] = tomlkit.item("best-match").comment("pip's rule, as imported")
    pypi["find-links"].extend(_relative(link, base) for link in imported.find_links)
    pypi["dependencies"].extend(_quoted(r) for r in imported.pypi)
    if imported.conda:
        conda = tomlkit.table()
        conda["channels"] = list(imported.channels)
        conda["dependencies"] = [_quoted(spec) for spec in imported.conda]
        doc["conda"] = conda
    text = tomlkit.dumps(doc)
    loads(text, source)
    return text


def _quoted(value: str) -> Any:
    """Markers are full of double quotes: a literal string reads better when it can be one."""
    return tomlkit.string(value, literal='"' in value and "'" not in value)


def _relative(link: str, base: Path) -> str:
    if "://" in link or not Path(link).is_absolute():
        return link
    return os.path.relpath(link, base.resolve())
