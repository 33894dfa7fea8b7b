"""`push` against Debian's real docker-registry on loopback, read back with skopeo."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import socket
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import push
from mlenv.oci.registry_session import CHUNK_SIZE, PushResult
from mlenv.oci.write import ImageResult
from mlenv.report import MemoryReporter
from mlenv.tree_listing import collect
from tests.support.daemons import Access, Registry, registry
from tests.support.images import write_image

pytestmark = pytest.mark.integration


def build(root: Path, version: str) -> tuple[Path, ImageResult]:
    """Two layers: a library bigger than one upload chunk, and a small app file."""
    lib, app = root / "tree" / "lib", root / "tree" / "app"
    lib.mkdir(parents=True, exist_ok=True)
    app.mkdir(parents=True, exist_ok=True)
    # Incompressible and seeded: the same bytes, hence the same layer, in every build.
    (lib / "big.so").write_bytes(random.Random(0).randbytes(CHUNK_SIZE + (4 << 20)))
    (app / "version.txt").write_text(version)
    layout = root / f"layout-{version}"
    result = write_image(
        layout,
        [("lib", collect(lib, "opt/lib")), ("app", collect(app, "opt/app"))],
        ref="test",
        cmd=["/bin/sh"],
    )
    return layout, result


def do_push(layout: Path, ref: str) -> PushResult:
    return push(layout, ref, insecure=True, reporter=MemoryReporter())


def ours(accesses: list[Access]) -> list[Access]:
    return [a for a in accesses if a.agent.startswith("python-httpx")]


def uploaded(accesses: list[Access]) -> set[str]:
    """Digests of the blob uploads the registry completed (PUT .../uploads/...?digest=)."""
    return {
        parse_qs(urlsplit(a.path).query)["digest"][0]
        for a in accesses
        if a.method == "PUT" and "/blobs/uploads/" in a.path and a.status == 201
    }


def skopeo_inspect(reference: str, *extra: str) -> str:
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *extra, f"docker://{reference}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pushed_image_reads_back_with_the_local_digest(reg: Registry, tmp_path: Path) -> None:
    layout, image = build(tmp_path, "1")
    mark = len(reg.accesses())
    result = do_push(layout, f"{reg.host}/team/env:1")
    assert result.digest == image.manifest_digest
    assert (result.pushed_blobs, result.skipped_blobs) == (3, 0)
    blob_sizes = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
    manifest_file = layout / "blobs" / "sha256" / image.manifest_digest.removeprefix("sha256:")
    assert result.bytes_pushed == blob_sizes - manifest_file.stat().st_size
    new = ours(reg.accesses()[mark:])
    assert uploaded(new) == {image.config_digest, *image.layer_digests}
    assert sum(a.method == "PATCH" for a in new) == 2  # the big layer went in two chunks
    assert json.loads(skopeo_inspect(f"{reg.host}/team/env:1"))["Digest"] == image.manifest_digest
    raw = skopeo_inspect(f"{reg.host}/team/env:1", "--raw")
    assert raw.encode() == manifest_file.read_bytes()


def test_pushing_again_uploads_no_blob(reg: Registry, tmp_path: Path) -> None:
    layout, image = build(tmp_path, "1")
    do_push(layout, f"{reg.host}/again/env:1")
    mark = len(reg.accesses())
    result = do_push(layout, f"{reg.host}/again/env:1")
    assert result == PushResult(image.manifest_digest, 0, 3, 0)
    new = ours(reg.accesses()[mark:])
    heads = [a for a in new if a.method == "HEAD"]
    assert len(heads) == 3 and all(a.status == 200 for a in heads)
    assert not [a for a in new if "/blobs/uploads/" in a.path]


def test_a_changed_layer_is_the_only_layer_uploaded(reg: Registry, tmp_path: Path) -> None:
    old_layout, old = build(tmp_path, "1")
    do_push(old_layout, f"{reg.host}/change/env:1")
    new_layout, new = build(tmp_path, "2")
    assert new.layer_digests[0] == old.layer_digests[0]  # the library layer did not change
    assert new.layer_digests[1] != old.layer_digests[1]
    mark = len(reg.accesses())
    result = do_push(new_layout, f"{reg.host}/change/env:2")
    assert (result.pushed_blobs, result.skipped_blobs) == (2, 1)
    assert uploaded(ours(reg.accesses()[mark:])) == {new.layer_digests[1], new.config_digest}
    assert json.loads(skopeo_inspect(f"{reg.host}/change/env:2"))["Digest"] == new.manifest_digest
    assert json.loads(skopeo_inspect(f"{reg.host}/change/env:1"))["Digest"] == old.manifest_digest


def test_push_by_digest_checks_the_digest_first(reg: Registry, tmp_path: Path) -> None:
    layout, image = build(tmp_path, "1")
    result = do_push(layout, f"{reg.host}/bydigest/env@{image.manifest_digest}")
    assert result.digest == image.manifest_digest
    # An untagged repository has no tags list, which plain `skopeo inspect` wants: read raw.
    raw = skopeo_inspect(f"{reg.host}/bydigest/env@{image.manifest_digest}", "--raw")
    assert "sha256:" + hashlib.sha256(raw.encode()).hexdigest() == image.manifest_digest
    wrong = "sha256:" + "0" * 64
    with pytest.raises(RegistryError, match="not sha256:0000") as error:
        do_push(layout, f"{reg.host}/bydigest/env@{wrong}")
    assert error.value.where == str(layout)


def test_basic_auth_with_credentials_from_the_docker_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, image = build(tmp_path, "1")
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    with registry(htpasswd=("ci", "s3cret-pw")) as secured:
        ref = f"{secured.host}/private/env:1"
        with pytest.raises(RegistryError) as anonymous:
            do_push(layout, ref)
        text = anonymous.value.render()
        assert "HTTP 401" in text and f"http://{secured.host}/v2/" in text
        assert f"docker login {secured.host}" in text and str(config_dir / "config.json") in text

        def login(password: str) -> None:
            token = base64.b64encode(f"ci:{password}".encode()).decode()
            auths = {"auths": {f"http://{secured.host}": {"auth": token}}}
            (config_dir / "config.json").write_text(json.dumps(auths))

        login("wrong-pw")
        with pytest.raises(RegistryError, match="HTTP 401") as refused:
            do_push(layout, ref)
        assert "wrong-pw" not in refused.value.render()
        login("s3cret-pw")
        assert do_push(layout, ref).digest == image.manifest_digest
        authorized = [a for a in ours(secured.accesses()) if a.status != 401]
        assert {a.method for a in authorized} >= {"HEAD", "POST", "PATCH", "PUT"}


def test_nothing_listening_names_the_url_and_how_to_fix(tmp_path: Path) -> None:
    layout, _ = build(tmp_path, "1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RegistryError, match="cannot talk to the registry") as error:
        do_push(layout, f"127.0.0.1:{port}/team/env:1")
    assert error.value.where == f"http://127.0.0.1:{port}/v2/"
    assert error.value.hint is not None and f"http://127.0.0.1:{port}" in error.value.hint


def test_https_is_the_default_and_a_plain_http_registry_needs_insecure(
    reg: Registry, tmp_path: Path
) -> None:
    layout, _ = build(tmp_path, "1")
    with pytest.raises(RegistryError) as error:
        push(layout, f"{reg.host}/team/env:1", reporter=MemoryReporter())
    assert error.value.where == f"https://{reg.host}/v2/"
    assert error.value.hint is not None and "--insecure" in error.value.hint
