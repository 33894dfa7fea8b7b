"""Where the environment lives at run time and which Python it runs on, judged when the manifest
is read: a prefix of ``/usr`` is otherwise found in a built image that replaced the base's
``/usr/lib64`` with a symlink.

The rules (``judge_placement``):

- Both paths are absolute. ``//``, ``.``, ``..`` and a trailing ``/`` are normalised first; the
  normal form is what is judged and what mlenv writes into shebangs, ``pyvenv.cfg``,
  ``activate`` and ``conda-unpack``.
- Each name is ASCII letters, digits and ``. _ + @ -``: no spaces (a shebang ends at one), no
  ``:`` (``PATH`` splits at it), no quotes, ``$`` or control characters (scripts and config
  files embed the path), no non-ASCII (look-alikes; bytes that depend on the locale). The
  prefix is at most 255 bytes, the length conda packages reserve for it.
- The prefix is not a system directory: ``/``, a top-level directory (``/usr``, ``/opt``,
  ``/home``...), a hierarchy directory of ``/usr``, ``/usr/local`` or ``/var`` (``/usr/lib``,
  ``/usr/local/bin``, ``/var/lib``...) or a home directory (``/home/alice``): the environment
  writes ``bin/``, ``lib/``, ``lib64`` and ``pyvenv.cfg`` there, over what the system has.
- The prefix is not inside what the distribution's package manager owns (``/usr`` outside
  ``/usr/local``, ``/bin``, ``/lib*``, ``/etc``, ``/boot``, ``/usr/local``'s own hierarchy
  directories) nor inside what is mounted or emptied at run time (``/proc``, ``/sys``, ``/dev``,
  ``/run``, ``/tmp``, ``/var/tmp``...). ``/opt/mlenv/x``, ``/srv/x``, ``/home/alice/envs/x``,
  ``/usr/local/x`` and ``/var/lib/x`` are fine.
- The interpreter is a Python (``python``, ``python3``, ``python3.11``), of the environment's
  minor version when its name says one, outside the prefix (``bin/python`` links to it: inside,
  it would be a link to itself or into the environment) and outside what is mounted at run time.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from mlenv.lazy_pattern import LazyPattern
from mlenv.oci.whiteout import WHY as WHITEOUT_WHY
from mlenv.oci.whiteout import whiteout_name

MAX_PREFIX = 255
_NAME = re.compile(r"[A-Za-z0-9._+@-]+")
_PYTHON = LazyPattern(r"python(3(\.(?P<minor>\d+))?)?")
_TOP = frozenset(
    {"bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "lost+found",
     "media", "mnt", "opt", "proc", "root", "run", "sbin", "snap", "srv", "sys", "tmp", "usr",
     "var"}
)  # fmt: skip
_USR = {"bin", "etc", "games", "include", "lib", "lib32", "lib64", "libexec", "libx32", "sbin",
        "share", "src"}  # fmt: skip
_HIERARCHY = {
    "usr": frozenset({*_USR, "local"}),
    "usr/local": frozenset({*_USR, "man"}),
    "var": frozenset(
        {"backups", "cache", "lib", "local", "lock", "log", "mail", "opt", "run", "spool", "tmp"}
    ),
}
# Mounted or emptied at run time: an environment or interpreter there is hidden or lost.
_VOLATILE = ("dev", "proc", "run", "sys", "tmp", "var/lock", "var/run", "var/tmp")
# The distribution's own trees: its package manager may overwrite or remove what is there.
_SYSTEM = ("bin", "boot", "etc", "lib", "lib32", "lib64", "libx32", "lost+found", "sbin", "usr")
_HINT = 'write the absolute path of a directory of its own, such as "/opt/mlenv/NAME"'


@dataclass(frozen=True)
class PlacementProblem:
    """One thing wrong with the prefix or the interpreter, for the manifest's problem list."""

    key: Literal["prefix", "interpreter"]
    message: str
    hint: str


@dataclass(frozen=True)
class Placement:
    """Where the environment is installed, normalised, and what is wrong with it."""

    prefix: str  # normalised
    interpreter: str | None  # normalised
    problems: tuple[PlacementProblem, ...]


