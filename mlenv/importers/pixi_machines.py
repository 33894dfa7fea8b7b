"""What a pixi workspace says of the machines it runs on, carried into mlenv.toml: the glibc
(``[environment] glibc``) and the CUDA their driver supports (a floor for the CUDA target).

pixi declares both as virtual packages, on a rich platform entry (``{ platform = "linux-64",
cuda = "12.0", glibc = "2.31" }``) or in the deprecated ``[system-requirements]`` table it
migrates onto every platform (``libc = "2.28"``, ``libc = { family = "glibc", version =
"2.28" }``, ``cuda = "12"``); a feature's table joins the workspace's, the highest version
of each kept, as pixi merges them. mlenv.toml holds one glibc and one CUDA target for all its
platforms: the oldest of the imported Linux entries is taken, as they are the machines'
floors. Pure: ``importers.pixi`` passes what it read and reports the notes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlenv.importers.pixi_platforms import Platform

_DEFAULT_GLIBC = "2.28"  # what pixi assumes for a Linux subdir unless told (and mlenv)
_VERSION = re.compile(r"\d+(?:\.\d+)*")


@dataclass(frozen=True)
class Machines:
    """The glibc and driver CUDA (where, version) to write, and what could not be."""

    glibc: str | None
    cuda: tuple[str, str] | None
    notes: tuple[str, ...]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _libc(value: object, where: str, notes: list[str]) -> str | None:
    """``libc = "2.28"`` or ``{ family = "glibc", version = "2.28" }``: the glibc, if it is."""
    table = value if isinstance(value, dict) else {"version": value}
    family, version = str(table.get("family", "glibc")), str(table.get("version", ""))
    if family.lower() != "glibc":
        notes.append(f"{where} libc = {value!r}: mlenv builds glibc images; not imported")
        return None
    return version


def _cuda(value: str) -> str:
    """pixi's ``cuda = "12"`` is CUDA 12.0, as a conda version compares; a driver that runs
    12.4.1 runs 12.4, the major.minor mlenv's CUDA target holds."""
    if not _VERSION.fullmatch(value):
        return value  # named by _oldest
    return ".".join([*value.split("."), "0"][:2])


def read_machines(
    entries: Sequence[Platform], platforms: Sequence[str],
    requirements: Sequence[tuple[str, dict[str, Any]]], listed: str,
) -> Machines:  # fmt: skip
    """The floors of the imported Linux entries (``platforms``), each entry's own virtual
    packages over the ``[system-requirements]`` tables (``requirements``: where, table);
    ``listed`` names the workspace's ``platforms`` in notes."""
    notes: list[str] = []
    glibc: list[tuple[str, str]] = []  # (where, version) from [system-requirements]
    cuda: list[tuple[str, str]] = []
    for where, table in requirements:
        if "libc" in table and (found := _libc(table["libc"], where, notes)) is not None:
            glibc.append((f"{where} libc", found))
        if "cuda" in table:
            cuda.append((f"{where} cuda", _cuda(str(table["cuda"]))))
    base_glibc, base_cuda = _highest(glibc), _highest(cuda)
    per_glibc: list[tuple[str, str]] = []  # (where, version) for each imported entry
    per_cuda: list[tuple[str, str]] = []
    without: list[str] = []  # entries declaring no CUDA (a CPU variant)
    for entry in (e for e in entries if e.subdir in platforms):
        declared = dict(entry.packages)
        where = f"{listed} {entry.label}"
        said = (f"{where} glibc", declared["__glibc"]) if "__glibc" in declared else base_glibc
        per_glibc.append(said or (f"pixi's default for {entry.subdir}", _DEFAULT_GLIBC))
        said = (f"{where} cuda", _cuda(declared["__cuda"])) if "__cuda" in declared else base_cuda
        if said is not None:
            per_cuda.append(said)
        else:
            without.append(entry.label)
    told = glibc or any("__glibc" in dict(entry.packages) for entry in entries)
    oldest_glibc = _oldest(per_glibc, "glibc", notes) if told else None
    oldest_cuda = _oldest(per_cuda, "CUDA", notes)
    where_cuda = next((w for w, v in per_cuda if v == oldest_cuda), "")
    if oldest_cuda is not None:
        notes.append(f"{where_cuda} = {oldest_cuda!r}: the CUDA the machines' driver runs, "
                     "a floor of the CUDA target")  # fmt: skip
        if without:
            notes.append(f"{', '.join(without)} declare(s) no CUDA: the CUDA target is the "
                         "other entries'; pass --cuda to choose")  # fmt: skip
    if oldest_glibc is not None:
        where = next(w for w, v in per_glibc if v == oldest_glibc)
        notes.append(f"{where} = {oldest_glibc!r}: written as [environment] glibc")
    return Machines(
        oldest_glibc, None if oldest_cuda is None else (where_cuda, oldest_cuda), tuple(notes)
    )


def _highest(found: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The highest of the tables' versions, as pixi keeps when features declare several."""
    plain = [said for said in found if _VERSION.fullmatch(said[1])]
    if plain:
        return max(plain, key=lambda said: _key(said[1]))
    return found[-1] if found else None  # not a version: named by _oldest


def _oldest(found: list[tuple[str, str]], what: str, notes: list[str]) -> str | None:
    """The oldest version declared, as the floor of every machine; one that is not a plain
    version is named in a note and left out."""
    plain = [(where, v) for where, v in found if _VERSION.fullmatch(v)]
    for where, version in found:
        if not _VERSION.fullmatch(version):
            notes.append(f"{where} = {version!r}: not a plain {what} version; not imported")
    if not plain:
        return None
    versions = sorted({v for _, v in plain}, key=_key)
    if len(versions) > 1:
        notes.append(f"the Linux platforms declare {what} {', '.join(versions)}: mlenv.toml "
                     f"holds one for all of them, the oldest ({versions[0]})")  # fmt: skip
    return versions[0]
