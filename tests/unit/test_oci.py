"""OCI images: canonical JSON, the config, base images read back verified, layout and archive."""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlenv.oci.model import (
    CONFIG_MEDIA_TYPE,
    DEFAULT_PATH,
    INDEX_MEDIA_TYPE,
    LOCK_LABEL,
    MANIFEST_MEDIA_TYPE,
    REF_ANNOTATION,
    OciError,
    canonical_json,
    rfc3339,
)
from mlenv.oci.read import BaseImage, read_base
from mlenv.oci.write import ImageResult, ImageSpec, image_config, write_image_tar, write_layout
from mlenv.tarball import Compression, ContentMismatch, LayerBlob, write_layer
from mlenv.tree_listing import collect

LOCK = "sha256:" + "ab" * 32
SPEC = ImageSpec(
    name="detector",
    platform="linux-64",
    prefix="/opt/mlenv/detector",
    created=1_700_000_000,
    lock_sha256=LOCK,
    env={"VIRTUAL_ENV": "/opt/mlenv/detector"},
    nvidia_require_cuda="cuda>=12.4 brand=tesla,driver>=550,driver<551",
)
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(
    root: Path, files: dict[str, bytes], compression: Compression = "gzip"
) -> tuple[LayerBlob, Path]:
    staging = root / "staging"
    for name, content in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(content)
    blob_path = root / "layer.blob"
    with open(blob_path, "wb") as out:
        blob = write_layer(collect(staging, "opt/mlenv/x"), out, compression=compression, mtime=0)
    return blob, blob_path


def make_image(
    root: Path,
    spec: ImageSpec = SPEC,
    base: BaseImage | None = None,
    compression: Compression = "gzip",
    content: bytes = b"hello\n",
) -> tuple[Path, ImageResult, dict[str, Any]]:
    root.mkdir(parents=True, exist_ok=True)
    blob, path = make_layer(root, {"share/hello.txt": content}, compression)
    config = image_config(spec, [(blob, "environment")], base)
    layout = root / "layout"
    return layout, write_layout(layout, [(blob, path)], config, base, "latest"), config


def load(layout: Path, name: str) -> Any:
    return json.loads((layout / name).read_bytes())


def blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")


@pytest.fixture
def base(tmp_path: Path) -> tuple[Path, ImageResult]:
    base_spec = ImageSpec(name="base", platform="linux-64", prefix="/", created=0, lock_sha256="")
    layout, result, _ = make_image(tmp_path / "base", base_spec, content=b"base layer\n")
    config = json.loads(blob(layout, result.config_digest).read_bytes())
    config["config"].update(
        {
            "Cmd": ["/bin/sh"],
            "Entrypoint": ["/entry"],
            "WorkingDir": "/work",
            "Env": ["PATH=/usr/bin:/opt/mlenv/detector/bin:/bin", "LANG=C.UTF-8"],
            "Labels": {"vendor.thing": "kept", "org.opencontainers.image.version": "9"},
        }
    )
    config["history"] = [{"created": "2020-01-01T00:00:00Z", "created_by": "base step"}]
    manifest_digest = rewrite(layout, config=config)
    return (
        layout,
        replace(
            result, manifest_digest=manifest_digest, config_digest=sha256(canonical_json(config))
        ),
    )


