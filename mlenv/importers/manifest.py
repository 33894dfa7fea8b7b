"""The mlenv.toml `mlenv init --from` writes: the starter manifest holding what was imported,
with the CUDA target guessed from it.

The CUDA target is guessed from the requirements by the same extraction the lock uses
(``torch==2.5.1+cu124`` -> 12.4, a conda build's ``cuda12.1``), with the driver floor that
toolkit needs from ``mlenv/data/cuda.json``."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import Requirement

from mlenv import toml_items
from mlenv.cuda.driver_cuda import floor_driver
from mlenv.cuda.matrix import min_driver
from mlenv.cuda.tags import CudaNeed, extract, extract_conda
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.importers.conda import conda_parts
from mlenv.importers.core import Imported, ImportFileError
from mlenv.importers.pins import clashes
from mlenv.manifest_read import loads
from mlenv.manifest_requirements import once
from mlenv.target import Target
from mlenv.templates import starter_manifest

_PYTORCH_INDEX = re.compile(r"download\.pytorch\.org/whl/cu(?P<major>\d{2})(?P<minor>\d)/?$")


@dataclass(frozen=True)
class CudaGuess:
    version: str
    driver_floor: str
    because: str
    floor_because: str = ""  # a package's __cuda floor that raised the driver floor, if any


def guess_cuda(imported: Imported) -> CudaGuess | None:
    """The newest CUDA toolkit an exact pin needs, with that toolkit's minimum driver."""
    found: list[tuple[CudaVersion, str]] = []
    floors: list[tuple[CudaNeed, str]] = []  # __cuda floors a conda-lock file recorded
    for text in imported.pypi:
        requirement = Requirement(text)
        for spec in requirement.specifier:
            if spec.operator in ("==", "===") and "*" not in spec.version:
                need = extract(requirement.name, spec.version)
                if need is not None and not need.major_only:
                    found.append((need.cuda, text))
    for text in imported.conda:
        name, version, build = conda_parts(text)
        version = re.sub(r"\.\*$", "", version)  # pytorch-cuda=12.1 is 12.1.*
        if re.match(r"^\d+(\.\d+)+$", version) or build:
            depends = tuple(spec for pinned, spec in imported.cuda_floors if pinned == text)
            try:
                need = extract_conda(name, version, build, depends, ())
            except CudaError:
                continue
            floor = need and (need if need.driver_only else need.driver_cuda)
            if floor is not None:  # the driver must report that CUDA (cuda.md §4)
                floors.append((floor, text))
            if need is not None and not need.major_only and not need.driver_only:
                found.append((need.cuda, text))
    for url in (imported.index_url or "", *imported.extra_index_urls,
                *(url for _, url in imported.sources)):  # fmt: skip
        if match := _PYTORCH_INDEX.search(url):
            found.append((CudaVersion.parse(f"{match['major']}.{match['minor']}"), url))
    if imported.driver_cuda is not None:  # pixi's __cuda: the driver the machines run
        where, said = imported.driver_cuda
        with contextlib.suppress(CudaError):  # not a CUDA version: no floor from it
            declared = CudaVersion.parse(said, where=where)
            floors.append((CudaNeed(declared, False, "__cuda", said, where), f"{where} = {said!r}"))
            if not found:  # no pin names a toolkit: the newest the declared driver runs
                found.append((declared, f"{where} = {said!r}"))
    if not found:
        return None
    cuda, because = max(found)
    try:
        guess = CudaGuess(str(cuda), str(min_driver(cuda)), because)
    except CudaError:
        return None
    for floor, text in floors:
        raised = floor_driver(floor)
        if raised is not None and raised[0] > DriverVersion.parse(guess.driver_floor):
            said = f"{text} asks for a driver that supports CUDA {floor.cuda} ({raised[1]})"
            guess = CudaGuess(guess.version, str(raised[0]), because, said)
    return guess


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
    if imported.glibc is not None:
        doc["environment"]["glibc"] = tomlkit.item(imported.glibc).comment("as imported")
    pypi: Any = doc["pypi"]
    if imported.index_url is not None:
        pypi["index-url"] = imported.index_url
    pypi["extra-index-urls"].extend(dict.fromkeys(imported.extra_index_urls))
    if imported.index_strategy is not None:
        pypi["index-strategy"] = tomlkit.item(imported.index_strategy).comment("as imported")
    elif imported.extra_index_urls:
        # pip's rule, which the imported file was written for
        pypi["index-strategy"] = tomlkit.item("best-match").comment("pip's rule, as imported")
    pypi["find-links"].extend(dict.fromkeys(_relative(link, base) for link in imported.find_links))
    # beside the index settings, before the dependencies
    settings = {"prerelease": imported.prerelease, "exclude-newer": imported.exclude_newer}
    if written := {key: value for key, value in settings.items() if value is not None}:
        dependencies = pypi["dependencies"]
        del pypi["dependencies"]
        for key, value in written.items():
            pypi[key] = tomlkit.item(value).comment("as imported")
        pypi["dependencies"] = dependencies
    if imported.sources:
        pinned = tomlkit.inline_table()
        pinned.update(dict(imported.sources))
        pypi["sources"] = pinned
    # a line repeated (base.txt and dev.txt both list numpy, or NumPy) means it once, for pip
    # and conda
    if imported.pypi:  # the starter's commented example goes: these are the dependencies
        requirements = tomlkit.array()
        requirements.extend(_quoted(r) for r in once(imported.pypi))
        pypi["dependencies"] = requirements.multiline(True)
    for key, listed in (("constraints", imported.constraints), ("overrides", imported.overrides)):
        if listed:
            pypi[key] = [_quoted(r) for r in once(listed)]
    if imported.conda:
        conda = tomlkit.table()
        conda["channels"] = list(imported.channels)
        conda["dependencies"] = [_quoted(spec) for spec in dict.fromkeys(imported.conda)]
        doc["conda"] = conda
    text = tomlkit.dumps(doc)
    targets = Target.for_environment(loads(text, source).environment)
    if refused := clashes(imported.collisions, targets):  # known only now: the Python chosen
        raise ImportFileError(
            f"{source}: {len(refused)} requirement(s) contradict another on its targets", refused
        )
    return text


def _quoted(value: str) -> Any:
    """Markers are full of double quotes: a literal string reads better when it can be one. A
    literal string has no escapes, so one holding a control character (an environment.yml's
    ``numpy "1.0"\x7f``) is a basic string: tomlkit raised, and init exited 2."""
    return toml_items.item(value, literal='"' in value)


def _relative(link: str, base: Path) -> str:
    if "://" in link or not Path(link).is_absolute():
        return link
    return os.path.relpath(link, base.resolve())
