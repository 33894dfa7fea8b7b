"""`mlenv init --from` for conda's files: environment.yml and conda-lock.yml.

A spec is written in the strict MatchSpec form the lock parses (``conda env export``'s
``numpy=1.26.4=py311h64a7726_0`` becomes ``numpy ==1.26.4 py311h64a7726_0``), the channel list
means what conda means by it (``defaults`` is Anaconda's channels, ``nodefaults`` is not a
channel), and a conda-lock file gives the exact builds of its Linux platform.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mlenv.errors import Problem
from mlenv.importers.core import (
    Imported,
    ImportFileError,
    _Collector,
    _pip_lines,
    _read,
    refuse_variable,
)

# conda's own expansion of `defaults` on Linux (conda's default_channels)
DEFAULTS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
_LINUX = ("linux-64", "linux-aarch64")  # the platforms an mlenv manifest can name
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
# [channel[/subdir]::]name=version=build, the form `conda env export` writes; conda reads
# name==version=build the same way (the build follows the last `=`)
_EXPORTED = re.compile(
    rf"^(?P<prefix>(?:[^\s:=]+::)?)(?P<name>{_NAME})==?(?P<version>[^\s=<>!~,|]+)=(?P<build>[^\s=]+)$"
)
_SPEC = re.compile(
    rf"^(?:[^\s:=\[]+::)?(?P<name>{_NAME})"
    r"(?:\[(?P<brackets>[^\]]*)\])?\s*(?P<version>[^\s\[]*)\s*(?P<build>\S*)$"
)


def _yaml(path: Path) -> Any:
    """The YAML document, without aliases: a few lines of nested aliases expand to billions
    of items when printed or walked (conda's files never use them). Invariant 7. A key given
    twice is refused, as conda's YAML reader does: the last would silently replace the first."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, "aliases are not read", mark)
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, str | int | float | bool) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return _read(path, lambda text: yaml.load(text, NoAliases), (yaml.YAMLError,))


def _python_minor(version: str) -> str | None:
    """The CPython minor a conda spec pins: ``3.12``, ``=3.12.4``, ``3.12.*`` and ``3.12*``
    (a glob pixi's examples write; conda and rattler match it by version segment, 3.12.x)."""
    match = re.match(r"^[=\s]*(3\.\d+)(\.[\d*]+)*\*?$", version)
    return match[1] if match else None


def pin(name: str, version: str, build: str = "", prefix: str = "") -> str:
    """``name ==version build`` in the strict MatchSpec syntax the lock reads; a build string
    with a dot (``py3.10_cuda12.1_cudnn8.9.2_0``) only parses in the bracket form."""
    exact = version if "*" in version else f"=={version}"
    if not build or re.fullmatch(r"[A-Za-z0-9_*]+", build):
        return f"{prefix}{name} {exact} {build}".strip()
    return f'{prefix}{name}[version="{exact}", build="{build}"]'


def conda_spec(spec: str) -> str:
    """An environment.yml spec as the lock reads it, meaning what conda means by it."""
    match = _EXPORTED.match(spec)
    if match is None:
        return spec
    return pin(match["name"], match["version"], match["build"], match["prefix"])


def conda_parts(spec: str) -> tuple[str, str, str]:
    """(name, exact-or-fuzzy version, build) of a spec as ``conda_spec`` writes them."""
    exported = _EXPORTED.match(spec)
    if exported is not None:
        return exported["name"], exported["version"], exported["build"]
    match = _SPEC.match(spec.strip())
    if match is None:
        return "", "", ""
    version, build = match["version"], match["build"]
    for key, value in re.findall(r'(\w+)\s*=\s*"([^"]*)"', match["brackets"] or ""):
        version, build = (value, build) if key == "version" else (version, value)
    return match["name"], version.lstrip("="), build


