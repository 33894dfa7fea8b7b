"""The lock: a model, its canonical byte-stable TOML rendering, its parser, the inputs hash.

Rendering is done by hand rather than through a TOML library so that the bytes depend on the
lock's values alone: keys in a fixed order, packages sorted, no timestamps, no host paths.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote, urlsplit

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mlenv import inputs
from mlenv.closure import unmet
from mlenv.conda.records import CondaRecord
from mlenv.digests import is_md5_hex, is_sha256_digest, is_sha256_hex
from mlenv.drift import changed_input
from mlenv.drift import drift_message as drift_message
from mlenv.drift import lock_drift as lock_drift
from mlenv.drift import target_drift as target_drift
from mlenv.errors import MlenvError, Problem, ProblemsError, hidden_problem, printable
from mlenv.inputs import LOCK_VERSION
from mlenv.instants import spelled
from mlenv.lazy_pattern import LazyPattern
from mlenv.limits import MAX_WHEEL_BYTES, listed_problem, parse_toml
from mlenv.names import PROJECT_NAME
from mlenv.platforms import NAMES as PLATFORM_NAMES
from mlenv.platforms import unknown_platform_hint
from mlenv.target import Target
from mlenv.toml_strings import basic

if TYPE_CHECKING:  # the lock reader stays light: the no-op `lock --check` (mlenv.uptodate)
    from mlenv.manifest import Manifest

HEADER = "# mlenv.lock: written by `mlenv lock` for the target in mlenv.toml. Do not edit.\n"


# `mlenv lock` keeps pins from the lock there, so it refuses a damaged one as every command does.
_REGENERATE = "regenerate it with `mlenv lock --upgrade`, which reads no pins from it"


class LockError(ProblemsError):
    """The lock file cannot be read or does not describe a valid lock."""


class StaleLockError(MlenvError):
    """The lock was made from other inputs than the manifest now holds."""


@dataclass(frozen=True)
class LockedPackage:
    """A wheel from a PyPI index, find-links directory or file:// mirror."""

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
    # Written only when true, so locks that use neither keep their bytes:
    yanked: bool = False  # PEP 592: taken through an == pin although the index yanked it
    cpu_ok: bool = False  # a CPU-only build for a CUDA target, allowed by [cuda] cpu-ok


@dataclass(frozen=True)
class LockedPlatform:
    """One platform's pins: PyPI packages and conda records."""

    platform: str
    packages: tuple[LockedPackage, ...]
    conda: tuple[CondaRecord, ...] = ()

    def by_name(self) -> dict[str, LockedPackage]:
        return {p.name: p for p in self.packages}


@dataclass(frozen=True)
class LockTarget:
    """The resolution inputs a lock was made from, as the lock records them."""

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
    conda_channels: tuple[str, ...] = ()
    conda_requirements: tuple[str, ...] = ()
    # [pypi] sources as "name=index" (drift.recorded_sources), sorted; written only when used
    sources: tuple[str, ...] | None = None
    # [pypi] prerelease; written only when not the default
    prerelease: str | None = None
    # [pypi] constraints and overrides, sorted; written only when used
    constraints: tuple[str, ...] | None = None
    overrides: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Lock:
    """mlenv.lock as a value: what every command that reads a lock works from."""

    inputs_hash: str
    target: LockTarget
    platforms: tuple[LockedPlatform, ...] = field(default_factory=tuple)
    version: int = LOCK_VERSION

    def platform(self, name: str) -> LockedPlatform:
        for platform in self.platforms:
            if platform.platform == name:
                return platform
        if name in self.target.platforms:  # nothing pinned for it: the lock writes no table
            return LockedPlatform(name, ())
        raise MlenvError(
            f"the lock has no platform {name!r}",
            where="mlenv.lock",
            hint=unknown_platform_hint(name, self.target.platforms),
        )

    def packages(self) -> list[tuple[str, LockedPackage]]:
        return [(p.platform, pkg) for p in self.platforms for pkg in p.packages]

    def conda_packages(self) -> list[tuple[str, CondaRecord]]:
        return [(p.platform, pkg) for p in self.platforms for pkg in p.conda]

    def with_platforms(self, platforms: Sequence[LockedPlatform]) -> Lock:
        return replace(self, platforms=tuple(sorted(platforms, key=lambda p: p.platform)))


