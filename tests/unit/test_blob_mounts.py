"""Cross-repository blob mounts (`registry.mount_sources`, `_Session._mount`) against the
in-memory registry of tests/support/fake_registry.py, given per-repository storage."""

from __future__ import annotations

import httpx
import pytest

from mlenv.oci.credentials import Credentials
from mlenv.oci.reference import mount_sources
from mlenv.oci.registry import push
from mlenv.oci.registry_session import PushResult
from mlenv.oci.write import ImageResult
from mlenv.report import MemoryReporter
from tests.support.fake_registry import FakeRegistry

REF = "registry.test/team/env:1"


class Repositories(FakeRegistry):
    """Blobs kept per repository; mounts answered 201, or 202 (declined) when told to."""

    def __init__(self, decline: bool = False) -> None:
        super().__init__()
        self.held: dict[str, set[str]] = {}
        self.decline = decline
        self.cancelled: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        repository = path.removeprefix("/v2/").split("/blobs/", 1)[0]
        mount = request.url.params.get("mount")
        authorized = request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens
        if authorized and request.method == "HEAD" and "/blobs/sha256:" in path:
            return httpx.Response(
                200 if path.rsplit("/", 1)[1] in self.held.get(repository, ()) else 404
            )
        if authorized and request.method == "POST" and mount and not self.decline:
            source = request.url.params["from"]
            if mount in self.held.get(source, ()):
                self.held.setdefault(repository, set()).add(mount)
                return httpx.Response(201)
        if authorized and request.method == "DELETE":
            self.cancelled.append(path)
        response = super().handle(request)
        if authorized and request.method == "PUT" and "digest" in request.url.params:
            self.held.setdefault(repository, set()).add(request.url.params["digest"])
        return response


def run(fake: Repositories, layout: object, ref: str, sources: tuple[str, ...]) -> PushResult:
    return push(
        layout,  # type: ignore[arg-type]
        ref,
        auth=Credentials("ci", "pw"),
        reporter=MemoryReporter(),
        transport=fake.transport(),
        mount_from=sources,
    )


def test_blobs_another_repository_holds_are_mounted_not_uploaded(
    image: tuple[object, ImageResult],
) -> None:
    """Guards the mount: a second repository gets every blob by mount (0 uploaded), and the
    token asked for covers pulling from the source repository."""
    layout, built = image
    fake = Repositories()
    first = run(fake, layout, REF, ())
    assert first.pushed_blobs == 3 and first.mounted_blobs == 0
    uploads = len([r for r in fake.requests if r.method == "PUT" and "/uploads/" in r.url.path])
    second = run(fake, layout, "registry.test/other/env:1", ("team/env",))
    assert (second.pushed_blobs, second.mounted_blobs, second.bytes_pushed) == (0, 3, 0)
    assert second.digest == built.manifest_digest
    after = len([r for r in fake.requests if r.method == "PUT" and "/uploads/" in r.url.path])
    assert after == uploads
    scopes = fake.token_requests[-1].url.params.get_list("scope")
    assert scopes == ["repository:other/env:pull,push", "repository:team/env:pull"]


def test_a_declined_mount_falls_back_to_an_upload_and_cancels_the_session(
    image: tuple[object, ImageResult],
) -> None:
    """Guards the 202 answer (a registry that does not mount): the blob is uploaded as usual
    and the upload session the registry opened instead is cancelled, not leaked."""
    layout, _ = image
    fake = Repositories(decline=True)
    run(fake, layout, REF, ())
    second = run(fake, layout, "registry.test/other/env:1", ("team/env",))
    assert (second.pushed_blobs, second.mounted_blobs) == (3, 0)
    assert len(fake.cancelled) == 3
    assert fake.held["other/env"] == fake.held["team/env"]


def test_a_source_without_the_blob_is_not_asked_to_mount_it(
    image: tuple[object, ImageResult],
) -> None:
    """Guards the HEAD before the mount: a source lacking the blob costs no upload session."""
    layout, _ = image
    fake = Repositories()
    result = run(fake, layout, REF, ("empty/repo",))
    assert (result.pushed_blobs, result.mounted_blobs) == (3, 0)
    assert not [r for r in fake.requests if "mount" in r.url.params]


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (["registry.test/cache"], ("cache",)),
        (["oci://registry.test/mlenv/cache", "registry.test/mlenv/cache:x"], ("mlenv/cache",)),
        (["registry.test/team/env"], ()),  # the target itself
        (["other.test/cache", "docker.io/library/python"], ()),  # another registry
    ],
)
def test_mount_sources_are_other_repositories_of_the_same_registry(
    candidates: list[str], expected: tuple[str, ...]
) -> None:
    """Guards the one filter on mount sources: a mount never crosses registries."""
    assert mount_sources(REF, candidates) == expected
