"""`mlenv inspect` through the real CLI on a built image (tar and layout) and on its lock."""

from __future__ import annotations

import json
import random
import shutil
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.golden import build, golden_project
from tests.support.wheels import build_wheel

_random = random.Random(18)
CUDART = _random.randbytes(200_000)  # incompressible: compressed sizes stay meaningful
CUFFT = _random.randbytes(120_000)
CURL = _random.randbytes(50_000)  # libcurl: a "libcu" that is no CUDA library
WHEELS = (
    build_wheel(
        "gpukit",
        "1.0",
        files={
            "gpukit/__init__.py": b"",
            "gpukit/lib/libcudart.so.12": CUDART,
            "gpukit/lib/libcurl.so.4": CURL,
        },
    ),
    build_wheel("nvstub", "1.0", files={"nvidia/cufft/lib/libcufft.so.11": CUFFT}),
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The golden project plus two wheels with CUDA libraries, built in three layers."""
    where = tmp_path_factory.mktemp("inspect")
    project = golden_project(where / "project")
    for filename, data in WHEELS:
        (project / "wheels" / filename).write_bytes(data)
    manifest = project / "mlenv.toml"
    manifest.write_text(
        manifest.read_text().replace('["hello"]', '["hello", "gpukit", "nvstub"]')
        + "[build]\nlayers = 3\n"
    )
    env = {"MLENV_CACHE_DIR": str(where / "cache")}
    for command in (["lock"], ["fetch"]):
        result = run_mlenv(command, project, env)
        assert result.returncode == 0, result.stderr
    assert build(project, where / "cache").returncode == 0
    return project, env


def inspect(project: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run_mlenv(["inspect", "--json", *args], project, env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_image_sizes_add_up_and_cuda_is_counted(built: tuple[Path, dict[str, str]]) -> None:
    """Layers sum to the total, packages own their files, CUDA libraries are exactly the two
    CUDA .so files (not libcurl), and compressed sizes are the layer blobs' sizes."""
    project, env = built
    data = inspect(project, env, "dist/image.tar")
    assert data["platform"] == "linux-64"
    assert data["cuda-libraries"] == len(CUDART) + len(CUFFT)
    assert sum(layer["installed"] for layer in data["layers"]) == data["installed"]
    record = json.loads((project / "dist" / "build.json").read_text())["outputs"]["oci"]
    blobs = project / "dist" / "oci" / "blobs" / "sha256"
    assert [layer["digest"] for layer in data["layers"]] == [x["digest"] for x in record["layers"]]
    assert data["compressed"] == sum(
        (blobs / x["digest"].removeprefix("sha256:")).stat().st_size for x in record["layers"]
    )
    packages = {p["name"]: p for p in data["packages"]}
    assert [p["name"] for p in data["packages"]][:2] == ["gpukit", "nvstub"]
    assert packages["gpukit"]["cuda-library"] and packages["nvstub"]["cuda-library"]
    assert not packages["hello"]["cuda-library"]
    assert (
        len(CUDART) + len(CURL) < packages["gpukit"]["installed"] < len(CUDART) + len(CURL) + 5000
    )
    largest = data["largest-files"][0]
    assert largest["path"].endswith("site-packages/gpukit/lib/libcudart.so.12")
    assert (largest["size"], largest["package"]) == (len(CUDART), "gpukit")
    layout = inspect(project, env, "dist/oci")
    assert {**layout, "subject": ""} == {**data, "subject": ""}


def test_text_has_bars_and_totals(built: tuple[Path, dict[str, str]]) -> None:
    project, env = built
    result = run_mlenv(["inspect", "dist/image.tar"], project, env)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("dist/image.tar (linux-64): ")
    assert "CUDA libraries 312.5 KiB (" in first
    assert "█" in result.stdout
    assert "libcudart.so.12" in result.stdout


def test_lock_download_and_cached_installed_sizes(built: tuple[Path, dict[str, str]]) -> None:
    project, env = built
    data = inspect(project, env, "mlenv.lock")
    lock = load_lock((project / "mlenv.lock").read_text())
    sizes = {p.name: p.size for _, p in lock.packages()}
    packages = {p["name"]: p for p in data["packages"]}
    assert {name: p["download"] for name, p in packages.items()} == sizes
    wheel = dict(WHEELS)
    filename = next(f for f in wheel if f.startswith("gpukit"))
    with zipfile.ZipFile(BytesIO(wheel[filename])) as archive:
        unpacked = sum(i.file_size for i in archive.infolist())
    assert packages["gpukit"]["installed"] == unpacked
    assert data["cuda-libraries"] == sizes["gpukit"] + sizes["nvstub"]
    cold = inspect(project, {"MLENV_CACHE_DIR": str(project / "empty-cache")}, "mlenv.lock")
    assert all(p["installed"] is None for p in cold["packages"])


def test_bad_subjects_are_clear_errors(built: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """A corrupted layer, a file that is no image and a lock from a newer mlenv: exit 1, a
    message naming the problem, no traceback."""
    project, env = built
    image = tmp_path / "oci"
    shutil.copytree(project / "dist" / "oci", image)
    record = json.loads((project / "dist" / "build.json").read_text())["outputs"]["oci"]
    blob = image / "blobs" / "sha256" / record["layers"][-1]["digest"].removeprefix("sha256:")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    newer = tmp_path / "newer.lock"
    lock_text = (project / "mlenv.lock").read_text()
    newer.write_text(lock_text.replace("version = 1\n", "version = 2\n", 1))
    latin = tmp_path / "latin.lock"
    latin.write_bytes(b"# caf\xe9\n")
    for subject, message in (
        (image, f"blob {record['layers'][-1]['digest']} is corrupt"),
        (junk, "a file of no kind mlenv reads here, not dist/image.tar"),
        (newer, "lock format 2 is not supported"),
        (latin, "not a lock: the file is not UTF-8 text"),
    ):
        result = run_mlenv(["inspect", str(subject)], project, env)
        assert result.returncode == 1, (subject, result.stdout)
        assert message in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("path", "cuda"),
    [
        ("usr/lib/libcudart.so.12", True),
        ("x/site-packages/nvidia/cublas/lib/libcublas.so.12", True),
        ("torch/lib/libtorch_cuda.so", True),
        ("libcudnn_ops.so.9", True),
        ("usr/lib/x86_64-linux-gnu/libcurl.so.4", False),
        ("lib/libcuda_helpers.txt", False),
        ("numpy/core/_multiarray_umath.so", False),
    ],
)
def test_cuda_file_classifier(path: str, cuda: bool) -> None:
    from mlenv.inspect import is_cuda_file

    assert is_cuda_file(path) is cuda
