"""The entry point, with the no-op ``mlenv lock`` and ``mlenv lock --check`` answered first.

``lock --check`` runs in every CI job and a re-lock on every change, and most of the time the
lock is fresh. Answering that takes a TOML read and a hash, so it is done here before click,
the manifest reader, the resolver, the index client or rich are imported; and once this check
has found a lock fresh, its verdict is kept in the cache by the exact bytes of both files
(``mlenv.cache.fresh``; not when a conda channel was judged by the lock's directory or HOME,
``drift.reads_places``), so the next answer reads and hashes them and imports nothing else. A plain
``lock`` that is not fresh runs the lock use case from here too, without click (whose import
and option parsing cost a warm lock about a tenth of its time); its errors become exit codes
in ``mlenv.cli.exits.exit_status``, loaded only when one escapes. A first lock (none there yet) is
written from the lock memo (``mlenv.cache.memo``) when a full run already resolved the same
inputs, and otherwise recorded (``mlenv.watch``) so that the memo may keep it.

What the fast path checks (and only when it can answer "up to date"; anything else, including
every error, goes to the full CLI, which reports it):

- the command line is exactly ``[-q|-v|--manifest M|--cache C|--log-format human] lock
  [--check|--locked|--offline|-q|-v]...`` (``cli_flags``);
- the manifest is UTF-8 TOML within the manifest size limit, with only known keys, its
  required keys present and every resolution input (``mlenv.inputs``) of the exact type the
  manifest reader accepts;
- the lock passes the full lock reader (``mlenv.lockfile_read.loads``: every check any command makes
  when it reads a lock), and its ``inputs-hash`` equals the hash of those inputs: the lock was
  made by a full run from a manifest whose resolution inputs, validated then, are exactly these;
- then the whole manifest passes the full manifest reader (``mlenv.manifest_read.parse``): a
  matching hash proves the lock was made from these inputs, not that this mlenv accepts them
  (a lock made by an older mlenv, or written by hand, matches a manifest whose CUDA target the
  rules now refuse), and the prefix and interpreter, which are not in the hash, meet
  ``mlenv.placement.judge_placement`` there (security invariant 9), so a hostile prefix added
  to a manifest whose lock is fresh is refused. Only the first judging of a pair pays for
  it; a kept verdict does not;
- and the lock's CUDA fields are what this mlenv's rules write for its pins
  (``mlenv.cuda_fields``): a lock an mlenv with other rules wrote goes to the full `lock`,
  which writes them again (a kept verdict names the code and data that gave it).
"""

from __future__ import annotations

import os
import stat
import sys

from mlenv.cache import default_root, named_root
from mlenv.cache.fresh import is_fresh, read_plain, remember_fresh
from mlenv.plainpath import absolute, child, expanduser, normal, parent

# ``typing``, ``pathlib`` and ``dataclasses`` are left out of what this module imports: with
# them, a no-op would take a third longer. Paths are text, spelled as pathlib spells them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from mlenv.commands.session import Session
    from mlenv.lockfile import Lock


class PlainLock:
    """A ``lock`` command line with only the options this module reads as click would;
    the manifest and cache paths as pathlib spells them (the cache's ``~`` expanded), and
    ``--cache`` as typed, which the session expands as the CLI's does (``./~`` stays ``~``)."""

    __slots__ = ("cache", "cache_text", "check", "manifest", "offline", "quiet", "verbose")

    def __init__(
        self, manifest: str, quiet: bool, verbose: int, cache: str | None, check: bool,
        offline: bool, cache_text: str | None,
    ) -> None:  # fmt: skip
        self.manifest, self.quiet, self.verbose = manifest, quiet, verbose
        self.cache, self.check, self.offline = cache, check, offline
        self.cache_text = cache_text


