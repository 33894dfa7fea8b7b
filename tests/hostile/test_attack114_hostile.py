"""Adversary pass 114: base images of the shapes real tools write (``docker build`` +
``skopeo copy``, a layout holding two tags, nvidia/cuda-like configs) given to ``build``.

Findings pinned here:

1. On a base that lacks a directory above the prefix (``/opt/mlenv`` is in no base; busybox
   or scratch bases have no ``/opt``), the environment's layer named no parent of the prefix,
   and Docker unpacks a layer's missing parents with mode 0600 (moby ``pkg/archive``
   ``UnpackLayer``): ``docker run --user 65534`` of an image built on the project's own Debian
   base failed with ``exec: "/opt/mlenv/golden/bin/python": permission denied``, and a base
   whose config says ``User 1000`` could not run its environment at all (umoci and runc make
   them 0755, so only Docker showed it). The layer now carries the parents the base lacks,
   as directories 0755, and still leaves the ones the base has alone.
2. A layout holding one image under two tags (``skopeo copy oci:base:latest
   oci:base:13.0-runtime``, the ordinary way to tag in a layout; Docker 25's ``docker save
   IMAGE:A IMAGE:B`` writes the same) was refused: "the base image has 2 images for amd64,
   expected one", hinting to "name one with its org.opencontainers.image.ref.name", which
   ``[build] base-image`` has no way to do. Entries of one digest are one image; two images
   are still refused, with a hint that can be followed.
3. A CUDA lock built on an nvidia/cuda-like base (``ENV NVIDIA_REQUIRE_CUDA="cuda>=13.0
   brand=tesla,driver>=535,driver<536 ..."``, ``CUDA_VERSION=13.0.0``) replaced the base's
   requirement with the lock's (``cuda>=12.4,driver>=550.54.14``): the NVIDIA runtime then
   started the image on a CUDA 12.4 driver, where the base's own CUDA 13 libraries cannot
   run. The runtime checks every ``NVIDIA_REQUIRE_*`` variable and needs all of them
   (nvidia-container-toolkit ``internal/config/image/cuda_image.go``, ``GetRequirements``;
   ``NVIDIA_REQUIRE_JETPACK*`` excepted), so the base's is kept beside the lock's, as
   ``NVIDIA_REQUIRE_BASE_CUDA``.
4. A base whose config has no history (``umoci``-made, ``docker import``, hand-made; history
   is optional in the image spec) or fewer non-empty entries than layers got mlenv's one
   history entry after it, and readers pair the n-th non-empty entry with the n-th layer:
   ``docker history`` showed "mlenv build: golden" as the base's first layer (busybox,
   1.98MB) and the environment's layer under no entry. The base's unnamed layers get an entry
   each (``empty_layer`` false, a comment saying so) before mlenv's.
5. A layout whose ``index.json`` names an image index that lists another image index (the
   image spec lets an index list indexes: a multi-platform image kept inside a layout's own
   index) was refused as "no image for linux/amd64, only None/None". Indexes are opened
   down to the image, to a bounded depth.
6. A base without the interpreter the manifest names (``nvidia/cuda:*-runtime`` images ship
   no Python; a busybox or distroless base; Ubuntu 22.04's is python3.10, not the
   ``/usr/bin/python3.11`` asked for) built silently, and the image's ``bin/python`` was a
   link to nothing: ``docker run IMAGE python`` failed on every node. ``build`` now warns,
   naming the path, on every build (the scan's cached pass keeps the answer); a base whose
   path to it crosses a symlink cannot be told and is not warned about.
7. A base declaring a volume at or above the prefix (``VOLUME /opt``), or inside it, built
   silently; Docker then copies the environment into a fresh anonymous volume at every
   ``docker run`` (gigabytes for a CUDA stack), and a bind mount there (``-v host:/opt``)
   hides it: ``ls /opt/mlenv/golden``: No such file or directory. ``build`` now warns, naming
   the volume.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mlenv.cuda.requirement import evaluate_requirement
from mlenv.oci.model import INDEX_MEDIA_TYPE, Descriptor, canonical_json, sha256_of
from mlenv.oci.read import BaseImage, read_base
from mlenv.oci.write import ImageSpec, image_config
from mlenv.tarball import Entry, LayerBlob
from tests.support.base_image import base_image_layout
from tests.support.cli import run_mlenv
from tests.support.daemons import Dockerd, dockerd
from tests.support.golden import fetched_golden
from tests.support.images import write_image

pytestmark = pytest.mark.hostile

PREFIX = "opt/mlenv/golden"  # the golden project's default prefix, as a layer names it


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return fetched_golden(tmp_path_factory.mktemp("template"))


def _project(root: Path, template: tuple[Path, dict[str, str]], base: Path) -> Path:
    copy = Path(shutil.copytree(template[0], root / "project", symlinks=True))
    with (copy / "mlenv.toml").open("a") as manifest:
        manifest.write(f'[build]\nbase-image = "{base}"\n')
    return copy


def _built(project: Path, env: dict[str, str]) -> Path:
    result = run_mlenv(["build", "--offline"], project, env)
    assert result.returncode == 0, result.stderr
    return project / "dist"


def _env_layer(dist: Path) -> list[tarfile.TarInfo]:
    """The members of the image's last layer (the environment's, one layer by default)."""
    blobs = dist / "oci" / "blobs" / "sha256"
    top = json.loads((dist / "oci" / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((blobs / top[7:]).read_text())
    data = (blobs / manifest["layers"][-1]["digest"][7:]).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as layer:
        return layer.getmembers()


def _dirs(names: Sequence[str]) -> list[Entry]:
    return [Entry(name, "dir", 0o755) for name in names]


# base layers (directory names) -> the prefix's parents the environment's layer must name
PARENTS: dict[str, tuple[list[list[str]], list[str]]] = {
    "no-opt": ([["etc"]], ["opt", "opt/mlenv"]),
    "opt-only": ([["etc", "opt"]], ["opt/mlenv"]),
    "opt-mlenv": ([["opt", "opt/mlenv"]], []),
    "opt-whited-out": ([["opt", "opt/mlenv"], [".wh.opt"]], ["opt", "opt/mlenv"]),
}


@pytest.mark.parametrize("shape", sorted(PARENTS))
def test_the_layer_carries_the_parents_of_the_prefix_the_base_lacks(
    tmp_path: Path, template: tuple[Path, dict[str, str]], shape: str
) -> None:
    """Input: a base without ``/opt`` (or ``/opt/mlenv``). Before the fix the layer named only
    the prefix and below, and Docker made the missing parents 0600."""
    layers, carried = PARENTS[shape]
    marker = tmp_path / "wh"
    marker.write_bytes(b"")
    specs = [
        [Entry(n, "file", 0o644, source=marker, size=0) if ".wh." in n else Entry(n, "dir", 0o755)
         for n in layer]
        for layer in layers
    ]  # fmt: skip
    write_image(tmp_path / "base", [(f"base {n}", e) for n, e in enumerate(specs)],
                ref="latest", cmd=["sh"])  # fmt: skip
    dist = _built(_project(tmp_path, template, tmp_path / "base"), template[1])
    members = {m.name.rstrip("/"): m for m in _env_layer(dist)}
    above = [name for name in ("opt", "opt/mlenv") if name in members]
    assert above == carried
    for name in [*carried, PREFIX]:
        assert members[name].isdir() and members[name].mode == 0o755, name
        assert (members[name].uid, members[name].gid) == (0, 0)


def test_a_layer_cached_on_one_base_is_not_reused_on_a_base_lacking_its_parents(
    tmp_path: Path, template: tuple[Path, dict[str, str]]
) -> None:
    """The parents a layer carries depend on the base: the layer cache keys them."""
    full, bare = tmp_path / "full", tmp_path / "bare"
    write_image(full, [("base", _dirs(["opt", "opt/mlenv"]))], ref="latest", cmd=["sh"])
    write_image(bare, [("base", _dirs(["etc"]))], ref="latest", cmd=["sh"])
    project = _project(tmp_path, template, full)
    first = {m.name.rstrip("/") for m in _env_layer(_built(project, template[1]))}
    assert "opt/mlenv" not in first
    manifest = project / "mlenv.toml"
    manifest.write_text(manifest.read_text().replace(str(full), str(bare)))
    second = {m.name.rstrip("/") for m in _env_layer(_built(project, template[1]))}
    assert {"opt", "opt/mlenv"} <= second


@pytest.fixture(scope="module")
def docker() -> Iterator[Dockerd]:
    with dockerd() as running:
        yield running


@pytest.mark.integration
def test_a_user_other_than_root_runs_the_environment_under_docker(
    tmp_path: Path, template: tuple[Path, dict[str, str]], docker: Dockerd
) -> None:
    """The project's Debian base has ``/opt`` and no ``/opt/mlenv``: before the fix Docker
    refused to exec the environment's python for any user but root (permission denied)."""
    dist = _built(_project(tmp_path, template, base_image_layout()), template[1])
    loaded = docker.docker("load", "-i", str(dist / "image.tar"))
    assert loaded.returncode == 0, loaded.stderr
    ran = docker.docker("run", "--rm", "--network", "none", "--user", "65534:65534",
                        "golden:latest", "/opt/mlenv/golden/bin/python", "-c",
                        "import hello, sys; print(sys.prefix)")  # fmt: skip
    assert (ran.returncode, ran.stdout) == (0, "/opt/mlenv/golden\n"), ran.stderr