def rewrite(
    layout: Path, *, config: dict[str, Any] | None = None, layer_type: str | None = None
) -> str:
    """Change a layout's config or layer media type, re-digesting the manifest and index."""
    index = load(layout, "index.json")
    manifest_path = blob(layout, index["manifests"][0]["digest"])
    manifest = json.loads(manifest_path.read_bytes())
    if config is not None:
        data = canonical_json(config)
        blob(layout, sha256(data)).write_bytes(data)
        manifest["config"].update(digest=sha256(data), size=len(data))
    if layer_type is not None:
        manifest["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json"
        manifest["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
        for item in manifest["layers"]:
            item["mediaType"] = layer_type
    data = canonical_json(manifest)
    blob(layout, sha256(data)).write_bytes(data)
    index["manifests"][0].update(
        digest=sha256(data), size=len(data), mediaType=manifest["mediaType"]
    )
    (layout / "index.json").write_bytes(canonical_json(index))
    return sha256(data)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    value = {"b": [1, {"z": True, "a": None}], "a": "é"}
    assert canonical_json(value) == '{"a":"é","b":[1,{"a":null,"z":true}]}'.encode()


def test_canonical_json_refuses_floats_anywhere() -> None:
    with pytest.raises(OciError, match="float"):
        canonical_json({"a": [{"b": 1.0}]})


def test_rfc3339_uses_utc_not_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert rfc3339(0) == "1970-01-01T00:00:00Z"
        assert rfc3339(1_700_000_000) == "2023-11-14T22:13:20Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_config_without_a_base(tmp_path: Path) -> None:
    blob, _ = make_layer(tmp_path, {"f": b"x"})
    config = image_config(SPEC, [(blob, "environment")], None)
    created = "2023-11-14T22:13:20Z"
    assert config == {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {
            "Env": [
                "NVIDIA_REQUIRE_CUDA=cuda>=12.4 brand=tesla,driver>=550,driver<551",
                f"PATH=/opt/mlenv/detector/bin:{DEFAULT_PATH}",
                "VIRTUAL_ENV=/opt/mlenv/detector",
            ],
            "Labels": {
                "org.opencontainers.image.title": "detector",
                "org.opencontainers.image.created": created,
                LOCK_LABEL: LOCK,
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [blob.diff_id]},
        "history": [{"created": created, "created_by": "mlenv build: environment"}],
    }


@pytest.mark.parametrize(("platform", "arch"), [("linux-64", "amd64"), ("linux-aarch64", "arm64")])
def test_architecture_follows_the_platform(tmp_path: Path, platform: str, arch: str) -> None:
    blob, _ = make_layer(tmp_path, {"f": b"x"})
    spec = ImageSpec(name="e", platform=platform, prefix="/e", created=0, lock_sha256=LOCK)
    assert image_config(spec, [(blob, "env")], None)["architecture"] == arch


@pytest.mark.parametrize(
    "spec",
    [
        ImageSpec(name="e", platform="win-64", prefix="/e", created=0, lock_sha256=LOCK),
        ImageSpec(name="e", platform="linux-64", prefix="e", created=0, lock_sha256=LOCK),
        ImageSpec(
            name="e",
            platform="linux-64",
            prefix="/e",
            created=0,
            lock_sha256=LOCK,
            env={"PATH": "/"},
        ),
        ImageSpec(
            name="e",
            platform="linux-64",
            prefix="/e",
            created=0,
            lock_sha256=LOCK,
            env={"A=B": "c"},
        ),
    ],
)
def test_invalid_specs_are_refused(tmp_path: Path, spec: ImageSpec) -> None:
    blob, _ = make_layer(tmp_path, {"f": b"x"})
    with pytest.raises(OciError):
        image_config(spec, [(blob, "env")], None)


def test_config_on_a_base_keeps_its_runtime_and_history(
    tmp_path: Path, base: tuple[Path, ImageResult]
) -> None:
    base_layout, base_result = base
    image = read_base(base_layout, platform="linux-64")
    blob, _ = make_layer(tmp_path, {"f": b"x"})
    config = image_config(SPEC, [(blob, "environment")], image)
    runtime = config["config"]
    assert (runtime["Cmd"], runtime["Entrypoint"], runtime["WorkingDir"]) == (
        ["/bin/sh"],
        ["/entry"],
        "/work",
    )
    env = dict(item.split("=", 1) for item in runtime["Env"])
    assert env["PATH"] == "/opt/mlenv/detector/bin:/usr/bin:/bin"
    assert env["LANG"] == "C.UTF-8"
    assert [item.split("=")[0] for item in runtime["Env"]] == sorted(env)
    assert runtime["Labels"]["vendor.thing"] == "kept"
    assert "org.opencontainers.image.version" not in runtime["Labels"]
    assert runtime["Labels"]["org.opencontainers.image.base.digest"] == base_result.manifest_digest
    assert config["rootfs"]["diff_ids"] == [*base_result.diff_ids, blob.diff_id]
    assert config["history"] == [
        {"created": "2020-01-01T00:00:00Z", "created_by": "base step"},
        {"created": "2023-11-14T22:13:20Z", "created_by": "mlenv build: environment"},
    ]


def test_layout_is_complete_and_every_blob_matches_its_name(tmp_path: Path) -> None:
    layout, result, config = make_image(tmp_path)
    assert load(layout, "oci-layout") == {"imageLayoutVersion": "1.0.0"}
    index = load(layout, "index.json")
    assert index["mediaType"] == INDEX_MEDIA_TYPE
    (entry,) = index["manifests"]
    assert entry["annotations"] == {REF_ANNOTATION: "latest"}
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    assert entry["digest"] == result.manifest_digest
    manifest = json.loads(blob(layout, result.manifest_digest).read_bytes())
    assert manifest["mediaType"] == MANIFEST_MEDIA_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    assert [item["digest"] for item in manifest["layers"]] == list(result.layer_digests)
    assert blob(layout, result.config_digest).read_bytes() == canonical_json(config)
    total = 0
    for path in (layout / "blobs" / "sha256").iterdir():
        data = path.read_bytes()
        assert sha256(data) == "sha256:" + path.name
        assert path.stat().st_mode & 0o777 == 0o644
        total += len(data)
    assert result.size == total
    assert not (tmp_path / "layer.blob").exists(), "the layer file is moved in, not copied"


def test_the_same_inputs_give_the_same_image_anywhere(tmp_path: Path) -> None:
    _, first, _ = make_image(tmp_path / "one")
    _, second, _ = make_image(tmp_path / "two" / "deeper")
    assert first == second


def test_a_new_layout_replaces_an_earlier_one(tmp_path: Path) -> None:
    layout, _, _ = make_image(tmp_path, content=b"old\n")
    old_blobs = set((layout / "blobs" / "sha256").iterdir())
    _, result, _ = make_image(tmp_path, content=b"new\n")
    assert load(layout, "index.json")["manifests"][0]["digest"] == result.manifest_digest
    assert not old_blobs <= set((layout / "blobs" / "sha256").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout", "staging"]


def test_a_directory_that_is_not_a_layout_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "layout").mkdir()
    (tmp_path / "layout" / "notes.txt").write_text("mine")
    with pytest.raises(OciError, match="not an OCI image layout"):
        make_image(tmp_path)
    assert (tmp_path / "layout" / "notes.txt").read_text() == "mine"


def test_a_failed_write_leaves_no_layout_and_no_debris(tmp_path: Path) -> None:
    blob, path = make_layer(tmp_path, {"f": b"x"})
    config = image_config(SPEC, [(blob, "environment")], None)
    path.write_bytes(b"not the layer")
    with pytest.raises(OciError, match="not the blob"):
        write_layout(tmp_path / "layout", [(blob, path)], config, None, "latest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer.blob", "staging"]


def test_config_and_layers_must_agree(tmp_path: Path) -> None:
    blob, path = make_layer(tmp_path, {"f": b"x"})
    config = image_config(SPEC, [], None)
    with pytest.raises(OciError, match="diff_ids"):
        write_layout(tmp_path / "layout", [(blob, path)], config, None, "latest")


@pytest.mark.parametrize("ref", ["", "has space", "-leading", "a//b"])
def test_invalid_references_are_refused(tmp_path: Path, ref: str) -> None:
    blob, path = make_layer(tmp_path, {"f": b"x"})
    config = image_config(SPEC, [(blob, "env")], None)
    with pytest.raises(OciError, match="reference"):
        write_layout(tmp_path / "layout", [(blob, path)], config, None, ref)


def test_base_read_from_layout_and_from_archive_agree(
    tmp_path: Path, base: tuple[Path, ImageResult]
) -> None:
    layout, result = base
    archive = tmp_path / "base.tar"
    write_image_tar(layout, archive, "base:1")
    from_dir = read_base(layout, platform="linux-64")
    from_tar = read_base(archive, platform="linux-64", ref="latest")
    for image in (from_dir, from_tar):
        assert [d.digest for d in image.layers] == list(result.layer_digests)
        assert image.diff_ids == result.diff_ids
        assert image.config["config"]["Cmd"] == ["/bin/sh"]
    assert from_dir.manifest_digest == from_tar.manifest_digest


def test_appending_reuses_base_layers_byte_for_byte(
    tmp_path: Path, base: tuple[Path, ImageResult]
) -> None:
    base_layout, base_result = base
    image = read_base(base_layout, platform="linux-64")
    layout, result, _ = make_image(tmp_path / "app", base=image, compression="zstd")
    assert result.layer_digests[:1] == base_result.layer_digests
    assert len(result.layer_digests) == 2
    digest = base_result.layer_digests[0]
    assert blob(layout, digest).read_bytes() == blob(base_layout, digest).read_bytes()
    manifest = json.loads(blob(layout, result.manifest_digest).read_bytes())
    assert [item["mediaType"] for item in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
    ]


def test_a_docker_typed_base_gives_an_all_oci_image(
    tmp_path: Path, base: tuple[Path, ImageResult]
) -> None:
    base_layout, base_result = base
    rewrite(base_layout, layer_type=DOCKER_GZIP)
    image = read_base(base_layout, platform="linux-64")
    assert [d.media_type for d in image.layers] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    layout, result, _ = make_image(tmp_path / "app", base=image)
    manifest = json.loads(blob(layout, result.manifest_digest).read_bytes())
    types = {manifest["mediaType"], manifest["config"]["mediaType"]}
    types |= {item["mediaType"] for item in manifest["layers"]}
    assert not any("docker" in t for t in types)
    assert result.layer_digests[0] == base_result.layer_digests[0]


def flip_last_byte(path: Path, offset: int | None = None) -> None:
    with open(path, "r+b") as handle:
        position = offset if offset is not None else path.stat().st_size - 1
        handle.seek(position)
        byte = handle.read(1)
        handle.seek(position)
        handle.write(bytes([byte[0] ^ 1]))


def test_a_tampered_base_layer_is_named_with_both_digests(base: tuple[Path, ImageResult]) -> None:
    layout, result = base
    digest = result.layer_digests[0]
    expected_bytes = blob(layout, digest).read_bytes()
    flip_last_byte(blob(layout, digest))
    actual = sha256(blob(layout, digest).read_bytes())
    with pytest.raises(OciError) as caught:
        read_base(layout, platform="linux-64")
    assert caught.value.where == str(blob(layout, digest))
    assert digest in caught.value.message and actual in caught.value.message
    assert sha256(expected_bytes) == digest


def test_a_truncated_base_blob_is_refused(base: tuple[Path, ImageResult]) -> None:
    layout, result = base
    path = blob(layout, result.config_digest)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(OciError, match="bytes"):
        read_base(layout, platform="linux-64")


def test_a_tampered_blob_inside_an_archive_is_refused(
    tmp_path: Path, base: tuple[Path, ImageResult]
) -> None:
    layout, result = base
    archive = tmp_path / "base.tar"
    write_image_tar(layout, archive, "base:1")
    name = "blobs/sha256/" + result.layer_digests[0].removeprefix("sha256:")
    with tarfile.open(archive) as tar:
        offset = tar.getmember(name).offset_data
    flip_last_byte(archive, offset)
    with pytest.raises(OciError, match=result.layer_digests[0]):
        read_base(archive, platform="linux-64")


def test_a_base_for_another_architecture_is_refused(base: tuple[Path, ImageResult]) -> None:
    layout, _ = base
    with pytest.raises(OciError, match="arm64"):
        read_base(layout, platform="linux-aarch64")


def test_a_malicious_digest_cannot_leave_the_blob_directory(
    base: tuple[Path, ImageResult],
) -> None:
    layout, _ = base
    index = load(layout, "index.json")
    index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd"
    (layout / "index.json").write_bytes(canonical_json(index))
    with pytest.raises(OciError, match="malformed digest"):
        read_base(layout, platform="linux-64")


def add_nested_index(layout: Path) -> None:
    """Turn the layout's index into a multi-platform one: a nested index with two images."""
    index = load(layout, "index.json")
    amd = dict(index["manifests"][0], platform={"architecture": "amd64", "os": "linux"})
    arm = dict(amd, platform={"architecture": "arm64", "os": "linux"}, digest="sha256:" + "0" * 64)
    nested = canonical_json(
        {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [arm, amd]}
    )
    blob(layout, sha256(nested)).write_bytes(nested)
    index["manifests"] = [
        {"mediaType": INDEX_MEDIA_TYPE, "digest": sha256(nested), "size": len(nested)}
    ]
    (layout / "index.json").write_bytes(canonical_json(index))


def test_a_multi_platform_base_gives_the_image_for_the_platform(
    base: tuple[Path, ImageResult],
) -> None:
    layout, result = base
    add_nested_index(layout)
    assert read_base(layout, platform="linux-64").manifest_digest == result.manifest_digest


def test_a_reference_picks_one_of_several_images(base: tuple[Path, ImageResult]) -> None:
    layout, result = base
    index = load(layout, "index.json")
    other = dict(index["manifests"][0], annotations={REF_ANNOTATION: "other"})
    other["digest"] = "sha256:" + "1" * 64
    index["manifests"].append(other)
    (layout / "index.json").write_bytes(canonical_json(index))
    with pytest.raises(OciError, match="2 images"):
        read_base(layout, platform="linux-64")
    assert read_base(layout, platform="linux-64", ref="latest").manifest_digest == (
        result.manifest_digest
    )
    with pytest.raises(OciError, match="no reference"):
        read_base(layout, platform="linux-64", ref="missing")


@pytest.mark.parametrize("make", ["missing", "not-a-tar", "no-layout-file"])
def test_things_that_are_not_images_are_refused(tmp_path: Path, make: str) -> None:
    path = tmp_path / "base"
    if make == "not-a-tar":
        path.write_bytes(b"hello")
    elif make == "no-layout-file":
        path.mkdir()
    with pytest.raises(OciError):
        read_base(path, platform="linux-64")


def test_image_tar_is_an_oci_archive_and_a_docker_archive(tmp_path: Path) -> None:
    layout, result, _ = make_image(tmp_path)
    out = tmp_path / "dist" / "image.tar"
    digest, size = write_image_tar(layout, out, "detector:1.0")
    data = out.read_bytes()
    assert (sha256(data), len(data)) == (digest, size)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in tar)
        docker_manifest = tar.extractfile("manifest.json")
        assert docker_manifest is not None
        manifest = json.loads(docker_manifest.read())
        index_file = tar.extractfile("index.json")
        assert index_file is not None and index_file.read() == (layout / "index.json").read_bytes()
    hexes = [d.removeprefix("sha256:") for d in result.layer_digests]
    assert manifest == [
        {
            "Config": "blobs/sha256/" + result.config_digest.removeprefix("sha256:"),
            "RepoTags": ["detector:1.0"],
            "Layers": ["blobs/sha256/" + h for h in hexes],
        }
    ]
    assert names == [
        "blobs",
        "blobs/sha256",
        *sorted(f"blobs/sha256/{p.name}" for p in (layout / "blobs" / "sha256").iterdir()),
        "index.json",
        "manifest.json",
        "oci-layout",
    ]
    assert [p.name for p in out.parent.iterdir()] == ["image.tar"]


def test_image_tar_is_reproducible(tmp_path: Path) -> None:
    layout, _, _ = make_image(tmp_path / "a")
    (layout / "stray.tmp").write_text("not part of the image")
    first = write_image_tar(layout, tmp_path / "one.tar", "detector:1.0")
    other, _, _ = make_image(tmp_path / "elsewhere" / "b")
    assert write_image_tar(other, tmp_path / "x" / "two.tar", "detector:1.0") == first


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_image_tar_checks_the_blobs_it_is_asked_to_by_the_read_that_writes_them(
    tmp_path: Path, where: str
) -> None:
    """Protects: a blob named in ``verify`` whose bytes are not its digest (one byte changed,
    wherever) fails the write naming it, and leaves no image.tar; a sound one gives the same
    bytes as an unchecked write."""
    layout, result, _ = make_image(tmp_path, content=b"hello\n" * 300_000)
    digest = result.layer_digests[0]
    plain = write_image_tar(layout, tmp_path / "plain.tar", "detector:1.0")
    checked = write_image_tar(layout, tmp_path / "checked.tar", "detector:1.0", verify={digest})
    assert checked == plain
    target = blob(layout, digest)
    data = bytearray(target.read_bytes())
    data[{"first": 0, "middle": len(data) // 2, "last": -1}[where]] ^= 1
    target.unlink()
    target.write_bytes(bytes(data))
    assert write_image_tar(layout, tmp_path / "blind.tar", "detector:1.0")  # unchecked: passes
    out = tmp_path / "dist" / "image.tar"
    with pytest.raises(ContentMismatch, match=digest.removeprefix("sha256:")) as caught:
        write_image_tar(layout, out, "detector:1.0", verify={digest})
    assert caught.value.source.name == digest.removeprefix("sha256:")
    assert not out.exists() and not list(out.parent.iterdir())


@pytest.mark.parametrize("tag", ["detector", "Detector:1", "a:b:c", "x:" + "t" * 129])
def test_invalid_repo_tags_are_refused(tmp_path: Path, tag: str) -> None:
    layout, _, _ = make_image(tmp_path)
    with pytest.raises(OciError, match="name:tag"):
        write_image_tar(layout, tmp_path / "image.tar", tag)


def test_registry_host_and_port_are_allowed_in_a_repo_tag(tmp_path: Path) -> None:
    layout, _, _ = make_image(tmp_path)
    write_image_tar(layout, tmp_path / "image.tar", "registry.local:5000/team/detector:1.0")
