"""The lock's canonical, byte-stable TOML rendering.

Rendering is done by hand rather than through a TOML library so that the bytes depend on the
lock's values alone: keys in a fixed order, packages sorted, no timestamps, no host paths.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlenv.lockfile import _CONDA, _PACKAGE, _TARGET, Lock, _Field
from mlenv.toml_strings import basic

HEADER = "# mlenv.lock: written by `mlenv lock` for the target in mlenv.toml. Do not edit.\n"


_str = basic


def _array(values: Sequence[str]) -> str:
    return "[" + ", ".join(_str(v) for v in values) + "]"


def _line(key: str, value: object) -> str | None:
    if value is None or value is False:  # a false flag is the default: not written
        return None
    if value is True:
        return f"{key} = true"
    if isinstance(value, int):
        return f"{key} = {value}"
    if isinstance(value, str):
        return f"{key} = {_str(value)}"
    if isinstance(value, tuple | list):
        return f"{key} = {_array(value)}"
    raise TypeError(key)


def _table(value: object, fields: Sequence[_Field]) -> list[str]:
    lines = (_line(f.key, getattr(value, f.attr)) for f in fields)
    return [line for line in lines if line is not None]


def render(lock: Lock) -> str:
    """The lock as canonical TOML: the same lock always gives the same bytes."""
    out = [HEADER, _line("version", lock.version) or "", _line("inputs-hash", lock.inputs_hash)]
    out += ["", "[target]", *_table(lock.target, _TARGET)]
    for platform in sorted(lock.platforms, key=lambda p: p.platform):
        for package in sorted(platform.packages, key=lambda p: p.name):
            out += ["", f"[[platform.{platform.platform}.package]]", *_table(package, _PACKAGE)]
        for conda in sorted(platform.conda, key=lambda p: p.name):
            out += ["", f"[[platform.{platform.platform}.conda]]", *_table(conda, _CONDA)]
    return "\n".join(line for line in out if line is not None) + "\n"