def _channels(raw: Sequence[Any], where: str, tool: str, collector: _Collector) -> tuple[str, ...]:
    """conda's meaning of the list: ``nodefaults`` only removes ``defaults``, and ``defaults``
    is Anaconda's main and r channels. conda expands ``$VAR`` and ``${VAR}`` in each channel
    (``env.from_yaml``: ``os.path.expandvars``), as conda-lock does its credentials, which a
    manifest cannot."""
    channels: list[str] = []
    for position, channel in enumerate(str(c).strip() for c in raw):
        if variable := re.search(r"\$(\w+|\{[^}]*\})", channel):
            refuse_variable(collector, f"{where}[{position}]", tool, variable[0])
            continue
        if channel == "nodefaults":
            continue
        if channel == "defaults":
            collector.notes.append(
                "channel defaults is written as Anaconda's channels (" + ", ".join(DEFAULTS) + "): "
                "check that Anaconda's terms of service allow your use"
            )
        for url in DEFAULTS if channel == "defaults" else (channel,):
            if url not in channels:
                channels.append(url)
    return tuple(channels)


def _text(value: object, where: str, collector: _Collector) -> str | None:
    """A YAML scalar that must be text: unquoted, ``1.10`` is the float 1.1 and ``yes`` is
    True, so ``str()`` would import another spec or version. conda's MatchSpec and
    conda-lock's schema refuse a non-string too; the hint says how to keep the letters."""
    if isinstance(value, str):
        return value
    kind = {bool: "boolean", int: "integer", float: "number"}.get(type(value), "value")
    collector.fail(where, f"unquoted, YAML reads this as the {kind} {value!r}, not as the text "
                   "written (1.10 is 1.1, yes is True)", "quote it: '1.10'")  # fmt: skip
    return None


def read_environment_yml(path: Path) -> Imported:
    """channels, conda dependencies and the ``pip:`` list (pip's own syntax, options too)."""
    data = _yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        raise ImportFileError(
            f"{path}: not a conda environment file",
            [Problem(str(path), "expected a mapping with a dependencies list",
                     "see conda's environment.yml format; a conda-lock file must be named "
                     "conda-lock.yml or NAME.conda-lock.yml")],
        )  # fmt: skip
    collector = _Collector(roots=(Path(os.path.normpath(path.absolute().parent)),))
    raw_channels = data.get("channels") or []
    if not isinstance(raw_channels, list):
        collector.fail(f"{path}: channels", "must be a list of channels")
        raw_channels = []
    result = Imported(channels=_channels(raw_channels, f"{path}: channels", "conda", collector))
    conda: list[str] = []
    python, python_range = None, None
    pip_at = None  # conda keeps the last pip: list only (Dependencies.parse: dict.update)
    for position, item in enumerate(data["dependencies"]):
        where = f"{path}: dependencies[{position}]"
        if isinstance(item, dict) and set(item) == {"pip"} and pip_at is not None:
            collector.fail(where, f"a second pip: list: conda installs this one alone, not the "
                           f"one at {pip_at}", "merge the pip: lists into one")  # fmt: skip
        pip_at = where if isinstance(item, dict) and set(item) == {"pip"} else pip_at
        if isinstance(item, dict) and set(item) == {"pip"} and isinstance(item["pip"], list):
            texts = ((f"{where}.pip[{i}]", line) for i, line in enumerate(item["pip"]))
            lines = ((at, t) for at, one in texts if (t := _text(one, at, collector)) is not None)
            result = _pip_lines(lines, path, collector, (path.resolve(),), result)
        elif isinstance(item, int | float):
            _text(item, where, collector)
        elif isinstance(item, str) and item.strip():
            spec = conda_spec(item.strip())
            conda.append(spec)
            name, version, _ = conda_parts(spec)
            if name == "python":
                python = _python_minor(version)
                python_range = (f"{where} ({spec})", version) if version else None
        elif isinstance(item, dict) and set(item) == {"pip"}:
            hint = "write each pip requirement on its own `- ` line under `- pip:`"
            collector.fail(where, f"pip: holds {item['pip']!r}, not a list of requirements", hint)
        else:
            collector.fail(where, f"cannot read {item!r} as a dependency")
    if conda and not result.channels:
        collector.fail(f"{path}: channels", "conda dependencies but no channels",
                       "add channels: [conda-forge]")  # fmt: skip
    if data.get("variables"):
        collector.notes.append(f"{path}: variables are not imported; set them in your image")
    collisions = collector.check(str(path))
    # what the pip: lines set (indexes, -c constraints, --pre) stays as they set it
    return replace(
        result,
        collisions=collisions,
        conda=tuple(conda),
        python=python,
        python_range=python_range,
        notes=tuple(dict.fromkeys(collector.notes)),
        name=data["name"] if isinstance(data.get("name"), str) else None,
    )


