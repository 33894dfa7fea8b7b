"""Attack 67: the air-gap flow through a hostile registry, through the real CLI. `mlenv fetch
--bundle oci://` pushes to, and `mlenv fetch --from oci://` reads from, a loopback registry
(tests/support/hostile_registry.py) that lies: other bytes, other manifests, hostile titles,
endless or nested manifests, redirects and challenges elsewhere, lying lengths, encodings,
busy answers, and digests it never stored. Judged on: nothing unverified in the cache, exit 1
with a located error and no traceback, bounded time and memory, credentials kept home."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlenv.oci.bundle import TITLE
from tests.support.cli import run_mlenv
from tests.support.hostile_registry import Handler, HostileRegistry
from tests.support.httpserver import IndexServer
from tests.support.pushed_bundle import (  # noqa: F401 (the fixtures reg, project, honest_again)
    REPO,
    Project,
    honest_again,
    project_fixture,
    pull,
    refused,
    reg_fixture,
)
from tests.support.siteca import make_ca

Manifest = dict[str, Any]


def scripted(reg: HostileRegistry, path_part: str, act: Callable[[Handler], object]) -> None:
    """``act`` answers every GET whose path contains ``path_part``; the rest stays honest."""

    def override(h: Handler) -> bool:
        if h.command == "GET" and path_part in h.path:
            act(h)
            return True
        return False

    reg.override = override


def store_manifest(reg: HostileRegistry, tag: str, data: bytes) -> None:
    reg.manifests[tag] = data


def edited(
    reg: HostileRegistry, project: Project, tag: str, edit: Callable[[Manifest], None]
) -> None:
    document = json.loads(reg.manifests[project.digest])
    edit(document)
    store_manifest(reg, tag, json.dumps(document).encode())


def test_other_bytes_for_a_locked_digest(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: the registry serves other bytes (same length) for the lib wheel's digest."""
    size = len(reg.blobs[project.lib])
    scripted(reg, project.lib, lambda h: h.answer(200, b"\0" * size))
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path)
    refused(result, "lib")
    assert project.lib[7:] not in result.stored()


def test_a_bundle_lacking_an_artifact_or_listing_extra_layers(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: the lock decides. A manifest without the lib wheel stores nothing and names
    it; layers the lock does not name are never downloaded, the locked ones are."""

    def drop_lib(document: Manifest) -> None:
        document["layers"] = [x for x in document["layers"] if x["digest"] != project.lib]

    edited(reg, project, "short", drop_lib)
    result = pull(project, f"oci://{reg.host}/{REPO}:short", tmp_path / "a")
    refused(result, "lib", "not in")
    assert result.stored() == []

    stranger = "sha256:" + "ab" * 32
    edited(reg, project, "extra", lambda d: d["layers"].append(
        {"mediaType": "application/vnd.mlenv.artifact.v1", "digest": stranger, "size": 9}
    ))  # fmt: skip
    result = pull(project, f"oci://{reg.host}/{REPO}:extra", tmp_path / "b")
    assert result.returncode == 0, result.stderr
    assert result.stored() == sorted([project.lib[7:], project.app[7:]])
    assert not [s for s in reg.seen if stranger in s.path]


HOSTILE_TITLES = [
    "../../../../escaped.whl",
    "/tmp/absolute.whl",
    "nul\0byte.whl",
    "x" * 10_000,
    "ok.whl\n\x1b[2Kfetched everything: OK",
]


def test_hostile_layer_titles_never_become_file_names(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: titles are the registry's words; the cache names files by the lock's sha256,
    and no title reaches the terminal."""

    def retitle(document: Manifest) -> None:
        for layer, title in zip(document["layers"][2:], HOSTILE_TITLES, strict=False):
            layer["annotations"][TITLE] = title

    edited(reg, project, "titles", retitle)
    work = tmp_path / "deep" / "er" / "still"
    work.mkdir(parents=True)
    result = pull(project, f"oci://{reg.host}/{REPO}:titles", work)
    assert result.returncode == 0, result.stderr
    assert result.stored() == sorted([project.lib[7:], project.app[7:]])
    assert not list(tmp_path.rglob("escaped.whl")) and not Path("/tmp/absolute.whl").exists()
    assert "fetched everything: OK" not in result.stderr and "\x1b" not in result.stderr
    assert "x" * 200 not in result.stderr


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda d: d.update(artifactType="application/vnd.other+json"), id="artifactType"
        ),
        pytest.param(
            lambda d: d.update(mediaType="application/vnd.oci.image.index.v1+json"), id="mediaType"
        ),
        pytest.param(lambda d: d.update(schemaVersion=1), id="schemaVersion"),
        pytest.param(lambda d: d.update(layers={"a": 1}), id="layers-not-list"),
        pytest.param(lambda d: d["layers"].append("sha256:" + "0" * 64), id="layer-not-object"),
    ],
)
def test_a_manifest_that_is_not_an_mlenv_bundle(
    reg: HostileRegistry,
    project: Project,
    tmp_path: Path,
    edit: Callable[[Manifest], None],
) -> None:
    """Attack 67: a manifest of another kind (artifact type, media type, an image index) is
    refused before any blob is read."""
    edited(reg, project, "odd", edit)
    before = len(reg.seen)
    result = pull(project, f"oci://{reg.host}/{REPO}:odd", tmp_path)
    refused(result, "not an mlenv bundle")
    assert result.stored() == []
    assert not [s for s in reg.seen[before:] if "/blobs/" in s.path]


