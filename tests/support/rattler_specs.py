"""What rattler's own MatchSpec reads from conda specs, asked of a child process: rattler can
crash its interpreter at exit, and the test process never imports it (the rattler tests hold
that)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import TypedDict

_SCRIPT = (
    "import json, os, sys\n"
    "from rattler import MatchSpec\n"
    "specs = [MatchSpec(s) for s in json.loads(sys.argv[1])]\n"
    "read = [{'name': m.name.normalized if m.name else None, 'version': str(m.version)}\n"
    "        for m in specs]\n"
    "print(json.dumps(read), flush=True)\n"
    "os._exit(0)\n"
)


class ReadSpec(TypedDict):
    name: str | None
    version: str


def rattler_reads(specs: Sequence[str]) -> dict[str, ReadSpec]:
    """Each spec's package name and version as rattler reads them, by spec."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, json.dumps(list(specs))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(zip(specs, json.loads(done.stdout), strict=True))


_ORDER_SCRIPT = (
    "import json, os, sys\n"
    "from rattler import Version\n"
    "def order(a, b):\n"
    "    try:\n"
    "        x, y = Version(a), Version(b)\n"
    "    except Exception:\n"
    "        return None\n"
    "    return (x > y) - (x < y)\n"
    "print(json.dumps([order(a, b) for a, b in json.loads(sys.argv[1])]), flush=True)\n"
    "os._exit(0)\n"
)


def rattler_orders(pairs: Sequence[tuple[str, str]]) -> list[int | None]:
    """-1, 0 or 1 as rattler's ``Version`` orders each pair; None when it reads one of them
    as no version."""
    done = subprocess.run(
        [sys.executable, "-c", _ORDER_SCRIPT, json.dumps(list(pairs))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return list(json.loads(done.stdout))


_CHANNEL_SCRIPT = (
    "import json, os, sys\n"
    "from rattler import Channel\n"
    "print(json.dumps([Channel(c).base_url for c in json.loads(sys.argv[1])]), flush=True)\n"
    "os._exit(0)\n"
)


def rattler_channels(channels: Sequence[str]) -> dict[str, str]:
    """The URL rattler's ``Channel`` reads each channel (a URL or an absolute directory) as,
    by channel: what it then fetches ``<subdir>/repodata.json`` below."""
    done = subprocess.run(
        [sys.executable, "-c", _CHANNEL_SCRIPT, json.dumps(list(channels))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(zip(channels, json.loads(done.stdout), strict=True))