def _tagged_twice(layout: Path, other: str | None = None) -> None:
    """The layout's one entry listed again under a second tag, as ``skopeo copy`` to a second
    tag of the same layout writes it; ``other``: a second image's manifest digest instead."""
    index = json.loads((layout / "index.json").read_text())
    entry = index["manifests"][0]
    again = {**entry, "annotations": {"org.opencontainers.image.ref.name": "13.0-runtime"}}
    if other is not None:
        again["digest"] = other
        again["size"] = (layout / "blobs" / "sha256" / other[7:]).stat().st_size
    index["manifests"].append(again)
    (layout / "index.json").write_text(json.dumps(index))


def test_one_image_under_two_tags_is_one_base(
    tmp_path: Path, template: tuple[Path, dict[str, str]]
) -> None:
    image = write_image(tmp_path / "base", [("base", _dirs(["etc"]))], ref="latest", cmd=["sh"])
    _tagged_twice(tmp_path / "base")
    dist = _built(_project(tmp_path, template, tmp_path / "base"), template[1])
    record = json.loads((dist / "build.json").read_text())["outputs"]["oci"]
    assert record["layers"][0]["digest"] == image.layer_digests[0]


def test_two_images_in_one_layout_are_refused_with_a_hint_that_can_be_followed(
    tmp_path: Path, template: tuple[Path, dict[str, str]]
) -> None:
    write_image(tmp_path / "other", [("other", _dirs(["srv"]))], ref="latest", cmd=["sh"])
    other = json.loads((tmp_path / "other" / "index.json").read_text())["manifests"][0]
    write_image(tmp_path / "base", [("base", _dirs(["etc"]))], ref="latest", cmd=["sh"])
    for blob in (tmp_path / "other" / "blobs" / "sha256").iterdir():
        shutil.copyfile(blob, tmp_path / "base" / "blobs" / "sha256" / blob.name)
    _tagged_twice(tmp_path / "base", other["digest"])
    project = _project(tmp_path, template, tmp_path / "base")
    result = run_mlenv(["build", "--offline"], project, template[1])
    assert result.returncode == 1, result.stderr
    assert "the base image has 2 images for" in result.stderr
    assert "latest, 13.0-runtime" in result.stderr  # what it holds, by tag
    hint = result.stderr.split("hint:")[1]
    assert "ref.name" not in hint
    assert f"skopeo copy oci:{tmp_path / 'base'}:TAG oci:" in hint


