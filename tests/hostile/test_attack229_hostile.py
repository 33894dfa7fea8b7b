"""Attack 229: the changes of 223 on the offline path (whiteouts applied by lookup, each base
blob read once, RECORD rows read once, ``oci-layout`` and index entries read as a deploy
reads them), judged against umoci and skopeo on the same layouts.

Findings this file pins (each failed before its fix):

- A base layer holding ``opt/env/a/b`` with no entry for ``opt/env/a``, and a later layer
  whiting out ``b`` (or making ``a`` opaque): a runtime (umoci, Docker) made ``a`` for ``b``
  and keeps it, so the prefix holds it, but the prefix check called the prefix empty. The
  directories a member's path makes below the prefix count as the prefix's entries
  (``base_tree._changes``).
- An ``oci-layout`` or ``index.json`` with a UTF-8 byte-order mark, or ``index.json`` in
  UTF-16: ``json.loads`` of bytes reads them, Go's readers (umoci, skopeo) refuse them;
  ``inspect`` and ``verify`` read them as an image. ``oci.model.parse_json`` reads UTF-8
  without a mark only.
- A descriptor ``"size": false`` for the empty blob: a bool is an int to Python, so
  ``verify dist/oci`` (``checked.checked_image``) called the layout OK that skopeo refuses
  ("cannot unmarshal bool"). ``oci.model.descriptor_of`` refuses a bool size.
- An image of 126 or 127 layers, the base's included: the build's depth check
  (``build_outputs._check_depth``) let it through as within "Docker and Podman run at most
  127", but Docker loads at most 125 ("max depth exceeded": moby's layer store keeps two of
  overlay's 127 for the container). ``manifest.MAX_LAYERS`` is 125.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlenv.oci.base_tree import check_prefix
from mlenv.oci.checked import checked_image
from mlenv.oci.model import OciError
from mlenv.oci.read import read_base
from tests.support.cli import run_mlenv
from tests.support.daemons import Dockerd, dockerd
from tests.support.engines import tool
from tests.support.golden import build
from tests.support.images import write_image
from tests.support.layered import configure, layered_project
from tests.support.raw_layout import PLATFORM, RawMember, raw_layout


def _unpacked(layout: Path, where: Path) -> subprocess.CompletedProcess[str]:
    umoci = tool("umoci", "umoci")
    bundle = where / "bundle"
    return subprocess.run(
        [umoci, "unpack", "--image", f"{layout}:latest", str(bundle)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("removal", ["opt/env/a/.wh.b", "opt/env/a/.wh..wh..opq"])
def test_a_directory_a_member_made_under_the_prefix_stays_after_its_child_is_whited_out(
    tmp_path: Path, removal: str
) -> None:
    """Before: the check said the prefix was empty (the base accepted); umoci's unpack of the
    same layers has ``/opt/env/a`` (Docker makes a member's missing parents alike). Now the
    base is refused naming ``/opt/env/a``."""
    layout = tmp_path / "base"
    filled: list[RawMember] = [("opt/env/a/b", "file", "")]
    raw_layout(layout, [filled, [(removal, "file", "")]])
    unpacked = _unpacked(layout, tmp_path)
    assert unpacked.returncode == 0, unpacked.stderr
    assert [p.name for p in (tmp_path / "bundle/rootfs/opt/env").iterdir()] == ["a"]
    with pytest.raises(OciError, match=r"already holds 1 entry \(/opt/env/a, "):
        check_prefix(read_base(layout, platform=PLATFORM), "/opt/env")


def test_a_member_whited_out_below_an_explicit_directory_still_leaves_it(tmp_path: Path) -> None:
    """Held before and after: with ``opt/env/a`` an entry of its own, the same whiteout
    leaves it, and the check refuses the base."""
    layout = tmp_path / "base"
    filled: list[RawMember] = [("opt/env/a", "dir", ""), ("opt/env/a/b", "file", "")]
    raw_layout(layout, [filled, [("opt/env/a/.wh.b", "file", "")]])
    with pytest.raises(OciError, match=r"already holds 1 entry \(/opt/env/a, "):
        check_prefix(read_base(layout, platform=PLATFORM), "/opt/env")


def _bom(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _utf16(path: Path) -> None:
    path.write_bytes(path.read_text().encode("utf-16"))


_SHAPES: list[tuple[str, Callable[[Path], None]]] = [
    ("oci-layout", _bom),
    ("index.json", _bom),
    ("index.json", _utf16),
]


@pytest.mark.parametrize(("name", "shape"), _SHAPES)
def test_a_layout_file_go_cannot_read_is_refused(
    tmp_path: Path, name: str, shape: Callable[[Path], None]
) -> None:
    """Before: ``inspect`` showed the image (exit 0) and ``verify``'s reader returned its
    digest; umoci and skopeo refuse the same layout ("invalid character"). Now both name the
    file."""
    layout = tmp_path / "base"
    raw_layout(layout, [[("opt", "dir", "")]])
    shape(layout / name)
    umoci = subprocess.run(
        [tool("umoci", "umoci"), "ls", "--layout", str(layout)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert umoci.returncode != 0
    assert "invalid character" in umoci.stderr
    done = run_mlenv(["inspect", str(layout), "--platform", PLATFORM], tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{layout}/{name}: invalid JSON" in done.stderr
    with pytest.raises(OciError, match="invalid JSON") as refused:
        checked_image(layout)
    assert refused.value.where == f"{layout}/{name}"


def _with_empty_layer(layout: Path, size: object) -> None:
    """``layout``'s image given one more layer, the empty blob, whose descriptor says ``size``."""
    blobs = layout / "blobs" / "sha256"

    def put(document: dict[str, object]) -> dict[str, object]:
        data = json.dumps(document).encode()
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    def read(descriptor: dict[str, object]) -> dict[str, object]:
        loaded: dict[str, object] = json.loads((blobs / str(descriptor["digest"])[7:]).read_text())
        return loaded

    empty = "sha256:" + hashlib.sha256(b"").hexdigest()
    (blobs / empty[7:]).write_bytes(b"")
    index = json.loads((layout / "index.json").read_text())
    manifest = read(index["manifests"][0])
    config = read(manifest["config"])  # type: ignore[arg-type]
    config["rootfs"]["diff_ids"].append(empty)  # type: ignore[index]
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)}
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": empty, "size": size}
    manifest["layers"].append(layer)  # type: ignore[attr-defined]
    index["manifests"][0].update(put(manifest))
    (layout / "index.json").write_text(json.dumps(index))


