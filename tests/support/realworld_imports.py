"""Real projects' requirement files (``data/realworld_imports``, each one's origin in
``SOURCES.json``) and what each says, read here independently of ``mlenv.importers``: pip's
option lines and PEP 508 lines by hand and ``packaging``, TOML by ``tomllib``, YAML by PyYAML.
The tests compare ``mlenv init --from``'s manifest with this reading."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

DATA = Path(__file__).parent / "data" / "realworld_imports"
PYPI = "https://pypi.org/simple"
# what pip's markers see on mlenv's targets: Linux, CPython
LINUX = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}


def sources() -> dict[str, dict[str, str]]:
    """Every stored file: its path here -> repo, path, commit and URL it was copied from."""
    data: dict[str, dict[str, str]] = json.loads((DATA / "SOURCES.json").read_text())
    return data


def key(text: str) -> str:
    """A requirement as packaging normalises it (name, extras, specifier, marker): two
    spellings of one requirement compare equal, a dropped marker or extra does not."""
    requirement = Requirement(text)
    requirement.name = canonicalize_name(requirement.name)
    return str(requirement)


@dataclass
class Said:
    """What a file states, in the terms a manifest can keep."""

    requirements: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    constraints: list[str] = field(default_factory=list)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    pre: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # PEP 503 name -> index URL
    conda: list[str] = field(default_factory=list)  # conda package names
    channels: list[str] = field(default_factory=list)

    def direct_references(self) -> list[tuple[str, str]]:
        """(where, text) of every requirement taken from a URL or git, not an index."""
        return [(w, t) for w, t in self.requirements if Requirement(t).url is not None]


def _pip_lines(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines with pip's comment rule (``#`` at the start or after whitespace) and
    backslash continuations joined, numbered by their first physical line."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = re.split(r"(?:^|\s)#", pending + raw, maxsplit=1)[0].strip()
        pending = ""
        if line:
            yield start, line


def read_pip(path: Path, said: Said | None = None, constraint: bool = False) -> Said:
    """A requirements file with its ``-r`` and ``-c`` includes, as pip reads it."""
    said = said or Said()
    for number, line in _pip_lines(path.read_text()):
        if not line.startswith("-"):
            if constraint:
                said.constraints.append(line)
            else:
                said.requirements.append((f"{path.name}:{number}", line))
            continue
        option = re.split(r"[=\s]", line, maxsplit=1)[0]
        value = line[len(option) :].lstrip("= ").strip()
        if option in ("-r", "--requirement"):
            read_pip(path.parent / value, said, constraint)
        elif option in ("-c", "--constraint"):
            read_pip(path.parent / value, said, constraint=True)
        elif option in ("-i", "--index-url"):
            said.index_url = value
        elif option == "--extra-index-url":
            said.extra_index_urls.append(value)
        elif option in ("-f", "--find-links"):
            said.find_links.append(value)
        elif option == "--pre":
            said.pre = True
        else:
            raise AssertionError(f"{path}:{number}: the test reads no {option}")
    return said


def _own_extras(name: str, optional: dict[str, list[str]], items: Sequence[str]) -> list[str]:
    """``name[extra]`` in the project's own extras, expanded as pip expands ``.[extra]``."""
    out: list[str] = []
    for text in items:
        requirement = Requirement(text)
        if canonicalize_name(requirement.name) != canonicalize_name(name):
            out.append(text)
            continue
        for extra in requirement.extras:
            chosen = {canonicalize_name(k): v for k, v in optional.items()}[
                canonicalize_name(extra)
            ]
            out += _own_extras(name, optional, chosen)
    return out


