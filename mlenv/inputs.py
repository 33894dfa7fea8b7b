"""The resolution inputs of a manifest and their hash: what makes a lock stale.

Kept apart from ``manifest`` and ``lock``, and light (json and hashlib only), so that the no-op
``mlenv lock`` (``mlenv.uptodate``) can compute the hash from the decoded TOML before the rest
of mlenv, packaging or click loads. ``manifest`` takes its defaults and key schema from here, so
the fast and the full path cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from mlenv.pypi_sources import hashed
from mlenv.redaction import redact_urls

LOCK_VERSION = 1
DEFAULT_INDEX = "https://pypi.org/simple"
DEFAULT_GLIBC = "2.28"
DEFAULT_PLATFORMS = ("linux-64",)
DEFAULT_STRATEGY = "first-index"
# [pypi] prerelease: "fallback" (a pre-release only where no final release in range can be
# taken, uv's rule since 0.12), "allow" (pre-releases compete by version: pip --pre, uv
# --prerelease allow) or "disallow" (never one).
PRERELEASES = ("fallback", "allow", "disallow")
Prerelease = Literal["fallback", "allow", "disallow"]
DEFAULT_PRERELEASE: Prerelease = "fallback"
# uv's --prerelease modes (pixi's [pypi-options] prerelease-mode takes uv's) that mlenv spells;
# uv 0.13's default, "if-necessary" (and "if-necessary-or-explicit", which uv 0.13 resolves
# alike), is mlenv's default, "fallback", and is left unwritten; "explicit" has no equivalent
TOOL_MODES: dict[str, str | None] = {
    "allow": "allow",
    "disallow": "disallow",
    "if-necessary": None,
    "if-necessary-or-explicit": None,
}
# uv's (and pixi's) index strategies that mlenv spells; "unsafe-first-match" has no equivalent
UV_STRATEGIES = {"first-index": "first-index", "unsafe-best-match": "best-match"}
# A manifest names a target and dependencies in a few kilobytes; far more is the wrong file,
# and would cost minutes to validate.
MAX_MANIFEST_CHARS = 1 << 20

# Every key a manifest may hold, per table ("" is the top level).
MANIFEST_KEYS: dict[str, tuple[str, ...]] = {
    "": ("environment", "cuda", "conda", "pypi", "build", "cache"),
    "environment": ("name", "python", "platforms", "glibc", "prefix", "interpreter"),
    "cuda": ("version", "driver-floor", "archs", "cpu-ok", "unverified"),
    "conda": ("channels", "dependencies"),
    "pypi": (
        "index-url",
        "extra-index-urls",
        "find-links",
        "dependencies",
        "constraints",
        "overrides",
        "index-strategy",
        "prerelease",
        "sources",
        "exclude-newer",
    ),
    "build": ("outputs", "base-image", "compression", "layers", "image-tar"),
    "cache": ("registry",),
}
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "environment": ("name", "python"),
    "cuda": ("version", "driver-floor"),
}


def index_order(index_url: str, extra_index_urls: Sequence[str]) -> tuple[str, ...]:
    """The order the ``first-index`` strategy asks a manifest's indexes, uv's: every extra index,
    as listed, before ``index-url``. PyPI as ``index-url`` and an internal index (or PyTorch's)
    as an extra one: the extra supplies what it has, and a public name never shadows it."""
    return (*extra_index_urls, index_url)


def manifest_indexes(priority: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """``index_order``'s inverse: indexes listed by priority as ``index-url`` (the last) and
    ``extra-index-urls`` (the rest, in order), for an importer writing another tool's list."""
    return priority[-1], tuple(priority[:-1])


def resolution_inputs(
    *,
    python: str,
    platforms: Sequence[str],
    glibc: str,
    index_url: str,
    extra_index_urls: Sequence[str],
    find_links: Sequence[str],
    index_strategy: str,
    dependencies: Sequence[str],
    conda_channels: Sequence[str],
    conda_dependencies: Sequence[str],
    cuda: tuple[str, str, Sequence[str]] | None,
    cpu_ok: Sequence[str] = (),
    unverified: Sequence[str] = (),
    sources: Sequence[tuple[str, str]] = (),
    prerelease: str = DEFAULT_PRERELEASE,
    constraints: Sequence[str] = (),
    overrides: Sequence[str] = (),
    exclude_newer: str | None = None,
) -> dict[str, Any]:
    """Everything in a manifest that can change what gets locked; nothing else. The [cuda]
    escapes (normalised names), [pypi] sources, constraints, overrides and exclude-newer (as
    ``instants.spelled`` writes it) and a prerelease other than the default count only when
    used, so older locks keep their hash. Locations
    count without their secrets (``redaction.redact``): a rotated password does not make a lock
    stale, and a bundle's manifest, which carries none (``fetch.shareable_manifest``), still
    matches its lock."""
    data: dict[str, Any] = {
        "lock-version": LOCK_VERSION,
        "python": python,
        "platforms": sorted(platforms),
        "glibc": glibc,
        "pypi": {
            "index-url": redact_urls(index_url),
            "extra-index-urls": [redact_urls(url) for url in extra_index_urls],
            "find-links": [redact_urls(url) for url in find_links],
            "index-strategy": index_strategy,
            "dependencies": sorted(dependencies),
        },
        "conda": {
            "channels": [redact_urls(channel) for channel in conda_channels],
            "dependencies": sorted(conda_dependencies),
        },
    }
    # A lock resolved when index-url was asked first (before uv's order, ``index_order``)
    # may have taken a project from another index: its hash changes, so it is locked again.
    if extra_index_urls:
        data["pypi"]["index-order"] = "extra-index-urls first"
    if sources:
        data["pypi"]["sources"] = hashed(sources)
    if prerelease != DEFAULT_PRERELEASE:
        data["pypi"]["prerelease"] = prerelease
    if constraints:
        data["pypi"]["constraints"] = sorted(constraints)
    if overrides:
        data["pypi"]["overrides"] = sorted(overrides)
    if exclude_newer is not None:
        data["pypi"]["exclude-newer"] = exclude_newer
    if cuda is not None:
        version, driver_floor, archs = cuda
        data["cuda"] = {"version": version, "driver-floor": driver_floor, "archs": sorted(archs)}
        if cpu_ok:
            data["cuda"]["cpu-ok"] = sorted(cpu_ok)
        if unverified:
            data["cuda"]["unverified"] = sorted(unverified)
    return data


def digest(inputs: Mapping[str, Any]) -> str:
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


class _Unsure(Exception):
    """The decoded TOML is not plainly a manifest; only the full reader may judge it."""


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {}) if name else data
    if not isinstance(value, dict) or set(value) - set(MANIFEST_KEYS[name]):
        raise _Unsure
    if any(key not in value for key in REQUIRED_KEYS.get(name, ())):
        raise _Unsure
    return value