def _command(argv: Sequence[str]) -> PlainLock | None:
    """What a plain ``lock``/``lock --check`` asks for; None for any other command line."""
    named = bool(os.environ.get("MLENV_MANIFEST"))  # else the full CLI may look upward
    manifest, quiet = os.environ.get("MLENV_MANIFEST") or "mlenv.toml", False
    verbose, cache, cache_text = 0, None, None
    args = list(argv)
    while args and args[0] != "lock":
        option = args.pop(0)
        # only a long option takes "=value": click reads -m=x as the manifest "=x"
        name, equals, value = option.partition("=") if option[:2] == "--" else (option, "", "")
        if option in ("-q", "--quiet"):
            quiet = True
        elif option in ("-v", "--verbose"):
            verbose += 1
        elif name in ("-m", "--manifest", "--cache", "--log-format") and (equals or args):
            value = value if equals else args.pop(0)
            if name == "--log-format" and value != "human":
                return None
            if name == "--cache":
                try:
                    cache, cache_text = normal(named_root(value)), value
                except RuntimeError:
                    return None  # the full CLI says which home it cannot find
            if name in ("-m", "--manifest"):
                manifest, named = value, True
        else:
            return None
    if not args or not manifest:
        return None
    for option in args[1:]:  # -q and -v after the command mean what they mean before it
        if option in ("-q", "--quiet"):
            quiet = True
        elif option in ("-v", "--verbose"):
            verbose += 1
        elif option not in ("--check", "--locked", "--offline"):
            return None
    if _kind(manifest) not in ("missing", "other"):
        return None  # click refuses a directory as the manifest; and what cannot be stat'ed
    if _kind(manifest) == "missing" and not named:
        return None  # the full CLI looks in the parent directories (mlenv.discover)
    if not _cache_taken(cache):
        return None  # the full CLI refuses it, and says why
    check = bool({"--check", "--locked"} & set(args[1:]))
    return PlainLock(normal(manifest), quiet, verbose, cache, check, "--offline" in args[1:],
                     cache_text)  # fmt: skip


def _cache_taken(cache: str | None) -> bool:
    """Whether the full CLI takes the cache (``--cache``, else the default one) as it opens
    its session (``session._cache_root``): a directory, or nothing there yet, or no default
    that can be named; a file, a FIFO, a name through a file is refused (click refuses a file
    given as ``--cache`` before that)."""
    cache = cache or default_root()
    if cache is None:
        return True  # no cache: only a command that uses one fails, and this one does not
    try:
        return stat.S_ISDIR(os.stat(cache).st_mode)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False


def _kind(path: str) -> str:
    """What is at ``path``: "missing", "directory", "other", or "unknown" when that cannot be
    told (a name too long, a loop; the full CLI says what is wrong with it)."""
    try:
        return "directory" if stat.S_ISDIR(os.stat(normal(path)).st_mode) else "other"
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError):
        return "unknown"


def answer(argv: Sequence[str]) -> int | None:
    """Exit status 0 when the lock is certainly fresh for its manifest; None to run the CLI."""
    command = _command(argv)
    return None if command is None else _fresh(command)


def _fresh(command: PlainLock) -> int | None:
    manifest_path = command.manifest
    lock_path = child(parent(manifest_path), "mlenv.lock")
    # the lock first: without one (a first lock, or one removed) nothing else is read
    lock_bytes = read_plain(lock_path)
    manifest_bytes = None if lock_bytes is None else read_plain(manifest_path)
    if lock_bytes is None or manifest_bytes is None:
        return None
    cache_root = command.cache or default_root()  # None: no $HOME, no passwd entry
    if cache_root is None or not is_fresh(cache_root, manifest_bytes, lock_bytes):
        judged = _judged_fresh(manifest_bytes, lock_bytes, lock_path)
        if judged is None:
            return None
        from mlenv.drift import reads_places

        if cache_root is not None and not reads_places(judged.target.conda_channels):
            remember_fresh(cache_root, manifest_bytes, lock_bytes)
    if not command.quiet:
        _say(f"{lock_path} is up to date")
    return 0