def normalise(path: str) -> str:
    """``//``, ``.``, ``..`` and trailing ``/`` resolved by name; POSIX keeps a leading ``//``."""
    clean = posixpath.normpath(path)
    return "/" + clean.lstrip("/") if clean.startswith("/") else clean


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be written as it is into shebangs, ``PATH`` and config files."""
    if not path.startswith("/"):
        return "is not an absolute path"
    if normalise(path) != path:
        return f"is not normalised (write {normalise(path)!r})"
    if path == "/":
        return "is the root directory"
    for name in path[1:].split("/"):
        if not _NAME.fullmatch(name):
            return (
                f"has the name {name!r}: use ASCII letters, digits and '._+@-' only (no spaces, "
                "':', quotes or control characters)"
            )
    return None


def judge_placement(prefix: str, interpreter: str | None, python: str) -> Placement:
    """Every problem of the prefix and the interpreter, with their normal forms."""
    problems: list[PlacementProblem] = []
    prefix_form = normalise(prefix)
    if problem := path_problem(prefix_form) or _prefix_problem(prefix_form):
        problems.append(PlacementProblem("prefix", _shown(prefix, prefix_form, problem), _HINT))
    interpreter_form = None if interpreter is None else normalise(interpreter)
    if interpreter is not None and interpreter_form is not None:
        problem = path_problem(interpreter_form) or _interpreter_problem(
            interpreter_form, prefix_form, python
        )
        if problem:
            problems.append(
                PlacementProblem(
                    "interpreter",
                    _shown(interpreter, interpreter_form, problem),
                    "name the base image's Python outside the prefix, e.g. "
                    f'"/usr/bin/python{python or "3"}"; omit it when conda provides python',
                )
            )
    return Placement(prefix_form, interpreter_form, tuple(problems))


def _shown(raw: str, form: str, problem: str) -> str:
    return f"{raw!r} {problem}" if raw == form else f"{raw!r} (that is {form!r}) {problem}"


def _prefix_problem(prefix: str) -> str | None:
    parts = prefix[1:].split("/")
    if len(prefix.encode()) > MAX_PREFIX:
        return f"is over {MAX_PREFIX} bytes, the longest prefix conda packages can be moved to"
    if whiteout := whiteout_name(prefix):
        return f"has the name {whiteout!r}, which is {WHITEOUT_WHY}"
    parent, name = "/".join(parts[:-1]), parts[-1]
    if (not parent and name in _TOP) or name in _HIERARCHY.get(parent, ()):
        return "is a system directory"
    if parent == "home":
        return "is a home directory"
    if inside := _under(prefix, _VOLATILE):
        return f"is inside {inside}, which is mounted or emptied at run time"
    if parts[:2] == ["usr", "local"]:  # the administrator's, but for its hierarchy directories
        if parts[2] in _HIERARCHY["usr/local"]:
            return f"is inside the system directory /usr/local/{parts[2]}"
    elif inside := _under(prefix, _SYSTEM):
        return f"is inside {inside}, which the system's package manager owns"
    return None


def _interpreter_problem(interpreter: str, prefix: str, python: str) -> str | None:
    name = posixpath.basename(interpreter)
    match = _PYTHON.fullmatch(name)
    if match is None:
        return "is not a Python interpreter (python, python3 or python3.X)"
    minor = match["minor"]
    if minor is not None and python and f"3.{minor}" != python:
        return f"is Python 3.{minor}, but the environment is for Python {python}"
    if interpreter == prefix or interpreter.startswith(f"{prefix}/"):
        return (
            f"is inside the prefix {prefix}: the environment's bin/python links to the "
            "interpreter, so it would link to itself or into the environment"
        )
    if inside := _under(interpreter, _VOLATILE):
        return f"is inside {inside}, which is mounted or emptied at run time"
    return None


def _under(path: str, roots: tuple[str, ...]) -> str | None:
    for root in roots:
        if path == f"/{root}" or path.startswith(f"/{root}/"):
            return f"/{root}"
    return None
