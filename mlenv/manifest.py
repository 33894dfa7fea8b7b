"""Parse and validate ``mlenv.toml`` into a frozen ``Manifest``.

Every problem in a manifest is collected in one pass and reported together, each naming the
file, the key path and what was expected, because users fix manifests faster that way than one
error per run.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, TypeVar, cast
from urllib.parse import SplitResult, unquote, urlsplit

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlenv import bare_file, hints
from mlenv.bare_file import bare_file_url
from mlenv.conda.channel_paths import ONE_SLASH, misread
from mlenv.echoed import without_secrets
from mlenv.errors import ManifestError, Problem, hidden_problem
from mlenv.inputs import (
    DEFAULT_GLIBC,
    DEFAULT_INDEX,
    DEFAULT_PLATFORMS,
    DEFAULT_PRERELEASE,
    DEFAULT_STRATEGY,
    MANIFEST_KEYS,
    MAX_MANIFEST_CHARS,
    PRERELEASES,
    REQUIRED_KEYS,
    TOOL_MODES,
    UV_STRATEGIES,
    Prerelease,
)
from mlenv.instants import CUTOFF_HINT, cutoff, cutoff_problem, spelled
from mlenv.lazy_pattern import LazyPattern
from mlenv.limits import listed_problem, parse_toml
from mlenv.manifest_requirements import (
    constraint_problem,
    direct_names,
    requirement_hint,
    requirement_problem,
)
from mlenv.names import PROJECT_NAME
from mlenv.placement import judge_placement
from mlenv.platforms import NAMES, conda_spelling
from mlenv.pypi_sources import Sources, hashed, lower_scheme, read_sources
from mlenv.spelled import (
    IMAGE_OUTPUTS,
    conda_channel,
    conda_line,
    cuda_version,
    glibc_version,
    nearest,
    python_version,
    tool_choice,
)

PYTHON_MINORS = tuple(f"3.{minor}" for minor in range(9, 16))
OUTPUTS = ("oci", "conda-pack")
COMPRESSIONS = ("gzip", "zstd", "none")
# Docker and Podman refuse to run an image of more than 127 layers ("max depth exceeded",
# containers/storage#489); the base image's layers count too.
MAX_LAYERS = 127
INDEX_STRATEGIES = ("first-index", "best-match")

IndexStrategy = Literal["first-index", "best-match"]
Compression = Literal["gzip", "zstd", "none"]
Layers = int | Literal["auto"]


@dataclass(frozen=True)
class Environment:
    """``[environment]``: what the environment is called, runs and targets."""

    name: str
    python: str
    platforms: tuple[str, ...]
    glibc: str
    prefix: str
    interpreter: str | None


@dataclass(frozen=True)
class Cuda:
    """``[cuda]``: the fleet the environment must run on."""

    version: str
    driver_floor: str
    archs: tuple[str, ...] = ()
    cpu_ok: tuple[str, ...] = ()  # PEP 503 names whose CPU-only build a CUDA target accepts
    # GPU packages whose CUDA mlenv cannot read, accepted unchecked (PEP 503 names, sorted)
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conda:
    """``[conda]``: the conda part of the environment."""

    channels: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class PyPI:
    """``[pypi]``: where PyPI packages come from and which are wanted."""

    index_url: str = DEFAULT_INDEX
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    index_strategy: IndexStrategy = "first-index"
    prerelease: Prerelease = "fallback"
    sources: Sources = ()  # (PEP 503 name, its only index), sorted: mlenv.pypi_sources
    # bounds on a project's versions that apply only when something requires it (pip -c, uv's
    # constraint-dependencies): never a dependency of their own
    constraints: tuple[str, ...] = ()
    # what replaces every requirement on a project they name, wherever it comes from (uv's
    # override-dependencies): for metadata that is wrong
    overrides: tuple[str, ...] = ()
    # only files an index dates strictly before this instant (UTC) are candidates (uv's
    # exclude-newer): a re-lock sees the indexes as they stood then
    exclude_newer: datetime | None = None

    def requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(text) for text in self.dependencies)

    def constraint_requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(text) for text in self.constraints)

    def override_requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(text) for text in self.overrides)


@dataclass(frozen=True)
class Build:
    """``[build]``: what ``mlenv build`` writes and how."""

    outputs: tuple[str, ...] = OUTPUTS
    base_image: str | None = None
    compression: Compression = "gzip"
    layers: Layers = 1  # "auto" or at most this many environment layers (mlenv.layer_plan)
    image_tar: bool = True  # the oci output's dist/image.tar beside the layout (False: layout only)


@dataclass(frozen=True)
class Cache:
    """A registry repository shared by a fleet as a second-level artifact cache."""

    registry: str | None = None


@dataclass(frozen=True)
class Manifest:
    """mlenv.toml, validated: the one description every command starts from."""

    environment: Environment
    cuda: Cuda | None
    conda: Conda = field(default_factory=Conda)
    pypi: PyPI = field(default_factory=PyPI)
    build: Build = field(default_factory=Build)
    source: str = "mlenv.toml"
    cache: Cache = field(default_factory=Cache)

    def to_dict(self) -> dict[str, Any]:
        """The manifest with defaults filled in, in TOML key spelling (for ``show --json``).

        Credentials are masked, a bare `user:pw@host` too: this is printed, often into CI logs.
        """
        env = self.environment
        data: dict[str, Any] = {
            "environment": _drop_none(
                {
                    "name": env.name,
                    "python": env.python,
                    "platforms": list(env.platforms),
                    "glibc": env.glibc,
                    "prefix": env.prefix,
                    "interpreter": env.interpreter,
                }
            ),
            "conda": {
                "channels": [without_secrets(url) for url in self.conda.channels],
                "dependencies": list(self.conda.dependencies),
            },
            "pypi": {
                "index-url": without_secrets(self.pypi.index_url),
                "extra-index-urls": [without_secrets(url) for url in self.pypi.extra_index_urls],
                "find-links": [without_secrets(url) for url in self.pypi.find_links],
                "dependencies": list(self.pypi.dependencies),
                "index-strategy": self.pypi.index_strategy,
                "prerelease": self.pypi.prerelease,
                "constraints": list(self.pypi.constraints),
                "overrides": list(self.pypi.overrides),
                **({"sources": hashed(self.pypi.sources)} if self.pypi.sources else {}),
                **(
                    {"exclude-newer": spelled(self.pypi.exclude_newer)}
                    if self.pypi.exclude_newer is not None
                    else {}
                ),
            },
            "build": _drop_none(
                {
                    "outputs": list(self.build.outputs),
                    "base-image": self.build.base_image,
                    "compression": self.build.compression,
                    "layers": self.build.layers,
                    "image-tar": self.build.image_tar,
                }
            ),
        }
        if self.cache.registry is not None:
            data["cache"] = {"registry": self.cache.registry}
        if self.cuda is not None:
            data["cuda"] = {
                "version": self.cuda.version,
                "driver-floor": self.cuda.driver_floor,
                "archs": list(self.cuda.archs),
            }
            # Each only when used, as in mlenv.toml: an unused escape is not worth a line.
            if self.cuda.cpu_ok:
                data["cuda"]["cpu-ok"] = list(self.cuda.cpu_ok)
            if self.cuda.unverified:
                data["cuda"]["unverified"] = list(self.cuda.unverified)
        return data


def _drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


# ---------------------------------------------------------------------------------------------
# Reading


def loads(text: str, source: str = "mlenv.toml") -> Manifest:
    """Parse manifest text; ``source`` is the file name used in every message."""
    if len(text) > MAX_MANIFEST_CHARS:
        raise ManifestError(
            f"{source}: too big to be a manifest",
            [Problem(source, f"{len(text)} characters, over the limit of {MAX_MANIFEST_CHARS}",
                     "check that this is the mlenv.toml you meant")],
        )  # fmt: skip
    if text.startswith("\ufeff"):  # tomllib: "Invalid statement" at 1:1, an invisible cause
        raise ManifestError(
            f"{source}: not valid TOML",
            [Problem(f"{source}:1:1", "the file starts with a byte-order mark (U+FEFF)",
                     'save it as UTF-8 without a byte-order mark (an editor\'s "UTF-8", not '
                     '"UTF-8 with BOM")')],
        )  # fmt: skip
    try:
        data = parse_toml(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(
            f"{source}: not valid TOML",
            [_syntax_problem(source, exc)],
        ) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and tables
        raise ManifestError(
            f"{source}: not valid TOML",
            [Problem(source, "arrays or tables nested too deeply to read",
                     "a manifest needs two levels of tables at most")],
        ) from None  # fmt: skip
    return parse(data, source)


_POSITION = LazyPattern(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> Problem:
    text = str(exc)
    match = _POSITION.match(text)
    if match is None:
        return Problem(source, f"invalid TOML: {text}", "check the file with a TOML linter")
    return Problem(
        f"{source}:{match['line']}:{match['col']}",
        f"invalid TOML: {match['msg']}",
        "fix the TOML syntax at this position (strings need quotes, tables need [brackets])",
    )


def parse(data: Mapping[str, Any], source: str = "mlenv.toml") -> Manifest:
    """Validate a decoded TOML mapping; raise one ManifestError listing every problem."""
    check = _Checker(source)
    top = check.table(data, "", _SCHEMA_KEYS[""], required=("environment",))
    environment = _environment(check, check.subtable(top, "environment"))
    cuda = _cuda(check, check.subtable(top, "cuda")) if "cuda" in top else None
    conda = _conda(check, check.subtable(top, "conda"))
    pypi = _pypi(check, check.subtable(top, "pypi"))
    build = _build(check, check.subtable(top, "build"))
    cache = Cache(check.string(check.subtable(top, "cache"), "cache.registry", None, _repository))
    if check.count:
        noun = "problem" if check.count == 1 else "problems"
        more = check.count - len(check.problems)
        shown = list(check.problems)
        if more:
            shown.append(Problem(source, f"and {more:,} more {noun} not shown"))
        raise ManifestError(f"{source}: {check.count:,} {noun} in the manifest", shown)
    return Manifest(environment, cuda, conda, pypi, build, source, cache)


_SCHEMA_KEYS = MANIFEST_KEYS

# Each is matched whole (``fullmatch``: "$" also matches before a final line break) and in
# ASCII (``\d`` also takes fullwidth and Arabic-Indic digits, which int() reads as numbers).
# The image's name too: Docker's path component (a lone '.', one or two '_', or dashes between
# alphanumerics; "a..b" was taken here and refused by the build's last step), at most 64.
_NAME = re.compile(r"(?=[a-z0-9._-]{1,64}\Z)[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_NAME_WANTED = "lower-case letters and digits, joined by '.', '_', '__' or dashes (at most 64)"


def _env_name_hint(text: str) -> str | None:
    """The name in Docker's spelling ("My Env" is "my-env"), if that is one."""
    meant = re.sub(r"[^a-z0-9._]+", "-", text.strip().lower()).strip("-._")
    return f'did you mean "{meant}"?' if is_env_name(meant) else None