def _judged_fresh(manifest_bytes: bytes, lock_bytes: bytes, lock_where: str) -> Lock | None:
    """The full check: every reader's rule on both files, and the inputs hash; the lock when
    it is fresh."""
    import tomllib

    from mlenv.drift import lock_drift
    from mlenv.errors import MlenvError
    from mlenv.inputs import MAX_MANIFEST_CHARS, digest, toml_inputs
    from mlenv.limits import parse_toml
    from mlenv.lockfile_read import loads as load_lock

    try:
        lock_text = lock_bytes.decode("utf-8")
        text = manifest_bytes.decode("utf-8")
        if len(text) > MAX_MANIFEST_CHARS:  # the full reader refuses it, and says why
            return None
        data = parse_toml(text)
        inputs = toml_inputs(data)
    except (MlenvError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    if inputs is None:
        return None
    try:
        lock = load_lock(lock_text, source=lock_where)
    except MlenvError:  # the full CLI reports it, the same way as for every other command
        return None
    if lock.inputs_hash != digest(inputs):
        return None
    try:  # a channel read by HOME, and HOME no directory: the full CLI says so
        if lock_drift(lock, inputs, os.path.dirname(lock_where) or "."):
            return None
    except MlenvError:
        return None
    from mlenv.cuda_fields import rederived  # an older mlenv's CUDA fields: `lock` rewrites

    return lock if rederived(lock) == lock and _reader_accepts(data) else None


def _reader_accepts(data: Mapping[str, Any]) -> bool:
    """Whether the full manifest reader accepts the manifest. A matching inputs hash proves
    only that the lock was made from these inputs, not that this mlenv accepts them: a lock
    made by an older mlenv (before CUDA 9.x archs were refused) or written by hand matches a
    manifest the full reader now refuses, and only the reader knows all its rules."""
    from mlenv.manifest_read import parse

    try:
        parse(data)
    except Exception:  # any refusal, even a reader's bug: the full CLI reports it as it would
        return False
    return True


# What each of ``redaction.redact``'s patterns needs in a text to match it (a scheme's "://" and
# a header's ":", a query's "=", a scheme-relative URL's "@", an option's "--", an HTTP
# authorization's scheme): a text with none of them is shown as it is.
# A pair's ``('Name', 'value')`` holds no ``:`` or ``=``: its opening ``(`` and quote are a mark;
# so are a short ``-p``, a netrc ``password``, an encoded ``:`` or ``=`` and a known token's prefix.
REDACTABLE = (
    ":", "=", "@", "--", "Basic", "BASIC", "Bearer", "BEARER", "bearer", "('", '("', "(b", "(\\",
    "-p", "password", "%3A", "%3a", "%3D", "%3d", "gh", "github_pat_", "hf_", "glpat-", "npm_",
    "pypi-", "xox",
)  # fmt: skip


def _say(text: str) -> None:
    """``text`` on stderr as the full CLI's reporter says it (``redaction.redact``, then
    ``hidden_text.terminal_text``; their imports only when they could change it: printable ASCII
    without a ``REDACTABLE`` mark hides nothing and holds no secret). A directory named like
    a URL's secret (``Bearer x``, ``a?token=x``) is redacted in the lock's path either way."""
    if not (text.isascii() and text.isprintable()) or any(m in text for m in REDACTABLE):
        from mlenv.hidden_text import terminal_text
        from mlenv.redaction import redact

        text = terminal_text(redact(text))
    print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        from mlenv.terminate import terminate_as_interrupt
        from mlenv.utf8mode import ensure_utf8_filenames

        ensure_utf8_filenames()
        terminate_as_interrupt()
    args = list(sys.argv[1:] if argv is None else argv)
    command = _command(args)
    if command is None:
        from mlenv.cli.app import main as cli_main

        return cli_main(args)
    status = _fresh(command)
    if status is not None:
        return status
    first = _first_lock(command)
    if first is not None and _recalled(command, first):
        return 0
    return _lock(command, args, first)


class FirstLock:
    """A first lock (no lock there) that the lock memo may answer or keep."""

    __slots__ = ("cache_root", "key", "manifest")

    def __init__(self, cache_root: str, manifest: bytes, key: str) -> None:
        self.cache_root, self.manifest, self.key = cache_root, manifest, key


def _first_lock(command: PlainLock) -> FirstLock | None:
    """Never for ``--check`` (there is a lock to check) or a verbose run (its detail is
    not remembered)."""
    directory = parent(command.manifest)
    if command.check or command.verbose or absent_target(directory) is None:
        return None
    manifest = read_plain(command.manifest)
    cache_root = command.cache or default_root()
    if manifest is None or cache_root is None:
        return None
    from mlenv.cache.memo import memo_key

    key = memo_key(manifest, os.path.realpath(directory), command.manifest, command.offline)
    return FirstLock(cache_root, manifest, key)


def absent_target(directory: str) -> str | None:
    """Where a first lock in ``directory`` is written: the real path of its ``mlenv.lock``,
    or None when anything is there (or it cannot be looked at). With nothing there, the output
    guard (``outputs.check_output``, whose import would cost a remembered lock a fifth of its
    time) refuses only a home directory not there yet (or one below it): it answers that real
    path otherwise, and so does this; a test holds the two together."""
    path = child(directory, "mlenv.lock")
    try:
        os.lstat(path)
    except FileNotFoundError:
        try:
            real = os.path.realpath(path)
            home = os.path.realpath(expanduser("~"))
        except RuntimeError:  # no home to name: the guard keeps none
            home = "/"
        except (OSError, ValueError):
            return None
        return None if (home + "/").startswith(real + "/") else real
    except (OSError, ValueError):
        return None
    return None


def _recalled(command: PlainLock, first: FirstLock) -> bool:
    """Whether the remembered lock was written, and what its first run said said again."""
    from mlenv.cache.memo import recall

    remembered = recall(first.cache_root, first.key)
    if remembered is None:
        return False
    from mlenv.atomic import atomic_writer
    from mlenv.cache.memo import WRITTEN

    target = absent_target(parent(command.manifest))
    if target is None:
        return False  # something is there now: the full run says what
    events = remembered.events
    before = events.index(WRITTEN) if WRITTEN in events else 0
    try:
        with atomic_writer(target) as handle:
            handle.write(remembered.lock)
            # what a full run says before its lock is written: if saying it fails (stderr a
            # closed pipe), no lock is, and the full run fails as it would
            _say_again(command, events[:before])
    except Exception:
        return False  # the full run reports it
    _say_again(command, [event for event in events[before:] if event != WRITTEN])
    return True


def _say_again(command: PlainLock, events: Sequence[tuple[str, ...]]) -> None:
    if not command.quiet or any(kind == "warning" for kind, *_ in events):
        from mlenv.report_human import HumanReporter, QuietReporter, replay

        replay(QuietReporter() if command.quiet else HumanReporter(), events)


def _lock(command: PlainLock, argv: Sequence[str], first: FirstLock | None) -> int:
    """The lock use case as the CLI's ``lock`` runs it, without click; a first lock is
    recorded, and kept by the memo when all it read can be stamped."""
    from pathlib import Path

    from mlenv.commands.lock import lock
    from mlenv.commands.session import open_session

    try:
        session = open_session(Path(command.manifest), command.cache_text, command.verbose,
                               command.quiet, "human")  # fmt: skip
        if first is None:
            lock(session, False, (), check=command.check, offline=command.offline)
        else:
            _first(session, command, first)
    except (Exception, KeyboardInterrupt) as exc:
        from mlenv.cli.exits import exit_status

        return exit_status(exc, argv)
    return 0


def _first(session: Session, command: PlainLock, first: FirstLock) -> None:
    """A first lock, resolved in full while its reads are recorded; kept when they vouch."""
    from dataclasses import replace

    from mlenv import watch
    from mlenv.cache.memo import WRITTEN, remember
    from mlenv.commands.lock import resolve, write_lock
    from mlenv.report import Recorder

    recorder = Recorder(session.reporter)
    session = replace(session, reporter=recorder)
    cache, output = absolute(first.cache_root), absolute(parent(command.manifest))
    with watch.recording((cache,), output) as reads:
        manifest = session.load_manifest()
        new = resolve(session, manifest, None, None, command.offline)
        said = len(recorder.events)  # write_lock says what it says after the lock is written
        data = write_lock(session, None, new, manifest=manifest)
    if read_plain(command.manifest) == first.manifest:  # the bytes the run read (stamped)
        events = recorder.events
        remember(first.cache_root, first.key, reads, data,
                 [*events[:said], WRITTEN, *events[said:]])  # fmt: skip
