"""Exports of the lock for tools users already have: pip requirements and PEP 751 pylock.toml."""

from __future__ import annotations

import posixpath
import re
import shlex
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote

import tomlkit
from packaging.pylock import Pylock, PylockValidationError
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from mlenv.drift import source_of
from mlenv.errors import MlenvError
from mlenv.inputs import manifest_indexes
from mlenv.lockfile import Lock, LockedPackage
from mlenv.pep508 import lenient
from mlenv.platforms import by_name


class ExportError(MlenvError):
    """The lock holds something the chosen format cannot say as it is."""


def requirements_txt(
    lock: Lock, platform: str, manifest_dir: str = ".", manifest_root: str | None = None
) -> str:
    """pip-tools style: installable with ``pip install --require-hashes --no-deps -r``.
    ``manifest_dir``: the manifest's directory as a POSIX path from the file's, which a
    relative find-links directory is rebased on (pip reads it from the file's directory);
    ``manifest_root``: the same directory, absolute, for a directory named with '#'."""
    locked = lock.platform(platform)
    lines = [
        "# Exported by `mlenv export --format requirements` from mlenv.lock",
        f"# for {platform}, CPython {lock.target.python}, glibc {lock.target.glibc}.",
        "# Install: pip install --require-hashes --no-deps -r requirements.txt",
    ]
    target = lock.target
    if target.overrides:  # pip has no overrides: it would hold each wheel to its own METADATA
        lines.append(
            "# The lock applies [pypi] overrides: without --no-deps pip reads each wheel's own "
            "requirements again and refuses or fetches what they replaced."
        )
    if target.indexes:  # recorded in the order first-index asks them: index-url last
        index_url, extra = manifest_indexes(target.indexes)
        urls = [("--index-url", index_url), *(("--extra-index-url", url) for url in extra)]
    else:
        urls = []
    urls += [("--find-links", _link(manifest_dir, manifest_root, p)) for p in target.find_links]
    lines += [] if target.indexes else ["--no-index"]
    lines += [_pip_option(flag, value) for flag, value in urls]
    lines += _source_lines(lock)
    for package in locked.packages:
        lines += [f"# {note}" for note in _notes(package)]
        lines.append(f"{package.name}=={package.version} \\")
        lines.append(f"    --hash=sha256:{package.sha256}")
    return "\n".join(lines) + "\n"


def _from(manifest_dir: str, location: str) -> str:
    """A find-links location as the exported file names it: a URL as it is, a path from the
    manifest's directory rebased on the file's (an absolute path stays itself)."""
    if "://" in location:
        return location
    return posixpath.normpath(posixpath.join(manifest_dir, location))


def _link(manifest_dir: str, manifest_root: str | None, location: str) -> str:
    """A find-links location for a requirements file. uv reads a '#' as a comment's start even
    inside quotes (``--find-links 'w#1'`` was ``w``), so a directory holding one is written as
    its absolute file: URL, where it is ``%23`` and pip and uv both read it."""
    shown = _from(manifest_dir, location)
    if "#" not in shown or "://" in shown or manifest_root is None:
        return shown
    return PurePosixPath(_from(manifest_root, location)).as_uri()


def _source_lines(lock: Lock) -> list[str]:
    """[pypi] sources as pip can take them: pip has no per-package index, so each source index
    is one more --extra-index-url, and the --hash pins keep pip to the file the lock chose."""
    pinned = source_of(lock.target.sources or ())
    indexes = dict.fromkeys(pinned.values())
    if not indexes:
        return []
    names = ", ".join(re.sub(r"[^A-Za-z0-9._-]", "?", name) for name in pinned)  # one line
    return [
        f"# [pypi] sources ({names}): pip has no per-package index, so each source index is an",
        "# extra index below; the --hash pins keep pip to the file mlenv locked from it.",
        *(_pip_option("--extra-index-url", url) for url in indexes),
    ]


# What pip does to a requirements file line before it splits options with shlex
# (pip/_internal/req/req_file.py): a '#' after a blank starts a comment, ${NAME} is an
# environment variable, a trailing backslash joins the next line.
_PIP_COMMENT = re.compile(r"\s#")
_PIP_VARIABLE = re.compile(r"\$\{[A-Z0-9_]+\}")


