"""Attack 73: registry and artifact downloads against loopback servers that stall, fail or
steer credentials. A blob or a wheel dripped a byte at a time (no read timeout ever trips);
registry failures the user must map from a digest back to a package; token realms on a
link-local (cloud metadata) address under several spellings; a token realm that redirects the
credentials' request to a third host; a Bearer token on a blob redirected to storage; a
layer-cache blob swapped or rewritten between its link into a layout and ``check_blobs``.
Judged on: a whole-download deadline naming the artifact, nothing partial in the cache, exit 1
without a traceback, credentials only where they belong."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from mlenv.build_outputs import check_blobs
from mlenv.cache.artifacts import Artifact, ArtifactCache
from mlenv.cache.download import DownloadTimeout, UrlOpener, fetch
from mlenv.cache.held import held_copy
from mlenv.index.http import HttpClient
from mlenv.limits import DEADLINE_ENV
from mlenv.net.origins import LocalRoots, may_send_credentials
from mlenv.report import QuietReporter
from mlenv.tarball import ContentMismatch
from tests.support.cli import run_mlenv
from tests.support.hostile_registry import Handler, HostileRegistry
from tests.support.pushed_bundle import (  # noqa: F401 (the fixtures reg, project, honest_again)
    REPO,
    Project,
    Pull,
    honest_again,
    project_fixture,
    pull,
    refused,
    reg_fixture,
)

SECRET = base64.b64encode(b"ci:s3cret").decode()


def pull_tag_1(project: Project, tmp_path: Path, reg: HostileRegistry, env: dict[str, str]) -> Pull:
    """``mlenv fetch --from oci://REG/REPO:1 --insecure`` as a user runs it."""
    return pull(project, f"oci://{reg.host}/{REPO}:1", tmp_path, env=env)


def drip(h: Handler, data: bytes, pause: float) -> None:
    """The honest bytes, one every ``pause`` seconds: each read returns in time, the whole
    never does (0.2 s a byte: the 800-byte app wheel would take minutes)."""
    h.send_response(200)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    try:
        for index in range(len(data)):
            h.wfile.write(data[index : index + 1])
            h.wfile.flush()
            time.sleep(pause)
    except OSError:
        pass  # mlenv gave up and closed the connection


def test_a_blob_dripped_a_byte_at_a_time_meets_the_whole_download_deadline(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 73: the app blob's bytes, each in time for the read timeout, the whole taking
    minutes: the fetch stops at the deadline ($MLENV_DOWNLOAD_SECONDS plus the size at the
    slowest rate), names the package, and stores no part of it."""
    data = reg.blobs[project.app]

    def override(h: Handler) -> bool:
        if h.command == "GET" and project.app in h.path:
            drip(h, data, 0.2)
            return True
        return False

    reg.override = override
    result = pull_tag_1(project, tmp_path, reg, {DEADLINE_ENV: "1"})
    refused(result, "app 1.0", "took more than 1 s", DEADLINE_ENV, project.app)
    assert result.seconds < 30, result.seconds
    assert not any(project.app[7:] in name for name in result.files()), result.files()


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf"])
def test_a_deadline_setting_that_is_no_number_of_seconds(
    reg: HostileRegistry, project: Project, tmp_path: Path, value: str
) -> None:
    """Attack 73: $MLENV_DOWNLOAD_SECONDS that is not a positive number is a located error."""
    result = pull_tag_1(project, tmp_path, reg, {DEADLINE_ENV: value})
    refused(result, DEADLINE_ENV, "not a number of seconds")


@pytest.mark.parametrize("status", [404, 403, 400])
def test_a_refused_blob_names_the_package_and_the_digest(
    reg: HostileRegistry, project: Project, tmp_path: Path, status: int
) -> None:
    """Attack 73: the registry refuses the lib blob: the error says `lib 2.0` (what the user
    knows) as well as the digest (what the registry knows)."""

    def override(h: Handler) -> bool:
        if h.command == "GET" and project.lib in h.path:
            return h.answer(status, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        return False

    reg.override = override
    result = pull_tag_1(project, tmp_path, reg, {})
    refused(result, "lib 2.0", project.lib, f"HTTP {status}")
    assert not any(project.lib[7:] in name for name in result.files())


def test_a_wheel_dripped_by_an_index_meets_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack 73: the same drip from an index (the lock's https URL through the index
    client): DownloadTimeout (not retried) naming the package and the URL; nothing stored."""
    body = os.urandom(600)
    url_path = "/files/pkg-1.0-py3-none-any.whl"
    with HostileRegistry() as server:

        def override(h: Handler) -> bool:
            drip(h, body, 0.2)
            return True

        server.override = override
        url = f"http://{server.host}{url_path}"
        artifact = Artifact("pkg 1.0", url, hashlib.sha256(body).hexdigest(), len(body))
        cache = ArtifactCache(tmp_path / "cache")
        monkeypatch.setenv(DEADLINE_ENV, "0.5")
        local = LocalRoots(loopback=True)  # the manifest names a loopback index
        opener = UrlOpener(HttpClient(read_timeout=5.0), tmp_path, local)
        start = time.monotonic()
        with pytest.raises(DownloadTimeout) as caught:
            fetch([artifact], cache, opener, reporter=QuietReporter(), sleep=lambda _: None)
        seconds = time.monotonic() - start
        gets = [seen for seen in server.seen if seen.method == "GET"]
    assert "pkg 1.0" in caught.value.message and caught.value.where == url
    assert DEADLINE_ENV in (caught.value.hint or "")
    assert seconds < 5, seconds
    assert len(gets) == 1  # a stalling server is not asked again
    assert not cache.has(artifact)
    stored = (tmp_path / "cache" / "artifacts-v1").rglob("*")
    assert [p for p in stored if p.is_file()] == []  # no partial file either


LINK_LOCAL_REALMS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://2852039166/token",  # 169.254.169.254 as one number
    "http://0xa9.0xfe.0xa9.0xfe/token",
    "http://[::ffff:169.254.169.254]/token",
    "http://[fe80::a9fe:a9fe]/token",
    "https://169.254.169.254/token",
]


