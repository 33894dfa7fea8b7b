"""References, Docker config credentials, and the push protocol against an in-memory registry
behind a Bearer token service (the flow Docker Hub and cloud registries use; the real
docker-registry with Basic auth is in tests/integration/test_registry_push.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mlenv.oci import registry_session
from mlenv.oci.auth import guard_request
from mlenv.oci.credentials import Credentials, docker_credentials
from mlenv.oci.reference import Reference, RegistryError, parse_reference
from mlenv.oci.registry import push
from mlenv.oci.write import ImageResult
from mlenv.report import MemoryReporter
from tests.support import fake_registry
from tests.support.fake_registry import REALM, FakeRegistry, Seen, encoded

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5000/team/env:1.0", Reference("127.0.0.1:5000", "team/env", "1.0", None)),
        ("localhost/env", Reference("localhost", "env", "latest", None)),
        ("registry:5000/env", Reference("registry:5000", "env", "latest", None)),
        ("[::1]:5000/env:x", Reference("[::1]:5000", "env", "x", None)),
        ("reg.example.com/a/b@" + DIGEST, Reference("reg.example.com", "a/b", None, DIGEST)),
        ("reg.example.com/a:t@" + DIGEST, Reference("reg.example.com", "a", "t", DIGEST)),
        ("python", Reference("docker.io", "library/python", "latest", None)),
        ("team/env:2", Reference("docker.io", "team/env", "2", None)),
    ],
)
def test_references_are_read_as_docker_reads_them(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text", ["", "reg.example.com/Team/env", "reg.example.com/env:bad tag", "env@sha256:abc"]
)
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(RegistryError) as error:
        parse_reference(text)
    assert error.value.where == text and error.value.hint


def test_docker_hub_is_served_from_its_api_host() -> None:
    assert parse_reference("python:3.11").api_host == "registry-1.docker.io"
    assert parse_reference("127.0.0.1:5000/env").api_host == "127.0.0.1:5000"


def write_config(directory: Path, auths: dict[str, object]) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"auths": auths}))
    return {"DOCKER_CONFIG": str(directory)}


@pytest.mark.parametrize(
    "key", ["127.0.0.1:5000", "https://127.0.0.1:5000", "http://127.0.0.1:5000/v1/"]
)
def test_credentials_come_from_the_docker_config_auths(tmp_path: Path, key: str) -> None:
    env = write_config(
        tmp_path, {"other:1": {"auth": encoded("x:y")}, key: {"auth": encoded("ci:p:w")}}
    )
    assert docker_credentials("127.0.0.1:5000", env) == Credentials("ci", "p:w")
    assert docker_credentials("127.0.0.1:5001", env) is None


def test_docker_hub_credentials_use_the_v1_key_and_plain_fields(tmp_path: Path) -> None:
    env = write_config(
        tmp_path, {"https://index.docker.io/v1/": {"username": "me", "password": "pw"}}
    )
    assert docker_credentials("docker.io", env) == Credentials("me", "pw")


def test_no_config_file_means_anonymous(tmp_path: Path) -> None:
    assert docker_credentials("127.0.0.1:5000", {"DOCKER_CONFIG": str(tmp_path)}) is None


def test_a_bad_stored_credential_is_named_but_never_shown(tmp_path: Path) -> None:
    env = write_config(tmp_path, {"127.0.0.1:5000": {"auth": "not-base64-secret!"}})
    with pytest.raises(RegistryError, match="not base64") as error:
        docker_credentials("127.0.0.1:5000", env)
    assert error.value.where == f"{tmp_path / 'config.json'}: auths.127.0.0.1:5000"
    assert "secret" not in error.value.render()


def test_a_password_never_shows_in_a_repr() -> None:
    assert "hunter2" not in repr(Credentials("ci", "hunter2"))


def run_push(fake: FakeRegistry, layout: Path, ref: str = "registry.test/team/env:1") -> str:
    result = push(
        layout,
        ref,
        auth=Credentials("ci", "pw"),
        reporter=MemoryReporter(),
        transport=fake.transport(),
    )
    return result.digest


def test_bearer_token_is_fetched_with_basic_credentials_and_reused(
    image: tuple[Path, ImageResult],
) -> None:
    layout, built = image
    fake = FakeRegistry()
    assert run_push(fake, layout) == built.manifest_digest
    (token_request,) = fake.token_requests
    assert token_request.url.params["service"] == "registry.test"
    assert token_request.url.params.get_list("scope") == ["repository:team/env:pull,push"]
    assert fake.requests[0].authorization is None
    assert all(r.authorization == "Bearer token-0" for r in fake.requests[1:])
    assert set(fake.blobs) == {built.config_digest, *built.layer_digests}
    for digest, data in fake.blobs.items():
        assert (layout / "blobs" / "sha256" / digest[7:]).read_bytes() == data


def test_an_expired_token_is_renewed_in_the_middle_of_a_chunked_upload(
    image: tuple[Path, ImageResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, built = image
    monkeypatch.setattr(registry_session, "CHUNK_SIZE", 4096)  # the 10 KiB layer: 3 chunks
    fake = FakeRegistry()
    fake.expire_tokens_after_patch = True
    assert run_push(fake, layout) == built.manifest_digest
    assert len(fake.token_requests) > 3
    assert sum(r.method == "PATCH" for r in fake.requests) > 3  # refused ones were re-sent
    assert set(fake.blobs) == {built.config_digest, *built.layer_digests}


def test_wrong_credentials_are_refused_by_the_token_service(
    image: tuple[Path, ImageResult],
) -> None:
    fake = FakeRegistry()
    with pytest.raises(RegistryError, match="token service refused: HTTP 401") as error:
        push(
            image[0],
            "registry.test/team/env:1",
            auth=Credentials("ci", "wrong"),
            reporter=MemoryReporter(),
            transport=fake.transport(),
        )
    assert error.value.where == REALM
    assert "wrong" not in error.value.render()


def test_the_registry_error_codes_and_a_hint_are_reported(
    image: tuple[Path, ImageResult],
) -> None:
    fake = FakeRegistry()
    fake.deny_push = True
    with pytest.raises(RegistryError) as error:
        run_push(fake, image[0])
    assert "HTTP 403 Forbidden (DENIED: requested access to the resource is denied)" in str(
        error.value
    )
    assert error.value.where == "https://registry.test/v2/team/env/blobs/uploads/"
    assert error.value.hint == "the credentials lack push access to team/env"


def test_without_docker_content_digest_the_stored_manifest_is_hashed(
    image: tuple[Path, ImageResult],
) -> None:
    layout, built = image
    fake = FakeRegistry()
    fake.send_digest = False
    assert run_push(fake, layout) == built.manifest_digest
    assert fake.requests[-1].method == "GET" and fake.requests[-1].url.path.endswith("/1")


def test_a_registry_that_changes_the_manifest_fails_the_push(
    image: tuple[Path, ImageResult],
) -> None:
    fake = FakeRegistry()
    fake.rewrite_manifests = True
    with pytest.raises(RegistryError, match="stored the manifest as sha256:"):
        run_push(fake, image[0])


def test_a_corrupt_local_blob_is_caught_and_its_upload_cancelled(
    image: tuple[Path, ImageResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, built = image
    monkeypatch.setattr(registry_session, "CHUNK_SIZE", 4096)
    blob = layout / "blobs" / "sha256" / built.layer_digests[0][7:]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    fake = FakeRegistry()
    with pytest.raises(RegistryError, match="does not match its digest") as error:
        run_push(fake, layout)
    assert error.value.where == str(blob)
    assert fake.requests[-1].method == "DELETE"
    assert built.layer_digests[0] not in fake.blobs


class OffsiteUploads(FakeRegistry):
    """Upload ``Location``s point at another host (as registries on object storage do), which
    answers every request (or challenges every one, with ``challenge``) and records it."""

    def __init__(self, storage: str = "https://storage.test", challenge: bool = False) -> None:
        super().__init__()
        self.storage = storage
        self.challenge = challenge
        self.offsite: list[Seen] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == httpx.URL(self.storage).host:
            self.offsite.append(
                Seen(request.method, request.url, request.headers.get("Authorization"))
            )
            if self.challenge:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="s"'})
            return self._upload(request, request.url.path.rsplit("/", 1)[1])
        response = super().handle(request)
        if response.status_code == 202 and request.method == "POST":
            response.headers["Location"] = f"{self.storage}{response.headers['Location']}"
        return response


def test_upload_locations_on_another_host_never_get_the_authorization(
    image: tuple[Path, ImageResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Protects invariant 5: chunked PATCH and closing PUT to an upload Location on another
    host carry no Authorization header, yet the push succeeds."""
    layout, built = image
    monkeypatch.setattr(registry_session, "CHUNK_SIZE", 4096)
    fake = OffsiteUploads()
    assert run_push(fake, layout) == built.manifest_digest
    assert {r.method for r in fake.offsite} == {"PATCH", "PUT"}
    assert all(r.authorization is None for r in fake.offsite)
    assert all(r.authorization for r in fake.requests[1:])  # the registry itself still gets it