def test_a_descriptor_whose_size_is_a_bool_is_refused(tmp_path: Path) -> None:
    """Before: ``checked_image`` (``verify dist/oci``) returned the image's digest for a layer
    of ``"size": false``; skopeo refuses to read its manifest. The same layout sized 0 reads
    in both, so only the bool is refused."""
    skopeo = tool("skopeo", "skopeo")
    for size, readable in ((0, True), (False, False)):
        layout = tmp_path / f"base-{size!r}"
        raw_layout(layout, [[("opt", "dir", "")]])
        _with_empty_layer(layout, size)
        inspected = subprocess.run(
            [skopeo, "inspect", f"oci:{layout}:latest"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert (inspected.returncode == 0) is readable, inspected.stderr
        if readable:
            assert checked_image(layout).startswith("sha256:")
            continue
        assert "cannot unmarshal bool" in inspected.stderr
        with pytest.raises(OciError, match="a descriptor needs a digest and a size"):
            checked_image(layout)


@pytest.fixture(scope="module")
def docker() -> Iterator[Dockerd]:
    with dockerd() as daemon:
        yield daemon


def _loaded(daemon: Dockerd, image: str, where: Path) -> subprocess.CompletedProcess[str]:
    """``docker load`` of the OCI layout ``image`` (``oci:DIR`` or ``oci:DIR:TAG``)."""
    archive = where / "image.tar"
    copied = subprocess.run(
        [tool("skopeo", "skopeo"), "copy", "-q", image, f"docker-archive:{archive}:deep:latest"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    return daemon.docker("load", "-i", str(archive))


@pytest.mark.parametrize(("depth", "loads"), [(125, True), (126, False)])
def test_docker_loads_images_of_at_most_125_layers(
    docker: Dockerd, tmp_path: Path, depth: int, loads: bool
) -> None:
    """The oracle: the same one-file layers, 125 load and 126 are "max depth exceeded"."""
    layout = tmp_path / "deep"
    raw_layout(layout, [[(f"f{n}", "file", "")] for n in range(depth)])
    done = _loaded(docker, f"oci:{layout}:latest", tmp_path)
    assert (done.returncode == 0) is loads, done.stderr
    assert ("max depth exceeded" in done.stderr) is not loads


def test_a_build_docker_cannot_load_is_refused_and_one_at_the_limit_loads(
    docker: Dockerd, tmp_path: Path
) -> None:
    """Before: a base of 124 layers and ``layers = 2`` built an image of 126 layers, which
    ``docker load`` refuses. Now that build is refused naming Docker's 125; one fewer base
    layer builds an image Docker loads."""
    project = layered_project(tmp_path / "project", "2")
    for based, builds in ((124, False), (123, True)):
        base = tmp_path / f"base-{based}"
        write_image(base, [(f"layer {n}", []) for n in range(based)], ref="deep", cmd=["/bin/sh"])
        configure(project, "2", "1.0", f'base-image = "{base}"\n')
        result = build(project, tmp_path / "cache")
        assert (result.returncode == 0) is builds, result.stderr
        if not builds:
            assert "the image would have 126 layers, 2 of them the environment's" in result.stderr
            assert "Docker runs at most 125 (Podman 127)" in result.stderr
            continue
        done = _loaded(docker, f"oci:{project / 'dist' / 'oci'}", tmp_path)
        assert done.returncode == 0, done.stderr
