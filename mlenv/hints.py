"""Hints for a first week's mistakes, each used by the one reader that owns the input: a key
written in the wrong manifest table, a value of the wrong TOML type, a requirement spelled as
another tool spells it, a global option written after the command, a project that has another
tool's file but no manifest yet."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mlenv.lazy_pattern import LazyPattern
from mlenv.spelled import quoted, requirement_line, table_as_list

# The files `mlenv init --from` reads, in the order a project most likely means.
IMPORTABLE = (
    "pyproject.toml",
    "pixi.toml",
    "requirements.txt",
    "requirements.in",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
    "pylock.toml",
)

# Other tools' top-level tables, written in mlenv.toml by habit.
_FOREIGN_TABLES = {
    "project": "pyproject.toml",
    "tool": "pyproject.toml",
    "dependency-groups": "pyproject.toml",
    "build-system": "pyproject.toml",
    "workspace": "pixi.toml",
    "feature": "pixi.toml",
    "pypi-dependencies": "pixi.toml",
    "system-requirements": "pixi.toml",
}

# Other tools' names for a manifest key, written by habit (uv, pixi, pyproject.toml).
_OTHER_TOOLS_KEYS = {
    "requires-python": '[environment].python, one minor version such as "3.11"',
    "index": "[pypi].index-url, and [pypi].extra-index-urls for more indexes (uv's [[index]])",
    "pypi-options": "the [pypi] table (index-url, extra-index-urls, find-links)",
}


def importable_beside(manifest: Path) -> Path | None:
    """A file `mlenv init --from` can start from, in the manifest's directory."""
    for name in IMPORTABLE:
        candidate = manifest.parent / name
        if candidate.is_file():
            return candidate
    return None


def key_elsewhere(table: str, key: str, schema: Mapping[str, Sequence[str]]) -> str | None:
    """The hint for ``key``, unknown in ``table`` ("" for the top level), when it belongs to
    another table of the manifest (or is a table itself, or another tool's table)."""
    if table == "" and key in _FOREIGN_TABLES:
        origin = _FOREIGN_TABLES[key]
        return (
            f"[{key}] belongs in a {origin}, not in mlenv.toml; start a manifest from that file "
            f"with `mlenv init --from {origin}`"
        )
    if key in _OTHER_TOOLS_KEYS:
        return f"{key} is another tool's key: mlenv's is {_OTHER_TOOLS_KEYS[key]}"
    if key in schema and key != "":
        example = ' holding version = "12.4"' if key == "cuda" else ""
        return f"{key} is a table of its own: write a [{key}] table{example}"
    homes = [name for name, keys in schema.items() if name not in ("", table) and key in keys]
    if not homes:
        return None
    places = " or ".join(f"[{name}].{key}" for name in homes)
    return f"{key} belongs in another table: move it to {places}"


_REQUIREMENT_LISTS = ("dependencies", "constraints", "overrides")


def wrong_type(
    path: str, value: object, expected: str, valid: Callable[[str], str | None] | None = None
) -> str | None:
    """How to write ``value`` as the ``expected`` type (``manifest_checker._Checker.wrong_type``) at
    ``path``; ``valid`` judges the string a number may have been meant as. Past an array's
    item (``pypi.indexes[0]``) only a number gets one: the others name a top-level key."""
    table, _, key = path.rpartition(".")
    if expected == "a string" and isinstance(value, int | float) and not isinstance(value, bool):
        return quoted(key, value, valid)
    if "[" in path:
        return None
    if expected.startswith("an array") and isinstance(value, str):
        return f'write an array, even for one value: {key} = ["{value}"]'
    if key in _REQUIREMENT_LISTS and isinstance(value, Mapping):
        return table_as_list(key, value, conda=table == "conda")
    if expected == "true or false" and value in ("true", "false"):
        return f"write {key} = {value} without quotes: a TOML boolean is unquoted"
    if expected == "a table" and isinstance(value, list):
        return f"write [{key}] with single brackets: [[{key}]] is an array of tables"
    if expected == "a string" and isinstance(value, list) and key == "index-url":
        return "index-url takes one URL: list the others in extra-index-urls"
    return None


_ONE_EQUALS = LazyPattern(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*=\s*([0-9][^=<>!~;\s]*)\s*")
_WILDCARD = LazyPattern(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(>=|<=|>|<|~=)\s*([0-9][0-9.]*)\.\*\s*")


def requirement(spec: str, parses: Callable[[str], bool] = lambda _: False) -> str:
    """The hint for a PyPI requirement that does not parse (``parses`` tells one that does)."""
    if spelled := requirement_line(spec, parses):
        return spelled
    if match := _ONE_EQUALS.fullmatch(spec):
        name, version = match.groups()
        return f'did you mean "{name}=={version}"? A PEP 440 pin is written with =='
    if match := _WILDCARD.fullmatch(spec):
        name, operator, version = match.groups()
        return (
            f'a ".*" wildcard goes only with == or !=: write "{name}=={version}.*" or '
            f'"{name}{operator}{version}"'
        )
    return 'write a name and an optional version, e.g. "numpy>=1.26,<3"'


def global_option(option: str | None, command: str | None) -> str | None:
    """The hint for an option of ``mlenv`` itself that takes a value written after the command
    (``mlenv fetch --cache DIR``); ``-q``/``-v`` are taken there too (``mlenv.cli_flags``)."""
    # An option taking a value keeps it in the hint (its --help metavar): "mlenv --cache show"
    # would read "show" as the cache directory.
    valued = {"-m": "FILE", "--manifest": "FILE", "--cache": "DIRECTORY", "--log-format": "FORMAT"}
    bare = (option or "").partition("=")[0]
    if command is None or bare not in valued:
        return None
    spelled = f"{bare} {valued[bare]}"
    return (
        f"{bare} is an option of mlenv itself: put it before the command, mlenv {spelled} {command}"
    )