def test_a_challenge_from_another_host_is_not_answered_with_the_registry_credentials(
    image: tuple[Path, ImageResult],
) -> None:
    """Protects invariant 5: a 401 from the upload host does not make mlenv send Basic
    credentials (or the Bearer token) there; the push fails naming that host."""
    layout, _built = image
    fake = OffsiteUploads(challenge=True)
    with pytest.raises(RegistryError) as info:
        run_push(fake, layout)
    assert "storage.test" in info.value.where
    assert fake.offsite and all(r.authorization is None for r in fake.offsite)


@pytest.mark.parametrize(
    "storage", ["file:///etc", "https://127.0.0.1:9", "http://localhost:9", "ftp://storage.test"]
)
def test_an_upload_location_pointing_at_this_machine_or_off_the_web_is_refused(
    image: tuple[Path, ImageResult], storage: str
) -> None:
    """Protects invariant 3 for registries: a remote registry's Location goes through
    origins.follow like any other handed-out URL."""
    layout, _built = image
    fake = OffsiteUploads(storage=storage)
    with pytest.raises(RegistryError, match="refusing to follow"):
        run_push(fake, layout)
    assert fake.offsite == []


@pytest.mark.parametrize("realm", ["http://auth.test/token", "https://127.0.0.1/token"])
def test_a_suspicious_token_realm_gets_no_credentials(
    image: tuple[Path, ImageResult], monkeypatch: pytest.MonkeyPatch, realm: str
) -> None:
    """Protects invariant 5's token-realm rule: a downgrade to http or a loopback realm named
    by a remote registry is refused before the credentials are sent."""
    layout, _built = image
    monkeypatch.setattr(fake_registry, "REALM", realm)
    fake = FakeRegistry()
    with pytest.raises(RegistryError, match="refusing to send the registry's credentials"):
        run_push(fake, layout)
    assert fake.token_requests == []


