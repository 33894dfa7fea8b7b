"""pathlib's spelling of a POSIX path, as text, for the modules a no-op or remembered
``mlenv lock`` imports: importing pathlib (with ``urllib.parse``, ``ipaddress`` and
``fnmatch``) costs such a run more than its own work. Each function answers what the pathlib
expression in its docstring would, character for character (a Hypothesis test holds them
together), so that a path named here and one named by the full CLI are one spelling."""

from __future__ import annotations

import os


def _split(path: str) -> tuple[str, list[str]]:
    """The root (two slashes stay two, as POSIX allows; three or more are one) and the
    names, without the empty and ``.`` ones (``..`` stays: it may cross a symlink)."""
    root = "/" if path[:1] == "/" else ""
    if path[:2] == "//" and path[2:3] != "/":
        root = "//"
    return root, [part for part in path.split("/") if part and part != "."]


def _spell(root: str, parts: list[str]) -> str:
    return root + "/".join(parts) if root or parts else "."


def normal(path: str) -> str:
    """``str(Path(path))``."""
    return _spell(*_split(path))


def parent(path: str) -> str:
    """``str(Path(path).parent)``."""
    root, parts = _split(path)
    return _spell(root, parts[:-1])


def child(directory: str, name: str) -> str:
    """``str(Path(directory) / name)`` for a plain ``name`` (no slash, not ``.``)."""
    root, parts = _split(directory)
    return _spell(root, [*parts, name])


def expanduser(path: str) -> str:
    """``str(Path(path).expanduser())``: RuntimeError when the home a leading ``~`` names
    cannot be told (no ``$HOME`` and no such user), where ``os.path`` would leave it as is."""
    root, parts = _split(path)
    if root or not parts or parts[0][:1] != "~":
        return _spell(root, parts)
    home = os.path.expanduser(parts[0])
    if home[:1] == "~":
        raise RuntimeError("Could not determine home directory.")
    home_root, home_parts = _split(home)
    return _spell(home_root, home_parts + parts[1:])


def absolute(path: str) -> str:
    """``path`` when it is absolute (as given), else ``str(Path.cwd() / path)``."""
    if path[:1] == "/":
        return path
    return normal(os.getcwd().rstrip("/") + "/" + path)
