"""The wheels the registry bundle and blob-mount tests push to a real registry: ``app``
requiring ``lib``, which carries 300 kB of random bytes (the same within one test run)."""

from __future__ import annotations

import os

from tests.support.wheels import build_wheel

WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b"x = 1\n"}),
    build_wheel("lib", "2.0", files={"lib/__init__.py": b"", "lib/blob.bin": os.urandom(300_000)}),
]
