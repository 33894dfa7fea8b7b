"""The lock held to a wheel's own METADATA (security invariant 2): which dependency names a
lock entry may record for a wheel on a target."""

from __future__ import annotations

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.cache.locked_metadata import metadata_problem
from mlenv.index.model import CoreMetadata
from mlenv.lockfile import LockedPackage
from mlenv.target import Target

_TARGET = Target("linux-64", "3.11")


def _problem(lines: list[str], locked: list[str], extras: tuple[str, ...] = ()) -> str | None:
    meta = CoreMetadata(canonicalize_name("App"), Version("1.0"), tuple(lines), None, extras)
    package = LockedPackage(
        "App", "1.0", "App-1.0-py3-none-any.whl", "https://x/a.whl", "0" * 64, 1, "https://x",
        dependencies=tuple(locked),
    )  # fmt: skip
    return metadata_problem(package, meta, _TARGET)


@pytest.mark.parametrize(
    ("lines", "locked"),
    [
        (["Lib>=1", "numpy; python_version >= '3.8'"], ["lib", "numpy"]),
        (["lib", "torch; extra == 'GPU'"], ["lib", "torch"]),  # the extra was asked for
        (["lib", "torch; extra == 'gpu'"], ["lib"]),  # it was not
        (["lib", "pywin32; sys_platform == 'win32'"], ["lib"]),  # never on this target
        (["App[gpu]; extra == 'all'", "torch; extra == 'gpu'"], ["torch"]),  # its own extras
        (["lib_x"], ["lib-x"]),  # names compare normalised
        ([], []),
    ],
)
def test_what_the_resolver_records_for_the_target_passes(
    lines: list[str], locked: list[str]
) -> None:
    assert _problem(lines, locked, ("gpu", "all")) is None


@pytest.mark.parametrize(
    ("lines", "locked", "says"),
    [
        (["lib"], [], "wheel requires lib"),
        ([], ["evil"], "lock depends on evil"),
        (["lib; sys_platform == 'win32'"], ["lib"], "lock depends on lib"),
        (["lib", "torch; extra == 'gpu' and sys_platform == 'win32'"], ["lib", "torch"],
         "lock depends on torch"),
    ],
)  # fmt: skip
def test_a_lock_the_wheel_contradicts_is_named(
    lines: list[str], locked: list[str], says: str
) -> None:
    assert says in str(_problem(lines, locked, ("gpu",)))


def test_a_marker_naming_many_strings_is_taken_as_possible_not_evaluated_for_each() -> None:
    """A hostile marker of thousands of quoted strings costs one look, not one evaluation
    per string per line."""
    marker = " or ".join(f"extra == 'e{i}'" for i in range(5000))
    assert _problem([f"torch; {marker}"], ["torch"]) is None
