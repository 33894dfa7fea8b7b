"""Adversary pass 104: the changes of attacks 100 and 101 fed real-world inputs, looking for
false refusals as much as for holes.

Expected CUDA values are typed from shared/reference/cuda.md, never read from
mlenv/data/cuda.json: §1 (Table 3 of the CUDA 13.2 Update 2 release notes, Linux column), §4
("the driver shipped with toolkit X.Y reports X.Y"; conda's ``__cuda`` is that number, the
newest CUDA the driver supports) and §8.11 (``__cuda``: "maximum version of CUDA supported by
the display driver").

Findings pinned here:

1. Attack 100 made a conda build of CUDA 12.6 that depends on ``__cuda >=13`` a driver floor
   (verify passes it on a 580.65.06 driver floor), but `mlenv lock` still offered the solver
   ``__cuda`` = the target CUDA (12.6), so the very manifest that verify passes could never be
   locked: "torchish 2.9.0 needs __cuda >=13, the manifest targets CUDA 12.6", hinting to
   "require a build of torchish made for CUDA 12.6" (it is one) or to raise [cuda] version to
   13 (whose cuda-version 13.* pin then refuses the 12.6 build). ``__cuda`` is the driver's
   CUDA (§4, §8.11): every driver at or above the floor supports the newest CUDA whose Table 3
   driver the floor meets, so that is what the solver is offered (never less than the target).
2. `init --from conda-lock.yml` of that build read CUDA 12.6 and wrote driver floor 560.28.03,
   dropping the ``__cuda >=13`` conda-lock records in the package's dependencies: the manifest
   it wrote could be neither locked nor verified. The floor now rises to that CUDA's Table 3
   driver (580.65.06; ``>=13.1``: 590.44.01).
3. Attack 101's ``_is_lock`` by name refused `verify locks/v3.lock` where ``mlenv.lock`` is a
   symlink to it ("an mlenv lock, not a build output"); before attack 101 it was the lock. A
   ``.lock`` file that is the lock is the lock; ``image.tar`` linked to it is still an output.

Inputs tried that still work (no change needed), kept as tests so they stay working: base
images written by umoci (``Maintainer``/``maintainer`` labels, ``empty_layer`` history),
``skopeo copy`` to oci:, oci-archive: and through docker-archive:, with Docker's Healthcheck,
OnBuild, ArgsEscaped, container_config and buildkit/containerd annotations (unicode too) in
index.json; dist/ copied with ``cp -a``, a tar round trip, a dist/ that is a symlink to
another directory, and a project reached through a symlinked directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlenv.conda.virtual import virtual_packages
from mlenv.oci.read import read_base
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.engines import tool
from tests.support.golden import fetched_golden

# cuda.md §1, Table 3, Linux column.
T3 = {
    "12.4": "550.54.14",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
    "13.1": "590.44.01",
    "13.2": "595.45.04",
}


def _offered_cuda(cuda: str, floor: str) -> str:
    (found,) = [
        p.version
        for p in virtual_packages("linux-64", cuda=cuda, glibc="2.28", driver_floor=floor)
        if p.name == "__cuda"
    ]
    return found


@pytest.mark.parametrize(
    ("target", "floor", "offered"),
    [
        ("12.6", T3["12.6"], "12.6"),  # the target's own driver reports the target
        ("12.6", "565.57.01", "12.6"),  # a branch that shipped with no toolkit: no more claimed
        ("12.6", T3["12.9"], "12.9"),
        ("12.6", T3["13.0"], "13.0"),  # a CUDA 13 driver under a 12.6 build (cuda.md §2)
        ("12.4", T3["13.1"], "13.1"),
        ("13.0", T3["13.2"], "13.2"),
        ("12.8", "570.124.06", "12.8"),  # 12.8 Update 1's driver is still 12.8's
    ],
)
def test_the_solver_is_offered_the_cuda_the_driver_floor_supports(
    target: str, floor: str, offered: str
) -> None:
    """Was: __cuda = the target CUDA whatever the driver floor (cuda.md §4, §8.11)."""
    assert _offered_cuda(target, floor) == offered


def test_no_driver_floor_offers_the_target() -> None:
    assert _offered_cuda("12.6", "") == "12.6"


def _torch_channel(root: Path) -> str:
    """A 12.6 build asking the driver for CUDA 13 (attack 100's shape), and cuda-version."""
    return write_channel(
        root,
        [
            build_conda_package(
                "cuda-version", "12.6", "h7480c83_3", noarch="generic",
                constrains=["__cuda >=12", "cudatoolkit 12.6|12.6.*"],
            ),
            build_conda_package(
                "torchish", "2.9.0", "cuda126_mkl_0",
                depends=["__cuda >=13", "cuda-version >=12.6,<13"], files={"lib/t.txt": b"t\n"},
            ),
        ],
    )  # fmt: skip


def _conda_project(root: Path, url: str, floor: str) -> Path:
    project = root / f"p{floor}"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[cuda]\nversion = "12.6"\ndriver-floor = "{floor}"\n'
        f'[conda]\nchannels = ["{url}"]\ndependencies = ["torchish"]\n'
    )
    return project


