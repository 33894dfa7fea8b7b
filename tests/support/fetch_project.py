"""A project that locks ``app`` (which requires ``lib``, a wheel big enough to be fetched in
several reads) from one index: the fetch tests and the hostile network and secrets tests serve
WHEELS from a loopback index and point make_project at it."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.wheels import build_wheel

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b"x = 1\n"}),
    build_wheel("lib", "2.0", files={"lib/__init__.py": b"", "lib/blob.bin": os.urandom(600_000)}),
]


def make_project(tmp_path: Path, index_url: str) -> Path:
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "f"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index_url}"\ndependencies = ["app"]\n'
    )
    return root
