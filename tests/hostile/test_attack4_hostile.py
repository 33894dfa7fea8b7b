"""Adversary pass 3: registry answers of any size, records that vanish, odd cache shards,
non-regular input files, text from outside reaching the terminal, hostile locks and pages.

Each test attacks one invariant of docs/security.md through a shape the earlier passes did not
try; its docstring names the invariant it protects.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from mlenv.limits import LimitError
from mlenv.oci import registry
from mlenv.tarball import Entry
from tests.support.cli import run_mlenv
from tests.support.flood import Flood, FloodServer
from tests.support.images import write_image

pytestmark = pytest.mark.hostile

# ---------------------------------------------------------------------------------------------
# Invariant 7: a registry's token and error answers are bounded in bytes, not only in nesting

CHALLENGE = Flood(
    status=401,
    prefix=b"",
    size=0,
    headers={"WWW-Authenticate": 'Bearer realm="{url}/token",service="flood"'},
)
NO_BODY = Flood(status=200, prefix=b"", size=0)

FLOODS = {
    "endless-token": {"/v2/": CHALLENGE, "/token": Flood()},
    "chunked-token": {"/v2/": CHALLENGE, "/token": Flood(length=False)},
    "gzip-bomb-token": {"/v2/": CHALLENGE, "/token": Flood(size=1 << 30, gzip=True)},
    "refused-token": {"/v2/": CHALLENGE, "/token": Flood(status=401, prefix=b"{")},
    "error-body": {"/v2/": Flood(status=500, prefix=b'{"errors": [')},
    "chunked-error-body": {"/v2/": Flood(status=503, prefix=b"<html>", length=False)},
    "gzip-bomb-error": {"/v2/": Flood(status=500, size=1 << 30, gzip=True)},
    "upload-reply": {"/v2/": NO_BODY, "/v2/flood/blobs/uploads/": Flood(status=202)},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory holding ``dist/oci``, an image to push."""
    root = tmp_path_factory.mktemp("pushed")
    (root / "f.txt").write_bytes(b"hello")
    entries = [Entry("opt", "dir", 0o755), Entry("opt/x.txt", "file", 0o644, root / "f.txt", 5)]
    write_image(root / "dist" / "oci", [("base", entries)], ref="latest", cmd=["sh"])
    return root


@pytest.mark.parametrize("shape", sorted(FLOODS))
def test_a_registry_answer_of_gigabytes_is_a_clear_error_in_bounded_memory(
    built: Path, shape: str
) -> None:
    """Invariant 7 (`oci.auth.bound_answer`): a token answer, an error page or an upload reply
    of 10 GB (declared, chunked, or a gzip bomb) stops at 16 MiB with an error naming the
    registry; before, httpx read every answer whole and only its JSON nesting was bounded."""
    with FloodServer(FLOODS[shape]) as server:
        started = time.monotonic()
        result = run_mlenv(["push", "--insecure", f"{server.host}/flood:1"], built, timeout=120)
        took = time.monotonic() - started
        sent = server.sent
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "more than 16,777,216" in result.stderr, result.stderr
    assert "127.0.0.1" in result.stderr
    assert sent < 64 << 20  # the client hung up long before the end of the body
    assert took < 60


def test_a_blob_download_is_not_bounded_like_an_answer_even_after_a_redirect() -> None:
    """Invariant 7's bound must not cap layers: a blob of 20 MiB redirected to storage (as
    ECR and S3 do, to a path without ``/blobs/``) is streamed whole; the manifest answer
    beside it stays bounded."""
    layer = b"\x1f" * (20 << 20)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        if "/blobs/" in request.url.path:
            return httpx.Response(307, headers={"Location": "https://storage.test/x?sig=1"})
        if request.url.host == "storage.test":
            return httpx.Response(200, stream=httpx.ByteStream(layer))
        return httpx.Response(200, stream=httpx.ByteStream(b"[" * (17 << 20)))

    transport = httpx.MockTransport(handle)
    with registry.reader("registry.test/r:1", transport=transport) as session:
        with session.blob("sha256:" + "0" * 64) as stream:
            assert len(stream.read()) == len(layer)
        with pytest.raises(LimitError, match="more than 16,777,216"):
            session.find_manifest("1")
