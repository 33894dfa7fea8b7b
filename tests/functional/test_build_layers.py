"""`[build] layers`: the environment split into per-package layers that stack to the one-layer
tree, each file in exactly one layer, byte-identical builds, and a small package's bump
rewriting one small layer."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.golden import build, digests
from tests.support.images import write_image
from tests.support.layered import PACKAGES, configure, layered_project


class Image:
    """The built OCI layout read back: manifest, config, the record and each layer's tar."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist
        index = json.loads((dist / "oci" / "index.json").read_text())
        self.manifest = self.blob_json(index["manifests"][0]["digest"])
        self.config = self.blob_json(self.manifest["config"]["digest"])
        self.record = json.loads((dist / "build.json").read_text())["outputs"]["oci"]

    def blob(self, digest: str) -> bytes:
        return (
            self.dist / "oci" / "blobs" / "sha256" / digest.removeprefix("sha256:")
        ).read_bytes()

    def blob_json(self, digest: str) -> Any:
        return json.loads(self.blob(digest))

    @property
    def layer_digests(self) -> list[str]:
        return [layer["digest"] for layer in self.manifest["layers"]]

    def tars(self) -> list[bytes]:
        return [gzip.decompress(self.blob(d)) for d in self.layer_digests]

    def members(self) -> list[dict[str, tuple[str, int, str]]]:
        """Per layer: path -> (type, mode, content sha256 or link target)."""
        return [members_of(tar) for tar in self.tars()]


def members_of(tar: bytes) -> dict[str, tuple[str, int, str]]:
    found = {}
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        for member in archive:
            stream = archive.extractfile(member) if member.isfile() else None
            content = hashlib.sha256(stream.read()).hexdigest() if stream else member.linkname
            assert member.name not in found, f"{member.name} twice in one layer"
            found[member.name] = (member.type.decode(), member.mode, content)
    return found


def built(where: Path, layers: str, alpha: str = "1.0", **options: Any) -> Image:
    project = layered_project(where, layers, alpha)
    result = build(project, where.parent / "cache", **options)
    assert result.returncode == 0, result.stderr
    return Image(project / "dist")


def test_auto_layers_hold_each_file_once_and_stack_to_the_one_layer_tree(tmp_path: Path) -> None:
    split = built(tmp_path / "auto", '"auto"')
    single = built(tmp_path / "one", "1")
    names = [layer["layer"] for layer in split.record["layers"]]
    assert names[:2] == ["skeleton", "big"]
    assert all(name.startswith("group ") and name.endswith(" of 8") for name in names[2:])
    assert sorted(p for layer in split.record["layers"] for p in layer["packages"]) == PACKAGES
    # One history entry, one diff_id and one descriptor per layer, all agreeing.
    assert [h["created_by"] for h in split.config["history"]] == [
        f"mlenv build: golden: {name}" for name in names
    ]
    tars = split.tars()
    assert split.config["rootfs"]["diff_ids"] == [
        "sha256:" + hashlib.sha256(tar).hexdigest() for tar in tars
    ]
    assert split.layer_digests == [layer["digest"] for layer in split.record["layers"]]
    # Every file and link in exactly one layer; together, exactly the one-layer tree.
    layers = split.members()
    (whole,) = single.members()
    files = [path for layer in layers for path, (kind, _, _) in layer.items() if kind != "5"]
    assert sorted(files) == sorted(p for p, (kind, _, _) in whole.items() if kind != "5")
    for layer in layers:  # each layer carries the directories above its files
        assert all(p.rpartition("/")[0] in layer for p in layer if "/" in p)
    # One layer keeps the single-layer history name.
    assert [h["created_by"] for h in single.config["history"]] == ["mlenv build: golden"]
    stacked: dict[str, tuple[str, int, str]] = {}
    for layer in layers:
        for path, member in layer.items():
            assert stacked.setdefault(path, member) == member  # directories agree across layers
    assert stacked == whole
    assert split.record["layers"][0]["packages"] == []
    assert set(layers[0]) >= {"opt/mlenv/golden/pyvenv.cfg", "opt/mlenv/golden/bin/python"}
    (big,) = [layer for layer, name in zip(layers, names, strict=True) if name == "big"]
    assert {p.rsplit("/", 1)[-1] for p, (kind, _, _) in big.items() if kind != "5"} >= {
        "blob.bin", "RECORD", "METADATA"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("layers", "expected"),
    [("2", ["skeleton", "group 1 of 1"]), ("3", ["skeleton", "big", "group 1 of 1"])],
)
def test_an_integer_caps_the_layers(tmp_path: Path, layers: str, expected: list[str]) -> None:
    image = built(tmp_path / "project", layers)
    assert [layer["layer"] for layer in image.record["layers"]] == expected
    assert len(image.manifest["layers"]) == len(image.config["history"]) == len(expected)


def test_layered_builds_are_byte_identical(tmp_path: Path) -> None:
    first = built(tmp_path / "a" / "project", '"auto"', umask=0o022, env={"TZ": "UTC"})
    second = built(
        tmp_path / "b" / "elsewhere" / "project", '"auto"', umask=0o077,
        env={"TZ": "Asia/Kolkata", "PYTHONHASHSEED": "12345", "LC_ALL": "POSIX"},
    )  # fmt: skip
    assert digests(first.dist) == digests(second.dist)


def test_bumping_a_small_package_changes_exactly_its_layer(tmp_path: Path) -> None:
    before = built(tmp_path / "project", '"auto"')
    project = before.dist.parent
    old = dict(zip(before.layer_digests, before.record["layers"], strict=True))
    configure(project, '"auto"', alpha="1.1")
    assert build(project, tmp_path / "cache").returncode == 0
    after = Image(project / "dist")
    assert [layer["layer"] for layer in after.record["layers"]] == [
        layer["layer"] for layer in before.record["layers"]
    ]
    changed = [layer for layer in after.record["layers"] if layer["digest"] not in old]
    assert len(changed) == 1
    assert "alpha" in changed[0]["packages"]
    sizes = {layer["digest"]: layer["size"] for layer in after.manifest["layers"]}
    assert sizes[changed[0]["digest"]] * 100 < sum(sizes.values())  # under 1% of the image
    (layer,) = [m for m, d in zip(after.members(), after.layer_digests, strict=True)
                if d == changed[0]["digest"]]  # fmt: skip
    assert "opt/mlenv/golden/lib/python3.11/site-packages/alpha/sub/__init__.py" in layer


def test_more_layers_than_a_runtime_can_stack_is_a_clear_error(tmp_path: Path) -> None:
    base = tmp_path / "base"
    write_image(base, [(f"layer {n}", []) for n in range(124)], ref="many", cmd=["/bin/sh"])
    project = layered_project(tmp_path / "project", "2")
    configure(project, "2", "1.0", f'base-image = "{base}"\n')
    result = build(project, tmp_path / "cache")
    assert result.returncode == 1
    assert (
        "[build].layers: the image would have 126 layers, 2 of them the environment's; "
        "Docker runs at most 125 (Podman 127)" in result.stderr
    )
    assert "hint: set layers to at most 1, or use a base image with fewer layers" in result.stderr
    assert "Installing wheels" not in result.stderr  # judged before a wheel is read