def test_an_image_index_instead_of_a_manifest(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: the tag names an image index (whose one manifest is the real bundle)."""
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": project.digest, "size": len(reg.manifests[project.digest])}],
    }  # fmt: skip
    store_manifest(reg, "index", json.dumps(index).encode())
    result = pull(project, f"oci://{reg.host}/{REPO}:index", tmp_path)
    refused(result, "not an mlenv bundle")
    assert result.stored() == []


def test_an_endless_manifest_streamed_slowly(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: a 100 MB manifest trickled in 4 KiB writes stops at the JSON bound (16 MiB):
    the registry never gets to send most of it, and the CLI exits 1 in bounded time."""
    sent = [0]

    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(100 << 20))
        h.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        h.end_headers()
        h.wfile.write(b'{"layers": [')
        chunk = b" " * 4096
        try:
            while sent[0] < 100 << 20:
                h.wfile.write(chunk)
                h.wfile.flush()
                sent[0] += len(chunk)
        except OSError:
            pass

    scripted(reg, "/manifests/", endless)
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path)
    refused(result)
    assert sent[0] < 40 << 20, sent[0]
    assert result.stored() == []
    print(f"endless manifest: {result.seconds:.1f}s, {sent[0]} bytes sent")


def test_a_manifest_trickled_a_byte_at_a_time(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: a manifest sent a byte every 0.2 s never trips the read timeout (it bounds
    each pause, not the answer). The whole answer has a deadline (300 s, shortened here to
    1 s): exit 1 naming it, instead of waiting for ever."""

    def trickle(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        try:
            for _ in range(100):
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    scripted(reg, "/manifests/", trickle)
    setup = "import mlenv.oci.auth as a\na.ANSWER_SECONDS = 1.0"
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path, setup=setup)
    refused(result, "took more than 1 s", "/manifests/1")
    assert result.seconds < 10, result.seconds
    assert result.stored() == []


def test_a_json_bomb_manifest(reg: HostileRegistry, project: Project, tmp_path: Path) -> None:
    """Attack 67: a manifest nested a million deep is a located error, not a RecursionError."""
    store_manifest(reg, "bomb", b"[" * 1_000_000 + b"]" * 1_000_000)
    result = pull(project, f"oci://{reg.host}/{REPO}:bomb", tmp_path)
    refused(result, "nested too deeply")
    assert result.stored() == []


def test_a_digest_reference_served_other_bytes(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: content addressing. `@sha256:` names the pushed manifest; the registry
    serves another (a valid bundle, one layer dropped) for it."""
    document = json.loads(reg.manifests[project.digest])
    document["layers"] = document["layers"][:-1]
    reg.manifests["evil"] = json.dumps(document).encode()
    scripted(reg, f"/manifests/{project.digest}", lambda h: h.answer(200, reg.manifests["evil"]))
    result = pull(project, f"oci://{reg.host}/{REPO}@{project.digest}", tmp_path)
    refused(result, f"not {project.digest}")
    assert result.stored() == []


def test_blob_redirect_to_another_origin_carries_no_credentials(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: a registry that wants Basic credentials redirects blob GETs to another
    origin (another loopback port, as storage would be): the blobs arrive verified and the
    credentials stay with the registry."""
    storage = tmp_path / "storage"
    storage.mkdir()
    for digest in (project.lib, project.app):
        (storage / digest[7:]).write_bytes(reg.blobs[digest])
    secret = base64.b64encode(b"ci:s3cret").decode()
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": secret}}}))
    with IndexServer(storage) as other:

        def override(h: Handler) -> bool:
            if h.headers.get("Authorization") != f"Basic {secret}":
                h.answer(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
                return True
            if h.command == "GET" and "/blobs/sha256:" in h.path:
                h.answer(307, headers={"Location": f"{other.url}/{h.path.rsplit(':', 1)[1]}"})
                return True
            return False

        reg.override = override
        result = pull(
            project, f"oci://{reg.host}/{REPO}:1", tmp_path, env={"DOCKER_CONFIG": str(config)}
        )
        assert result.returncode == 0, result.stderr
        assert result.stored() == sorted([project.lib[7:], project.app[7:]])
        assert len(other.requests) == 2
        assert all("authorization" not in r.headers for r in other.requests)


@pytest.mark.parametrize("realm", ["file:///etc/passwd", "ftp://127.0.0.1/token", "http://[::1/x"])
def test_a_challenge_whose_realm_is_not_fetchable(
    reg: HostileRegistry, project: Project, tmp_path: Path, realm: str
) -> None:
    """Attack 67: a 401 naming a token realm mlenv must not or cannot fetch is a located error."""

    def override(h: Handler) -> bool:
        h.answer(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'})
        return True

    reg.override = override
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path)
    refused(result, reg.host, "token realm")
    assert result.stored() == []
    assert len(result.stderr) < 1500


@pytest.mark.parametrize("declared", [-100, 100])
def test_a_content_length_that_lies(
    reg: HostileRegistry, project: Project, tmp_path: Path, declared: int
) -> None:
    """Attack 67: the lib blob's Content-Length says 100 bytes fewer, or more, than it sends
    (then hangs up): nothing is stored, the artifact is named."""
    blob = reg.blobs[project.lib]

    def lying(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(blob) + declared))
        h.end_headers()
        h.wfile.write(blob[: len(blob) + min(declared, 0)])
        h.close_connection = True

    scripted(reg, project.lib, lying)
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path)
    refused(result, project.lib[7:])  # a short body is named by its digest, a long one by name
    assert project.lib[7:] not in result.stored()
    assert result.seconds < 20


def test_an_endless_blob(reg: HostileRegistry, project: Project, tmp_path: Path) -> None:
    """Attack 67: the lib blob announced as 1 GiB and sent without end: the cache's verified
    write stops past the lock's size, so the registry sends little more than it."""
    size = len(reg.blobs[project.lib])
    sent = [0]

    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(1 << 30))
        h.end_headers()
        try:
            while sent[0] < 1 << 30:
                h.wfile.write(b"\0" * 65536)
                sent[0] += 65536
        except OSError:
            pass

    scripted(reg, project.lib, endless)
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path)
    refused(result, "lib", f"more than the {size} bytes")
    assert project.lib[7:] not in result.stored()
    assert sent[0] < size + (16 << 20), sent[0]