def test_a_build_verify_passes_on_its_driver_floor_can_be_locked(tmp_path: Path) -> None:
    """Was: `mlenv lock` refused what `mlenv verify` passes (cuda-version 12.6, __cuda >=13 on a
    580.65.06 floor); below the floor it is still refused, naming the driver floor."""
    url = _torch_channel(tmp_path / "channel")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    project = _conda_project(tmp_path, url, T3["13.0"])
    locked = run_mlenv(["lock"], project, env)
    assert locked.returncode == 0, locked.stderr
    text = (project / "mlenv.lock").read_text()
    assert "torchish" in text and "cuda126_mkl_0" in text
    assert f'requires-driver = "{T3["13.0"]}"' in text
    verified = run_mlenv(["verify"], project, env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    low = _conda_project(tmp_path, url, T3["12.9"])
    refused = run_mlenv(["lock"], low, env)
    assert refused.returncode != 0
    assert "__cuda >=13" in refused.stderr
    assert f"driver floor {T3['12.9']} supports CUDA 12.9" in refused.stderr, refused.stderr
    assert "made for CUDA 12.6" not in refused.stderr  # it is one


# --- real-world base images and dist/ copies that must keep working --------------------------


def _put(layout: Path, value: object) -> tuple[str, int]:
    data = json.dumps(value, ensure_ascii=False).encode()
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def _dockerish(layout: Path) -> None:
    """The layout's one image given what Docker and buildkit write: Healthcheck, OnBuild,
    ArgsEscaped, container_config, an ARG's empty_layer history, containerd and unicode
    annotations in index.json, labels equal but for case."""
    index = json.loads((layout / "index.json").read_text())
    entry = index["manifests"][0]
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / entry["digest"][7:]).read_text())
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_text())
    runtime = config["config"]
    runtime.update(
        Healthcheck={"Test": ["CMD-SHELL", "true"], "Interval": 30000000000},
        OnBuild=["RUN echo hi"], ArgsEscaped=True, Image="sha256:" + "0" * 64,
        Volumes={"/data": {}}, ExposedPorts={"8080/tcp": {}}, StopSignal="SIGTERM",
        Shell=["/bin/bash", "-c"], Hostname="", Domainname="", User="", Tty=False,
    )  # fmt: skip
    runtime["Labels"] = {
        **(runtime.get("Labels") or {}),
        "Maintainer": "a", "maintainer": "b",
        "org.opencontainers.image.title": "ünïcode ✓", "Org.OpenContainers.Image.Title": "x",
    }  # fmt: skip
    config.update(container_config=dict(runtime), container="abc", docker_version="24.0.7")
    config["history"].insert(
        0,
        {"created": "2020-01-01T00:00:00Z", "created_by": "ARG X", "empty_layer": True,
         "comment": "buildkit.dockerfile.v0"},
    )  # fmt: skip
    digest, size = _put(layout, config)
    manifest["config"] = {**manifest["config"], "digest": digest, "size": size}
    digest, size = _put(layout, manifest)
    entry.update(digest=digest, size=size)
    entry["annotations"] = {
        "org.opencontainers.image.ref.name": "latest",
        "io.containerd.image.name": "docker.io/library/x:latest",
        "org.opencontainers.image.description": "ünïcode ✓ 模型",
    }
    (layout / "index.json").write_text(json.dumps(index, ensure_ascii=False))


