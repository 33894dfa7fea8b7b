"""Where the installer puts a conda package's files and scripts, by what the package says of
itself: its ``info/index.json``, a noarch python package's layout, its entry points and the
link scripts conda would run (security invariant 6)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mlenv.install.safety import entry_point_problem

LINK = "info/link.json"
# What rattler trims around an entry point's name (Rust's str::trim: Unicode White_Space):
# Python's whitespace less the separators U+001C-U+001F. str.strip() took those too, so
# "tool\x1c = tool:main" was judged and claimed as bin/tool and rattler wrote bin/tool\x1c.
_RATTLER_TRIMS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# conda's link scripts: bin/.NAME-pre-link.sh, -post-link.sh, -pre-unlink.sh
_LINK_SCRIPT = re.compile(r"bin/\.[^/]+-(?:pre-link|post-link|pre-unlink)\.sh")


def installed(member: str, noarch_python: bool, python_site: str) -> str:
    """Where the installer puts a member: a noarch python package's ``site-packages/`` go to the
    environment's site-packages and its ``python-scripts/`` to ``bin/``, as conda and rattler
    lay them out."""
    if noarch_python:
        for archived, placed in (("site-packages", python_site), ("python-scripts", "bin")):
            if member == archived or member.startswith(f"{archived}/"):
                return placed + member[len(archived) :]
    return member


def link_scripts(members: Iterable[str], noarch_python: bool, python_site: str) -> list[str]:
    """What conda runs at install or removal and mlenv never runs, by installed path: a
    noarch python package ships its ``bin/`` scripts in ``python-scripts/``."""
    placed = (installed(member, noarch_python, python_site) for member in members)
    return sorted(path for path in placed if _LINK_SCRIPT.fullmatch(path))


def entry_point_scripts(document: object) -> tuple[list[str], str | None]:
    """The ``bin/<name>`` of each entry point ``info/link.json`` gives a noarch python package,
    each judged like a wheel's console script, or why one cannot be installed."""
    noarch = document.get("noarch") if isinstance(document, dict) else None
    if not isinstance(noarch, dict) or noarch.get("type") != "python":
        return [], None
    scripts: list[str] = []
    entries = noarch.get("entry_points", [])
    for entry in entries if isinstance(entries, list) else [entries]:
        name, equals, value = entry.partition("=") if isinstance(entry, str) else ("", "", "")
        name, value = name.strip(_RATTLER_TRIMS), value.strip(_RATTLER_TRIMS)
        problem = entry_point_problem(name, value) if equals else None
        if not equals or problem:
            return scripts, problem or f"lists {entry!r}, not name = module:function"
        scripts.append(f"bin/{name}")
    return scripts, None


def read_index(document: object, filename: str) -> tuple[bool, str | None]:
    """Whether ``info/index.json`` makes the package noarch python (rattler lays it out by this,
    not by the locked record), and why it cannot be installed as ``filename``: its name,
    version and build must be the file's (the lock's), as a channel indexes them. rattler
    panicked on another name (an internal error), and installed another version or build."""
    fields = document if isinstance(document, dict) else {}
    stem = filename.removesuffix(".tar.bz2").removesuffix(".conda")
    says = tuple(fields.get(key) for key in ("name", "version", "build"))
    if says != tuple(stem.rsplit("-", 2)):
        shown = "-".join(map(str, says))
        return False, f"names the package {shown!r} (name-version-build), not {stem!r}"
    return fields.get("noarch") == "python", None
