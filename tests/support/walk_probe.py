"""The parent-manifest walk (``find_upward``) as another user, or under other group and passwd
databases. Tests run as root: another user is a child under ``os.setuid``, and other databases
are bind mounts over /etc in a private mount namespace (``unshare --mount``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.support.netns import unshare

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import grp, os, pwd, sys  # the walk imports grp and pwd: after setuid, it could not
from pathlib import Path
import mlenv.limits, mlenv.userfiles  # before setuid: the interpreter lives in root's home
from mlenv.discover import find_upward
from mlenv.errors import UsageError
uid, gid = int(sys.argv[2]), int(sys.argv[3])
if uid >= 0:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
try:
    found = find_upward(Path(sys.argv[1]))
except UsageError as exc:
    print("refused:", exc)
else:
    print("none" if found is None else "taken")
"""


@contextlib.contextmanager
def open_tree(prefix: str) -> Iterator[Path]:
    """A directory another uid can reach (pytest's tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        Path(name).chmod(0o755)
        yield Path(name).resolve()


def probe(
    below: Path, *, uid: int = -1, gid: int | None = None, binds: Mapping[str, Path] = {}
) -> str:
    """``find_upward(below)`` in a child, as ``uid`` and ``gid`` (default: ``uid``) when given,
    with each file of ``binds`` mounted over its /etc path: "taken", "none" or "refused: ..."."""
    command = [sys.executable, "-c", PROBE, str(below), str(uid), str(uid if gid is None else gid)]
    if binds:
        mounts = " && ".join(f'mount --bind "{file}" "{etc}"' for etc, file in binds.items())
        command = [unshare(), "--mount", "--", "sh", "-c", f'{mounts} && exec "$@"', "sh", *command]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