def read_pyproject(path: Path, extras: Sequence[str] = ()) -> Said:
    """PEP 621 dependencies and the asked extras; uv's explicit indexes named by
    ``[tool.uv.sources]`` for a requirement kept, where the source's marker holds on Linux, and
    Poetry 2's explicit sources named in ``[tool.poetry.dependencies]``."""
    data = tomllib.loads(path.read_text())
    project = data.get("project", {})
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    items = list(project.get("dependencies", []))
    for extra in extras:
        items += optional[extra]
    said = Said()
    said.requirements = [
        (f"{path.name}: [project]", text)
        for text in _own_extras(project.get("name", ""), optional, items)
    ]
    uv = data.get("tool", {}).get("uv", {})
    urls = {index["name"]: index["url"] for index in uv.get("index", []) if index.get("explicit")}
    wanted = {canonicalize_name(Requirement(t).name) for _, t in said.requirements}
    for name, entries in uv.get("sources", {}).items():
        for entry in entries if isinstance(entries, list) else [entries]:
            marker = entry.get("marker")
            holds = marker is None or Requirement(f"x; {marker}").marker.evaluate(LINUX)  # type: ignore[union-attr]
            if canonicalize_name(name) in wanted and holds and entry.get("index") in urls:
                said.sources[canonicalize_name(name)] = urls[entry["index"]].rstrip("/")
    poetry = data.get("tool", {}).get("poetry", {})  # Poetry 2: explicit sources by name
    named = {
        s["name"]: s["url"] for s in poetry.get("source", []) if s.get("priority") == "explicit"
    }
    for name, spec in poetry.get("dependencies", {}).items():
        if (
            canonicalize_name(name) in wanted
            and isinstance(spec, dict)
            and spec.get("source") in named
        ):
            said.sources[canonicalize_name(name)] = named[spec["source"]].rstrip("/")
    return said


def read_environment_yml(path: Path) -> Said:
    """Conda packages (by name), channels and the ``pip:`` section of an environment.yml."""
    data = yaml.safe_load(path.read_text())
    said = Said(channels=list(data.get("channels", [])))
    for item in data.get("dependencies", []):
        if isinstance(item, dict):
            said.requirements += [(f"{path.name}: pip", t) for t in item.get("pip", [])]
        else:
            said.conda.append(re.split(r"[\s=<>!~\[]", str(item), maxsplit=1)[0])
    return said


def read_pixi(path: Path) -> Said:
    """A pixi.toml's default environment on linux-64: conda names, PyPI names with their
    version, and each ``index`` a requirement names."""
    data = tomllib.loads(path.read_text())
    default = data.get("environments", {}).get("default", [])
    features = default if isinstance(default, list) else default.get("features", [])
    said = Said()
    for table in [data, *(data["feature"][name] for name in features)]:
        targets = table.get("target", {})
        for part in (table, *(targets.get(t, {}) for t in ("unix", "linux", "linux-64"))):
            said.conda += [n for n in part.get("dependencies", {}) if n not in said.conda]
            for name, spec in part.get("pypi-dependencies", {}).items():
                said.requirements.append((f"{path.name}: {name}", _pixi_pypi(name, spec)))
                if isinstance(spec, dict) and "index" in spec:
                    said.sources[canonicalize_name(name)] = spec["index"].rstrip("/")
    return said


def _pixi_pypi(name: str, spec: str | dict[str, Any]) -> str:
    """A pixi PyPI entry (``"==1.0"``, ``{ version, extras }``) as a PEP 508 string."""
    table = {"version": spec} if isinstance(spec, str) else spec
    extras = f"[{','.join(table['extras'])}]" if table.get("extras") else ""
    version = table.get("version", "*")
    return f"{name}{extras}{'' if version == '*' else version}"


def conda_python_allows(spec: str, minor: str) -> bool:
    """Whether a conda/pixi ``python`` spec (``3.12*``, ``3.12``, ``>=3.8``, ``<3.12``)
    admits CPython ``minor``."""
    text = re.sub(r"^(3\.\d+)\.?\*?$", r"==\1.*", spec.strip())
    return any(SpecifierSet(text.replace(" ", "")).contains(f"{minor}.{n}") for n in (0, 99))
