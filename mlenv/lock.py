"""The lock: a model, its canonical byte-stable TOML rendering, its parser, the inputs hash.

Rendering is done by hand rather than through a TOML library so that the bytes depend on the
lock's values alone: keys in a fixed order, packages sorted, no timestamps, no host paths.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mlenv.errors import MlenvError, Problem, ProblemsError
from mlenv.manifest import Manifest

LOCK_VERSION = 1
HEADER = "# mlenv.lock: written by `mlenv lock` for the target in mlenv.toml. Do not edit.\n"


class LockError(ProblemsError):
    """The lock file cannot be read or does not describe a valid lock."""


class StaleLockError(MlenvError):
    """The lock was made from other inputs than the manifest now holds."""


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    filename: str
    url: str
    sha256: str
    size: int
    index: str
    requires_python: str | None = None
    dependencies: tuple[str, ...] = ()
    source: str = "pypi"
    cuda: str | None = None
    requires_driver: str | None = None


@dataclass(frozen=True)
class LockedPlatform:
    platform: str
    packages: tuple[LockedPackage, ...]

    def by_name(self) -> dict[str, LockedPackage]:
        return {p.name: p for p in self.packages}


@dataclass(frozen=True)
class LockTarget:
    python: str
    glibc: str
    platforms: tuple[str, ...]
    index_strategy: str
    indexes: tuple[str, ...]
    find_links: tuple[str, ...]
    requirements: tuple[str, ...]
    cuda: str | None = None
    driver_floor: str | None = None
    requires_driver: str | None = None
    requires_driver_because: str | None = None


@dataclass(frozen=True)
class Lock:
    inputs_hash: str
    target: LockTarget
    platforms: tuple[LockedPlatform, ...] = field(default_factory=tuple)
    version: int = LOCK_VERSION

    def platform(self, name: str) -> LockedPlatform:
        for platform in self.platforms:
            if platform.platform == name:
                return platform
        raise MlenvError(
            f"the lock has no platform {name!r}",
            where="mlenv.lock",
            hint=f"platforms in the lock: {', '.join(p.platform for p in self.platforms)}",
        )

    def packages(self) -> list[tuple[str, LockedPackage]]:
        return [(p.platform, pkg) for p in self.platforms for pkg in p.packages]

    def with_platforms(self, platforms: Sequence[LockedPlatform]) -> Lock:
        return replace(self, platforms=tuple(sorted(platforms, key=lambda p: p.platform)))


# ---------------------------------------------------------------------------------------------
# The inputs hash


def resolution_inputs(manifest: Manifest) -> dict[str, Any]:
    """Everything in the manifest that can change what gets locked; nothing else."""
    env = manifest.environment
    data: dict[str, Any] = {
        "lock-version": LOCK_VERSION,
        "python": env.python,
        "platforms": sorted(env.platforms),
        "glibc": env.glibc,
        "pypi": {
            "index-url": manifest.pypi.index_url,
            "extra-index-urls": list(manifest.pypi.extra_index_urls),
            "find-links": list(manifest.pypi.find_links),
            "index-strategy": manifest.pypi.index_strategy,
            "dependencies": sorted(manifest.pypi.dependencies),
        },
        "conda": {
            "channels": list(manifest.conda.channels),
            "dependencies": sorted(manifest.conda.dependencies),
        },
    }
    if manifest.cuda is not None:
        data["cuda"] = {
            "version": manifest.cuda.version,
            "driver-floor": manifest.cuda.driver_floor,
            "archs": sorted(manifest.cuda.archs),
        }
    return data


def inputs_hash(manifest: Manifest) -> str:
    canonical = json.dumps(resolution_inputs(manifest), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def check_fresh(lock: Lock, manifest: Manifest, lock_path: str = "mlenv.lock") -> None:
    expected = inputs_hash(manifest)
    if lock.inputs_hash != expected:
        raise StaleLockError(
            "the lock is stale: it was made from other inputs than the manifest now holds "
            f"(lock {lock.inputs_hash[:19]}…, manifest {expected[:19]}…)",
            where=lock_path,
            hint="run `mlenv lock` to update it",
        )


# ---------------------------------------------------------------------------------------------
# Rendering


def _str(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def _array(values: Sequence[str]) -> str:
    return "[" + ", ".join(_str(v) for v in values) + "]"


def _line(key: str, value: str | int | Sequence[str] | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(key)
    if isinstance(value, int):
        return f"{key} = {value}"
    if isinstance(value, str):
        return f"{key} = {_str(value)}"
    return f"{key} = {_array(value)}"


def render(lock: Lock) -> str:
    """The lock as canonical TOML: the same lock always gives the same bytes."""
    out = [HEADER, _line("version", lock.version) or "", _line("inputs-hash", lock.inputs_hash)]
    t = lock.target
    out += ["", "[target]"]
    out += [
        line
        for line in (
            _line("python", t.python),
            _line("glibc", t.glibc),
            _line("platforms", list(t.platforms)),
            _line("cuda", t.cuda),
            _line("driver-floor", t.driver_floor),
            _line("requires-driver", t.requires_driver),
            _line("requires-driver-because", t.requires_driver_because),
            _line("index-strategy", t.index_strategy),
            _line("indexes", list(t.indexes)),
            _line("find-links", list(t.find_links)),
            _line("requirements", list(t.requirements)),
        )
        if line is not None
    ]
    for platform in sorted(lock.platforms, key=lambda p: p.platform):
        for package in sorted(platform.packages, key=lambda p: p.name):
            out += ["", f"[[platform.{platform.platform}.package]]"]
            out += [
                line
                for line in (
                    _line("name", package.name),
                    _line("version", package.version),
                    _line("source", package.source),
                    _line("index", package.index),
                    _line("filename", package.filename),
                    _line("url", package.url),
                    _line("sha256", package.sha256),
                    _line("size", package.size),
                    _line("requires-python", package.requires_python),
                    _line("dependencies", list(package.dependencies)),
                    _line("cuda", package.cuda),
                    _line("requires-driver", package.requires_driver),
                )
                if line is not None
            ]
    return "\n".join(line for line in out if line is not None) + "\n"


# ---------------------------------------------------------------------------------------------
# Parsing


class _Reader:
    """Pulls typed values out of the decoded TOML, collecting problems with key paths."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(f"{self.source}: {path}", message))

    def unknown(self, table: Mapping[str, Any], path: str, allowed: frozenset[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.fail(f"{path}.{key}" if path else key, "unknown key")

    def get(self, table: Mapping[str, Any], path: str, key: str, kind: type, required: bool) -> Any:
        if key not in table:
            if required:
                self.fail(f"{path}.{key}" if path else key, "missing required key")
            return None
        value = table[key]
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.fail(f"{path}.{key}" if path else key, "expected an array of strings")
                return None
            return tuple(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            self.fail(f"{path}.{key}" if path else key, f"expected {kind.__name__}")
            return None
        return value


_HEX = frozenset("0123456789abcdef")
_TARGET_KEYS = frozenset(
    {
        "python",
        "glibc",
        "platforms",
        "cuda",
        "driver-floor",
        "requires-driver",
        "requires-driver-because",
        "index-strategy",
        "indexes",
        "find-links",
        "requirements",
    }
)
_PACKAGE_KEYS = frozenset(
    {
        "name",
        "version",
        "source",
        "index",
        "filename",
        "url",
        "sha256",
        "size",
        "requires-python",
        "dependencies",
        "cuda",
        "requires-driver",
    }
)


def loads(text: str, source: str = "mlenv.lock") -> Lock:
    """Parse a lock; every problem is reported with its key path, never a traceback."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LockError(
            f"{source}: not valid TOML",
            [Problem(source, f"invalid TOML: {exc}", "regenerate it with `mlenv lock`")],
        ) from None
    r = _Reader(source)
    version = r.get(data, "", "version", int, True)
    if version is not None and version != LOCK_VERSION:
        r.fail("version", f"lock format {version} is not supported (mlenv reads {LOCK_VERSION})")
    digest = r.get(data, "", "inputs-hash", str, True)
    target_table = data.get("target")
    if not isinstance(target_table, dict):
        r.fail("[target]", "missing or not a table")
        target_table = {}
    target = LockTarget(
        python=r.get(target_table, "target", "python", str, True) or "",
        glibc=r.get(target_table, "target", "glibc", str, True) or "",
        platforms=r.get(target_table, "target", "platforms", list, True) or (),
        index_strategy=r.get(target_table, "target", "index-strategy", str, True) or "",
        indexes=r.get(target_table, "target", "indexes", list, True) or (),
        find_links=r.get(target_table, "target", "find-links", list, True) or (),
        requirements=r.get(target_table, "target", "requirements", list, True) or (),
        cuda=r.get(target_table, "target", "cuda", str, False),
        driver_floor=r.get(target_table, "target", "driver-floor", str, False),
        requires_driver=r.get(target_table, "target", "requires-driver", str, False),
        requires_driver_because=r.get(
            target_table, "target", "requires-driver-because", str, False
        ),
    )
    platforms = []
    platform_tables = data.get("platform", {})
    if not isinstance(platform_tables, dict):
        r.fail("platform", "expected a table of platforms")
        platform_tables = {}
    for name, table in sorted(platform_tables.items()):
        entries = table.get("package", []) if isinstance(table, dict) else None
        if not isinstance(entries, list):
            r.fail(f"platform.{name}", "expected [[platform.NAME.package]] entries")
            continue
        packages = [
            _package(r, entry, f"platform.{name}.package[{i}]") for i, entry in enumerate(entries)
        ]
        platforms.append(LockedPlatform(name, tuple(p for p in packages if p is not None)))
    r.unknown(data, "", frozenset({"version", "inputs-hash", "target", "platform"}))
    r.unknown(target_table, "target", _TARGET_KEYS)
    if r.problems:
        raise LockError(
            f"{source}: the lock is damaged ({len(r.problems)} problem(s))",
            [replace(p, hint=p.hint or "regenerate it with `mlenv lock`") for p in r.problems],
        )
    return Lock(digest, target, tuple(platforms), version)


def _package(r: _Reader, entry: Any, path: str) -> LockedPackage | None:
    if not isinstance(entry, dict):
        r.fail(path, "expected a table")
        return None
    before = len(r.problems)
    r.unknown(entry, path, _PACKAGE_KEYS)
    package = LockedPackage(
        name=r.get(entry, path, "name", str, True),
        version=r.get(entry, path, "version", str, True),
        filename=r.get(entry, path, "filename", str, True),
        url=r.get(entry, path, "url", str, True),
        sha256=r.get(entry, path, "sha256", str, True),
        size=r.get(entry, path, "size", int, True),
        index=r.get(entry, path, "index", str, True),
        requires_python=r.get(entry, path, "requires-python", str, False),
        dependencies=r.get(entry, path, "dependencies", list, False) or (),
        source=r.get(entry, path, "source", str, False) or "pypi",
        cuda=r.get(entry, path, "cuda", str, False),
        requires_driver=r.get(entry, path, "requires-driver", str, False),
    )
    if package.sha256 is not None and (len(package.sha256) != 64 or set(package.sha256) - _HEX):
        r.fail(f"{path}.sha256", "expected 64 lower-case hex digits")
    if package.size is not None and package.size < 0:
        r.fail(f"{path}.size", "expected a size in bytes (>= 0)")
    return package if len(r.problems) == before else None
