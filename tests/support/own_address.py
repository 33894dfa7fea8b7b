"""Tests that need this machine to carry addresses that are no loopback, as a LAN host, a
container or a cloud VM has them: each such test runs itself again inside a private network and
mount namespace (``unshare --net --mount``, as root) whose ``lo`` also carries ``OWN_V4``,
``INDEX_V4`` and ``OWN_V6``, and whose /etc/hosts names ``OWN_NAME`` at ``OWN_V4``. Nothing of
the host's network or /etc/hosts is touched: both end with the namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.netns import unshare

OWN_V4 = "198.51.100.7"  # an address of this machine that is no loopback
INDEX_V4 = "198.51.100.9"  # another one, where the user's own index is served
OWN_V6 = "2001:db8::7"
OWN_NAME = "files.lan"  # /etc/hosts: OWN_V4, as a host's own name is in a container
_INSIDE = "MLENV_TEST_OWN_ADDRESSES"


def ran_inside(request: pytest.FixtureRequest, tmp_path: Path) -> bool:
    """Outside the namespace: run this very test inside one, assert it passed and say so
    (the caller returns). Inside: False, and the caller's body runs there."""
    if os.environ.get(_INSIDE):
        return False
    hosts = tmp_path / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n::1 localhost ip6-localhost\n{OWN_V4} {OWN_NAME}\n")
    setup = (
        f"ip link set lo up && ip addr add {OWN_V4}/32 dev lo && ip addr add {INDEX_V4}/32 dev lo"
        f" && ip -6 addr add {OWN_V6}/128 dev lo nodad && mount --bind {hosts} /etc/hosts && "
        'exec "$0" "$@"'
    )
    command = [unshare(), "--net", "--mount", "--", "sh", "-c", setup, sys.executable]
    command += ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", request.node.nodeid]
    inner = subprocess.run(
        command,
        cwd=request.config.rootpath,
        env={**os.environ, _INSIDE: "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert inner.returncode == 0, inner.stdout[-6000:] + inner.stderr[-2000:]
    return True