CUDA_13_BASE = "cuda>=13.0 brand=tesla,driver>=535,driver<536 brand=unknown,driver>=535,driver<536"
LOCK_12_4 = "cuda>=12.4,driver>=550.54.14"


def _image_env(base_env: list[str], require: str | None = LOCK_12_4) -> dict[str, str]:
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": base_env}}
    base = BaseImage("sha256:" + "0" * 64, "amd64", config, (), (), None)  # type: ignore[arg-type]
    spec = ImageSpec("e", "linux-64", "/opt/e", 0, "ab" * 32, nvidia_require_cuda=require)
    pairs = (item.split("=", 1) for item in image_config(spec, [], base)["config"]["Env"])
    return dict(pairs)


def _runtime_starts(env: dict[str, str], *, cuda: str, driver: str, brand: str) -> bool:
    """What the NVIDIA runtime decides: every NVIDIA_REQUIRE_* but JETPACK must hold."""
    checked = [
        value
        for key, value in env.items()
        if key.startswith("NVIDIA_REQUIRE_") and not key.startswith("NVIDIA_REQUIRE_JETPACK")
    ]
    return all(evaluate_requirement(v, cuda=cuda, driver=driver, brand=brand) for v in checked)


def test_a_cuda_base_keeps_its_requirement_beside_the_locks() -> None:
    env = _image_env([f"NVIDIA_REQUIRE_CUDA={CUDA_13_BASE}", "CUDA_VERSION=13.0.0",
                      "NVIDIA_VISIBLE_DEVICES=all"])  # fmt: skip
    assert env["NVIDIA_REQUIRE_CUDA"] == LOCK_12_4
    assert env["NVIDIA_REQUIRE_BASE_CUDA"] == CUDA_13_BASE
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all" and env["CUDA_VERSION"] == "13.0.0"
    # a CUDA 12.4 driver meets the lock but not the base's CUDA 13 libraries
    assert not _runtime_starts(env, cuda="12.4", driver="550.54.14", brand="geforce")
    assert _runtime_starts(env, cuda="13.0", driver="580.65.06", brand="geforce")
    # the base's forward-compatibility term admits a Tesla 535 driver; the lock still does not
    assert evaluate_requirement(CUDA_13_BASE, cuda="12.2", driver="535.104.05", brand="tesla")
    assert not _runtime_starts(env, cuda="12.2", driver="535.104.05", brand="tesla")


