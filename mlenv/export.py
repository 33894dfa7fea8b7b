"""Exports of the lock for tools users already have: pip requirements and PEP 751 pylock.toml."""

from __future__ import annotations

from typing import Any

import tomlkit
from packaging.pylock import Pylock, PylockValidationError

from mlenv.errors import MlenvError
from mlenv.lockfile import Lock, LockedPackage
from mlenv.platforms import by_name


def requirements_txt(lock: Lock, platform: str) -> str:
    """pip-tools style: installable with ``pip install --require-hashes --no-deps -r``."""
    locked = lock.platform(platform)
    lines = [
        "# Exported by `mlenv export --format requirements` from mlenv.lock",
        f"# for {platform}, CPython {lock.target.python}, glibc {lock.target.glibc}.",
        "# Install: pip install --require-hashes --no-deps -r requirements.txt",
    ]
    target = lock.target
    lines += [f"--index-url {target.indexes[0]}"] if target.indexes else ["--no-index"]
    lines += [f"--extra-index-url {url}" for url in target.indexes[1:]]
    lines += [f"--find-links {location}" for location in target.find_links]
    for package in locked.packages:
        lines += [f"# {note}" for note in _notes(package)]
        lines.append(f"{package.name}=={package.version} \\")
        lines.append(f"    --hash=sha256:{package.sha256}")
    return "\n".join(lines) + "\n"


def _flags(package: LockedPackage) -> tuple[tuple[str, bool], ...]:
    return (("yanked", package.yanked), ("cpu-ok", package.cpu_ok))


def _notes(package: LockedPackage) -> list[str]:
    """What the lock marks about a package beyond its pin, for humans reading an export."""
    found = []
    if package.yanked:
        found.append(f"{package.name} {package.version} is yanked (PEP 592), pinned with ==")
    if package.cpu_ok:
        found.append(f"{package.name} {package.version} is a CPU-only build ([cuda] cpu-ok)")
    return found


def pylock_toml(lock: Lock) -> str:
    """PEP 751 ``pylock.toml``; one entry per platform, told apart by markers."""
    packages: list[dict[str, Any]] = []
    for locked in lock.platforms:
        marker = by_name(locked.platform).marker
        for package in locked.packages:
            entry: dict[str, Any] = {"name": package.name, "version": package.version}
            if len(lock.platforms) > 1:
                entry["marker"] = marker
            if package.requires_python:
                entry["requires-python"] = package.requires_python
            entry["index"] = package.index
            flags = {key: True for key, on in _flags(package) if on}
            if flags:  # PEP 751 has no yanked key for packages: tool data, under mlenv
                entry["tool"] = {"mlenv": flags}
            entry["wheels"] = [
                {
                    "name": package.filename,
                    "url": package.url,
                    "size": package.size,
                    "hashes": {"sha256": package.sha256},
                }
            ]
            packages.append(entry)
    packages.sort(key=lambda e: (e["name"], e.get("marker", "")))
    document: dict[str, Any] = {
        "lock-version": "1.0",
        "environments": [by_name(p.platform).marker for p in lock.platforms],
        "requires-python": f"=={lock.target.python}.*",
        "created-by": "mlenv",
        "packages": packages,
    }
    try:
        Pylock.from_dict(document)
    except PylockValidationError as exc:  # a bug in this module, never the user's input
        raise MlenvError(f"the exported pylock.toml is invalid: {exc}") from exc
    return tomlkit.dumps(document)