@pytest.mark.parametrize("with_credentials", [True, False])
@pytest.mark.parametrize("realm", LINK_LOCAL_REALMS)
def test_a_token_realm_on_a_link_local_address(
    reg: HostileRegistry, project: Project, tmp_path: Path, realm: str, with_credentials: bool
) -> None:
    """Attack 73: a 401 naming a token realm at the cloud metadata address, however spelt:
    refused before any request, with or without credentials to send."""
    config = tmp_path / "docker"
    config.mkdir()
    auths = {reg.host: {"auth": SECRET}} if with_credentials else {}
    (config / "config.json").write_text(json.dumps({"auths": auths}))
    reg.override = lambda h: h.answer(
        401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="r"'}
    )
    result = pull_tag_1(project, tmp_path, reg, {"DOCKER_CONFIG": str(config)})
    refused(result, reg.host)
    assert "link-local" in result.stderr or "refusing to send" in result.stderr, result.stderr
    assert result.seconds < 20, result.seconds
    assert result.files() == []


def test_a_blob_redirected_to_a_link_local_address(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 73: the registry redirects a blob GET to the metadata address: refused."""

    def override(h: Handler) -> bool:
        if h.command == "GET" and "/blobs/" in h.path:
            return h.answer(307, headers={"Location": "http://169.254.169.254/latest/user-data"})
        return False

    reg.override = override
    result = pull_tag_1(project, tmp_path, reg, {})
    refused(result, "link-local", "169.254.169.254")
    assert result.files() == []


def test_bearer_credentials_and_token_stay_where_they_belong(
    reg: HostileRegistry, project: Project, tmp_path: Path
) -> None:
    """Attack 73: the registry's realm is on another port, asks a scope for another
    repository, and redirects the token request to a third host; blobs are redirected to a
    fourth (storage). The Basic credentials go to the realm only (the distribution spec's
    token auth, as Docker does), never to the host it redirected to; the token goes to the
    registry only, never to the realm's redirect target nor to storage."""
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": SECRET}}}))
    with HostileRegistry() as realm, HostileRegistry() as mint, HostileRegistry() as storage:
        mint.override = lambda h: h.answer(200, b'{"token": "tok3n"}')
        realm.override = lambda h: h.answer(
            307, headers={"Location": f"http://{mint.host}/token?{h.path.partition('?')[2]}"}
        )
        storage.blobs.update(reg.blobs)

        def override(h: Handler) -> bool:
            if h.headers.get("Authorization") != "Bearer tok3n":
                challenge = (
                    f'Bearer realm="http://{realm.host}/token",service="r",'
                    'scope="repository:someone/else:push"'
                )
                return h.answer(401, headers={"WWW-Authenticate": challenge})
            if h.command == "GET" and "/blobs/sha256:" in h.path:
                location = f"http://{storage.host}{h.path}"
                return h.answer(307, headers={"Location": location})
            return False

        reg.override = override
        result = pull_tag_1(project, tmp_path, reg, {"DOCKER_CONFIG": str(config)})
        assert result.returncode == 0, result.stderr
        assert {seen.authorization for seen in realm.seen} == {f"Basic {SECRET}"}
        assert [seen.authorization for seen in mint.seen] == [None]
        assert {seen.authorization for seen in storage.seen} == {None}
        assert len(storage.seen) == 2


@pytest.mark.parametrize(
    ("registry", "realm"),
    [
        ("https://reg.example", "http://auth.example/token"),  # downgrade to plain http
        ("https://reg.example", "https://169.254.169.254/token"),
        ("https://reg.example", "https://[fe80::1]/token"),
        ("https://reg.example", "https://127.0.0.1/token"),
        ("https://reg.example", "file:///etc/passwd"),
        ("http://10.0.0.5:5000", "http://169.254.169.254/token"),
    ],
)
def test_credentials_never_go_to_a_realm_that_downgrades_or_points_inward(
    registry: str, realm: str
) -> None:
    """Attack 73: the one decision for a token realm, across shapes a CLI test cannot reach
    on loopback (https registries, link-local and private hosts)."""
    assert not may_send_credentials(registry, realm, token_realm=True)
    assert may_send_credentials("https://169.254.10.10", "https://169.254.10.10/t")


def linked_layout_blob(tmp_path: Path, data: bytes) -> tuple[Path, Path, str]:
    """A layer-cache blob linked unread into a layout (``held_copy(later=True)``, the seam
    ``LayerCache.get(later=True)`` uses for a layout-only build): the cache's path, the
    layout's, and the digest."""
    digest = hashlib.sha256(data).hexdigest()
    cached = tmp_path / "layers" / "blob"
    cached.parent.mkdir()
    cached.write_bytes(data)
    cached.chmod(0o644)
    layout = tmp_path / "oci"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    dest = layout / "blobs" / "sha256" / digest
    with cached.open("rb") as handle:
        measured = held_copy(
            handle, cached, dest, limit=len(data), share=True, check=lambda m: m, later=True
        )
    assert measured is None and dest.stat().st_ino == cached.stat().st_ino  # linked, unread
    return cached, layout, digest


def test_a_cached_layer_swapped_after_it_was_linked_never_reaches_the_layout(
    tmp_path: Path,
) -> None:
    """Attack 73, build_outputs.check_blobs: the layer cache's file swapped for other bytes
    after the link and before the check. The layout holds the inode that was linked, the
    check reads that very file (there is no later copy: the output directory is renamed
    into dist/), so the swap changes nothing shipped and the check passes on the real bytes."""
    data = os.urandom(4096)
    cached, layout, digest = linked_layout_blob(tmp_path, data)
    swapped = cached.with_name("evil")
    swapped.write_bytes(b"evil" * 1024)
    swapped.replace(cached)
    check_blobs(layout, [f"sha256:{digest}"])
    assert (layout / "blobs" / "sha256" / digest).read_bytes() == data


def test_a_linked_layer_rewritten_in_place_before_the_check_is_caught(tmp_path: Path) -> None:
    """Attack 73: the shared inode rewritten in place (through the cache's path) between the
    link and the check: the check reads the layout's bytes, which are the rewritten ones, and
    the build is refused (it then runs again without the layer cache's copy)."""
    cached, layout, digest = linked_layout_blob(tmp_path, os.urandom(4096))
    with cached.open("r+b") as handle:
        handle.write(b"evil")
    with pytest.raises(ContentMismatch) as caught:
        check_blobs(layout, [f"sha256:{digest}"])
    assert caught.value.where == str(layout / "blobs" / "sha256" / digest)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refused_upload_names_the_layer_and_the_digest(
    reg: HostileRegistry, project: Project, tmp_path: Path, status: int
) -> None:
    """Attack 73: the registry refuses the lib wheel's upload while `fetch --bundle` pushes
    to a repository that holds nothing yet: the error names the wheel's file (the layer's
    title) as well as the digest."""

    def override(h: Handler) -> bool:
        if h.command == "HEAD" and "/blobs/" in h.path:
            return h.answer(404)  # this registry shares blobs across repositories: not here
        if h.command == "PUT" and project.lib.replace(":", "%3A") in h.path:
            return h.answer(status, b'{"errors":[{"code":"DENIED"}]}')
        return False

    reg.override = override
    ref = f"oci://{reg.host}/team/fresh{status}:1"
    done = run_mlenv(["fetch", "--bundle", ref, "--insecure"], project.root, project.env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "lib-2.0-py3-none-any.whl" in done.stderr and project.lib in done.stderr, done.stderr
    assert not any(f"team/fresh{status}/manifests" in seen.path for seen in reg.seen)