def test_a_gzip_encoded_blob(reg: HostileRegistry, project: Project, tmp_path: Path) -> None:
    """Attack 67: mlenv asks for identity; a blob sent gzip-encoded anyway is its encoded
    bytes, which do not match the lock: refused, nothing stored."""
    packed = gzip.compress(reg.blobs[project.lib])
    scripted(reg, project.lib, lambda h: h.answer(200, packed, {"Content-Encoding": "gzip"}))
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path)
    refused(result, "lib")
    assert project.lib[7:] not in result.stored()


PATIENCE = "import mlenv.oci.patience as p\np.BUDGET = 3.0\np.MAX_RETRY_AFTER = 1.0"


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("what", ["/manifests/", "/blobs/sha256:"])
def test_a_registry_busy_forever_with_a_huge_retry_after(
    reg: HostileRegistry, project: Project, tmp_path: Path, status: int, what: str
) -> None:
    """Attack 67: `Retry-After: 999999` on every manifest or blob GET. The client honours a
    Retry-After only up to its cap and repeats within its session budget (both shortened here
    to 1 s and 3 s, with the real cap/budget the same logic takes 10 s and 60 s), then fails
    naming the status: bounded, nothing stored."""
    scripted(reg, what, lambda h: h.answer(status, headers={"Retry-After": "999999"}))
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path, setup=PATIENCE)
    refused(result, f"HTTP {status}")
    assert result.stored() == []
    # the budget, plus fetch's own backoff between its 4 attempts of a blob (0.5+1+2 s)
    assert result.seconds < 3.0 + 3.5 + 5, result.seconds


