"""`mlenv lock` / `mlenv verify` on GPU packages whose CUDA is not in their name.

Each test is a silent pass that shipped before: fake wheels with the real names and metadata
shapes, served from file:// simple indexes whose paths mimic the real feeds.
"""

from __future__ import annotations

from pathlib import Path

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

TAG = "cp311-cp311-manylinux_2_28_x86_64"
CUDA_13 = '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\n'
CUDA_12 = '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
ORT_DEPS = ["numpy>=1.21.6", "protobuf"]


def _project(
    tmp_path: Path, index: Path, wheels: list[tuple[str, bytes]], cuda: str, deps: str
) -> tuple[Path, dict[str, str]]:
    url = write_simple_index(index, wheels)
    root = tmp_path / "p"
    root.mkdir(exist_ok=True)
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "g"\npython = "3.11"\n{cuda}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = [{deps}]\n'
    )
    return root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


def _cuda_of(root: Path) -> dict[str, str | None]:
    lock = load_lock((root / "mlenv.lock").read_text())
    return {package.name: package.cuda for _, package in lock.packages()}


def _ort(version: str) -> list[tuple[str, bytes]]:
    return [
        build_wheel("onnxruntime-gpu", version, requires_dist=ORT_DEPS, tag=TAG),
        build_wheel("numpy", "2.2.6", tag=TAG),
        build_wheel("protobuf", "5.29.5"),
    ]


