"""Reading METADATA out of a remote wheel over HTTP ranges, including servers that misbehave."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import httpx
import pytest

from mlenv.index import HttpClient, HttpError, IndexFile
from mlenv.index.wheelmeta import read_wheel_metadata
from tests.support.index_files import plain_wheel_file
from tests.support.wheels import build_wheel

URL = "https://files.example/demo-1.0-py3-none-any.whl"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _file() -> IndexFile:
    return plain_wheel_file("demo", URL, "https://files.example")


def _ranged(data: bytes, *, honour: Callable[[int], bool]) -> tuple[HttpClient, list[str]]:
    """A server over ``data`` that honours the n-th range request when ``honour(n)``."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        wanted = request.headers.get("range", "")
        seen.append(wanted)
        match = _RANGE.fullmatch(wanted)
        if match is None or not honour(len(seen)):
            return httpx.Response(200, content=data)
        first, last = match.groups()
        if first == "":
            start, end = max(0, len(data) - int(last)), len(data) - 1
        else:
            start, end = int(first), min(len(data) - 1, int(last or len(data) - 1))
        headers = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        return httpx.Response(206, headers=headers, content=data[start : end + 1])

    return HttpClient(transport=httpx.MockTransport(handle), retries=0), seen


def _many_files_wheel() -> bytes:
    """A central directory far bigger than the first tail request."""
    files = {f"demo/module_{i:05d}.py": b"" for i in range(4000)}
    files["demo/blob.bin"] = random.Random(1).randbytes(300_000)
    return build_wheel("demo", "1.0", requires_dist=["dep"], files=files)[1]


def test_a_large_central_directory_takes_a_few_more_ranges() -> None:
    data = _many_files_wheel()
    http, seen = _ranged(data, honour=lambda n: True)
    assert b"Requires-Dist: dep" in read_wheel_metadata(_file(), http)
    assert seen[0] == "bytes=-65536"
    assert 2 <= len(seen) <= 8


def test_a_server_that_stops_honouring_ranges_midway_still_works() -> None:
    data = _many_files_wheel()
    http, seen = _ranged(data, honour=lambda n: n == 1)
    assert b"Requires-Dist: dep" in read_wheel_metadata(_file(), http)
    assert len(seen) == 2


def test_a_server_without_ranges_gets_one_full_download() -> None:
    _, data = build_wheel("demo", "1.0", requires_dist=["dep"])
    http, seen = _ranged(data, honour=lambda n: False)
    assert b"Requires-Dist: dep" in read_wheel_metadata(_file(), http)
    assert len(seen) == 1


def test_416_falls_back_to_a_plain_get() -> None:
    _, data = build_wheel("demo", "1.0")
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("range"))
        if "range" in request.headers:
            return httpx.Response(416)
        return httpx.Response(200, content=data)

    http = HttpClient(transport=httpx.MockTransport(handle), retries=0)
    assert b"Name: demo" in read_wheel_metadata(_file(), http)
    assert seen == ["bytes=-65536", None]


def test_a_garbled_content_range_is_an_error_not_a_guess() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, headers={"Content-Range": "bytes */*"}, content=b"PK")

    http = HttpClient(transport=httpx.MockTransport(handle), retries=0)
    with pytest.raises(HttpError, match="unusable Content-Range") as info:
        read_wheel_metadata(_file(), http)
    assert info.value.where == URL
