"""A bundle: a directory with the manifest, the lock, every artifact in the cache layout (so
it *is* a cache) and ``bundle.json``, a canonical index of every file with sha256 and size; and
the check that judges a bundle by what it holds (security invariant 1)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import stat
import tomllib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlenv.atomic import work_dir
from mlenv.cache import ARTIFACTS, BUNDLE_INDEX, LOCKS
from mlenv.cache.artifacts import Artifact, ArtifactCache, relative_path
from mlenv.cache.files import describe, open_plain
from mlenv.cache.held import Measured, measure, measure_lf
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.digests import is_sha256_hex
from mlenv.errors import MlenvError, printable
from mlenv.limits import enforce_record_items, parse_toml
from mlenv.lockfile import Lock
from mlenv.oci.model import canonical_json
from mlenv.outputs import OutputKind, check_output, read_record, replace_output
from mlenv.redaction import redact_urls
from mlenv.userfiles import read_input

BUNDLE_VERSION = 1
_CARRIED = ("mlenv.toml", "mlenv.lock")  # besides the artifacts, all a bundle holds
_CRLF = (
    "its LF line ends became CRLF on the way (a text-mode transfer: FTP ASCII, git autocrlf, a "
    "Windows copy tool); carry the bundle in binary mode"
)


def bundle_files(record: Any, directory: Path | None = None) -> frozenset[str] | None:
    """The paths a bundle.json accounts for, each file it lists (and the cache's lock files,
    which a bundle used as a cache gains, ``_locks``): anything else in the directory, at its
    top, below ``artifacts-v1/`` or ``locks-v1/``, is a user's, never replaced; None when it is
    not one."""
    if not isinstance(record, dict) or record.get("bundle-version") != BUNDLE_VERSION:
        return None
    files = record.get("files")
    if not isinstance(files, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) for e in files
    ):
        return None
    # Only a name a bundle holds (as ``_entry_problem`` reads them): a bundle.json listing
    # "data" or "artifacts-v1/mine" must not make a user's directory there the bundle's to
    # replace (attack 68); such a name is left a stranger, and the write refused naming it.
    # Each listed file is the bundle's only while it is a regular file (``outputs._strangers``):
    # a directory, symlink or FIFO a user put at an artifact's path is theirs (attack 72).
    listed = {e["path"] for e in files if _held(e["path"])}
    return frozenset({BUNDLE_INDEX} | _locks(directory) | listed)


def _locks(directory: Path | None) -> set[str]:
    """The cache's lock directory, whole while it holds only the ``*.lock`` files a fetch
    leaves there (regular files, examined with lstat); else only those files, so a user's file
    or directory put in it is a stranger, never replaced unseen (attack 83)."""
    if directory is None:
        return {f"{LOCKS}/"}
    try:
        with os.scandir(directory / LOCKS) as entries:
            names = [(e.name, e.is_file(follow_symlinks=False)) for e in entries]
    except OSError:  # none, or no directory (then a stranger itself)
        return {f"{LOCKS}/"}
    locks = {f"{LOCKS}/{name}" for name, plain in names if plain and name.endswith(".lock")}
    if len(locks) == len(names):
        return {f"{LOCKS}/"}
    # a lock file's name (one a fetch could leave) keeps the directory one the gate enters
    # even with no lock file in it, so the refusal names the user's entry, not the directory
    return locks | {f"{LOCKS}/*.lock"}


def _held(path: str) -> bool:
    """Whether ``path`` is a name a bundle holds: one it carries, or an artifact's own."""
    if path in _CARRIED:
        return True
    digest = path.rpartition("/")[2]
    return is_sha256_hex(digest) and path == relative_path(digest)


BUNDLE_OUTPUT = OutputKind("bundle", "--bundle", BUNDLE_INDEX, bundle_files)


def bundle_destination(dest: Path, manifest: Path, cache: ArtifactCache) -> Path:
    """Where the bundle goes, refused before any work unless mlenv may replace it."""
    return check_output(dest, BUNDLE_OUTPUT, keep=_bundle_keep(manifest, cache))


def _bundle_keep(manifest: Path, cache: ArtifactCache) -> dict[str, Path]:
    return {"the project directory": manifest.parent, "the cache": cache.root}


