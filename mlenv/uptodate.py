"""The entry point, with the no-op ``mlenv lock`` and ``mlenv lock --check`` answered first.

``lock --check`` runs in every CI job and a re-lock on every change, and most of the time the
lock is fresh. Answering that takes a TOML read and a hash, so it is done here before click,
packaging, the manifest reader, the resolver, the index client or rich are imported. A plain
``lock`` that is not fresh runs the lock use case from here too, without click (whose import
and option parsing cost a warm lock about a tenth of its time); its errors become exit codes
in ``mlenv.cli.exit_status``, loaded only when one escapes.

What the fast path checks (and only when it can answer "up to date"; anything else, including
every error, goes to the full CLI, which reports it):

- the command line is exactly ``[-q|-v|--manifest M|--cache C|--log-format human] lock
  [--check] [--offline]``;
- the manifest is UTF-8 TOML within the manifest size limit, with only known keys, its
  required keys present and every resolution input (``mlenv.inputs``) of the exact type the
  manifest reader accepts;
- the lock passes the full lock reader (``mlenv.lockfile.loads``: every check any command makes
  when it reads a lock), and its ``inputs-hash`` equals the hash of those inputs: the lock was
  made by a full run from a manifest whose resolution inputs, validated then, are exactly these;
- the prefix and the interpreter pass ``mlenv.placement.judge_placement`` (security invariant
  9), as the full reader judges them: they are not in the inputs hash, so a hostile prefix
  added to a manifest whose lock is fresh would otherwise pass the check.

It does not re-validate the other manifest values that cannot change the lock (``[build]``,
name): ``mlenv build`` and ``mlenv show`` read them with the full reader.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlenv.errors import MlenvError, terminal_text
from mlenv.inputs import MAX_MANIFEST_CHARS, digest, toml_inputs
from mlenv.lockfile import loads as load_lock
from mlenv.lockfile import target_drift
from mlenv.placement import judge_placement
from mlenv.userfiles import read_input


@dataclass(frozen=True)
class PlainLock:
    """A ``lock`` command line with only the options this module reads as click would."""

    manifest: Path
    quiet: bool
    verbose: int
    cache: Path | None
    check: bool
    offline: bool


def _command(argv: Sequence[str]) -> PlainLock | None:
    """What a plain ``lock``/``lock --check`` asks for; None for any other command line."""
    manifest, quiet = os.environ.get("MLENV_MANIFEST") or "mlenv.toml", False
    verbose, cache = 0, None
    args = list(argv)
    while args and args[0] != "lock":
        option = args.pop(0)
        name, equals, value = option.partition("=")
        if option in ("-q", "--quiet"):
            quiet = True
        elif option in ("-v", "--verbose"):
            verbose += 1
        elif name in ("-m", "--manifest", "--cache", "--log-format") and (equals or args):
            value = value if equals else args.pop(0)
            if name == "--log-format" and value != "human":
                return None
            if name == "--cache":
                if Path(value).exists() and not Path(value).is_dir():
                    return None  # click refuses a file as the cache directory
                cache = Path(value)
            if name in ("-m", "--manifest"):
                manifest = value
        else:
            return None
    if not args or not set(args[1:]) <= {"--check", "--offline"} or not manifest:
        return None
    if Path(manifest).is_dir():
        return None  # click refuses a directory as the manifest
    return PlainLock(
        Path(manifest), quiet, verbose, cache, "--check" in args[1:], "--offline" in args[1:]
    )


def answer(argv: Sequence[str]) -> int | None:
    """Exit status 0 when the lock is certainly fresh for its manifest; None to run the CLI."""
    command = _command(argv)
    return None if command is None else _fresh(command)


def _fresh(command: PlainLock) -> int | None:
    manifest_path, quiet = command.manifest, command.quiet
    lock_path = manifest_path.parent / "mlenv.lock"
    try:  # the lock first: without one (a first lock, or one removed) nothing else is read
        lock_text = read_input(lock_path, "lock").decode("utf-8")
        text = read_input(manifest_path, "manifest").decode("utf-8")
        if len(text) > MAX_MANIFEST_CHARS:  # the full reader refuses it, and says why
            return None
        data = tomllib.loads(text)
        inputs = toml_inputs(data)
    except (OSError, MlenvError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    if inputs is None or not _placed(data["environment"]):
        return None
    try:
        lock = load_lock(lock_text, source=str(lock_path))
    except MlenvError:  # the full CLI reports it, the same way as for every other command
        return None
    if lock.inputs_hash != digest(inputs):
        return None
    if target_drift(lock.target, inputs["python"], inputs["glibc"], inputs["platforms"]):
        return None
    if not quiet:
        print(terminal_text(f"{lock_path} is up to date"), file=sys.stderr, flush=True)
    return 0


def _placed(environment: Mapping[str, Any]) -> bool:
    """Whether the full reader accepts the prefix and the interpreter (its defaults too)."""
    name = environment["name"]
    prefix = environment.get("prefix", f"/opt/mlenv/{name}")
    interpreter = environment.get("interpreter")
    if not isinstance(prefix, str) or not isinstance(interpreter, str | None):
        return False
    return not judge_placement(prefix, interpreter, environment.get("python", "")).problems


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = _command(args)
    if command is None:
        from mlenv.cli import main as cli_main

        return cli_main(args)
    status = _fresh(command)
    return _lock(command, args) if status is None else status


def _lock(command: PlainLock, argv: Sequence[str]) -> int:
    """The lock use case as the CLI's ``lock`` runs it, without click."""
    from mlenv.commands.lock import lock
    from mlenv.commands.session import open_session

    try:
        session = open_session(command.manifest, command.cache, command.verbose,
                               command.quiet, "human")  # fmt: skip
        lock(session, False, (), check=command.check, offline=command.offline)
    except (Exception, KeyboardInterrupt) as exc:
        from mlenv.cli import exit_status

        return exit_status(exc, argv)
    return 0