def test_a_base_requirement_equal_to_the_locks_or_without_a_cuda_target_is_left_as_is() -> None:
    same = _image_env([f"NVIDIA_REQUIRE_CUDA={LOCK_12_4}"])
    assert "NVIDIA_REQUIRE_BASE_CUDA" not in same
    cpu = _image_env([f"NVIDIA_REQUIRE_CUDA={CUDA_13_BASE}"], require=None)
    assert cpu["NVIDIA_REQUIRE_CUDA"] == CUDA_13_BASE and "NVIDIA_REQUIRE_BASE_CUDA" not in cpu


def test_a_base_built_by_mlenv_on_a_cuda_base_keeps_both_requirements_it_carries() -> None:
    """An image mlenv built is a base too: its own NVIDIA_REQUIRE_BASE_CUDA is not overwritten."""
    env = _image_env([f"NVIDIA_REQUIRE_BASE_CUDA={CUDA_13_BASE}",
                      "NVIDIA_REQUIRE_CUDA=cuda>=12.6,driver>=560.28.03"])  # fmt: skip
    values = sorted(v for k, v in env.items() if k.startswith("NVIDIA_REQUIRE_"))
    assert values == sorted([CUDA_13_BASE, "cuda>=12.6,driver>=560.28.03", LOCK_12_4])
    assert env["NVIDIA_REQUIRE_CUDA"] == LOCK_12_4


@pytest.mark.parametrize(
    "history",
    [
        [],
        [{"created_by": "ADD rootfs.tar /"}],
        [{"created_by": "ADD rootfs.tar /"}, {"created_by": "ENV A=1", "empty_layer": True}],
    ],
)
def test_each_layer_has_its_history_entry_when_the_base_names_fewer(
    history: list[dict[str, object]],
) -> None:
    layers = tuple(Descriptor("application/vnd.oci.image.layer.v1.tar", "sha256:" + c * 64, 1)
                   for c in "abc")  # fmt: skip
    config = {"architecture": "amd64", "os": "linux", "config": {}, "history": history}
    base = BaseImage("sha256:" + "0" * 64, "amd64", config, layers, tuple(d.digest for d in layers),
                     None)  # type: ignore[arg-type]  # fmt: skip
    spec = ImageSpec("e", "linux-64", "/opt/e", 0, "ab" * 32)
    tar = "application/vnd.oci.image.layer.v1.tar"
    blob = LayerBlob("sha256:" + "d" * 64, "sha256:" + "d" * 64, 1, 1, tar, "none", None)
    written = image_config(spec, [(blob, "env")], base)["history"]
    named = [entry for entry in written if not entry.get("empty_layer")]
    assert len(named) == len(layers) + 1
    assert named[-1]["created_by"] == "mlenv build: env"
    assert written[: len(history)] == history  # the base's own entries, untouched and first


def _wrapped(layout: Path, levels: int) -> None:
    """The layout's image behind ``levels`` image indexes, each naming the next."""
    blobs = layout / "blobs" / "sha256"
    entry = json.loads((layout / "index.json").read_text())["manifests"][0]
    entry.pop("annotations")
    entry["platform"] = {"architecture": entry["platform"]["architecture"], "os": "linux"}
    for _ in range(levels):
        body = canonical_json(
            {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [entry]}
        )
        blobs.joinpath(sha256_of(body)[7:]).write_bytes(body)
        entry = {"mediaType": INDEX_MEDIA_TYPE, "digest": sha256_of(body), "size": len(body)}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_an_image_behind_nested_indexes_is_found(tmp_path: Path, levels: int) -> None:
    image = write_image(tmp_path / "base", [("base", _dirs(["etc"]))], ref="latest", cmd=["sh"])
    _wrapped(tmp_path / "base", levels)
    platform = {"amd64": "linux-64", "arm64": "linux-aarch64"}
    config = json.loads(
        (tmp_path / "base" / "blobs" / "sha256" / image.config_digest[7:]).read_text()
    )
    base = read_base(tmp_path / "base", platform=platform[config["architecture"]])
    assert base.manifest_digest == image.manifest_digest


