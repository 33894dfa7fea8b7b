"""`mlenv add` and `mlenv remove`: change the dependency lists of ``mlenv.toml`` as text.

The file is the user's: it is edited through tomlkit's document model so every comment, blank
line, key order and quoting style outside the touched array items survives byte for byte. The
result is validated as a whole manifest before anyone writes it; this module never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import tomlkit
import tomlkit.exceptions
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.items import Array, StringType
from tomlkit.items import String as TomlString

from mlenv import hints, toml_items
from mlenv.conda.records import conda_name, match_spec_name
from mlenv.errors import MlenvError
from mlenv.manifest import Manifest
from mlenv.manifest_read import loads
from mlenv.names import PROJECT_NAME
from mlenv.target import Target

Section = Literal["pypi", "conda"]


class EditError(MlenvError):
    """A requested change to the manifest cannot be made as asked."""


@dataclass(frozen=True)
class Edit:
    """One change to one dependency list: added (old None), removed (new None) or replaced."""

    section: Section
    old: str | None
    new: str | None

    def __str__(self) -> str:
        where = f"[{self.section}].dependencies"
        if self.old is None:
            return f"+ {self.new!r} to {where}"
        if self.new is None:
            return f"- {self.old!r} from {where}"
        return f"~ {self.old!r} -> {self.new!r} in {where}"


@dataclass(frozen=True)
class Edited:
    """The new manifest text, already validated, and what changed to get there."""

    text: str
    manifest: Manifest
    edits: tuple[Edit, ...]
    names: tuple[str, ...]  # the added or replaced packages, as their section compares names


def spec_name(spec: str, section: Section, *, where: str = "") -> str:
    """The package name a dependency string is about, as its section compares names (PEP 503,
    or ``conda_name``); what add/remove match on."""
    if section == "conda":
        name = match_spec_name(spec)
        if name is None:
            raise EditError(
                f"{spec!r} is not a conda match spec",
                where=where or spec,
                hint='write a name and an optional version, e.g. "libgomp >=12"',
            )
        return conda_name(name)
    try:
        return canonicalize_name(Requirement(spec).name)
    except InvalidRequirement as exc:
        raise EditError(
            f"{spec!r} is not a PEP 508 requirement ({str(exc).splitlines()[0]})",
            where=where or spec,
            hint=hints.requirement(spec),
        ) from None


def add(
    text: str,
    specs: Sequence[str],
    *,
    source: str = "mlenv.toml",
    conda: bool = False,
    platform: str | None = None,
) -> Edited:
    """``text`` with each spec added to its list, replacing an entry for the same name."""
    current = loads(text, source)
    section: Section = "conda" if conda else "pypi"
    if platform is not None and conda:
        raise EditError(
            "--platform limits PyPI requirements by a marker; conda specs have none",
            where="command line",
            hint="conda dependencies apply to every platform of the manifest",
        )
    if platform is not None:
        specs = [_for_platform(s, platform, current, source) for s in specs]
    wanted: dict[str, str] = {}
    for spec in specs:
        wanted[spec_name(spec, section, where="command line")] = spec.strip()
    doc = _parse(text, source)
    array = _ensure_dependencies(doc, section)
    edits: list[Edit] = []
    for name, spec in wanted.items():
        positions = _positions(array, name, section)
        if not positions:
            array.append(_like(array, spec))
            edits.append(Edit(section, None, spec))
            continue
        first, *others = positions
        if str(array[first]) != spec:
            edits.append(Edit(section, str(array[first]), spec))
            array[first] = _like(array, spec)
        for position in reversed(others):
            edits.append(Edit(section, str(array[position]), None))
            del array[position]
    return _result(doc, source, edits, tuple(wanted))


def remove(text: str, names: Sequence[str], *, source: str = "mlenv.toml") -> Edited:
    """``text`` without any PyPI or conda entry for the named packages."""
    loads(text, source)
    doc = _parse(text, source)
    edits: list[Edit] = []
    missing = []
    for raw in names:
        found = False
        keyed: tuple[tuple[Section, str], ...] = (
            ("pypi", canonicalize_name(raw)),
            ("conda", conda_name(raw)),
        )
        for section, name in keyed:
            array = _dependencies(doc, section)
            if array is None:
                continue
            for position in reversed(_positions(array, name, section)):
                edits.append(Edit(section, str(array[position]), None))
                del array[position]
                found = True
        if not found:
            missing.append(raw)
    if missing:
        raise EditError(
            f"not in the manifest: {', '.join(missing)}; nothing was changed",
            where=f"{source}: [pypi].dependencies, [conda].dependencies",
            hint=_remove_hint(missing),
        )
    return _result(doc, source, edits, ())


def _remove_hint(missing: Sequence[str]) -> str:
    """`mlenv remove` takes names: a spec (``torch>=2``, as `uv remove` refuses it too) is
    answered with the name it is about."""
    for raw in missing:
        if not PROJECT_NAME.fullmatch(raw):
            try:
                name = Requirement(raw).name
            except InvalidRequirement:
                continue
            return f"remove takes package names, not specs: mlenv remove {name}"
    return "`mlenv show --json` lists the dependencies as mlenv reads them"


def _parse(text: str, source: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:  # tomllib accepted it: a tomlkit gap
        raise EditError(
            f"cannot edit this manifest while keeping its formatting: {exc}",
            where=source,
            hint="edit the file by hand, or report the file that tomlkit cannot read",
        ) from None


def _dependencies(doc: tomlkit.TOMLDocument, section: Section) -> Array | None:
    """The document's ``[section].dependencies`` array, if it has one."""
    table = doc.get(section)
    array = None if table is None else table.get("dependencies")
    if array is not None:
        assert isinstance(array, Array)  # the manifest was validated: an array of strings
    return array


def _ensure_dependencies(doc: tomlkit.TOMLDocument, section: Section) -> Array:
    """The ``[section].dependencies`` array, created empty (and its table) when missing."""
    if section not in doc:
        doc[section] = tomlkit.table()
    array = _dependencies(doc, section)
    if array is None:
        array = tomlkit.array()
        doc[section]["dependencies"] = array
    return array


def _positions(array: Array, name: str, section: Section) -> list[int]:
    return [i for i, item in enumerate(array) if spec_name(str(item), section) == name]


def _like(array: Array, value: str) -> TomlString:
    """A new item quoted like the list's existing ones: literal 'x' only if all of them are
    and the value can be written that way."""
    literal = len(array) > 0 and all(
        isinstance(i, TomlString) and i.type == StringType.SLL for i in array
    )
    return toml_items.item(value, literal=literal)


def _for_platform(spec: str, platform: str, manifest: Manifest, source: str) -> str:
    """``spec`` limited to one of the manifest's platforms by a platform_machine marker."""
    if platform not in manifest.environment.platforms:
        raise EditError(
            f"the manifest does not target {platform!r}",
            where=f"{source}: [environment].platforms",
            hint=f"platforms here: {', '.join(manifest.environment.platforms)}",
        )
    spec_name(spec, "pypi", where="command line")
    requirement = Requirement(spec)
    machine = f'platform_machine == "{Target(platform, manifest.environment.python).machine}"'
    bare = spec.split(";", 1)[0].strip()
    if requirement.marker is None:
        return f"{bare}; {machine}"
    return f"{bare}; ({requirement.marker}) and {machine}"


def _result(
    doc: tomlkit.TOMLDocument, source: str, edits: list[Edit], names: tuple[str, ...]
) -> Edited:
    text = tomlkit.dumps(doc)
    return Edited(text, loads(text, source), tuple(edits), names)
