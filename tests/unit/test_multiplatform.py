"""Multi-platform images: single-platform layouts joined under one OCI image index
(`oci.write_index_layout`), pushed as every manifest then the index (`registry.push`), and a
platform's build checked against the multi-platform record (`verify.verify_platform_record`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlenv.judge_outputs import verify_platform_record
from mlenv.oci.credentials import Credentials
from mlenv.oci.model import INDEX_MEDIA_TYPE, OciError
from mlenv.oci.read import read_base
from mlenv.oci.reference import RegistryError
from mlenv.oci.registry import push
from mlenv.oci.write import ImageSpec, image_config, write_index_layout, write_layout
from mlenv.report import MemoryReporter
from mlenv.tarball import write_layer
from mlenv.tree_listing import collect
from tests.support.fake_registry import FakeRegistry

PLATFORMS = ("linux-64", "linux-aarch64")


def single(root: Path, platform: str, content: bytes) -> Path:
    """A one-platform layout whose layer holds ``content`` (plus a layer all platforms share)."""
    layers = []
    for name, data in (("shared", b"the same on every platform"), ("own", content)):
        tree = root / f"{platform}-{name}"
        tree.mkdir(parents=True)
        (tree / "f").write_bytes(data)
        path = root / f"{platform}-{name}.blob"
        with path.open("wb") as stream:
            blob = write_layer(collect(tree, "opt/x"), stream, compression="none", mtime=0)
        layers.append((blob, path))
    spec = ImageSpec(name="x", platform=platform, prefix="/opt/x", created=0, lock_sha256="l")
    config = image_config(spec, [(blob, "layer") for blob, _ in layers], None)
    layout = root / platform / "oci"
    write_layout(layout, layers, config, None, "latest")
    return layout


def both(root: Path) -> list[Path]:
    return [single(root, p, p.encode() * 100) for p in PLATFORMS]


def test_the_index_lists_each_platform_and_each_manifest_is_selectable(tmp_path: Path) -> None:
    """Guards the multi-platform layout's shape: index.json names one image index under the
    ref, the index one manifest per platform with its platform, and a reader that selects by
    architecture (mlenv's own base-image reader) finds each platform's image in it."""
    layouts = both(tmp_path)
    index = write_index_layout(tmp_path / "multi", layouts, "v1")
    top = json.loads((tmp_path / "multi" / "index.json").read_bytes())
    assert top["manifests"] == [
        {**index.to_json(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}
    ]
    assert index.media_type == INDEX_MEDIA_TYPE
    body = json.loads((tmp_path / "multi" / "blobs" / "sha256" / index.digest[7:]).read_bytes())
    assert [m["platform"]["architecture"] for m in body["manifests"]] == ["amd64", "arm64"]
    for platform, layout in zip(PLATFORMS, layouts, strict=True):
        own = json.loads((layout / "index.json").read_bytes())["manifests"][0]["digest"]
        assert read_base(tmp_path / "multi", platform=platform, ref="v1").manifest_digest == own


def test_two_images_of_one_platform_are_refused(tmp_path: Path) -> None:
    """Guards the index's promise of one manifest per platform: two amd64 images are refused
    and nothing is written."""
    first = single(tmp_path / "a", "linux-64", b"a")
    second = single(tmp_path / "b", "linux-64", b"b")
    with pytest.raises(OciError, match="platform of its own"):
        write_index_layout(tmp_path / "multi", [first, second], "latest")
    assert not (tmp_path / "multi").exists()


@pytest.mark.parametrize("target", ["manifest", "index.json"])
def test_a_corrupt_platform_image_is_refused(tmp_path: Path, target: str) -> None:
    """Guards the check on the way in: a manifest whose bytes do not match its digest, or a
    layout whose index.json lists two images, fails the join with nothing written."""
    layouts = both(tmp_path)
    index_path = layouts[1] / "index.json"
    entry = json.loads(index_path.read_bytes())["manifests"][0]
    if target == "manifest":
        blob = layouts[1] / "blobs" / "sha256" / entry["digest"][7:]
        blob.write_bytes(blob.read_bytes().replace(b'"layers"', b'"Layers"'))
    else:
        index_path.write_text(json.dumps({"schemaVersion": 2, "manifests": [entry, entry]}))
    with pytest.raises(OciError):
        write_index_layout(tmp_path / "multi", layouts, "latest")
    assert not (tmp_path / "multi").exists()


def test_push_sends_every_manifest_by_digest_before_the_index_by_tag(tmp_path: Path) -> None:
    """Guards the push of a multi-platform image: each platform's manifest is stored (by
    digest) before the index is tagged, every blob is sent once though two images share one,
    and the digest printed is the index's."""
    index = write_index_layout(tmp_path / "multi", both(tmp_path), "latest")
    fake = FakeRegistry()
    result = push(
        tmp_path / "multi",
        "registry.test/team/env:1",
        auth=Credentials("ci", "pw"),
        reporter=MemoryReporter(),
        transport=fake.transport(),
    )
    assert result.digest == index.digest
    puts = [r.url.path.rsplit("/", 1)[1] for r in fake.requests if "/manifests/" in r.url.path]
    puts = list(dict.fromkeys(p for p in puts))  # a 401 retry repeats a request
    body = json.loads((tmp_path / "multi" / "blobs" / "sha256" / index.digest[7:]).read_bytes())
    children = [m["digest"] for m in body["manifests"]]
    assert puts == [*children, "1"]
    assert (
        fake.manifests["1"]
        == (tmp_path / "multi" / "blobs" / "sha256" / index.digest[7:]).read_bytes()
    )
    for child in children:
        stored = fake.manifests[child]
        assert "sha256:" + hashlib.sha256(stored).hexdigest() == child
    # 2 configs, 2 own layers, 1 shared layer: each uploaded once
    assert result.pushed_blobs == len(fake.blobs) == 5


def test_an_index_of_indexes_is_not_pushed(tmp_path: Path) -> None:
    """Guards the push's reading of an index: it holds image manifests only, nothing nested."""
    write_index_layout(tmp_path / "multi", both(tmp_path), "latest")
    top = json.loads((tmp_path / "multi" / "index.json").read_bytes())["manifests"][0]
    nested = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [top]}
    data = json.dumps(nested).encode()
    digest = hashlib.sha256(data).hexdigest()
    (tmp_path / "multi" / "blobs" / "sha256" / digest).write_bytes(data)
    entry = {"mediaType": INDEX_MEDIA_TYPE, "digest": f"sha256:{digest}", "size": len(data)}
    (tmp_path / "multi" / "index.json").write_text(json.dumps({"manifests": [entry]}))
    with pytest.raises(RegistryError, match="only image manifests"):
        push(
            tmp_path / "multi",
            "registry.test/team/env:1",
            auth=Credentials("ci", "pw"),
            reporter=MemoryReporter(),
            transport=FakeRegistry().transport(),
        )


def test_a_platform_record_must_be_the_one_the_multi_record_names() -> None:
    """Guards `verify dist/<platform>/…` in a multi-platform build: the platform's build.json
    must be the one recorded above it, for a platform the build made."""
    recorded = {"linux-64": "a" * 64}
    assert verify_platform_record("linux-64", "a" * 64, recorded.get("linux-64")) == []
    for platform, sha in (("linux-64", "b" * 64), ("linux-aarch64", "a" * 64)):
        (finding,) = verify_platform_record(platform, sha, recorded.get(platform))
        assert finding.code == "output-platform-mismatch" and finding.hint
