"""The entry point, with the no-op ``mlenv lock`` and ``mlenv lock --check`` answered first.

``lock --check`` runs in every CI job and a re-lock on every change, and most of the time the
lock is fresh. Answering that takes a TOML read and a hash, so it is done here before click,
packaging, the manifest reader, the resolver, the index client or rich are imported.

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
from pathlib import Path
from typing import Any

from mlenv.errors import MlenvError
from mlenv.inputs import MAX_MANIFEST_CHARS, digest, toml_inputs
from mlenv.lockfile import loads as load_lock
from mlenv.lockfile import target_drift
from mlenv.placement import judge_placement
from mlenv.userfiles import read_input


def _command(argv: Sequence[str]) -> tuple[Path, bool] | None:
    """The manifest path and quietness of a plain ``lock``/``lock --check``; None otherwise."""
    manifest, quiet = os.environ.get("MLENV_MANIFEST") or "mlenv.toml", False
    args = list(argv)
    while args and args[0] != "lock":
        option = args.pop(0)
        name, equals, value = option.partition("=")
        if option in ("-q", "--quiet"):
            quiet = True
        elif option in ("-v", "--verbose"):
            continue
        elif name in ("-m", "--manifest", "--cache", "--log-format") and (equals or args):
            value = value if equals else args.pop(0)
            if name == "--log-format" and value != "human":
                return None
            if name == "--cache" and Path(value).exists() and not Path(value).is_dir():
                return None  # click refuses a file as the cache directory
            if name in ("-m", "--manifest"):
                manifest = value
        else:
            return None
    if not args or not set(args[1:]) <= {"--check", "--offline"} or not manifest:
        return None
    return Path(manifest), quiet


def answer(argv: Sequence[str]) -> int | None:
    """Exit status 0 when the lock is certainly fresh for its manifest; None to run the CLI."""
    command = _command(argv)
    if command is None:
        return None
    manifest_path, quiet = command
    lock_path = manifest_path.parent / "mlenv.lock"
    try:
        text = read_input(manifest_path, "manifest").decode("utf-8")
        if len(text) > MAX_MANIFEST_CHARS:  # the full reader refuses it, and says why
            return None
        data = tomllib.loads(text)
        inputs = toml_inputs(data)
        lock_text = read_input(lock_path, "lock").decode("utf-8")
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
        print(f"{lock_path} is up to date", file=sys.stderr, flush=True)
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
    status = answer(args)
    if status is not None:
        return status
    from mlenv.cli import main as cli_main

    return cli_main(args)
