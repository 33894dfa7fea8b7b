"""``conda.records.channel_key``: one channel, however its URL or directory is spelt.

The relock byte rule holds a conda file to the bytes the earlier lock pinned *within its
channel*; a respelling that counts as another channel lets other bytes through."""

from __future__ import annotations

import pytest

from mlenv.conda.records import channel_key

_LOCAL = (
    "/srv/chan",
    "/srv/chan/",
    "/srv//chan",
    "/srv/./chan",
    "file:///srv/chan",
    "file:/srv/chan",
    "file://localhost/srv/chan",
    "FILE://LOCALHOST/srv/chan/",
    "file:///srv/ch%61n",
)


@pytest.mark.parametrize("spelling", _LOCAL)
def test_every_spelling_of_a_local_channel_is_one_channel(spelling: str) -> None:
    """Before: ``file:/p`` kept its spelling and ``file://localhost/p`` counted its host, so
    both were channels other than ``file:///p`` (RFC 8089 reads all three as one path)."""
    assert channel_key(spelling) == channel_key("/srv/chan")


@pytest.mark.parametrize(
    "other",
    ["file://fileserver/srv/chan", "/srv/chan2", "/srv/chan/sub", "https://localhost/srv/chan"],
)
def test_another_host_or_path_is_another_local_channel(other: str) -> None:
    assert channel_key(other) != channel_key("/srv/chan")