# ---------------------------------------------------------------------------------------------
# The inputs hash


def resolution_inputs(manifest: Manifest) -> dict[str, Any]:
    """Everything in the manifest that can change what gets locked; nothing else."""
    env, pypi, cuda = manifest.environment, manifest.pypi, manifest.cuda
    return inputs.resolution_inputs(
        python=env.python,
        platforms=env.platforms,
        glibc=env.glibc,
        index_url=pypi.index_url,
        extra_index_urls=pypi.extra_index_urls,
        find_links=pypi.find_links,
        index_strategy=pypi.index_strategy,
        dependencies=pypi.dependencies,
        conda_channels=manifest.conda.channels,
        conda_dependencies=manifest.conda.dependencies,
        cuda=(cuda.version, cuda.driver_floor, cuda.archs) if cuda is not None else None,
        cpu_ok=cuda.cpu_ok if cuda is not None else (),
        unverified=cuda.unverified if cuda is not None else (),
        sources=pypi.sources,
        prerelease=pypi.prerelease,
        constraints=pypi.constraints,
        overrides=pypi.overrides,
        exclude_newer=spelled(pypi.exclude_newer) if pypi.exclude_newer is not None else None,
    )


def inputs_hash(manifest: Manifest) -> str:
    return inputs.digest(resolution_inputs(manifest))


def check_fresh(
    lock: Lock, manifest: Manifest, lock_path: str = "mlenv.lock", base: str | None = None
) -> None:
    made_from = resolution_inputs(manifest)
    expected = inputs.digest(made_from)
    if lock.inputs_hash != expected:
        drift = target_drift(lock.target, made_from)
        raise StaleLockError(
            "the lock is stale: it was made from other inputs than the manifest now holds "
            + (
                f"(lock {lock.inputs_hash[:19]}…, manifest {expected[:19]}…)"
                if drift is None
                else changed_input(drift)
            ),
            where=lock_path,
            hint="run `mlenv lock` to update it",
        )
    drift = lock_drift(lock, made_from, base)
    if drift is not None:
        key = drift[0] if drift[0].startswith("platform.") else f"target.{drift[0]}"
        raise StaleLockError(
            drift_message(drift), where=f"{lock_path}: {key}", hint="run `mlenv lock` to update it"
        )


# ---------------------------------------------------------------------------------------------
# Rendering


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


@dataclass(frozen=True)
class _Field:
    """One key of a table: its TOML spelling, its attribute, its type, whether it must be there."""

    key: str
    attr: str
    kind: type
    required: bool


def _fields(cls: type) -> tuple[_Field, ...]:
    """The table layout of a lock dataclass, read from its fields: one source for render and
    parse, so the two cannot drift. Keys are the attributes spelled with dashes."""
    kinds = {"str": str, "int": int, "bool": bool, "tuple[str, ...]": list}
    result = []
    for item in dataclasses.fields(cls):
        annotation = str(item.type)
        optional = annotation.endswith("| None")
        kind = kinds[annotation.removesuffix(" | None")]
        has_default = item.default is not dataclasses.MISSING or (
            item.default_factory is not dataclasses.MISSING
        )
        result.append(
            _Field(item.name.replace("_", "-"), item.name, kind, not (optional or has_default))
        )
    return tuple(result)


_TARGET = _fields(LockTarget)
_PACKAGE = _fields(LockedPackage)
_CONDA = _fields(CondaRecord)


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


# ---------------------------------------------------------------------------------------------
# Parsing


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