def _pip_option(flag: str, value: str) -> str:
    """``flag value``, quoted as pip's shlex reads it: a find-links directory ``my wheels``
    was read as ``my`` and a stray argument."""
    if _PIP_COMMENT.search(value) or _PIP_VARIABLE.search(value) or not value.isprintable():
        raise ExportError(
            f"{flag} {value!r} cannot be written into a requirements file: pip would read a "
            "comment, an environment variable or a line break in it",
            where=f"mlenv.lock: [target] ({flag.removeprefix('--')})",
            hint="rename the directory or URL, lock again and export again",
        )
    return f"{flag} {shlex.quote(value)}"


def _flags(package: LockedPackage) -> tuple[tuple[str, bool], ...]:
    return (("yanked", package.yanked), ("cpu-ok", package.cpu_ok))


def _notes(package: LockedPackage) -> list[str]:
    """What the lock marks about a package beyond its pin, for humans reading an export."""
    found = []
    if package.yanked:
        found.append(
            f"{package.name} {package.version} is yanked (PEP 592): an == pin took it, or a "
            "relock kept it"
        )
    if package.cpu_ok:
        found.append(f"{package.name} {package.version} is a CPU-only build ([cuda] cpu-ok)")
    return found


def _wheel_entry(package: LockedPackage, manifest_dir: str) -> dict[str, Any]:
    """A ``[[packages.wheels]]`` table. A wheel from a relative find-links directory is locked
    as a path from the manifest's directory: PEP 751 says ``url`` is a URL and ``path`` is
    relative to the lock file, so it is written as ``path`` from the pylock file (``url =
    "wheels/x.whl"`` made uv refuse the whole file)."""
    where: dict[str, Any]
    if "://" in package.url:
        where = {"url": package.url}
    else:
        # the lock's reference escapes the directory's '%', '#' and '?' (drift.escaped_directory);
        # a path is read as it is: "wh%20#1" sent uv to a directory named "wh %231"
        where = {"path": _from(manifest_dir, unquote(package.url))}
    return {
        "name": package.filename,
        **where,
        "size": package.size,
        "hashes": {"sha256": package.sha256},
    }


def _requires_python(text: str | None) -> str | None:
    """A locked release's Requires-Python as the resolver read it (``pep508.lenient``:
    ``>=3.6<4`` is ``>=3.6,<4``), the PEP 440 specifier PEP 751 asks for; the lock keeps the
    index's text. None when not even that reads (the resolver refuses such a release)."""
    if not text:
        return None
    repaired = lenient(text)
    try:
        SpecifierSet(repaired)
    except InvalidSpecifier:
        return None
    return repaired


def pylock_toml(lock: Lock, manifest_dir: str = ".") -> str:
    """PEP 751 ``pylock.toml``; one entry per platform, told apart by markers.
    ``manifest_dir``: the manifest's directory as a POSIX path from the pylock file's."""
    find_links = set(lock.target.find_links)
    packages: list[dict[str, Any]] = []
    for locked in lock.platforms:
        marker = by_name(locked.platform).marker
        for package in locked.packages:
            # PEP 751 names are normalised: a lock's "Foo_Bar" (its file's name, so the lock's
            # reader takes it) made packaging refuse the whole file as mlenv's own bug
            entry: dict[str, Any] = {
                "name": canonicalize_name(package.name),
                "version": package.version,
            }
            if len(lock.platforms) > 1:
                entry["marker"] = marker
            if requires_python := _requires_python(package.requires_python):
                entry["requires-python"] = requires_python
            if package.index not in find_links and "://" in package.index:
                # PEP 751: the base URL of a simple-API index; a find-links directory is none
                entry["index"] = package.index
            flags = {key: True for key, on in _flags(package) if on}
            if flags:  # PEP 751 has no yanked key for packages: tool data, under mlenv
                entry["tool"] = {"mlenv": flags}
            entry["wheels"] = [_wheel_entry(package, manifest_dir)]
            packages.append(entry)
    packages.sort(key=lambda e: (e["name"], e.get("marker", "")))
    document: dict[str, Any] = {
        "lock-version": "1.0",
        "environments": [by_name(name).marker for name in sorted(lock.target.platforms)],
        "requires-python": f"=={lock.target.python}.*",
        "created-by": "mlenv",
        "packages": packages,
    }
    try:
        Pylock.from_dict(document)
    except PylockValidationError as exc:  # a bug in this module, never the user's input
        raise MlenvError(f"the exported pylock.toml is invalid: {exc}") from exc
    return tomlkit.dumps(document)