def shareable_manifest(path: Path, data: bytes | None = None) -> bytes:
    """The manifest as a bundle carries it: every credential its index and channel URLs hold
    replaced by ``***`` (``redaction.redact``; security invariant 5). A bundle travels into an air
    gap or to a registry, another origin; the lock's inputs hash counts locations without their
    secrets, so the bundle's manifest still matches the lock.

    The text is redacted where it stands (every comment and blank kept), so what TOML reads
    from it is checked: each value must read as the manifest's own with its URLs redacted
    (``redact_urls``, as the inputs hash counts it). A URL spelled with TOML escapes
    (``\\u0040`` for its ``@``, ``tok\\u0065n=``) hides its secret from a text scan, and an
    escaped quote or two strings with no blank between them let a scan cut or fuse strings:
    such a manifest is refused, naming the key, rather than carried with a secret or as other
    resolution inputs. ``data``: the manifest's bytes as read already (``Session.manifest_bytes``:
    the parent walk's), else read from ``path``."""
    text = (read_input(path, "manifest") if data is None else data).decode("utf-8")
    shared = redact_urls(text)
    parsed = _toml(shared)
    key = _changed_key(_toml(text), parsed) if parsed is not None else _changed_line(text, shared)
    if key is not None:
        raise MlenvError(
            "the bundle's copy of the manifest cannot hide this value's credentials without "
            "changing what it says (a TOML escape, an escaped quote or a line-ending backslash "
            "in a URL, or two strings with no blank between them)",
            where=f"{path}: {key}",
            hint="spell the URL's characters plainly and put a blank after each comma, or keep "
            "the credentials out of the manifest (in ~/.netrc, or the file $NETRC names)",
        )
    return shared.encode()


def _toml(text: str) -> dict[str, Any] | None:
    try:
        return parse_toml(text)
    except tomllib.TOMLDecodeError:
        return None


def _changed_line(text: str, shared: str) -> str | None:
    """Where ``shared`` (no TOML, though ``text`` may be) first differs from ``text``: the
    redaction never crosses a line's end, so their lines pair up."""
    if _toml(text) is None:
        return None  # not TOML before either: the manifest's own reader said so already
    for number, (line, other) in enumerate(
        zip(text.splitlines(), shared.splitlines(), strict=False), 1
    ):
        if line != other:
            return f"line {number}"
    return "(top level)"


def _changed_key(manifest: object, shared: object, key: str = "") -> str | None:
    """The first key (dotted) whose value in ``shared`` is not ``manifest``'s with its URLs
    redacted, or None when every one is (a text TOML cannot read reads as changed at the top)."""
    if isinstance(manifest, str):
        return None if shared == redact_urls(manifest) else key
    if isinstance(manifest, dict) and isinstance(shared, dict):
        redacted = {redact_urls(name): value for name, value in manifest.items()}
        if set(redacted) != set(shared):
            return key or "(top level)"
        for name, value in redacted.items():
            changed = _changed_key(value, shared[name], f"{key}.{name}" if key else name)
            if changed is not None:
                return changed
        return None
    if isinstance(manifest, list) and isinstance(shared, list):
        if len(manifest) != len(shared):
            return key
        for number, (item, other) in enumerate(zip(manifest, shared, strict=True)):
            changed = _changed_key(item, other, f"{key}[{number}]")
            if changed is not None:
                return changed
        return None
    return None if manifest == shared else key or "(top level)"


def write_bundle(
    dest: Path,
    manifest: Path,
    lock_path: Path,
    artifacts: Sequence[Artifact],
    cache: ArtifactCache,
    manifest_bytes: bytes | None = None,
) -> Path:
    """A complete bundle at ``dest``, or the previous one: it is built beside and swapped in.

    Every file is copied by the read that measures it, and bundle.json states what was
    measured: an artifact swapped in the cache mid-run fails the run, never enters the bundle.
    """
    dest = bundle_destination(dest, manifest, cache)
    with work_dir(dest) as scratch:
        work = scratch / "bundle"
        work.mkdir()
        entries: list[dict[str, str | int]] = []
        for data, name in ((shareable_manifest(manifest, manifest_bytes), "mlenv.toml"),
                           (read_input(lock_path, "lock"), "mlenv.lock")):  # fmt: skip
            with (work / name).open("xb") as out:
                measured = measure(io.BytesIO(data), out)
            entries.append({"path": name, "sha256": measured.sha256, "size": measured.size})

        def copy(artifact: Artifact) -> Measured:
            target = work / relative_path(artifact.sha256)
            target.parent.mkdir(parents=True, exist_ok=True)
            return cache.copy_verified(artifact, target)

        with ThreadPoolExecutor(4) as pool:  # hashing releases the GIL
            for artifact, measured in zip(artifacts, pool.map(copy, artifacts), strict=True):
                entries.append({"path": relative_path(measured.sha256), "sha256": measured.sha256,
                                "size": measured.size, "package": artifact.name})  # fmt: skip
        entries.sort(key=lambda e: str(e["path"]))
        index = {"bundle-version": BUNDLE_VERSION, "files": entries}
        (work / BUNDLE_INDEX).write_bytes(canonical_json(index) + b"\n")
        replace_output(work, dest, BUNDLE_OUTPUT, keep=_bundle_keep(manifest, cache))
    return dest


