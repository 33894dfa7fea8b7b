"""Attack 88: base images as platform engineers bring them to ``build --offline``.

The environment's prefix crossing a symlink, a file or a filled directory of the base (after
the base's whiteouts) is refused naming the base, the path and a prefix to choose; an image
index is narrowed to linux images of the lock's architecture (Windows entries and buildx
attestations never count); the base's runtime config is kept as ``FROM base`` + ``COPY``
would keep it.

Runtime behaviour behind the refusal, recorded: overlayfs unpacks the environment's layer into
an empty upper directory, and an upper directory over a lower symlink hides the link (no merge
with a non-directory), so ``/opt -> var/opt`` would become a directory holding only the
environment; Docker's vfs driver unpacks onto the base's tree and follows the link. The image
would differ by storage driver, so mlenv refuses rather than pick one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import platform
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mlenv.commands.build import output_digests
from mlenv.oci.model import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    OciError,
    canonical_json,
    rfc3339,
    sha256_of,
)
from mlenv.oci.read import read_base
from mlenv.oci.write import write_layout
from mlenv.tarball import Entry, write_layer
from tests.support.cli import run_mlenv
from tests.support.golden import fetched_golden
from tests.support.images import write_image

pytestmark = pytest.mark.hostile

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}[platform.machine()]
PLATFORM = {"amd64": "linux-64", "arm64": "linux-aarch64"}[ARCH]
PREFIX = "/opt/mlenv/golden"  # the golden project's default prefix


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    return fetched_golden(tmp_path_factory.mktemp("template"))


@pytest.fixture
def project(tmp_path: Path, template: tuple[Path, dict[str, str]]) -> tuple[Path, dict[str, str]]:
    source, env = template
    copy = Path(shutil.copytree(source, tmp_path / "project", symlinks=True))
    with (copy / "mlenv.toml").open("a") as manifest:
        manifest.write('[build]\nbase-image = "base"\n')
    return copy, env


def _file(project: Path, name: str) -> Entry:
    data = project / "content" / name.replace("/", "_")
    data.parent.mkdir(exist_ok=True)
    data.write_text(f"{name}\n")
    return Entry(name, "file", 0o644, source=data, size=data.stat().st_size)


def _dir(name: str) -> Entry:
    return Entry(name, "dir", 0o755)


def _link(name: str, target: str) -> Entry:
    return Entry(name, "symlink", 0o777, target=target)


def _base(project: Path, *layers: Sequence[Entry]) -> None:
    write_image(project / "base", [(f"base {n}", entries) for n, entries in enumerate(layers)],
                ref="latest", cmd=["/bin/sh"])  # fmt: skip


def _refused(project: Path, env: dict[str, str]) -> str:
    before = output_digests(project / "dist") if (project / "dist").exists() else None
    result = run_mlenv(["build", "--offline"], project, env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    after = output_digests(project / "dist") if (project / "dist").exists() else None
    assert after == before
    # judged before a wheel is read: no minutes of installing for a base that cannot carry it
    assert "verifying artifacts" not in result.stderr
    assert "Installing wheels" not in result.stderr
    return result.stderr


SHAPES: dict[str, tuple[list[list[str]], str, str]] = {
    # name: (layers as specs, what the error says, what the hint says)
    "opt-relative-symlink": ([["L opt var/opt", "D var", "D var/opt"]],
                             "/opt as a symlink to var/opt", 'prefix = "/var/opt/mlenv/golden"'),
    "opt-absolute-symlink": ([["L opt /var/opt", "D var", "D var/opt"]],
                             "/opt as a symlink to /var/opt", 'prefix = "/var/opt/mlenv/golden"'),
    "mlenv-symlink-deeper": ([["D opt", "L opt/mlenv ../srv/m", "D srv", "D srv/m"]],
                             "/opt/mlenv as a symlink", 'prefix = "/srv/m/golden"'),
    "prefix-symlink": ([["D opt", "D opt/mlenv", "L opt/mlenv/golden /usr/local"]],
                       "/opt/mlenv/golden as a symlink", 'prefix = "/usr/local"'),
    "parent-is-a-file": ([["D opt", "F opt/mlenv"]], "/opt/mlenv as a file", "does not use"),
    "prefix-is-a-file": ([["D opt", "D opt/mlenv", "F opt/mlenv/golden"]],
                         "/opt/mlenv/golden as a file", "does not use"),
    "prefix-already-filled": ([["D opt", "D opt/mlenv", "D opt/mlenv/golden",
                                "F opt/mlenv/golden/pyvenv.cfg"]],
                              "/opt/mlenv/golden as a directory that already holds 1 entry "
                              "(/opt/mlenv/golden/pyvenv.cfg", "does not use"),
    # a later layer deletes the directory and puts a symlink in its place
    "whiteout-then-symlink": ([["D opt", "D opt/mlenv"], ["F .wh.opt", "L opt var/opt"]],
                              "/opt as a symlink", 'prefix = "/var/opt/mlenv/golden"'),
    # the link hidden only by an opaque directory one level up is still a link
    "link-under-root-opaque-readded": ([["D opt"], ["F .wh..wh..opq", "L opt x"]],
                                       "/opt as a symlink to x", 'prefix = "/x/mlenv/golden"'),
}  # fmt: skip

ACCEPTED: dict[str, list[list[str]]] = {
    "no-opt": [["D etc", "F etc/os-release"]],
    "empty-prefix-dir": [["D opt", "D opt/mlenv", "D opt/mlenv/golden"]],
    "symlink-elsewhere": [["L lib usr/lib", "D usr", "D usr/lib", "D opt"]],
    "symlink-whited-out": [["L opt var/opt"], ["F .wh.opt"]],
    "filled-prefix-whited-out": [["D opt", "D opt/mlenv", "F opt/mlenv/old"], ["F opt/.wh.mlenv"]],
    "filled-prefix-made-opaque": [
        ["D opt", "D opt/mlenv", "D opt/mlenv/golden", "F opt/mlenv/golden/old"],
        ["D opt/mlenv/golden", "F opt/mlenv/golden/.wh..wh..opq"],
    ],
    "symlink-replaced-by-dir": [["L opt var/opt"], ["F .wh.opt", "D opt"]],
}


def _entries(project: Path, specs: list[str]) -> list[Entry]:
    made = []
    for spec in specs:
        kind, name, *target = spec.split(" ")
        made.append(
            _dir(name) if kind == "D" else _link(name, target[0]) if kind == "L"
            else _file(project, name)
        )  # fmt: skip
    return made


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_prefix_crossing_a_link_a_file_or_a_filled_directory_of_the_base_is_refused(
    project: tuple[Path, dict[str, str]], shape: str
) -> None:
    """Before the fix each of these built, and the image depended on the storage driver."""
    path, env = project
    layers, says, hint = SHAPES[shape]
    _base(path, *(_entries(path, layer) for layer in layers))
    stderr = _refused(path, env)
    assert f"the base image has {says}" in stderr
    assert "base: /" in stderr  # the base image named, with the path
    assert f"hint: set [environment] {hint}" in stderr or hint in stderr.split("hint:")[1]


@pytest.mark.parametrize("shape", sorted(ACCEPTED))
def test_a_base_that_leaves_the_prefix_free_is_built_on(
    project: tuple[Path, dict[str, str]], shape: str
) -> None:
    path, env = project
    _base(path, *(_entries(path, layer) for layer in ACCEPTED[shape]))
    result = run_mlenv(["build", "--offline"], path, env)
    assert result.returncode == 0, result.stderr
    assert (path / "dist" / "oci" / "index.json").is_file()


def _config(architecture: str, runtime: dict[str, Any], diff_ids: list[str]) -> dict[str, Any]:
    return {
        "architecture": architecture, "os": "linux", "created": rfc3339(0), "config": runtime,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": rfc3339(0), "created_by": "/bin/sh -c #(nop) base"},
                    {"created": rfc3339(0), "created_by": "LABEL a=b", "empty_layer": True}],
    }  # fmt: skip


def _layout(dest: Path, architecture: str, runtime: dict[str, Any]) -> None:
    """A one-layer base with ``runtime`` as its config's config, through the project's writer."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as scratch:
        layer = Path(scratch) / "layer"
        etc = Path(scratch) / "hostname"
        etc.write_text("base\n")
        entries = [_dir("etc"), Entry("etc/hostname", "file", 0o644, source=etc, size=5)]
        with open(layer, "wb") as out:
            blob = write_layer(entries, out, compression="gzip", mtime=0)
        write_layout(dest, [(blob, layer)], _config(architecture, runtime, [blob.diff_id]),
                     None, "latest")  # fmt: skip