# base layers -> whether the build warns that the interpreter is missing
INTERPRETER: dict[str, tuple[list[list[str]], bool]] = {
    "no-python": ([["D etc"]], True),
    "python-file": ([["D usr", "D usr/bin", "F usr/bin/python3.11"]], False),
    "python-link": ([["D usr", "D usr/bin", "F usr/bin/python3.11.2",
                      "L usr/bin/python3.11 python3.11.2"]], False),
    "merged-usr-link": ([["L usr x", "D x", "D x/bin", "F x/bin/python3.11"]], False),
    "python-whited-out": ([["D usr", "D usr/bin", "F usr/bin/python3.11"],
                           ["F usr/bin/.wh.python3.11"]], True),
    "python3.10-only": ([["D usr", "D usr/bin", "F usr/bin/python3.10"]], True),
}  # fmt: skip


def _layer(root: Path, specs: list[str]) -> list[Entry]:
    data = root / "data"
    data.write_bytes(b"")
    made = []
    for spec in specs:
        kind, name, *target = spec.split(" ")
        made.append(
            Entry(name, "dir", 0o755) if kind == "D"
            else Entry(name, "symlink", 0o777, target=target[0]) if kind == "L"
            else Entry(name, "file", 0o755, source=data, size=0)
        )  # fmt: skip
    return made


@pytest.mark.parametrize("shape", sorted(INTERPRETER))
def test_a_base_without_the_interpreter_is_warned_about_on_every_build(
    tmp_path: Path, template: tuple[Path, dict[str, str]], shape: str
) -> None:
    layers, warned = INTERPRETER[shape]
    made = [(f"base {n}", _layer(tmp_path, layer)) for n, layer in enumerate(layers)]
    write_image(tmp_path / "base", made, ref="latest", cmd=["sh"])
    project = _project(tmp_path, template, tmp_path / "base")
    says = "warning: the base image has no /usr/bin/python3.11, the environment's interpreter"
    for _ in range(2):  # the second build takes the scan's pass from the layer cache
        result = run_mlenv(["build", "--offline"], project, template[1])
        assert result.returncode == 0, result.stderr
        assert (says in result.stderr) is warned, result.stderr


@pytest.mark.parametrize(
    ("volumes", "warned"),
    [
        ({"/opt": {}}, "/opt"),
        ({"/opt/mlenv/golden/lib/": {}}, "/opt/mlenv/golden/lib/"),
        ({"/data": {}, "/optional": {}}, None),
    ],
)
def test_a_volume_of_the_base_over_the_prefix_is_warned_about(
    tmp_path: Path, template: tuple[Path, dict[str, str]], volumes: dict[str, object],
    warned: str | None,
) -> None:  # fmt: skip
    write_image(tmp_path / "base", [("base", _dirs(["etc"]))], ref="latest", cmd=["sh"])
    layout = tmp_path / "base"
    index = json.loads((layout / "index.json").read_text())
    manifest_path = layout / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]
    manifest = json.loads(manifest_path.read_text())
    config = json.loads(
        (layout / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_text()
    )
    config["config"]["Volumes"] = volumes
    body = canonical_json(config)
    (layout / "blobs" / "sha256" / sha256_of(body)[7:]).write_bytes(body)
    manifest["config"].update(digest=sha256_of(body), size=len(body))
    body = canonical_json(manifest)
    (layout / "blobs" / "sha256" / sha256_of(body)[7:]).write_bytes(body)
    index["manifests"][0].update(digest=sha256_of(body), size=len(body))
    (layout / "index.json").write_text(json.dumps(index))
    result = run_mlenv(["build", "--offline"], _project(tmp_path, template, layout), template[1])
    assert result.returncode == 0, result.stderr
    says = "warning: the base image declares a volume at "
    if warned is None:
        assert says not in result.stderr
    else:
        assert f"{says}{warned}" in result.stderr, result.stderr
