"""pixi's ``[workspace] platforms`` and which of them a ``[target.KEY]`` table is for.

A platform is a conda subdir (``"linux-64"``) or, since pixi's rich platforms, a table naming
its subdir with the virtual packages the solver may assume (``{ name = "gpu", platform =
"linux-64", cuda = "12.0" }``). A target key is read as pixi's ``TargetSelector`` reads it: a
subdir, a family (``linux``, ``unix``, ``win``, ``osx``), a platform's name, or a ``*`` glob of
names. Pure: ``importers.pixi`` reports what these find, naming the key.
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
_ASSUMED = {"cuda": "the driver's CUDA floors the CUDA target; set [cuda] archs for the arch"}


# pixi's friendly keys of a platform entry, in the order its synthesized names use
# (FRIENDLY_VIRTUAL_PACKAGES), and what each key declares
_KEYS = (
    ("__cuda", "cuda"),
    ("__archspec", "archspec"),
    ("__glibc", "glibc"),
    ("__linux", "linux"),
    ("__osx", "macos"),
    ("__win", "windows"),
)
_FRIENDLY = {key: name for name, key in _KEYS} | {"osx": "__osx"}
# what pixi declares for a Linux subdir unless told (subdir_default_virtual_packages), left
# out of a synthesized name
_DEFAULTS = {
    "linux-64": {"__glibc": "2.28", "__linux": "4.18", "__archspec": "x86_64"},
    "linux-aarch64": {"__glibc": "2.28", "__linux": "4.18", "__archspec": "aarch64"},
}


@dataclass(frozen=True)
class Platform:
    """One entry of ``platforms``: its subdir, what a target key may call it (its subdir and
    its name, if it has one), and the virtual packages it declares (key, value as written)."""

    subdir: str
    names: tuple[str, ...]
    assumed: tuple[tuple[str, str], ...] = ()
    packages: tuple[tuple[str, str], ...] = ()  # the virtual packages: (__glibc, 2.31)

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
            subdir, name = entry["platform"], entry.get("name") or synthesized_name(entry)
            names = (subdir, str(name)) if name != subdir else (subdir,)
            extra = [(str(k), repr(v)) for k, v in entry.items() if k not in ("platform", "name")]
            packages = tuple(declared_packages(entry).items())
            entries.append(Platform(subdir, names, tuple(extra), packages))
        else:
            unread.append(repr(entry))
    return entries, unread


def synthesized_name(entry: dict[str, object]) -> str:
    """The name pixi gives an entry written without one (``synthesize_name_string``): its
    subdir, then each virtual package it declares that is not the subdir's default, friendly
    keys first in pixi's order, then raw ``__name`` keys by name, as ``key-value`` with every
    run of other characters made one dash: ``linux-64-cuda-12-0``. A target may use it."""
    subdir = str(entry["platform"])
    declared = declared_packages(entry)
    defaults = _DEFAULTS.get(subdir, {})
    kept = {k: v for k, v in declared.items() if _bare(defaults.get(k, "")) != _bare(v)}
    friendly = [(key, kept.pop(name)) for name, key in _KEYS if name in kept]
    raw = [(key.lstrip("_"), kept[key]) for key in sorted(kept)]
    return "-".join([subdir, *(f"{_dashed(k)}-{_dashed(v)}" for k, v in friendly + raw)])


def declared_packages(entry: dict[str, object]) -> dict[str, str]:
    """The virtual packages a platform entry declares, by conda name: ``cuda = "12.0"`` is
    ``__cuda``, ``cuda = { driver, arch }`` also ``__cuda_arch``, a raw ``__name`` itself."""
    declared: dict[str, str] = {}  # conda name: value as written
    for key, value in entry.items():
        if key == "cuda" and isinstance(value, dict):
            declared["__cuda"] = str(value.get("driver", ""))
            if "arch" in value:
                declared["__cuda_arch"] = str(value["arch"])
        elif key in _FRIENDLY or key.startswith("__"):
            declared[_FRIENDLY.get(key, key)] = str(value).removesuffix("=0")
    return declared


def _dashed(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _bare(version: str) -> str:
    """A version without trailing ``.0`` parts: rattler's 2.28 and 2.28.0 are one version."""
    return re.sub(r"(?:\.0)+$", "", version)


def assumed_notes(entries: Sequence[Platform], where: str) -> list[str]:
    """A note for each virtual package a Linux platform declares: mlenv.toml has no place for
    it, or a key of its own the user sets."""
    return [
        f"{where}: {entry.subdir} assumes {key} = {value}: "
        + _ASSUMED.get(key, "not imported (mlenv.toml has no place for it)")
        for entry in entries
        for key, value in entry.assumed
        # glibc and the driver's CUDA are carried into the manifest (importers.pixi_machines)
        if key != "glibc" and (key != "cuda" or "arch" in value)
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