def is_env_name(text: str) -> bool:
    """Whether ``text`` may name an environment (and so its image and its archive)."""
    return _NAME.fullmatch(text) is not None


_CUDA = LazyPattern(r"[1-9][0-9]?\.(?:0|[1-9][0-9]?)")  # as NVIDIA writes it: 12.4, not 12.04
_CUDA_WANTED = 'a CUDA toolkit version like "12.4" (an update such as 12.4.1 is written "12.4")'
_ARCH = LazyPattern(r"sm_[0-9]{2,3}[af]?")
_GLIBC = LazyPattern(r"2\.(\d{2})", re.ASCII)
# Not in ASCII: there ``\S`` takes U+2028, U+00A0 and U+3000, which Unicode's refuses.
# The scheme in any case (RFC 3986 3.1: HTTP:// is http://), lowered where it is kept.
_URL = re.compile(r"(?i:https?|file)://\S+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"(?i:https?|file)://")
_PATH_CONTROL = re.compile(r"[\x01-\x1f\x7f]")


def _unseen(text: str) -> str | None:
    """The first character of a value no review sees as it acts, by code point and position: a
    control or format character (a line or paragraph separator, which pip and the lock's reader
    end a line at; a bidi override or a zero-width character, which hide or reorder what a pull
    request shows), as ``errors.hidden_problem`` finds them for every string of the manifest."""
    return hidden_problem(text)


_UNSEEN_HINT = (
    "delete it (an editor may show nothing there; a TOML escape such as \\u202e spells one): "
    "mlenv.toml takes visible text only, accents, CJK and emoji included"
)


_NONEMPTY = LazyPattern(r"\S.*")

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


def _pattern(regex: re.Pattern[str] | LazyPattern, expected: str) -> Callable[[str], str | None]:
    def valid(value: str) -> str | None:
        return None if regex.fullmatch(value) else f"expected {expected}"

    return valid


def _python(value: str) -> str | None:
    if value in PYTHON_MINORS:
        return None
    if re.fullmatch(r"3\.[0-9]+\.[0-9]+", value):
        return f'expected a minor version such as "{value.rsplit(".", 1)[0]}", not a patch release'
    return f"expected a CPython minor version from {PYTHON_MINORS[0]} to {PYTHON_MINORS[-1]}"


def _glibc(value: str) -> str | None:
    match = _GLIBC.fullmatch(value)
    if match is None or int(match[1]) < 17:
        return 'expected a glibc version of at least "2.17", like "2.28"'
    return None


def _url(value: str) -> str | None:
    if not _URL.fullmatch(value):
        return "expected an http://, https:// or file:// URL"
    if _CONTROL.search(value):  # \S takes them; a NUL reached the file system as a traceback
        return "the URL holds a control character (a NUL, a line break, an escape): remove it"
    if unseen := _unseen(value):
        return f"the URL holds {unseen}: remove it"
    if "\\" in value:  # https://pypi.corp\\@evil.example: httpx reaches evil, uv and pip pypi.corp
        return (
            "the URL holds a backslash, where uv, pip and browsers end the host and mlenv's "
            "parser reads a user name, so they would ask different hosts: remove it"
        )
    try:  # urlsplit raises on a bracket left open or one with no IP address in it
        parts = urlsplit(value)
    except ValueError as exc:
        return f"it is not a URL ({exc}): write an IPv6 host as [2001:db8::1]"
    if value[:7].lower() == "file://":
        return _local_path_problem(unquote(parts.path))
    return _web_problem(parts)


def _web_problem(parts: SplitResult) -> str | None:
    """An http(s) URL mlenv could never fetch, refused where it is typed, not at the first
    fetch (``https:///host/simple`` names no host; browsers repair it, httpx does not)."""
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "its port is not a number from 0 to 65535: write https://HOST:PORT/..."
    if not parts.hostname:
        return "it names no host: write scheme://HOST/... with exactly two slashes"
    return None


def _location_hint(value: str) -> str | None:
    """How to mend a find-links directory or channel: its spelling, or a hidden character."""
    return bare_file.HINT if bare_file_url(value) else _unseen_hint(value)


def _unseen_hint(value: str) -> str | None:
    """How to mend a location holding a character no review sees (a TOML escape such as
    ``\\u2028`` is how one hides in mlenv.toml)."""
    if _unseen(value) is None:
        return None
    return "spell the location in visible characters only (rename a directory that holds one)"


def _location(value: str) -> str | None:
    if bare := bare_file_url(value):
        return bare
    if _URL.fullmatch(value) or _SCHEME.match(value):  # a blank in a URL is no local path
        return _url(value)
    if not value or "\0" in value:
        return "expected a URL or a directory path"
    if unseen := _unseen(value):  # as spelled: the lock and the exports write it so
        return f"the path holds {unseen}, which the exports would write as it is: rename it"
    return _local_path_problem(value)


def _channel(value: str) -> str | None:
    """A channel name (conda-forge), a URL or a local directory, as conda takes them, spelt
    so that rattler reads the directory its path names (``channel_paths.misread``)."""
    if not _NONEMPTY.fullmatch(value):
        return "expected a non-empty string"
    return conda_channel(value) or misread(value) or _location(value)


def _channel_hint(value: str) -> str | None:
    return ONE_SLASH if misread(value) else _location_hint(value)


# NAME_MAX of every Linux file system mlenv runs on (ext4, xfs, btrfs, tmpfs, overlayfs), and
# Linux's PATH_MAX: the bytes a path given to a system call may have, its NUL included
_NAME_MAX = 255
_PATH_MAX = 4096


def _local_path_problem(path: str) -> str | None:
    """A local path no file system can hold is the manifest's mistake, said here with its key,
    not a traceback (ENAMETOOLONG, an embedded NUL) when the lock first looks there."""
    if "\0" in path:
        return "the path holds a NUL byte (%00), which no file name can"
    if control := _PATH_CONTROL.search(path):  # origins.follow refuses a file under it
        return (
            f"the path holds the control character {control[0]!r} (a tab, a line break...), "
            "which mlenv never reads a file under: rename the directory"
        )
    if (size := len(path.encode("utf-8", "surrogatepass"))) >= _PATH_MAX:
        return (
            f"the path is {size} bytes long, over the {_PATH_MAX} (with its end) a system call "
            "takes; check the path"
        )
    longest = max(len(part.encode("utf-8", "surrogatepass")) for part in path.split("/"))
    if longest > _NAME_MAX:
        return (
            f"a name in the path is {longest} bytes long, over the {_NAME_MAX} a file system "
            "holds; check the path"
        )
    return None


# oci://HOST[:PORT]/REPOSITORY (distribution/reference's grammar, without tag or digest),
# matched whole: "$" also matched before a final line break, which then reached the registry.
_REPOSITORY_REF = LazyPattern(
    r"oci://[A-Za-z0-9.-]+(?::[0-9]+)?/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


def _repository(value: str) -> str | None:
    if _REPOSITORY_REF.fullmatch(value):
        return None
    return (
        "expected oci://REGISTRY/REPOSITORY (no tag), e.g. oci://registry.internal:5000/mlenv/cache"
    )


def _environment(check: _Checker, table: Mapping[str, Any]) -> Environment:
    name = check.string(
        table, "environment.name", "", _pattern(_NAME, _NAME_WANTED), _env_name_hint
    )
    python = check.string(
        table, "environment.python", "", _python, lambda value: python_version(value, PYTHON_MINORS)
    )
    platforms = check.string_list(table, "environment.platforms", DEFAULT_PLATFORMS, _one_of(NAMES))
    if "platforms" in table and isinstance(table["platforms"], list) and not table["platforms"]:
        check.add("environment.platforms", "must list at least one platform", 'e.g. ["linux-64"]')
    glibc = check.string(table, "environment.glibc", DEFAULT_GLIBC, _glibc, glibc_version)
    prefix = check.string(table, "environment.prefix", f"/opt/mlenv/{name}")
    interpreter = check.string(table, "environment.interpreter", None)
    placement = judge_placement(prefix, interpreter, python)
    for problem in placement.problems:
        check.add(f"environment.{problem.key}", problem.message, problem.hint)
    return Environment(name, python, platforms, glibc, placement.prefix, placement.interpreter)


def _cuda(check: _Checker, table: Mapping[str, Any]) -> Cuda:
    version = check.string(table, "cuda.version", "", _pattern(_CUDA, _CUDA_WANTED), cuda_version)
    floor = check.string(table, "cuda.driver-floor", "", _driver, _driver_hint)
    archs = check.string_list(table, "cuda.archs", (), _arch)
    if version and floor:
        _check_driver_floor(check, version, floor)
    if version and archs:
        _check_archs(check, version, table["archs"])
    cpu_ok = _package_names(check, table, "cpu-ok", "torch")
    return Cuda(
        version, floor, archs, cpu_ok, _package_names(check, table, "unverified", "xformers")
    )


def _driver(value: str) -> str | None:
    """Through the one driver reader: ASCII digits and dots, exact (no padding)."""
    if _driver_hint(value) is None:
        return None
    return 'expected an NVIDIA driver version like "550.54.14"'


def _driver_hint(value: str) -> str | None:
    """The driver reader's own hint (a branch such as R570, a pasted nvidia-smi line)."""
    from mlenv.cuda.versions import CudaError, DriverVersion

    try:
        DriverVersion.parse(value)
    except CudaError as exc:
        return exc.hint or "write it as nvidia-smi prints it, e.g. 550.54.14"
    return None


def _arch(value: str) -> str | None:
    if re.fullmatch(r"compute_[0-9]{2,3}[af]?", value):
        real = "sm_" + value.removeprefix("compute_")
        return f"expected a GPU (sm_XY); {value} is a virtual (PTX) architecture, write {real}"
    if _ARCH.fullmatch(value):
        return None
    # nvidia-smi's compute_cap (8.6, 12.0) or CMake's CUDA_ARCHITECTURES (86): the same GPU
    spelled = re.fullmatch(r"(?:sm_?)?([0-9]{1,2})\.?([0-9][af]?)", value, re.IGNORECASE)
    real = f"sm_{spelled[1]}{spelled[2].lower()}" if spelled else ""
    return 'expected a GPU architecture like "sm_80"' + (f"; write {real}" if real else "")


def _check_archs(check: _Checker, version: str, archs: Sequence[object]) -> None:
    """Every GPU in cuda.archs must exist and be one the target CUDA compiles for, before any
    resolving: a typo or a dropped architecture (CUDA 13 has no sm_50-sm_72) fails here."""
    from mlenv.cuda.matrix import min_driver
    from mlenv.cuda.rules import CudaTarget, arch_findings
    from mlenv.cuda.versions import CudaError, CudaVersion

    try:
        cuda = CudaVersion.parse(version)
        target = CudaTarget(cuda, min_driver(cuda))
    except CudaError:
        return  # _check_driver_floor reports the unknown CUDA
    for position, arch in enumerate(archs):
        if not isinstance(arch, str) or _arch(arch) is not None:
            continue  # string_list reported it
        try:
            found = arch_findings(replace(target, archs=(arch,)))
        except CudaError as exc:
            check.add(f"cuda.archs[{position}]", exc.message, exc.hint)
            continue
        for finding in found:
            check.add(f"cuda.archs[{position}]", finding.message, finding.hint)


def _package_names(
    check: _Checker, table: Mapping[str, Any], key: str, example: str
) -> tuple[str, ...]:
    """A [cuda] list of distribution names (cpu-ok, unverified): PEP 503-normalised, each once."""
    names = check.string_list(
        table, f"cuda.{key}", (), _pattern(PROJECT_NAME, f'a distribution name like "{example}"')
    )
    spellings = Counter(canonicalize_name(name) for name in set(names))
    for name, count in sorted(spellings.items()):
        if count > 1:
            check.add(
                f"cuda.{key}",
                f"{name!r} is listed more than once (names compare PEP 503-normalised)",
                "list each package once",
            )
    return tuple(sorted(spellings))


def _check_driver_floor(check: _Checker, version: str, floor: str) -> None:
    """The fleet's oldest driver must run the target toolkit (release notes Table 3)."""
    from mlenv.cuda.matrix import known_cuda_versions, min_driver, minor_compat_note
    from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion

    cuda = CudaVersion.parse(version)
    if cuda not in known_cuda_versions():
        known = ", ".join(str(v) for v in known_cuda_versions() if v.major == cuda.major)
        check.add(
            "cuda.version",
            f"CUDA {cuda} is not a known CUDA release",
            f"known CUDA {cuda.major}.x releases: {known}" if known else "use a released CUDA",
        )
        return
    try:
        needed = min_driver(cuda)
    except CudaError as exc:
        check.add("cuda.version", exc.message, exc.hint)
        return
    if DriverVersion.parse(floor) < needed:
        check.add(
            "cuda.driver-floor",
            f"driver {floor} is below {needed}, the driver CUDA {cuda} needs: the container "
            f"runtime will not start an image for CUDA {cuda} (NVIDIA_REQUIRE_CUDA) on it",
            f"raise driver-floor to {needed}, or target an older CUDA release "
            f"({minor_compat_note(cuda.major)})",
        )


_MATCH_SPEC_HINT = "write conda MatchSpecs such as 'numpy >=1.26' or 'python 3.11.*'"


def _match_spec(value: str) -> str | None:
    """A MatchSpec rattler will read; one holding a control or format character is refused:
    rattler drops a ``# comment`` unread, so ``purepkg #\x7f`` locked, and a line separator or
    bidi override there is text no reviewer of the manifest sees."""
    if not _NONEMPTY.fullmatch(value):
        return "expected a non-empty string"
    if hidden := hidden_problem(value):
        return f"holds a control or format character, {hidden}: remove it"
    return conda_line(value)


def _conda(check: _Checker, table: Mapping[str, Any]) -> Conda:
    channels = check.string_list(table, "conda.channels", (), _channel, _channel_hint)
    dependencies = check.string_list(
        table, "conda.dependencies", (), _match_spec, lambda _: _MATCH_SPEC_HINT
    )
    if dependencies and not channels:
        check.add(
            "conda.channels",
            "conda dependencies are listed but no channel is",
            'add channels = ["conda-forge"] or a local channel URL',
        )
    return Conda(channels, dependencies)


def _pypi(check: _Checker, table: Mapping[str, Any]) -> PyPI:
    strategy = check.choice(
        table, "pypi.index-strategy", INDEX_STRATEGIES, DEFAULT_STRATEGY, UV_STRATEGIES
    )
    prerelease = check.choice(table, "pypi.prerelease", PRERELEASES, DEFAULT_PRERELEASE, TOOL_MODES)
    index_url = check.string(table, "pypi.index-url", DEFAULT_INDEX, _url, _unseen_hint)
    index_url = lower_scheme(index_url)
    extra = check.string_list(table, "pypi.extra-index-urls", (), _url, _unseen_hint)
    links = check.string_list(table, "pypi.find-links", (), _location, _location_hint)
    extra, links = tuple(map(lower_scheme, extra)), tuple(map(lower_scheme, links))
    raw = table.get("dependencies")
    sources = read_sources(
        table.get("sources"),
        report=check.add,
        valid_url=_url,
        general=(index_url, *extra, *links),
        direct=direct_names(raw if isinstance(raw, list) else []),
    )
    return PyPI(
        index_url=index_url,
        extra_index_urls=extra,
        find_links=links,
        dependencies=check.string_list(
            table,
            "pypi.dependencies",
            (),
            requirement_problem,
            requirement_hint,
        ),
        index_strategy=cast(IndexStrategy, strategy),
        prerelease=cast(Prerelease, prerelease),
        sources=sources,
        constraints=check.string_list(
            table, "pypi.constraints", (), constraint_problem, requirement_hint
        ),
        overrides=check.string_list(
            table, "pypi.overrides", (), requirement_problem, requirement_hint
        ),
        exclude_newer=_cutoff(
            check.string(table, "pypi.exclude-newer", None, cutoff_problem, _when)
        ),
    )


def _when(_value: str) -> str:
    return CUTOFF_HINT


def _cutoff(value: str | None) -> datetime | None:
    return None if value is None else cutoff(value)


def _build(check: _Checker, table: Mapping[str, Any]) -> Build:
    outputs = check.string_list(
        table, "build.outputs", OUTPUTS, _one_of(OUTPUTS, IMAGE_OUTPUTS, "oci")
    )
    if table.get("outputs") == []:  # a build that writes nothing (was an internal error)
        check.add("build.outputs", "must list at least one output", 'e.g. ["oci"]')
    base = check.string(table, "build.base-image", None, _location)
    compression = check.choice(table, "build.compression", COMPRESSIONS, "gzip")
    image_tar = table.get("image-tar", True)
    if not isinstance(image_tar, bool):
        check.wrong_type("build.image-tar", image_tar, "true or false")
        image_tar = True
    layers = _layers(check, table)
    return Build(outputs, base, cast(Compression, compression), layers, image_tar)


def _layers(check: _Checker, table: Mapping[str, Any]) -> Layers:
    """A count or "auto"; a TOML boolean is no count, though Python calls it an int."""
    expected = f'"auto" or an integer from 1 to {MAX_LAYERS}'
    value = table.get("layers", 1)
    if value == "auto" or (type(value) is int and 1 <= value <= MAX_LAYERS):
        return cast(Layers, value)
    if isinstance(value, str) or type(value) is int:
        quoted = (
            isinstance(value, str)
            and value.isascii()
            and value.isdigit()
            and 0 < int(value) <= MAX_LAYERS
        )
        check.add(
            "build.layers",
            f"{value!r} is not valid: expected {expected}",
            f"write layers = {value} without quotes: a TOML integer is unquoted"
            if quoted
            else '"auto" gives big packages their own layers; 1 keeps one layer',
        )
    else:
        check.wrong_type("build.layers", value, expected)
    return 1