@pytest.fixture(scope="module")
def umoci_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base image umoci wrote, then given Docker's and buildkit's extra keys."""
    umoci = tool("umoci", "umoci")
    root = tmp_path_factory.mktemp("umoci")
    layout = root / "u"

    def run(*args: str) -> None:
        subprocess.run([umoci, *args], check=True, capture_output=True)

    run("init", "--layout", str(layout))
    run("new", "--image", f"{layout}:latest")
    run("unpack", "--rootless", "--image", f"{layout}:latest", str(root / "bundle"))
    (root / "bundle" / "rootfs" / "hello").write_text("hi\n")
    run("repack", "--image", f"{layout}:latest", str(root / "bundle"))
    run(
        "config", "--image", f"{layout}:latest", "--config.label", "Maintainer=a",
        "--config.label", "maintainer=b", "--config.env", "PATH=/usr/bin:/bin",
        "--config.cmd", "/bin/sh", "--history.created_by", "LABEL x",
    )  # fmt: skip
    _dockerish(layout)
    return layout


@pytest.mark.parametrize("transport", ["as-is", "oci", "oci-archive", "docker-archive"])
def test_real_world_base_images_are_still_read(
    umoci_base: Path, tmp_path: Path, transport: str
) -> None:
    """attack 101's key check (case-folded keys) must not refuse what real tools write."""
    skopeo = tool("skopeo", "skopeo")
    source = f"oci:{umoci_base}:latest"
    if transport == "as-is":
        base = umoci_base
    elif transport == "docker-archive":  # `docker save`, converted as the hint says
        archive = tmp_path / "d.tar"
        subprocess.run([skopeo, "copy", "-q", source, f"docker-archive:{archive}:x:latest"],
                       check=True)  # fmt: skip
        base = tmp_path / "c"
        subprocess.run([skopeo, "copy", "-q", f"docker-archive:{archive}", f"oci:{base}:latest"],
                       check=True)  # fmt: skip
    else:
        base = tmp_path / ("b.tar" if transport == "oci-archive" else "b")
        subprocess.run([skopeo, "copy", "-q", source, f"{transport}:{base}:latest"], check=True)
    image = read_base(base, platform="linux-64")
    labels = image.config["config"]["Labels"]
    assert (labels["Maintainer"], labels["maintainer"]) == ("a", "b")
    assert any(item.get("empty_layer") for item in image.config["history"])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("a104")
    project, env = fetched_golden(root)
    result = run_mlenv(["build", "--offline"], project, env)
    assert result.returncode == 0, result.stderr
    return project, env