# ---------------------------------------------------------------------------------------------
# Consistency: invariant 8 of docs/security.md

CONDA_SUFFIXES = (".conda", ".tar.bz2")


def consistency_problems(lock: Lock, source: str = "mlenv.lock") -> list[Problem]:
    """Every way the entries of a lock contradict each other or its target, each naming the
    entry: a package whose name or version is not its file's, a URL that names another file,
    two entries of one name on a platform (PEP 503 names), one sha256 for two different files,
    a platform the target does not list, a requirement or dependency no entry provides. Build,
    fetch, export and verify trust only a lock that passes, so no entry can smuggle a file in
    under another package's name, nor one be dropped."""
    problems: list[Problem] = []
    files_by_sha: dict[str, tuple[str, str]] = {}
    for platform in lock.platforms:
        path = f"platform.{platform.platform}"
        tags = _supported_tags(lock.target, platform.platform)
        if platform.platform not in lock.target.platforms:
            problems.append(Problem(f"{source}: {path}", "is not a platform of [target].platforms"))
        seen: dict[tuple[str, str], str] = {}
        entries: list[tuple[str, LockedPackage | CondaRecord]] = [
            *((f"{path}.package[{i}]", p) for i, p in enumerate(platform.packages)),
            *((f"{path}.conda[{i}]", c) for i, c in enumerate(platform.conda)),
        ]
        for where, entry in entries:
            kind = "conda" if isinstance(entry, CondaRecord) else "package"
            if isinstance(entry, CondaRecord):
                found = _conda_problems(entry, platform.platform)
                key = (kind, entry.name.lower())  # conda and rattler fold a name's case
            else:
                found = _wheel_problems(entry, tags)
                key = (kind, canonicalize_name(entry.name))
            if key in seen:
                found.append(f"names the package of {seen[key]} again")
            seen.setdefault(key, where)
            if _UNSAFE_URL.search(entry.url):  # a line break or escape: no fetch follows it
                found.append(f"url {printable(entry.url)!r} holds control characters")
            try:
                url_file = url_filename(entry.url)
            except ValueError as exc:  # urlsplit: a bracketed host left open ("http://[::1/")
                found.append(f"url {printable(entry.url)!r} is not a URL: {exc}")
            else:
                if url_file != entry.filename:
                    found.append(f"url names the file {url_file!r}, not {entry.filename!r}")
            other = files_by_sha.setdefault(entry.sha256, (entry.filename, where))
            if other[0] != entry.filename:
                found.append(f"has the sha256 of {other[0]!r} ({other[1]}), another file")
            if found:  # labelled only then: printable runs the redactor, twice per entry
                label = f"{source}: {where} ({printable(entry.name)} {printable(entry.version)})"
                problems += [Problem(label, message) for message in found]
    held = {p.platform: p for p in lock.platforms}  # a platform without entries has no table
    for name in lock.target.platforms:
        problems += [
            Problem(f"{source}: platform.{name}{where}", message)
            for where, message in unmet(lock.target, held.get(name, LockedPlatform(name, ())))
        ]
    return problems


def url_filename(url: str) -> str:
    """The file a URL names: its path's last segment, percent-decoded (PEP 503), no query."""
    return unquote(posixpath.basename(urlsplit(url).path))


_UNSAFE_URL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _supported_tags(target: LockTarget, platform: str) -> frozenset[Tag] | None:
    """The wheel tags the target runs on this platform; None when it cannot say."""
    try:
        return frozenset(Target(platform, target.python, target.glibc).tags)
    except (LookupError, ValueError):  # a damaged target: check_fresh refuses it as stale
        return None


# A name and a version as a wheel's file name spells them (index.model: printable ASCII, no
# blank). packaging strips Unicode blanks around a version ("1.0\u2028" is 1.0) and lowers
# KELVIN SIGN to "k", so the file check alone passed text the exports write as it is: pip splits
# a requirements file at U+2028 or U+0085 and dropped the line's --hash as a stray option.
_WHEEL_VERSION = re.compile(r"[!-~]+")


