"""Invariant 8 of docs/security.md: a lock's entries agree with each other and with its target.

Each entry must be the file it names (name, version, tags, URL, digest, conda name-version-build
below its channel); the reader runs these rules on every lock it returns, and ``drift`` reuses
the conda ones. They live apart from the reader because they judge a ``Lock``, not TOML.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, urlsplit

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mlenv.closure import unmet
from mlenv.conda.records import CondaRecord, conda_name
from mlenv.digests import is_md5_hex
from mlenv.errors import Problem, printable
from mlenv.lazy_pattern import LazyPattern
from mlenv.lockfile import Lock, LockedPackage, LockedPlatform, LockTarget
from mlenv.names import PROJECT_NAME
from mlenv.target import Target

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
                key = (kind, conda_name(entry.name))
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
