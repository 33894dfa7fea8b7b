"""pixi's ``[workspace] platforms`` and which of them a ``[target.KEY]`` table is for.

A platform is a conda subdir (``"linux-64"``) or, since pixi's rich platforms, a table naming
its subdir with the virtual packages the solver may assume (``{ name = "gpu", platform =
"linux-64", cuda = "12.0" }``). A target key is read as pixi's ``TargetSelector`` reads it: a
subdir, a family (``linux``, ``unix``, ``win``, ``osx``), a platform's name, or a ``*`` glob of
names. Pure: ``importers_pixi`` reports what these find, naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

# pixi's family selectors and the subdirs each stands for (target.rs, family_name_to_selector)
_FAMILIES = {
    "linux": ("linux-",),
    "unix": ("linux-", "osx-"),
    "win": ("win-",),
    "osx": ("osx-",),
    "macos": ("osx-",),
}
_SUBDIR = re.compile(r"(?:linux|osx|win|emscripten|wasi|zos)-[A-Za-z0-9_]+|noarch")
# what a virtual package assumed by a Linux platform means for mlenv.toml
_ASSUMED = {
    "cuda": "the driver's CUDA (__cuda), not the toolkit's: pass --cuda to choose",
    "glibc": "set [environment] glibc to the oldest glibc of your machines",
}


@dataclass(frozen=True)
class Platform:
    """One entry of ``platforms``: its subdir, what a target key may call it (its subdir and
    its name, if it has one), and the virtual packages it declares (key, value as written)."""

    subdir: str
    names: tuple[str, ...]
    assumed: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return self.names[-1]


def read_platforms(raw: object) -> tuple[list[Platform], list[str]]:
    """The entries of ``platforms``, and each entry that is neither a subdir nor a table with
    a ``platform`` (as written, to be named in a problem)."""
    entries: list[Platform] = []
    unread: list[str] = []
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, str):
            entries.append(Platform(entry, (entry,)))
        elif isinstance(entry, dict) and isinstance(entry.get("platform"), str):
            subdir, name = entry["platform"], entry.get("name")
            names = (subdir, str(name)) if name else (subdir,)
            extra = [(str(k), repr(v)) for k, v in entry.items() if k not in ("platform", "name")]
            entries.append(Platform(subdir, names, tuple(extra)))
        else:
            unread.append(repr(entry))
    return entries, unread


def assumed_notes(entries: Sequence[Platform], where: str) -> list[str]:
    """A note for each virtual package a Linux platform declares: mlenv.toml has no place for
    it, or a key of its own the user sets."""
    return [
        f"{where}: {entry.subdir} assumes {key} = {value}: "
        + _ASSUMED.get(key, "not imported (mlenv.toml has no place for it)")
        for entry in entries
        for key, value in entry.assumed
    ]


def selects(key: str, platform: Platform) -> bool:
    """Whether the table ``[target.KEY]`` is for ``platform``, as pixi matches it."""
    if key in platform.names:
        return True
    if key in _FAMILIES:
        return platform.subdir.startswith(_FAMILIES[key])
    return "*" in key and any(fnmatchcase(name, key) for name in platform.names)


def is_selector(key: str) -> bool:
    """A subdir or family: a key meaning a platform even where the workspace lists none."""
    return key in _FAMILIES or _SUBDIR.fullmatch(key) is not None
