"""The lock use case: the manifest locked for its target into mlenv.lock, changed minimally; and
``add``/``remove``, which lock the edited manifest before writing either file."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlenv import lockfile, lockfile_fresh, lockfile_read, lockfile_render
from mlenv.commands.session import Session
from mlenv.errors import MlenvError, UsageError
from mlenv.manifest import Manifest
from mlenv.outputs import LOCK_FILE, OutputKind

if TYPE_CHECKING:
    from pathlib import Path

    from mlenv.edit import Edited
    from mlenv.upgrade import Upgrade

MANIFEST_FILE = OutputKind("manifest", "--manifest")


def lock(
    session: Session,
    upgrade: bool,
    upgrade_package: Sequence[str],
    *,
    check: bool,
    offline: bool,
    flag: str = "--check",
    no_index: bool = False,
) -> None:
    """Lock the project; with an unchanged manifest nothing is resolved again, and every pin
    that still satisfies it is kept unless an upgrade says otherwise."""
    if check and (upgrade or upgrade_package):
        moving = "--upgrade" if upgrade else "--upgrade-package"
        raise UsageError(
            f"{flag} and {moving} exclude each other: {flag} only judges the lock, it moves no pin",
            where="command line",
            hint=f"run `mlenv lock {moving} ...` to move pins, then `mlenv lock {flag}` in CI",
        )
    manifest = session.load_manifest()
    path = session.lock_path
    previous = session.load_lock() if path.exists() and not upgrade else None
    if check:
        judged = session.load_lock()
        lockfile_fresh.check_fresh(judged, manifest, str(path), str(path.parent))
        _check_cuda_fields(judged, str(path))
        session.reporter.info(f"{path} is up to date")
        return
    base = str(path.parent)
    if previous is not None and not upgrade_package and _fresh(previous, manifest, base):
        from mlenv.cuda_fields import rederived

        again = rederived(previous)  # pins kept; CUDA fields as this mlenv's rules write them
        if again == previous:
            session.reporter.info(f"{path} is up to date")
            return
        session.reporter.info(f"{path}: CUDA fields written again by this mlenv's rules")
        write_lock(session, previous, again, manifest=manifest)
        return
    if no_index:  # only now: a fresh lock needs no index, and --no-index does not stop it
        from mlenv.no_index import check_no_index

        check_no_index(manifest)
    moves = None  # minimal change: mlenv.upgrade is imported only when pins are asked to move
    if upgrade or upgrade_package:
        from mlenv.upgrade import Upgrade

        moves = Upgrade.of(upgrade, tuple(upgrade_package))
    new = resolve(session, manifest, previous, moves, offline, no_index=no_index)
    write_lock(session, previous or _for_the_report(session, upgrade), new, manifest=manifest)


def _for_the_report(session: Session, upgrade: bool) -> lockfile.Lock | None:
    """The lock `--upgrade` replaces, read only to report what moved (``~ c 2.0a1 -> 1.0``,
    not ``+ c 1.0``): `--upgrade` never resolves from it, so a lock it cannot read (the
    damaged lock `--upgrade` is the way out of) reports every pin as new."""
    if not upgrade or not session.lock_path.exists():
        return None
    try:
        return session.load_lock()
    except MlenvError:
        return None


def _check_cuda_fields(lock: lockfile.Lock, where: str) -> None:
    """A lock whose CUDA fields (``cuda``, ``requires-driver``) this mlenv's rules write
    otherwise is stale: `mlenv lock` would rewrite it, and `verify` refuses it."""
    from mlenv.cuda_fields import rederived

    if rederived(lock) != lock:
        raise lockfile.StaleLockError(
            "the lock's CUDA fields (cuda, requires-driver, requires-driver-because) are not "
            "what this mlenv's CUDA rules write for its pins (an older mlenv, or a hand edit, "
            "wrote them)",
            where=where,
            hint="run `mlenv lock` to write them again; it moves no pin",
        )


def _fresh(previous: lockfile.Lock, manifest: Manifest, base: str) -> bool:
    """The freshness `lock --check` judges (inputs hash and the lock's target): a lock whose
    [target] drifted from the manifest is re-locked, never called up to date."""
    try:
        lockfile_fresh.check_fresh(previous, manifest, base=base)
    except lockfile.StaleLockError:
        return False
    return True


def resolve(
    session: Session,
    manifest: Manifest,
    previous: lockfile.Lock | None,
    upgrade: Upgrade | None,
    offline: bool,
    *,
    no_index: bool = False,
) -> lockfile.Lock:
    """The lock for ``manifest``: the one resolution path `lock`, `add` and `remove` share."""
    from mlenv.index import MetadataCache
    from mlenv.locking import lock_manifest
    from mlenv.locking_sources import open_sources

    with session.http(offline, manifest) as http:
        cache = MetadataCache(session.cache_root)
        directory = session.manifest_path.parent
        sources = open_sources(manifest, http, cache, directory, no_index=no_index)
        return lock_manifest(
            manifest, sources, reporter=session.reporter, previous=previous, upgrade=upgrade
        )


def write_lock(
    session: Session,
    previous: lockfile.Lock | None,
    new: lockfile.Lock,
    data: bytes | None = None,
    *,
    manifest: Manifest,
) -> bytes:
    """mlenv.lock written through the output guard, and what changed reported; its bytes
    (``data``: ``rendered(new)`` already judged by the caller). A build this lock cannot run
    for want of an interpreter is said now, before a multi-gigabyte fetch, not after it."""
    from mlenv.interpreter_needed import missing_for_lock
    from mlenv.relock import changes

    path = session.lock_path
    data = rendered(new, str(path)) if data is None else data
    session.write_file(path, data, LOCK_FILE, _lock_keep(session))
    diff = changes(previous, new)
    for change in diff:
        session.reporter.info(str(change))
    count = sum(len(p.packages) + len(p.conda) for p in new.platforms)
    session.reporter.info(f"wrote {path}: {count} package(s), {len(diff)} change(s)")
    if said := missing_for_lock(manifest, new):
        session.reporter.warning(said)
    return data


def _lock_keep(session: Session) -> dict[str, Path]:
    return {"the manifest": session.manifest_path}


def rendered(new: lockfile.Lock, where: str) -> bytes:
    """The lock's bytes, refused unless its own reader accepts them (security invariant 8):
    what the indexes and channels answered is untrusted, and a record that contradicts itself
    (a conda record whose subdir is not its platform's, a version or build that is not its
    file's) made a lock every later command refused as damaged, whose hint (`lock
    --upgrade`) wrote it again. Nothing is written when it fails."""
    text = lockfile_render.render(new)
    try:
        lockfile_read.loads(text, where)
    except lockfile.LockError as error:
        raise lockfile.LockError(
            f"{where}: not written: the indexes and channels answered a lock mlenv would "
            f"refuse to read ({len(error.problems)} problem(s))",
            [dataclasses.replace(problem, hint=_SOURCE_HINT) for problem in error.problems],
        ) from None
    return text.encode()


_SOURCE_HINT = (
    "the index or channel serving this package publishes metadata that contradicts its own "
    "file (a conda channel's repodata.json, an index page): re-index or fix that source, or "
    "drop the package from the manifest"
)


def apply_edit(session: Session, edited: Edited, no_lock: bool, offline: bool) -> None:
    """Lock the edited manifest, then write it and its lock; on any failure, write nothing.

    The manifest goes first: if the lock's write were lost, the lock is merely stale (its
    inputs hash says so) and `mlenv lock` repeats the resolution from the intended manifest.
    """
    from mlenv.upgrade import Upgrade

    path = session.manifest_path
    if not edited.edits:
        session.reporter.info(f"{path} already says that; nothing changed")
        return
    previous = session.load_lock() if session.lock_path.exists() else None
    new = None
    if not no_lock:
        moves = Upgrade.edited(edited.names)
        new = resolve(session, edited.manifest, previous, moves, offline)
    data = None if new is None else rendered(new, str(session.lock_path))
    if new is not None:  # a lock the guard refuses (a symlink) must not follow an edited manifest
        session.writable(session.lock_path, LOCK_FILE, _lock_keep(session))
    for edit in edited.edits:  # only now: a failed lock changes nothing, so says nothing
        session.reporter.info(str(edit))
    session.write_file(path, edited.text.encode(), MANIFEST_FILE)
    session.reporter.info(f"wrote {path}")
    if new is None:
        session.reporter.info("the lock was not updated: run `mlenv lock`")
        return
    write_lock(session, previous, new, data, manifest=edited.manifest)