def _wheel_problems(package: LockedPackage, tags: frozenset[Tag] | None) -> list[str]:
    """An entry that is not its file, else a name or version spelled otherwise than a file
    name can (the exports, the SBOM and the image write both as they are)."""
    return _file_problems(package, tags) or [
        f"{key} {text!a} is not {wanted}"  # escaped (a look-alike shown as one), cut where shown
        for key, text, pattern, wanted in (
            ("name", package.name, PROJECT_NAME, "ASCII letters, digits and '._-'"),
            ("version", package.version, _WHEEL_VERSION, "printable ASCII without blanks"),
        )
        if not pattern.fullmatch(text)
    ]


def _file_problems(package: LockedPackage, tags: frozenset[Tag] | None) -> list[str]:
    try:
        name, version, _, file_tags = parse_wheel_filename(package.filename)
    except (InvalidWheelFilename, ValueError) as exc:  # ValueError: past int's digit limit
        return [f"file {package.filename!r} is not a wheel's name: {exc}"]
    found = []
    if tags is not None and not file_tags & tags:
        found.append(f"file {package.filename!r} does not run on the target of its platform")
    if canonicalize_name(package.name) != name:
        found.append(f"name {package.name!r} is not the name of its file {package.filename!r}")
    try:
        same = Version(package.version) == version
    except ValueError:  # InvalidVersion, or a release number past int's digit limit
        same = False
    if not same:
        found.append(
            f"version {package.version!r} is not the version of its file {package.filename!r}"
        )
    return found


# A conda name as a match spec names it (``conda.records.match_spec_name``, which the closure
# reads by); a version or build as a file name part: printable ASCII, no blank, '/' or '\\'.
_CONDA_NAME = LazyPattern(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_CONDA_PART = LazyPattern(r"[\x21-\x2e\x30-\x5b\x5d-\x7e]+")


def _conda_problems(package: CondaRecord, platform: str) -> list[str]:
    found = []
    if not _CONDA_NAME.fullmatch(package.name):
        found.append(f"name {printable(package.name)!r} is not a conda package name")
    for key, part in (("version", package.version), ("build", package.build)):
        if not _CONDA_PART.fullmatch(part):
            found.append(f"{key} {printable(part)!r} is not part of a file name")
    stem = f"{package.name}-{package.version}-{package.build}"
    if package.filename not in {stem + suffix for suffix in CONDA_SUFFIXES}:
        found.append(
            f"file {package.filename!r} is not {stem}.conda or .tar.bz2 (name-version-build)"
        )
    if package.subdir not in (platform, "noarch"):
        found.append(f"subdir {package.subdir!r} is neither {platform!r} nor 'noarch'")
    if package.noarch not in (None, "python", "generic"):
        found.append(f"noarch {printable(package.noarch)!r} is not 'python' or 'generic'")
    if not is_md5_hex(package.md5):
        found.append("md5 is not 32 lower-case hex digits")
    if not 0 <= package.build_number < 1 << 63:  # rattler's record holds an unsigned 64 bits
        found.append(f"build-number {package.build_number} is not from 0 to 2**63 - 1")
    folder = f"{package.channel.rstrip('/')}/{package.subdir}"
    below, _, last = package.url.rpartition("/")
    if below != folder or "?" in last or "#" in last:
        # a channel serves its files at <channel>/<subdir>/<file>: any other URL is an edit, or
        # a channel that sends its files elsewhere (base_url), which mlenv does not follow
        found.append(
            f"url {printable(package.url)!r} is not below {printable(folder)!r}/: mlenv "
            "fetches conda packages only from a channel the manifest names (a channel whose "
            "repodata sets base_url, or a mirror whose sharded repodata does, serves its files "
            "from elsewhere: name the channel that holds them in [conda] channels)"
        )
    return found