def push(project: Project, ref: str) -> subprocess.CompletedProcess[str]:
    return run_mlenv(["fetch", "--bundle", ref, "--insecure"], project.root, project.env, 120)


def test_a_push_whose_registry_names_another_digest_for_a_blob(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: the registry closes the lib wheel's upload (201) but says it stored another
    digest (Docker-Content-Digest): the push fails there, and no manifest is put that would
    promise the lib wheel."""
    other = "sha256:" + hashlib.sha256(b"something else").hexdigest()

    def override(h: Handler) -> bool:
        if h.command == "HEAD" and "/blobs/" in h.path:
            h.answer(404)  # nothing is there yet: every blob is uploaded
            return True
        if h.command == "PUT" and f"digest={project.lib}".replace(":", "%3A") in h.path:
            h.body()
            h.answer(201, headers={"Docker-Content-Digest": other})
            return True
        return False

    reg.override = override
    before = len(reg.seen)
    pushed = push(project, f"oci://{reg.host}/team/lying:1")
    assert pushed.returncode == 1, pushed.stderr
    assert "Traceback" not in pushed.stderr
    assert project.lib in pushed.stderr and other in pushed.stderr, pushed.stderr
    assert not [s for s in reg.seen[before:] if s.method == "PUT" and "/manifests/" in s.path]


def test_a_push_to_a_registry_that_claims_blobs_it_never_stored(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: HEAD answers 200 for every blob and nothing is uploaded; the manifest is
    accepted. The push cannot tell (the distribution API's HEAD is the registry's word), but the
    manifest promises only digests: a pull from it stores nothing and names the missing blob."""
    reg.override = lambda h: h.command == "HEAD" and "/blobs/" in h.path and h.answer(200)
    pushed = push(project, f"oci://{reg.host}/team/hollow:1")
    assert pushed.returncode == 0, pushed.stderr
    assert "0 blob(s) uploaded" in pushed.stderr
    # the blobs were never pushed to team/hollow: a registry keeps them per repository
    reg.override = lambda h: "/team/hollow/blobs/" in h.path and h.answer(404)
    result = pull(project, f"oci://{reg.host}/team/hollow:1", tmp_path)
    assert result.returncode == 1, result.stderr
    assert "HTTP 404" in result.stderr and "Traceback" not in result.stderr
    assert result.stored() == []


def test_a_plain_http_registry_without_insecure(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 67: https to a plain-http registry fails at TLS with the --insecure hint."""
    result = pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path, args=())
    refused(result, "--insecure")
    assert result.stored() == []


def test_a_self_signed_https_registry(project: Project, tmp_path: Path) -> None:
    """Attack 67: a registry whose certificate no trusted CA signed fails naming the
    certificate, and says how to trust a site CA; --insecure does not turn that into http."""
    ca = make_ca(tmp_path / "ca")
    (tmp_path / "www").mkdir()
    with IndexServer(tmp_path / "www", tls=ca) as server:
        host = server.url.removeprefix("https://")
        result = pull(project, f"oci://{host}/{REPO}:1", tmp_path, args=())
        refused(result, host)
        assert "certificate" in result.stderr.lower(), result.stderr
        assert result.stored() == []
