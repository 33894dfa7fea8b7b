"""The checker that pulls values out of a decoded manifest and gathers every problem with its
key path (the first ``MAX_SHOWN_PROBLEMS`` kept, the rest counted).

It lives apart from the reader's walk over the tables (``manifest_read``) because it knows
TOML's types and key paths, not what any table means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from mlenv import hints
from mlenv.errors import Problem
from mlenv.inputs import MANIFEST_KEYS, REQUIRED_KEYS
from mlenv.limits import listed_problem
from mlenv.manifest_values import _CUDA, _unseen
from mlenv.platforms import NAMES, conda_spelling
from mlenv.spelled import nearest, tool_choice

_SCHEMA_KEYS = MANIFEST_KEYS


_UNSEEN_HINT = (
    "delete it (an editor may show nothing there; a TOML escape such as \\u202e spells one): "
    "mlenv.toml takes visible text only, accents, CJK and emoji included"
)


T = TypeVar("T")


# Problems one manifest reports; the rest are counted ("and 9,900 more"): each kept one is
# rendered, and 90,000 unknown keys took 6 s to judge and 3 MB to print.
MAX_SHOWN_PROBLEMS = 100


class _Checker:
    """Collects problems with their key paths while values are pulled out of the mapping."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []  # the first MAX_SHOWN_PROBLEMS
        self.count = 0

    @property
    def full(self) -> bool:
        """Whether a problem would only be counted: its hint need not be worked out."""
        return self.count >= MAX_SHOWN_PROBLEMS

    def add(self, key: str, message: str, hint: str | None = None) -> None:
        if not self.full:
            self.problems.append(Problem(f"{self.source}: {_display(key)}", message, hint))
        self.count += 1

    def wrong_type(
        self,
        key: str,
        value: object,
        expected: str,
        valid: Callable[[str], str | None] | None = None,
    ) -> None:
        hint = hints.wrong_type(key, value, expected, valid)
        self.add(key, f"expected {expected}, got {_describe(value)}", hint)

    def table(
        self,
        data: Mapping[str, Any],
        path: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> Mapping[str, Any]:
        for key in data:
            if key not in allowed:
                full = f"{path}.{key}" if path else key
                if self.full:  # counted only: a typo's nearest key costs ~50 us
                    self.add(full, "unknown key")
                    continue
                if unseen := _unseen(key):  # the key too: shown as "?", it names nothing
                    self.add(full, f"the key {key!r} holds {unseen}", _UNSEEN_HINT)
                    continue
                close = nearest(key, allowed)
                hint = (
                    f'did you mean "{close}"?'
                    if close
                    else hints.key_elsewhere(path, key, _SCHEMA_KEYS)
                    or f"valid keys: {', '.join(allowed)}"
                )
                self.add(full, "unknown key", hint)
        for key in required:
            if key not in data:
                full = f"{path}.{key}" if path else key
                self.add(full, "missing required key", _required_hint(full, data))
        return data

    def subtable(self, top: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        """The table ``name`` with its keys checked; absent tables are empty, not errors."""
        if name not in top:
            return {}
        value = top[name]
        if not isinstance(value, Mapping):
            self.wrong_type(name, value, "a table")
            return {}
        return self.table(value, name, _SCHEMA_KEYS[name], _REQUIRED.get(name, ()))

    def string(
        self,
        table: Mapping[str, Any],
        path: str,
        default: T,
        valid: Callable[[str], str | None] | None = None,
        hint: Callable[[str], str | None] | None = None,
    ) -> str | T:
        key = path.rsplit(".", 1)[-1]
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            self.wrong_type(path, value, "a string", valid)
            return default
        if unseen := _unseen(value):  # one rule for every string, before a field's own
            self.add(path, f"{value!r} holds {unseen}", _UNSEEN_HINT)
            return default
        if valid is not None and (message := valid(value)) is not None:
            self.add(path, f"{value!r} is not valid: {message}", hint and hint(value))
            return default
        return value

    def string_list(
        self,
        table: Mapping[str, Any],
        path: str,
        default: tuple[str, ...] = (),
        valid: Callable[[str], str | None] | None = None,
        hint: Callable[[str], str | None] | None = None,
    ) -> tuple[str, ...]:
        key = path.rsplit(".", 1)[-1]
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, list):
            self.wrong_type(path, value, "an array of strings")
            return default
        if problem := listed_problem(len(value)):
            self.add(path, problem, "split the environment, or check the file is the one meant")
            return default
        items: list[str] = []
        for position, item in enumerate(value):
            where = f"{path}[{position}]"
            if not isinstance(item, str):
                self.wrong_type(where, item, "a string", valid)
            elif unseen := _unseen(item):
                self.add(where, f"{item!r} holds {unseen}", _UNSEEN_HINT)
            elif valid is not None and (message := valid(item)) is not None:
                self.add(where, f"{item!r} is not valid: {message}", hint and hint(item))
            else:
                items.append(item)
        duplicates = sorted(item for item, count in Counter(items).items() if count > 1)
        for item in duplicates:
            self.add(path, f"{item!r} is listed more than once", "list each value once")
        return tuple(items)

    def choice(
        self,
        table: Mapping[str, Any],
        path: str,
        choices: Sequence[str],
        default: str,
        other_tools: Mapping[str, str | None] | None = None,
    ) -> str:
        """One of ``choices``; ``other_tools`` maps uv's names to them (None: ``default``)."""
        return self.string(table, path, default, _one_of(choices, other_tools, default))


_REQUIRED = REQUIRED_KEYS
_REQUIRED_HINTS = {
    "environment": 'add an [environment] table with name = "..." and python = "3.11"',
    "environment.name": 'name the environment, e.g. name = "detector"',
    "environment.python": 'set the target CPython minor version, e.g. python = "3.11"',
    "cuda.version": 'set the target CUDA toolkit, e.g. version = "12.4"',
    "cuda.driver-floor": (
        'set the oldest NVIDIA driver in the fleet, e.g. driver-floor = "550.54.14"'
    ),
}


def _required_hint(key: str, table: Mapping[str, Any]) -> str | None:
    """How to add a missing key; a missing driver floor gets the one the table's CUDA needs
    (550.54.14, the example for 12.4, cannot run CUDA 13)."""
    version = table.get("version")
    if key != "cuda.driver-floor" or not isinstance(version, str) or not _CUDA.fullmatch(version):
        return _REQUIRED_HINTS.get(key)
    from mlenv.cuda.matrix import min_driver
    from mlenv.cuda.versions import CudaError, CudaVersion

    try:
        needed = min_driver(CudaVersion.parse(version))
    except CudaError:  # an unknown CUDA release: reported on its own key
        return _REQUIRED_HINTS.get(key)
    return (
        f"set the oldest NVIDIA driver in the fleet; CUDA {version} needs "
        f'driver-floor = "{needed}" or newer'
    )


def _display(key: str) -> str:
    table, _, rest = key.partition(".")
    if not rest:
        return f"[{table}]"
    return f"[{table}].{rest}"


def _describe(value: object) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, dict | list) else ""
    return f"{kind} {shown}".strip()


def _one_of(
    choices: Sequence[str], other_tools: Mapping[str, str | None] | None = None, default: str = ""
) -> Callable[[str], str | None]:
    def valid(value: str) -> str | None:
        if value in choices:
            return None
        if other_tools is not None and (told := tool_choice(value, other_tools, default)):
            return f"expected one of {', '.join(choices)}; {told}"
        spelled = conda_spelling(value) if choices == NAMES else None
        close = spelled or nearest(value, choices)
        suggestion = f' (did you mean "{close}"?)' if close else ""
        return f"expected one of {', '.join(choices)}{suggestion}"

    return valid