def _string(table: Mapping[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise _Unsure
    return value


def _optional(table: Mapping[str, Any], key: str) -> str | None:
    return _string(table, key, "") if key in table else None


def _strings(table: Mapping[str, Any], key: str, default: Sequence[str] = ()) -> list[str]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Unsure
    return value


def toml_inputs(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The resolution inputs straight from a decoded manifest, or None when unsure.

    Only exact types and known keys are read; defaults are the manifest's. A value the full
    reader would refuse is passed through unchanged, so its hash matches no lock made from a
    valid manifest: the caller falls back to the full reader, which reports it.
    """
    try:
        _table(data, "")
        environment = _table(data, "environment")
        _string(environment, "name", "")
        pypi, conda = _table(data, "pypi"), _table(data, "conda")
        if "sources" in pypi:
            raise _Unsure  # names the full reader normalises and checks
        _table(data, "build")
        cuda = None
        if "cuda" in data:
            table = _table(data, "cuda")
            if table.get("cpu-ok") or table.get("unverified"):
                raise _Unsure  # names the full reader normalises and checks for duplicates
            cuda = (_string(table, "version", ""), _string(table, "driver-floor", ""),
                    _strings(table, "archs"))  # fmt: skip
        return resolution_inputs(
            python=_string(environment, "python", ""),
            platforms=_strings(environment, "platforms", DEFAULT_PLATFORMS),
            glibc=_string(environment, "glibc", DEFAULT_GLIBC),
            index_url=_string(pypi, "index-url", DEFAULT_INDEX),
            extra_index_urls=_strings(pypi, "extra-index-urls"),
            find_links=_strings(pypi, "find-links"),
            index_strategy=_string(pypi, "index-strategy", DEFAULT_STRATEGY),
            dependencies=_strings(pypi, "dependencies"),
            conda_channels=_strings(conda, "channels"),
            conda_dependencies=_strings(conda, "dependencies"),
            cuda=cuda,
            prerelease=_string(pypi, "prerelease", DEFAULT_PRERELEASE),
            constraints=_strings(pypi, "constraints"),
            overrides=_strings(pypi, "overrides"),
            # as written: another spelling of the same instant (a plain date) matches no lock,
            # and the full reader, which hashes ``instants.spelled``'s, judges it
            exclude_newer=_optional(pypi, "exclude-newer"),
        )
    except _Unsure:
        return None