def test_onnxruntime_gpu_from_pypi_is_refused_for_a_cuda_13_target(tmp_path: Path) -> None:
    """onnxruntime-gpu 1.20 on PyPI is a CUDA 12 build (ORT docs): no CUDA in its name or
    version, so before the table it was locked for a CUDA 13 fleet as if it were CPU code."""
    root, env = _project(tmp_path, tmp_path / "pypi", _ort("1.20.1"), CUDA_13, '"onnxruntime-gpu"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1, result.stderr
    assert (
        "onnxruntime-gpu 1.20.1 is built for CUDA 12.x, but the target is CUDA 13.0"
        in result.stderr
    )
    assert "_packaging/onnxruntime-cuda-13/" in result.stderr  # the family's hint
    assert "download.pytorch.org" not in result.stderr
    assert not (root / "mlenv.lock").exists()


def test_onnxruntime_gpu_cuda_depends_on_the_feed(tmp_path: Path) -> None:
    """1.18.1 from PyPI is CUDA 11.8; the same release from the CUDA-12 feed is CUDA 12."""
    feed = tmp_path / "feed" / "_packaging" / "onnxruntime-cuda-12" / "pypi"
    root, env = _project(tmp_path, feed, _ort("1.18.1"), CUDA_12, '"onnxruntime-gpu"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert _cuda_of(root)["onnxruntime-gpu"] == "12.x"

    (root / "mlenv.lock").unlink()
    pypi = write_simple_index(tmp_path / "pypi", _ort("1.18.1"))
    manifest = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(manifest.replace(feed.joinpath("simple").as_uri(), pypi))
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1
    assert (
        "onnxruntime-gpu 1.18.1 is built for CUDA 11.x, but the target is CUDA 12.4"
        in result.stderr
    )


def test_pypi_torch_whose_requires_dist_is_cuda_12_fails_a_cuda_13_target(tmp_path: Path) -> None:
    """PyPI torch names its CUDA only through Requires-Dist on nvidia-*-cu12 wheels."""
    marker = "platform_system == 'Linux' and platform_machine == 'x86_64'"
    wheels = [
        build_wheel(
            "torch",
            "2.8.0",
            requires_dist=[
                f"nvidia-cublas-cu12==12.8.4.1; {marker}",
                f"nvidia-cuda-runtime-cu12==12.8.90; {marker}",
                "filelock",
            ],
            tag=TAG,
        ),
        build_wheel("nvidia-cublas-cu12", "12.8.4.1", tag="py3-none-manylinux_2_27_x86_64"),
        build_wheel("nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_27_x86_64"),
        build_wheel("filelock", "3.20.0"),
    ]
    root, env = _project(tmp_path, tmp_path / "pypi", wheels, CUDA_13, '"torch==2.8.0"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1, result.stderr
    # torch itself is refused (its metadata is read while resolving), with PyTorch's index
    assert "torch 2.8.0 is built for CUDA 12.8, but the target is CUDA 13.0" in result.stderr
    hint = result.stderr[result.stderr.index("hint:") :]
    assert "https://download.pytorch.org/whl/cu130" in hint
    assert not (root / "mlenv.lock").exists()


def test_unknown_cuda_fails_then_unverified_passes_and_verify_warns_every_time(
    tmp_path: Path,
) -> None:
    """xformers names no CUDA anywhere: an error naming what could not be read, until the
    manifest accepts it unchecked; the lock records that and verify repeats the warning."""
    wheels = [
        build_wheel("xformers", "0.0.30", requires_dist=["torch==2.7.0"], tag=TAG),
        build_wheel("torch", "2.7.0+cu124", tag=TAG),
    ]
    root, env = _project(tmp_path, tmp_path / "pypi", wheels, CUDA_12, '"xformers"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1
    assert "mlenv cannot tell which CUDA xformers 0.0.30 needs" in result.stderr
    assert '[cuda] unverified = ["xformers"]' in result.stderr
    assert "https://download.pytorch.org/whl/cu124" in result.stderr  # xformers' family place

    manifest = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(
        manifest.replace(CUDA_12, CUDA_12 + 'unverified = ["XFormers", "not-here"]\n')
    )
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert "xformers 0.0.30: its CUDA was not checked ([cuda] unverified)" in result.stderr
    assert "[cuda] unverified lists not-here, but no locked package" in result.stderr
    assert _cuda_of(root) == {"torch": "12.4", "xformers": "unverified"}
    shown = run_mlenv(["show"], root, env)
    assert "unverified   not-here, xformers (CUDA not checked)" in shown.stdout
    first = (root / "mlenv.lock").read_bytes()
    assert run_mlenv(["lock"], root, env).returncode == 0
    assert (root / "mlenv.lock").read_bytes() == first  # byte-stable re-lock

    for _ in range(2):
        verified = run_mlenv(["verify"], root, env)
        assert verified.returncode == 0, verified.stdout
        assert "WARNING cuda-unverified" in verified.stdout
        assert verified.stdout.splitlines()[-1] == "OK: 0 error(s), 1 warning(s)"


def test_verify_refuses_a_lock_whose_unverified_mark_was_removed(tmp_path: Path) -> None:
    """Deleting cuda = "unverified" from the lock does not turn xformers into CPU code."""
    wheels = [build_wheel("xformers", "0.0.30", tag=TAG)]
    root, env = _project(
        tmp_path, tmp_path / "pypi", wheels, CUDA_12 + 'unverified = ["xformers"]\n', '"xformers"'
    )
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = root / "mlenv.lock"
    lock.write_text(lock.read_text().replace('cuda = "unverified"\n', ""))
    result = run_mlenv(["verify"], root, env)
    assert result.returncode == 1
    assert "ERROR   cuda-undetermined" in result.stdout


def test_resolver_skips_a_release_whose_cuda_cannot_be_read(tmp_path: Path) -> None:
    """onnxruntime-gpu 1.32 from PyPI is past what mlenv has read; 1.23 is CUDA 12. The resolver
    never picks what cannot be shown to run, so it locks 1.23 for a CUDA 12 fleet."""
    newer = build_wheel("onnxruntime-gpu", "1.32.0", requires_dist=ORT_DEPS, tag=TAG)
    wheels = [*_ort("1.23.2"), newer]
    root, env = _project(tmp_path, tmp_path / "pypi", wheels, CUDA_12, '"onnxruntime-gpu"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    lock = load_lock((root / "mlenv.lock").read_text())
    (ort,) = [p for _, p in lock.packages() if p.name == "onnxruntime-gpu"]
    assert (ort.version, ort.cuda) == ("1.23.2", "12.x")


def test_pypi_onnxruntime_gpu_switched_to_cuda_13_at_1_27(tmp_path: Path) -> None:
    """PyPI's own wheels say it (build_and_package_info.py, the cuda extra): 1.26.0 is a CUDA
    12.8 build and 1.27.0 on are CUDA 13.0 builds. A CUDA 12 fleet gets the newest CUDA 12 one,
    a CUDA 13 fleet the newest release, both without an `unverified` mark."""
    wheels = [*_ort("1.26.0"), *_ort("1.31.1")[:1]]
    root, env = _project(tmp_path, tmp_path / "pypi", wheels, CUDA_12, '"onnxruntime-gpu"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert _cuda_of(root)["onnxruntime-gpu"] == "12.x"
    assert 'name = "onnxruntime-gpu"\nversion = "1.26.0"' in (root / "mlenv.lock").read_text()

    manifest = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(manifest.replace(CUDA_12, CUDA_13))
    result = run_mlenv(["lock", "--upgrade"], root, env)
    assert result.returncode == 0, result.stderr
    assert _cuda_of(root)["onnxruntime-gpu"] == "13.x"
    assert 'name = "onnxruntime-gpu"\nversion = "1.31.1"' in (root / "mlenv.lock").read_text()


def test_a_metapackage_whose_requires_dist_names_the_cuda_is_judged_by_it(tmp_path: Path) -> None:
    """The tensorrt metapackage names its CUDA only in Requires-Dist (tensorrt-cu12): the
    resolver reads that metadata before deciding, so it is locked for CUDA 12 and refused for
    CUDA 13 with TensorRT's own hint."""
    wheels = [
        build_wheel("tensorrt", "10.13.0.35", requires_dist=["tensorrt-cu12==10.13.0.35"]),
        build_wheel("tensorrt-cu12", "10.13.0.35", tag=TAG),
    ]
    root, env = _project(tmp_path, tmp_path / "pypi", wheels, CUDA_12, '"tensorrt"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert _cuda_of(root) == {"tensorrt": "12.x", "tensorrt-cu12": "12.x"}

    manifest = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(manifest.replace(CUDA_12, CUDA_13))
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1
    assert (
        "tensorrt 10.13.0.35 is built for CUDA 12.x, but the target is CUDA 13.0" in result.stderr
    )
    assert "install tensorrt-cu13" in result.stderr