@dataclass(frozen=True)
class BundleProblem:
    kind: str  # missing | extra | not-a-file | corrupted | unlisted-artifact | index
    path: str
    detail: str


def check_bundle(
    root: Path, lock: Lock | None = None, read: Mapping[str, bytes] | None = None
) -> list[BundleProblem]:
    """Every missing, extra, not-plain or corrupted entry of a bundle, all at once.

    The bundle is judged by what it holds: every entry is examined without following a
    symlink (a symlink, directory or FIFO where a file is listed is reported, never read
    through), and every listed file is hashed through ``open_plain``; those the caller read
    already to use (``read``: the lock and manifest ``verify --bundle`` judges) are hashed
    from those bytes, so what is judged is what was hashed (invariant 1)."""
    listed, problems = _read_index(root)
    if listed is None:
        return problems
    found = _entries(root)
    wanted_dirs = {posixpath.dirname(path) for path in listed}
    wanted_dirs |= {d for path in wanted_dirs for d in _ancestors(path)}
    extra: dict[str, os.stat_result] = {}
    held: dict[str, int] = {}  # an extra directory: one line with its count, not each entry
    for path, info in sorted(found.items()):  # a directory sorts before what it holds
        if path in listed or path == BUNDLE_INDEX:
            continue
        if stat.S_ISDIR(info.st_mode) and path in wanted_dirs:
            continue
        if above := next((a for a in _ancestors(path) if a in held), None):
            held[above] += 1
        else:
            extra[path] = info
            held.update({path: 0} if stat.S_ISDIR(info.st_mode) else {})
    for path, info in extra.items():
        inside = f" holding {held[path]} entries" if held.get(path) else ""
        problems.append(  # a name from anyone: bounded, no control character (newline too)
            BundleProblem(
                "extra", printable(path, 120), f"{describe(info)}{inside}, not in bundle.json"
            )
        )
    index_info = found.get(BUNDLE_INDEX)
    if index_info is not None and not stat.S_ISREG(index_info.st_mode):
        problems.append(BundleProblem("not-a-file", BUNDLE_INDEX, describe(index_info)))

    def one(item: tuple[str, Measured]) -> BundleProblem | None:
        return _check_file(root, found, *item, (read or {}).get(item[0]))

    with ThreadPoolExecutor(2) as pool:
        problems.extend(p for p in pool.map(one, sorted(listed.items())) if p is not None)
    if lock is not None:
        for artifact in artifacts_of(lock):
            if relative_path(artifact.sha256) not in listed:
                problems.append(
                    BundleProblem("unlisted-artifact", relative_path(artifact.sha256),
                                  f"{artifact.name} is in the lock but not in the bundle")
                )  # fmt: skip
    return problems