def test_guard_request_strips_authorization_off_origin() -> None:
    """Protects invariant 5 at its wall: the request hook every registry request passes."""
    registry = "https://registry.test"
    for url, kept in [
        ("https://registry.test:443/v2/", True),
        ("https://REGISTRY.test/v2/", True),
        ("http://registry.test/v2/", False),
        ("https://registry.test:5000/v2/", False),
        ("https://other.test/v2/", False),
    ]:
        request = httpx.Request("PATCH", url, headers={"Authorization": "Bearer t"})
        guard_request(registry, request)
        assert ("Authorization" in request.headers) is kept, url


@pytest.mark.parametrize(
    "text",
    [
        "user:s3cret@127.0.0.1:5000/team/env:1",
        "user:s3cret@registry.example/env",
        "s3cret@registry.example:443/env@sha256:" + "a" * 64,
        "user:s3cret@localhost:5000",
    ],
)
def test_credentials_in_a_reference_are_refused_and_never_echoed(text: str) -> None:
    """``oci://u:p@host/r:t`` read the credentials' '@' as a digest's and said
    "'host/r:t' is not a sha256 digest", echoing the password in the error's place."""
    with pytest.raises(RegistryError) as caught:
        parse_reference(text)
    error = caught.value
    assert "credentials" in error.message and "docker login" in (error.hint or "")
    assert "s3cret" not in f"{error.message} {error.where} {error.hint}"