def _built_config(path: Path) -> dict[str, Any]:
    oci = path / "dist" / "oci"
    top = json.loads((oci / "index.json").read_text())["manifests"][0]["digest"]
    manifest = json.loads((oci / "blobs" / "sha256" / top[7:]).read_text())
    config: dict[str, Any] = json.loads(
        (oci / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_text()
    )
    return config


def test_the_base_runtime_config_is_kept_as_from_and_copy_would(
    project: tuple[Path, dict[str, str]],
) -> None:
    path, env = project
    runtime = {
        "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "NVIDIA_DISABLE_REQUIRE=1"],
        "Entrypoint": ["/usr/bin/tini", "--"], "Cmd": ["python3"], "User": "1000:1000",
        "WorkingDir": "/work", "ExposedPorts": {"8080/tcp": {}}, "StopSignal": "SIGINT",
        "Labels": {"team": "ml", "org.opencontainers.image.title": "base"},
    }  # fmt: skip
    _layout(path / "base", ARCH, runtime)
    result = run_mlenv(["build", "--offline"], path, env)
    assert result.returncode == 0, result.stderr
    config = _built_config(path)
    built = config["config"]
    for key in ("Entrypoint", "Cmd", "User", "WorkingDir", "ExposedPorts", "StopSignal"):
        assert built[key] == runtime[key], key
    variables = dict(item.partition("=")[::2] for item in built["Env"])
    assert variables["PATH"] == f"{PREFIX}/bin:/usr/local/bin:/usr/bin:/bin"
    assert variables["LANG"] == "C.UTF-8"
    assert built["Labels"]["team"] == "ml"
    assert built["Labels"]["org.opencontainers.image.title"] == "golden"
    assert config["history"][:2] == _config(ARCH, {}, [])["history"]
    assert config["history"][2]["created_by"].startswith("mlenv build")
    assert len(config["rootfs"]["diff_ids"]) == 2


def test_a_base_for_another_architecture_is_refused_naming_both(
    project: tuple[Path, dict[str, str]],
) -> None:
    path, env = project
    other = "arm64" if ARCH == "amd64" else "amd64"
    _layout(path / "base", other, {"Cmd": ["sh"]})
    stderr = _refused(path, env)
    # the layout's index entry names its platform, so no image of the lock's is offered
    assert f"the base image has no image for linux/{ARCH}, only linux/{other}" in stderr
    assert "hint: use a base image built for the lock's platform" in stderr


def _index_of(layout: Path, extra: list[dict[str, Any]]) -> None:
    """The layout's one manifest listed in an image index among ``extra`` entries, as the
    index.json of a layout that ``skopeo copy --all`` or ``buildx --output type=oci`` writes."""
    index_path = layout / "index.json"
    entry = json.loads(index_path.read_text())["manifests"][0]
    entry.pop("annotations")
    entries = [*extra, {**entry, "platform": {"architecture": ARCH, "os": "linux"}}]
    body = canonical_json({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries})
    digest = sha256_of(body)
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(body)
    top = {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": digest,
        "size": len(body),
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    index_path.write_bytes(canonical_json({"schemaVersion": 2, "manifests": [top]}))


def _other(entry_digest: str, size: int, **fields: Any) -> dict[str, Any]:
    return {"mediaType": MANIFEST_MEDIA_TYPE, "digest": entry_digest, "size": size, **fields}


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, str, int]:
    image = write_image(tmp_path / "base", [("base", [_dir("etc")])], ref="latest", cmd=["sh"])
    manifest = tmp_path / "base" / "blobs" / "sha256" / image.manifest_digest[7:]
    return tmp_path / "base", image.manifest_digest, manifest.stat().st_size


def test_windows_entries_and_buildx_attestations_are_not_candidates(
    indexed: tuple[Path, str, int],
) -> None:
    """Official images list windows/amd64 beside linux/amd64; before the fix the two counted
    as two images for amd64 and the base was refused."""
    layout, digest, size = indexed
    attestation = _other(digest, size, platform={"architecture": "unknown", "os": "unknown"},
                         annotations={"vnd.docker.reference.type": "attestation-manifest",
                                      "vnd.docker.reference.digest": digest})  # fmt: skip
    windows = _other(digest, size, platform={"architecture": ARCH, "os": "windows"})
    no_platform = _other(digest, size, annotations={"vnd.docker.reference.type": "attestation"})
    _index_of(layout, [windows, attestation, no_platform])
    base = read_base(layout, platform=PLATFORM)
    assert base.manifest_digest == digest


def test_an_index_without_the_platform_names_what_it_has(indexed: tuple[Path, str, int]) -> None:
    layout = indexed[0]
    other = "arm64" if ARCH == "amd64" else "amd64"
    _index_of(layout, [])
    wrong = "linux-aarch64" if PLATFORM == "linux-64" else "linux-64"
    with pytest.raises(OciError) as refused:
        read_base(layout, platform=wrong)
    assert f"no image for linux/{other}, only linux/{ARCH}" in refused.value.message
    assert refused.value.hint


def test_a_docker_archive_without_an_oci_layout_says_how_to_convert_it(tmp_path: Path) -> None:
    """``docker save`` before Docker 25 writes manifest.json and no oci-layout."""
    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:
        data = b'[{"Config":"c.json","RepoTags":["a:b"],"Layers":[]}]'
        member = tarfile.TarInfo("manifest.json")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    with pytest.raises(OciError) as refused:
        read_base(archive, platform=PLATFORM)
    assert refused.value.message == "the image archive has no oci-layout"
    assert refused.value.where == str(archive)
    assert "skopeo copy docker-archive:" in (refused.value.hint or "")


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_base_layer_whose_digest_holds_but_whose_stream_does_not_is_a_named_error(
    project: tuple[Path, dict[str, str]], compression: str
) -> None:
    """A crafted base: the blob's sha256 is the one its manifest names, but the compressed
    stream inside is damaged. Inflating it for the prefix check raised the inflater's own error
    (zlib's, ISA-L's, zstandard's: not OSError) as an internal error; it names the layer."""
    path, env = project
    dest = path / "base"
    with tempfile.TemporaryDirectory(dir=path) as scratch:
        layer = Path(scratch) / "layer"
        etc = Path(scratch) / "hostname"
        etc.write_bytes(bytes(range(256)) * 64)
        entries = [_dir("etc"), Entry("etc/hostname", "file", 0o644, source=etc, size=16384)]
        with open(layer, "wb") as out:
            blob = write_layer(entries, out, compression=compression, mtime=0)  # type: ignore[arg-type]
        data = bytearray(layer.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 16] = bytes(16)
        layer.write_bytes(bytes(data))
        damaged = dataclasses.replace(blob, digest=sha256_of(bytes(data)), size=len(data))
        write_layout(dest, [(damaged, layer)], _config(ARCH, {}, [blob.diff_id]), None, "latest")
    stderr = _refused(path, env)
    assert f"layer {damaged.digest} is not a readable tar" in stderr