def _read_index(root: Path) -> tuple[dict[str, Measured] | None, list[BundleProblem]]:
    """bundle.json's files, read without following a symlink; each entry must name a
    normalised path inside the bundle, once, with a sha256 and a size."""
    try:
        data = read_record(root, BUNDLE_INDEX)
        enforce_record_items(data)  # 64 MiB of `{},` was 22 million objects and lines
        index = json.loads(data)
        if not isinstance(index, dict):
            raise TypeError("not a JSON object")
        if index.get("bundle-version") != BUNDLE_VERSION:
            raise ValueError(f"bundle-version is {printable(index.get('bundle-version'), 40)}, "
                             f"this mlenv reads {BUNDLE_VERSION}")  # fmt: skip
        files = index["files"]
        if not isinstance(files, list):
            raise TypeError("files is not a list")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return None, [BundleProblem("index", BUNDLE_INDEX, f"unreadable bundle index: {detail}")]
    listed: dict[str, Measured] = {}
    problems = []
    for number, entry in enumerate(files):
        path = entry.get("path") if isinstance(entry, dict) else None
        label = printable(path, 120) if isinstance(path, str) else f"files[{number}]"
        why = _entry_problem(entry, path)
        if why is None and path in listed:
            why = "is listed twice"
        if why is not None or not isinstance(path, str):
            problems.append(BundleProblem("index", label, f"bundle.json entry {why}"))
            continue
        listed[path] = Measured(entry["sha256"], entry["size"])
    return listed, problems


def _entry_problem(entry: object, path: object) -> str | None:
    if not isinstance(entry, dict) or not isinstance(path, str):
        return "has no path"
    parts = path.split("/")
    if path == BUNDLE_INDEX or "\0" in path or {"", ".", ".."} & set(parts):
        return "names a path outside the bundle or not normalised"
    digest, size = entry.get("sha256"), entry.get("size")
    if not is_sha256_hex(digest):
        return "has no sha256 of 64 lower-case hex digits"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "has no size in bytes"
    if path.startswith(f"{ARTIFACTS}/") and path != relative_path(digest):
        return f"says sha256 {digest}, but the file's name is another's"
    if not _held(path):
        # One spelling per file: a name in another case, Unicode form, with a backslash or a
        # control character is one file on one file system and two on another.
        return f"names a file no bundle holds (only {', '.join(_CARRIED)} and {ARTIFACTS}/)"
    return None


def _entries(root: Path) -> dict[str, os.stat_result]:
    """Every entry below ``root`` by relative path, examined with lstat, never followed. A
    list of directories still to read, not ``os.walk``, which recursed once a level: a
    directory nested a thousand deep in a carried bundle ended ``verify --bundle`` in a
    RecursionError (attack 221)."""
    found: dict[str, os.stat_result] = {}
    pending = [""]
    while pending:
        at = pending.pop()
        with contextlib.suppress(OSError), os.scandir(root / at) as listing:
            for item in listing:
                path = f"{at}/{item.name}" if at else item.name
                with contextlib.suppress(OSError):
                    found[path] = info = Path(item.path).lstat()
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(path)
    return found


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _measured(handle: BinaryIO, expected: Measured) -> tuple[Measured, bool]:
    """The file's sha256 and size, and whether, its CRLFs read as LF, it is ``expected``."""
    actual = measure(handle)
    if actual.size <= expected.size:
        return actual, False
    handle.seek(0)
    return actual, measure_lf(handle) == expected


def _check_file(
    root: Path,
    found: dict[str, os.stat_result],
    path: str,
    expected: Measured,
    data: bytes | None,
) -> BundleProblem | None:
    for ancestor in [*_ancestors(path), path]:
        info = found.get(ancestor)
        if info is None:
            return BundleProblem("missing", path, "listed in bundle.json but absent")
        if ancestor != path and not stat.S_ISDIR(info.st_mode):
            return BundleProblem("not-a-file", path, f"{ancestor} is {describe(info)}")
        if ancestor == path and not stat.S_ISREG(info.st_mode):
            return BundleProblem("not-a-file", path, f"is {describe(info)}, not a plain file")
    try:
        if data is not None:
            actual, crlf = _measured(io.BytesIO(data), expected)
        else:
            with open_plain(root, path) as handle:
                actual, crlf = _measured(handle, expected)
    except OSError as exc:
        return BundleProblem("not-a-file", path, f"cannot be read: {exc.strerror or exc}")
    if crlf:
        return BundleProblem("corrupted", path, f"{actual.size} bytes, bundle.json says "
                             f"{expected.size}: {_CRLF}")  # fmt: skip
    if actual.size != expected.size:
        return BundleProblem(
            "corrupted", path, f"{actual.size} bytes, bundle.json says {expected.size}"
        )
    if actual.sha256 != expected.sha256:
        return BundleProblem(
            "corrupted", path, f"sha256 {actual.sha256}, bundle.json says {expected.sha256}"
        )
    return None