def _verified(project: Path, env: dict[str, str], output: str) -> None:
    result = run_mlenv(["verify", output], project, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 0 error(s)" in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["cp -a", "tar", "dist symlink", "symlinked parent"])
def test_a_copied_or_symlinked_dist_still_verifies(
    built: tuple[Path, dict[str, str]], tmp_path: Path, how: str
) -> None:
    """open_plain refuses a symlink below the layout only; how dist/ got there is the user's."""
    project, env = built
    copy = tmp_path / "copy"
    if how == "cp -a":
        subprocess.run(["cp", "-a", str(project), str(copy)], check=True)
    elif how == "tar":
        copy.mkdir()
        packed = subprocess.run(["tar", "-C", str(project), "-cf", "-", "."], check=True,
                                capture_output=True).stdout  # fmt: skip
        subprocess.run(["tar", "-C", str(copy), "-xf", "-"], input=packed, check=True)
    else:
        shutil.copytree(project, copy, symlinks=True)
        if how == "dist symlink":  # dist/ on another disk
            elsewhere = tmp_path / "disk" / "dist"
            elsewhere.parent.mkdir()
            shutil.move(copy / "dist", elsewhere)
            (copy / "dist").symlink_to(elsewhere)
        else:  # /work -> /mnt/work
            (tmp_path / "link").symlink_to(copy)
            copy = tmp_path / "link"
    for output in ("dist/oci", "dist/image.tar", str(copy / "dist" / "oci")):
        _verified(copy, env, output)


_CONDA_LOCK = """version: 1
metadata:
  content_hash: {{linux-64: 8f4b2a1c}}
  channels:
  - url: conda-forge
    used_env_vars: []
  platforms: [linux-64]
  sources: [environment.yml]
package:
- name: pytorch
  version: 2.9.0
  manager: conda
  platform: linux-64
  dependencies:
    __cuda: '{floor}'
    cuda-version: '>=12.6,<13'
  url: https://conda.anaconda.org/conda-forge/linux-64/pytorch-2.9.0-cuda126_mkl_py312_h8bb5dc9_300.conda
  hash: {{md5: 0515111a9cdf69f83278f7c197db9807, sha256: {sha}}}
  category: main
  optional: false
"""


@pytest.mark.parametrize(
    ("floor", "driver"),
    [
        ("", T3["12.6"]),  # a bare __cuda (conda-forge's pytorch): the build's own floor
        (">=12", T3["12.6"]),
        (">=13", T3["13.0"]),  # the driver must report CUDA 13.0 (cuda.md §4, Table 3)
        (">=13.1", T3["13.1"]),
    ],
)
def test_a_conda_lock_import_keeps_its_cuda_floor(tmp_path: Path, floor: str, driver: str) -> None:
    """Was: `init --from conda-lock.yml` read the build (12.6) and set its driver floor
    (560.28.03), dropping the package's `__cuda >=13`: the manifest then refused to lock."""
    (tmp_path / "conda-lock.yml").write_text(_CONDA_LOCK.format(floor=floor, sha="a" * 64))
    result = run_mlenv(["init", "--from", "conda-lock.yml"], tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "mlenv.toml").read_text()
    assert 'version = "12.6"' in text
    assert f'driver-floor = "{driver}"' in text, text


def test_the_lock_named_by_the_file_a_symlinked_lock_points_at_is_the_lock(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Was (attack 101's name check): `mlenv.lock -> locks/v3.lock`, `verify locks/v3.lock`
    refused as "an mlenv lock, not a build output", though it is this project's lock. An
    output beside a build.json linked to the lock is still judged as an output (attack 101)."""
    project, env = built
    copy = tmp_path / "p"
    shutil.copytree(project, copy, symlinks=True)
    (copy / "locks").mkdir()
    (copy / "mlenv.lock").rename(copy / "locks" / "v3.lock")
    (copy / "mlenv.lock").symlink_to("locks/v3.lock")
    _verified(copy, env, "locks/v3.lock")
    (copy / "dist" / "image.tar").unlink()
    (copy / "dist" / "image.tar").symlink_to(copy / "locks" / "v3.lock")
    result = run_mlenv(["verify", "dist/image.tar"], copy, env)
    assert result.returncode != 0, result.stdout
    (copy / "dist" / "build.json").unlink()  # nor when nothing beside it says it is an output
    result = run_mlenv(["verify", "dist/image.tar"], copy, env)
    assert result.returncode != 0, result.stdout
