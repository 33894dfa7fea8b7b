"""First locks as the lock memo's hostile tests run them: what each said and wrote, and whether
the memo answered it (the resolver never imported: ``-X importtime``)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import run_mlenv


@dataclass(frozen=True)
class Run:
    status: int
    lock: bytes | None
    said: list[str]
    recalled: bool
    loaded: frozenset[str]  # the modules it imported (``-X importtime``)


def first_lock(
    project: Path,
    cache: Path,
    *after: str,
    before: Sequence[str] = (),
    env: dict[str, str] | None = None,
    lock_dir: Path | None = None,
) -> Run:
    """A first `mlenv lock` run in ``project`` (its lock, in ``lock_dir`` when the manifest is
    elsewhere, removed after it): its status, bytes, what it said (timings blanked), and
    whether it was answered without the resolver. It starts a clock tick after the last write
    (a file changed within a tick of its read is never vouched for)."""
    time.sleep(0.05)
    environment = {"MLENV_CACHE_DIR": str(cache), "PYTHONPROFILEIMPORTTIME": "1", **(env or {})}
    result = run_mlenv([*before, "lock", *after], project, env=environment)
    lines = result.stderr.splitlines()
    said = [
        re.sub(r" in [0-9.]+s$", " in Ts", line) for line in lines if "import time:" not in line
    ]
    loaded = frozenset(line.split("|")[-1].strip() for line in lines if "import time:" in line)
    recalled = "mlenv.resolver" not in loaded
    lock = (lock_dir or project) / "mlenv.lock"
    data = lock.read_bytes() if lock.is_file() else None
    if data is not None:
        lock.unlink()
    return Run(result.returncode, data, said, recalled, loaded)
