"""The one reader of a lock's bytes: every problem reported with its key path (up to
``MAX_PROBLEMS``), never a traceback, and only a consistent lock returned.

It lives apart from the model (``lockfile``) so the types stay free of TOML, and apart from the
consistency rules (``lockfile_consistency``) it runs last, which judge a lock however it was made.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from mlenv.conda.records import CondaRecord
from mlenv.digests import is_sha256_digest, is_sha256_hex
from mlenv.errors import MlenvError, Problem, hidden_problem, printable
from mlenv.inputs import LOCK_VERSION
from mlenv.limits import MAX_WHEEL_BYTES, listed_problem, parse_toml
from mlenv.lockfile import (
    _CONDA,
    _PACKAGE,
    _TARGET,
    Lock,
    LockedPackage,
    LockedPlatform,
    LockError,
    LockTarget,
    _Field,
)
from mlenv.lockfile_consistency import consistency_problems
from mlenv.platforms import NAMES as PLATFORM_NAMES
from mlenv.toml_strings import basic

# `mlenv lock` keeps pins from the lock there, so it refuses a damaged one as every command does.
_REGENERATE = "regenerate it with `mlenv lock --upgrade`, which reads no pins from it"


# Problems one read reports: a lock of a million unknown keys or damaged entries (within the
# TOML bounds) took 40 s to judge and wrote 50 MB of errors; past this, reading stops.
MAX_PROBLEMS = 1_000


class _TooMany(Exception):
    """The reader has reported MAX_PROBLEMS problems."""


class _Reader:
    """Pulls typed values out of the decoded TOML, collecting problems with key paths."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(f"{self.source}: {path}", message))
        if len(self.problems) >= MAX_PROBLEMS:
            raise _TooMany

    def get(self, table: Mapping[str, Any], path: str, key: str, kind: type, required: bool) -> Any:
        where = f"{path}.{key}" if path else key
        if key not in table:
            if required:
                self.fail(where, "missing required key")
            return None
        value = table[key]
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.fail(where, "expected an array of strings")
                return None
            if problem := listed_problem(len(value)):
                self.fail(where, problem)
                return None
            return tuple(value) if self.shown(where, value, indexed=True) else None
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.fail(where, f"expected {kind.__name__}")
            return None
        if isinstance(value, str) and not self.shown(where, [value], indexed=False):
            return None
        return value

    def shown(self, where: str, texts: Sequence[str], *, indexed: bool) -> bool:
        """Whether no text of the lock's key ``where`` holds a character no review sees: the
        manifest's rule (``hidden_problem``) for every string of the lock, not only [target]'s
        (a package's name, url, index, filename or dependency reaches the diff, the SBOM and
        the image as the lock spells it)."""
        clean = True
        for position, text in enumerate(texts):
            if problem := hidden_problem(text):
                key = f"{where}[{position}]" if indexed else where
                self.fail(key, f"{basic(text)} holds {problem}")
                clean = False
        return clean

    def record(self, cls: type[_T], fields: Sequence[_Field], table: Any, path: str) -> _T | None:
        """An instance of ``cls`` from ``table``, or None (with problems) when it is damaged."""
        if not isinstance(table, dict):
            self.fail(path, "expected a table")
            return None
        before = len(self.problems)
        for key in sorted(set(table) - {f.key for f in fields}):
            self.fail(f"{path}.{key}", unknown(key))
        values = {}
        for f in fields:
            value = self.get(table, path, f.key, f.kind, f.required)
            if value is not None:
                values[f.attr] = value
        if len(self.problems) != before:
            return None
        digest = values.get("sha256")
        if isinstance(digest, str) and not is_sha256_hex(digest):
            self.fail(f"{path}.sha256", "expected 64 lower-case hex digits")
        size = values.get("size")
        if isinstance(size, int) and not 0 <= size <= MAX_WHEEL_BYTES:  # no file mlenv installs
            self.fail(f"{path}.size", f"expected a size in bytes (0 to {MAX_WHEEL_BYTES})")
        return cls(**values) if len(self.problems) == before else None


_T = TypeVar("_T")


def unknown(key: str) -> str:
    """ "unknown key", with the character no review sees when the key holds one (the terminal
    shows it as "?"): the lock's one hidden-character rule, for its keys too."""
    problem = hidden_problem(key)
    return "unknown key" if problem is None else f"unknown key {basic(key)}, which holds {problem}"


