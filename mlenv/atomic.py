"""Atomic replacement of files and directory trees: readers, and whoever looks after a crash,
see the old complete version or the new one, never a torn one and never none."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # a remembered lock is written through here: it imports neither
    from collections.abc import Iterator
    from pathlib import Path
    from typing import BinaryIO

    from mlenv.cache.files import StrPath

_AT_FDCWD = -100
WORK_MARK = ".mlenv-work"  # inside every work directory: what a later run may sweep
_RENAME_EXCHANGE = 2


@contextlib.contextmanager
def atomic_writer(path: StrPath, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    directory, name = os.path.split(os.fspath(path))
    directory = directory or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = _temporary(directory, name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            # by descriptor: a symlink put at the temporary name meanwhile is not followed
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _temporary(directory: str, name: str) -> tuple[int, str]:
    """A new private file ``.NAME.RANDOM.tmp`` in ``directory``, as ``tempfile.mkstemp``
    makes one (never through a symlink, never one already there), without its import. RANDOM
    is eight characters, as mkstemp's: a longer one would refuse a name mkstemp could write
    (one within 14 bytes of the file system's limit: ENAMETOOLONG)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", directory)


def write_atomic(path: StrPath, data: bytes, mode: int = 0o644) -> None:
    """``data`` at ``path`` (a lock, an export: a file at a path the user chose). A directory
    where no temporary can be made (read-only, another user's, a name too long for it) or a
    disk that fills is the user's to fix, said as work_dir says it; it was exit 2. Nothing was
    changed: the temporary is gone and ``path`` not replaced. Streaming callers of
    ``atomic_writer`` (image.tar) keep the OSError, which the build names itself."""
    try:
        with atomic_writer(path, mode) as handle:
            handle.write(data)
    except OSError as exc:
        from pathlib import Path

        raise _unwritable(Path(os.fspath(path)), exc) from exc


def _fsync_dir(directory: StrPath) -> None:
    """Make the rename itself durable; some file systems refuse, which is harmless here."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def work_dir(dest: Path) -> Iterator[Path]:
    """A private directory beside ``dest`` to build its replacement in, removed afterwards.

    It stays locked while in use, so each run first removes what killed runs left beside
    ``dest`` (their locks died with them) and never a directory a concurrent run is using.
    Creating and sweeping happen under a lock on the parent, so no sweep can catch a directory
    between its creation and its lock.
    """
    import tempfile
    from pathlib import Path

    parent = dest.parent
    prefix = f".{dest.name}.work-"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        parent_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise _unwritable(dest, exc) from exc
    work, work_fd = None, -1
    try:
        fcntl.flock(parent_fd, fcntl.LOCK_EX)
        for stale in parent.glob(f"{prefix}*"):
            _remove_if_abandoned(stale)
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(work_fd, fcntl.LOCK_EX)
        (work / WORK_MARK).touch()
    except BaseException as exc:  # an interrupt before the mark: not left for a later sweep
        if work is not None:
            _rmtree(work, ignore_errors=True)
        if work_fd >= 0:
            os.close(work_fd)
        if isinstance(exc, OSError):
            raise _unwritable(dest, exc) from exc
        raise
    finally:
        os.close(parent_fd)  # releases the parent's lock
    try:
        yield work
    finally:
        try:
            _rmtree(work, ignore_errors=True)
        except BaseException:  # an interrupt stopped the clean-up itself: finish it first
            _rmtree(work, ignore_errors=True)
            raise
        finally:
            os.close(work_fd)


def _unwritable(dest: Path, exc: OSError) -> Exception:
    """A directory this user cannot write in (a read-only mount, another user's, a full disk)
    is the user's to fix, named with a hint; it was a traceback (exit 2). Its OSError stays
    the cause (a build names a full disk from it)."""
    from mlenv.errors import MlenvError

    hint = (
        "write it to a directory this user can write, on a writable file system with room;"
        " nothing there was changed"
    )
    if exc.errno == errno.ENAMETOOLONG:  # the name fits, the temporary beside it does not
        hint = (
            "choose a shorter name: mlenv first writes a temporary beside it, named after it"
            " and a few bytes longer; nothing there was changed"
        )
    return MlenvError(
        f"cannot write {dest.name} here: {exc.strerror or exc}", where=str(dest.parent), hint=hint
    )


def _remove_if_abandoned(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # not a directory, or gone already
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # a live run holds it
    else:
        # Only what mlenv made: its mark inside, or empty (killed before the mark). A user's
        # directory that merely shares the name is kept.
        if (path / WORK_MARK).is_file() and not (path / WORK_MARK).is_symlink():
            _rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.rmdir()
    finally:
        os.close(fd)


def replace_dir(new: Path, dest: Path) -> None:
    """Put the directory ``new`` at ``dest`` in one step, its files made durable first.

    An existing ``dest`` is exchanged with ``new`` by ``renameat2(RENAME_EXCHANGE)``, so there
    is no moment without a ``dest``; the old tree, now at ``new``, is then removed. File systems
    without the exchange fall back to two renames, with a moment where ``dest`` is missing.
    """
    for path in sorted(new.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    try:
        new.rename(dest)  # atomic when dest is absent (or an empty directory)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        if not _exchange(new, dest):
            old = new.with_name(f"{new.name}.old")
            dest.rename(old)
            new.rename(dest)
            new = old
        _rmtree(new)
    _fsync_dir(dest.parent)


def _rmtree(path: StrPath, ignore_errors: bool = False) -> None:
    """``shutil.rmtree``, imported here: a remembered lock's write does not need shutil."""
    import shutil

    shutil.rmtree(path, ignore_errors=ignore_errors)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False when the kernel or file system cannot."""
    import ctypes  # only a directory replaced over an existing one needs it, not every write

    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))
