"""``--locked`` and ``--frozen``, as uv spells them, for the commands that read a lock.

`fetch`, `build` and `export` refuse a lock the manifest has moved past (what uv's ``--locked``
asks for), so ``--locked`` says that default out loud for a CI line typed from uv habit.
``--frozen`` takes the lock as it is, as uv's does: the manifest's resolution inputs are not
compared with it. Unlike uv, a stale lock taken so is said on stderr, naming the file and what
changed, so a build from an old lock is never silent. It skips that comparison and nothing
else: an entry the lock's own [target] does not explain (one nothing in it reaches, one from
an index it does not name, a mark the manifest does not allow) is an edit, not staleness, and
is refused as without ``--frozen`` (``drift.own_drift``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlenv.drift import drift_message, own_drift
from mlenv.errors import UsageError
from mlenv.lockfile import StaleLockError
from mlenv.lockfile_fresh import check_fresh, resolution_inputs

if TYPE_CHECKING:
    from mlenv.commands.session import Session
    from mlenv.lockfile import Lock
    from mlenv.manifest import Manifest

LOCKED_HELP = "Refuse a lock the manifest has moved past (the default; as uv's --locked)."
FROZEN_HELP = (
    "Use mlenv.lock as it is, without comparing it with the manifest (as uv's --frozen); "
    "a stale lock is said on stderr."
)


def exclusive(locked: bool, frozen: bool) -> None:
    """``--locked`` asks for the check ``--frozen`` skips: both at once is a usage error."""
    if locked and frozen:
        raise UsageError(
            "--locked and --frozen exclude each other: --locked refuses a stale lock, "
            "--frozen uses it as it is",
            where="command line",
            hint="drop one of them",
        )


def judge_lock(
    session: Session, lock: Lock, manifest: Manifest, *, frozen: bool, bundled: bool = False
) -> None:
    """The freshness every lock reader judges: a stale lock refused, or with ``frozen``,
    said and used. A lock ``bundled`` with its manifest (``fetch --bundle``) must be fresh
    even so: `verify --bundle` and the air-gapped `lock --check` judge the pair together, so
    a stale pair would be carried into the air gap only to be refused there."""
    where, base = str(session.lock_path), str(session.manifest_path.parent)
    try:
        check_fresh(lock, manifest, where, base)
        return
    except StaleLockError as stale:
        if not frozen:
            raise
        if bundled:
            raise StaleLockError(
                f"--frozen --bundle: {stale.message}; a bundle carries the manifest and its "
                "lock, and `verify --bundle` refuses a stale pair",
                where=stale.where or where,
                hint="run `mlenv lock` first, or fetch --frozen without --bundle",
            ) from None
        edited = own_drift(lock, resolution_inputs(manifest), base)
        if edited is not None:
            raise StaleLockError(
                drift_message(edited) + " (--frozen takes a stale lock, never an edited one)",
                where=f"{where}: {edited[0]}",
                hint="run `mlenv lock`, or take the lock back from version control",
            ) from None
        place = stale.where or where
        session.reporter.warning(f"{place}: --frozen: used as it is, though {stale.message}")