def loads(text: str, source: str = "mlenv.lock") -> Lock:
    """Parse a lock; every problem is reported with its key path, never a traceback."""
    if text.startswith("\ufeff"):  # an editor's; re-locking (the TOML error's hint) drops pins
        raise LockError(
            f"{source}: not valid TOML",
            [Problem(f"{source}:1:1", "the file starts with a byte-order mark (U+FEFF)",
                     "save it as UTF-8 without a byte-order mark, or restore it from git")],
        )  # fmt: skip
    try:
        data = parse_toml(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # deep nesting: RecursionError
        problem = exc if isinstance(exc, tomllib.TOMLDecodeError) else "nested too deeply"
        raise LockError(
            f"{source}: not valid TOML",
            [Problem(source, f"invalid TOML: {problem}", _REGENERATE)],
        ) from None
    r = _Reader(source)
    try:
        return _read(r, data)
    except _TooMany:
        r.problems.append(Problem(source, f"more than {MAX_PROBLEMS:,} problems: reading stopped"))
        raise _damaged(r) from None


def _damaged(r: _Reader) -> LockError:
    return LockError(
        f"{r.source}: the lock is damaged ({len(r.problems)} problem(s))",
        [replace(p, hint=p.hint or _REGENERATE) for p in r.problems],
    )


def _read(r: _Reader, data: dict[str, Any]) -> Lock:
    """The lock ``data`` holds, or a LockError naming every problem (up to MAX_PROBLEMS)."""
    source = r.source
    version = r.get(data, "", "version", int, True)
    if version is not None and version != LOCK_VERSION:
        r.fail("version", f"lock format {version} is not supported (mlenv reads {LOCK_VERSION})")
    digest = r.get(data, "", "inputs-hash", str, True)
    if isinstance(digest, str) and not is_sha256_digest(digest):
        # read as it was, a `SHA256:` spelling called the lock stale beside the same digest
        r.fail("inputs-hash", "expected sha256: and 64 lower-case hex digits")
    for key in sorted(set(data) - {"version", "inputs-hash", "target", "platform"}):
        r.fail(key, unknown(key))
    if not isinstance(data.get("target"), dict):
        r.fail("[target]", "missing or not a table")
    target = r.record(LockTarget, _TARGET, data.get("target", {}), "target")
    for message in _target_platform_problems(target):
        r.fail("target.platforms", message)
    for key, message in _target_cuda_problems(target):
        r.fail(f"target.{key}", message)
    platforms = []
    platform_tables = data.get("platform", {})
    if not isinstance(platform_tables, dict):
        r.fail("platform", "expected a table of platforms")
        platform_tables = {}
    for name, table in sorted(platform_tables.items()):
        if not isinstance(table, dict) or set(table) - {"package", "conda"}:
            r.fail(f"platform.{name}", "expected [[platform.NAME.package]] and .conda entries")
            continue
        entries = {kind: table.get(kind, []) for kind in ("package", "conda")}
        if not all(isinstance(e, list) for e in entries.values()):
            r.fail(f"platform.{name}", "expected arrays of tables")
            continue
        path = f"platform.{name}"
        packages = [
            r.record(LockedPackage, _PACKAGE, e, f"{path}.package[{i}]")
            for i, e in enumerate(entries["package"])
        ]
        conda = [
            r.record(CondaRecord, _CONDA, e, f"{path}.conda[{i}]")
            for i, e in enumerate(entries["conda"])
        ]
        platforms.append(
            LockedPlatform(
                name,
                tuple(p for p in packages if p is not None),
                tuple(c for c in conda if c is not None),
            )
        )
    if not r.problems and target is not None:
        r.problems += consistency_problems(Lock(digest, target, tuple(platforms), version), source)
    if r.problems or target is None:
        raise _damaged(r)
    return Lock(digest, target, tuple(platforms), version)


def _target_cuda_problems(target: LockTarget | None) -> list[tuple[str, str]]:
    """[target]'s CUDA and driver floor exactly as `mlenv lock` writes them (the manifest's
    rules): verify, build's NVIDIA_REQUIRE_CUDA and export's node affinity each parse them,
    and an edited one (`12.6.3`, `570.86 `, fullwidth digits) failed there without naming
    the lock, or, where a reader trims, was judged as another value."""
    from mlenv.cuda.versions import CudaVersion, DriverVersion

    problems = []
    if target is not None and target.cuda is not None:
        try:
            exact = str(CudaVersion.parse(target.cuda)) == target.cuda
        except MlenvError:
            exact = False
        if not exact:
            problems.append(("cuda", f"{basic(target.cuda)} is not a CUDA major.minor"))
    if target is not None and target.driver_floor is not None:
        try:
            DriverVersion.parse(target.driver_floor)
        except MlenvError as exc:
            problems.append(("driver-floor", exc.message))
    return problems


def _target_platform_problems(target: LockTarget | None) -> list[str]:
    """A lock is made for one or more platforms mlenv builds for, each once, as the manifest
    names them: an empty, unknown or repeated one left every reader guessing (inspect took
    the first of none)."""
    if target is None:
        return []
    if not target.platforms:
        return ["names no platform"]
    problems = [
        f"{printable(name)!r} is not a platform mlenv builds for ({', '.join(PLATFORM_NAMES)})"
        for name in dict.fromkeys(target.platforms)
        if name not in PLATFORM_NAMES
    ]
    seen: set[str] = set()
    for name in target.platforms:
        if name in seen:
            problems.append(f"{printable(name)!r} is listed more than once")
        seen.add(name)
    return problems