def _build_of(entry: dict[str, Any], name: str, version: str) -> str:
    """The build string: conda-lock's ``build`` field, or read from the package's file name."""
    if entry.get("build"):
        return str(entry["build"])
    stem = str(entry.get("url") or "").rsplit("/", 1)[-1]
    stem = re.sub(r"(\.tar\.bz2|\.conda)$", "", stem)
    head = f"{name}-{version}-"
    return stem[len(head) :] if stem.startswith(head) else ""


def read_conda_lock(path: Path, groups: Sequence[str] = ()) -> Imported:
    """Every package of the Linux platform of a conda-lock v1 file as an exact pin, conda ones
    with their build; optional categories (``dev``, extras) only when ``groups`` names them."""
    data = _yaml(path)
    metadata = data.get("metadata") if isinstance(data, dict) else None
    packages = data.get("package") if isinstance(data, dict) else None
    if not isinstance(metadata, dict) or not isinstance(packages, list):
        raise ImportFileError(
            f"{path}: not a conda-lock file",
            [Problem(str(path), "expected metadata and package", "use conda-lock's v1 format")],
        )
    version = data.get("version")
    if version != 1:
        raise ImportFileError(
            f"{path}: not a conda-lock v1 file",
            [Problem(f"{path}: version", f"lock format version {version!r} is not read",
                     "mlenv reads conda-lock's version 1 files")],
        )  # fmt: skip
    collector = _Collector()
    platforms = [str(p) for p in metadata.get("platforms") or []]
    chosen = next((p for p in _LINUX if p in platforms), None)
    if chosen is None:
        collector.fail(f"{path}: metadata.platforms", f"no Linux platform is locked: {platforms}",
                       "lock it for linux-64 or linux-aarch64: conda-lock -p linux-64")  # fmt: skip
    channels = _channels(
        [str(c.get("url")) for c in metadata.get("channels") or [] if isinstance(c, dict)],
        f"{path}: metadata.channels",
        "conda-lock",
        collector,
    )
    conda, pypi, python, skipped = [], [], None, set()
    floors: list[tuple[str, str]] = []
    for position, entry in enumerate(packages):
        if not isinstance(entry, dict) or entry.get("platform") != chosen:
            continue
        where = f"{path}: package[{position}]"
        category = str(entry.get("category") or "main")
        if entry.get("optional") and category not in groups:
            skipped.add(category)
            continue
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or version is None:
            collector.fail(where, "has no name or no version", "regenerate it with conda-lock")
            continue
        if (version := _text(version, f"{where}.version", collector)) is None:
            continue
        if entry.get("manager") == "pip":
            pypi.append(f"{name}=={version}")
        else:
            conda.append(pin(name, version, _build_of(entry, name, version)))
            depends = entry.get("dependencies")
            if isinstance(depends, dict) and isinstance(depends.get("__cuda"), str):
                floors.append((conda[-1], f"__cuda {depends['__cuda']}".strip()))
            if name == "python":
                python = _python_minor(version)
    collector.check(str(path))
    notes = [f"every package locked for {chosen} became a pin; mlenv lock keeps them"]
    if len(platforms) > 1:
        notes.append(f"pins come from {chosen}; add the other platforms to the manifest yourself")
    if skipped:
        notes.append(
            f"optional categories not imported: {', '.join(sorted(skipped))}; "
            "pass --group CATEGORY to add one"
        )
    return Imported(
        pypi=tuple(pypi),
        conda=tuple(conda),
        channels=channels,
        python=python,
        platforms=(chosen,) if chosen else (),
        cuda_floors=tuple(floors),
        notes=(*notes, *dict.fromkeys(collector.notes)),
    )
