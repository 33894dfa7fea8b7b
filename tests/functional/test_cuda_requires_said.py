"""What Requires-Dist says of a package's CUDA beyond one plain line.

onnxruntime-gpu 1.24 and later say their CUDA only in their ``cuda``/``cudnn`` extras
(PyPI's METADATA, read 2026-12: 1.24.1-1.26.0 ``nvidia-cuda-runtime-cu12~=12.0; extra ==
"cuda"``, 1.28.0-1.31.1 ``nvidia-cuda-runtime~=13.0; extra == "cuda"``). Before mlenv read
those lines, a CUDA 12.8 lock walked back to 1.23.2 (the last release the GPU table lists) and a
CUDA 13.0 lock of ``onnxruntime-gpu[cuda,cudnn]`` failed, where uv locks 1.31.1. And an open
``cuda-bindings>=12.8`` floor was read as a CUDA 12 build."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.cuda.tags import extract
from mlenv.lockfile import Lock
from mlenv.lockfile_read import loads as load_lock
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

TAG = "cp311-cp311-manylinux_2_28_x86_64"
CU12 = (
    'nvidia-cuda-nvrtc-cu12~=12.0; extra == "cuda"',
    'nvidia-cuda-runtime-cu12~=12.0; extra == "cuda"',
    'nvidia-curand-cu12~=10.0; extra == "cuda"',
    'nvidia-cudnn-cu12~=9.0; extra == "cudnn"',
)
CU13 = (
    'nvidia-cuda-nvrtc~=13.0; extra == "cuda"',
    'nvidia-cuda-runtime~=13.0; extra == "cuda"',
    'nvidia-curand~=10.0; extra == "cuda"',  # no CUDA release pins a 10.0 curand: skipped
    'nvidia-cudnn-cu13~=9.0; extra == "cudnn"',
)
RELEASES = {"1.23.2": CU12, "1.26.0": CU12, "1.31.1": CU13}
MARKERS = Target("linux-64", "3.11", "2.28").markers


def _lock(tmp_path: Path, cuda: str, dependency: str) -> tuple[int, str, dict[str, str | None]]:
    wheels = [build_wheel("filelock", "3.20.0")]
    for version, lines in RELEASES.items():
        extras = ("cuda", "cudnn")
        wheels.append(
            build_wheel(
                "onnxruntime-gpu", version, requires_dist=lines, provides_extra=extras, tag=TAG
            )
        )
    for name, version in [
        ("nvidia-cuda-nvrtc", "13.0.88"),
        ("nvidia-cuda-runtime", "13.0.96"),
        ("nvidia-curand", "10.4.0.35"),
        ("nvidia-cudnn-cu13", "9.13.0.50"),
    ]:
        wheels.append(build_wheel(name, version, tag="py3-none-manylinux_2_27_x86_64"))
    code, err, lock = _locked(tmp_path, wheels, cuda, dependency)
    if lock is None:
        return code, err, {}
    return (
        0,
        err,
        {p.name: p.cuda for _, p in lock.packages()}
        | {f"{p.name}==": p.version for _, p in lock.packages()},
    )


def _locked(
    tmp_path: Path, wheels: list[tuple[str, bytes]], cuda: str, dependency: str
) -> tuple[int, str, Lock | None]:
    """``mlenv lock`` of one dependency from an index of ``wheels``, for a CUDA ``cuda`` fleet."""
    index = write_simple_index(tmp_path / "feeds" / "pypi.org", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "gpu"\npython = "3.11"\nglibc = "2.28"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "580.95.05"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["{dependency}"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    if result.returncode != 0:
        return result.returncode, result.stderr, None
    return 0, result.stderr, load_lock((root / "mlenv.lock").read_text())


def test_a_cuda_12_fleet_gets_the_newest_release_whose_extras_name_cuda_12(
    tmp_path: Path,
) -> None:
    code, err, locked = _lock(tmp_path, "12.8", "onnxruntime-gpu")
    assert code == 0, err
    assert locked["onnxruntime-gpu=="] == "1.26.0"
    assert locked["onnxruntime-gpu"] == "12.x"  # the table's row, which its extras agree with


def test_a_cuda_13_fleet_locks_the_cuda_13_release_with_its_libraries(tmp_path: Path) -> None:
    code, err, locked = _lock(tmp_path, "13.0", "onnxruntime-gpu[cuda,cudnn]")
    assert code == 0, err
    assert locked["onnxruntime-gpu=="] == "1.31.1"
    assert locked["onnxruntime-gpu"] == "13.x"
    assert locked["nvidia-cuda-runtime=="] == "13.0.96"


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        # extras naming two majors: the binary is built for neither
        ("onnxruntime-gpu", (CU12[1].replace('"cuda"', '"cuda12"'), CU13[1])),
        # jax is no GPU package: its [cuda12] extra says nothing about jax itself
        ("jax", ('jax-cuda12-plugin[with-cuda]==0.7.0; extra == "cuda12"',)),
    ],
)
def test_extras_tell_nothing_when_they_disagree_or_the_package_is_no_gpu_package(
    name: str, lines: tuple[str, ...]
) -> None:
    filename = f"{name.replace('-', '_')}-1.32.0-{TAG}.whl"
    assert extract(name, "1.32.0", filename, lines, "", MARKERS) is None


def test_extras_decide_only_when_the_base_lines_say_nothing() -> None:
    lines = ("nvidia-cublas-cu12==12.8.4.1", *CU13)
    filename = f"onnxruntime_gpu-1.32.0-{TAG}.whl"
    need = extract("onnxruntime-gpu", "1.32.0", filename, lines, "", MARKERS)
    assert need is not None and need.label == "12.8"


def test_a_release_past_the_table_is_read_from_its_extras() -> None:
    """The table lists the releases read (up to 1.31.1); a later one says its CUDA the same
    way, so it is judged by its extras rather than refused as undetermined."""
    filename = f"onnxruntime_gpu-1.32.0-{TAG}.whl"
    need = extract("onnxruntime-gpu", "1.32.0", filename, CU13, "", MARKERS)
    assert need is not None and need.label == "13.0"
    assert extract("onnxruntime-gpu", "1.32.0", filename, (), "", MARKERS) is None


def _lock_bindings(tmp_path: Path, cuda: str) -> tuple[int, str, dict[str, str | None]]:
    """nvidia-cutlass-dsl-libs-core 4.8.1 (PyPI, pure Python) requires ``cuda-bindings>=12.8``."""
    wheels = [
        build_wheel("nvidia-cutlass-dsl-libs-core", "4.8.1", requires_dist=["cuda-bindings>=12.8"]),
        build_wheel("cuda-bindings", "12.9.4", tag=TAG),
        build_wheel("cuda-bindings", "13.0.3", tag=TAG),
    ]
    code, err, lock = _locked(tmp_path, wheels, cuda, "nvidia-cutlass-dsl-libs-core")
    if lock is None:
        return code, err, {}
    return 0, err, {f"{p.name} {p.version}": p.cuda for _, p in lock.packages()}


@pytest.mark.parametrize(
    ("cuda", "bindings"), [("13.0", "cuda-bindings 13.0.3"), ("12.8", "cuda-bindings 12.9.4")]
)
def test_an_open_floor_on_cuda_bindings_claims_no_cuda_build(
    tmp_path: Path, cuda: str, bindings: str
) -> None:
    """``cuda-bindings>=12.8`` admits CUDA 13's bindings: the package is no CUDA 12 build (a
    CUDA 13 vLLM lock failed on nvidia-cutlass-dsl-libs-base's ``cuda-python>=12.8``); the
    bindings locked are judged by their own version."""
    code, err, locked = _lock_bindings(tmp_path, cuda)
    assert code == 0, err
    assert locked == {"nvidia-cutlass-dsl-libs-core 4.8.1": None, bindings: f"{cuda[:2]}.x"}


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("cuda-bindings>=12.8", None),
        ("cuda-python>=12.8,<14", None),
        ("nvidia-nvjitlink>=13.0.88", None),
        ("cuda-bindings<14,>=13.0.3", "13.x"),  # torch 2.11: one major
        ("cuda-bindings==12.9.4", "12.x"),
        ("nvidia-cuda-runtime-cu12>=12.1", "12.x"),  # the name's suffix fixes the major
    ],
)
def test_a_range_over_two_majors_of_a_version_major_package_says_no_cuda(
    line: str, label: str | None
) -> None:
    need = extract("foo", "1.0", f"foo-1.0-{TAG}.whl", [line], "", MARKERS)
    assert (need and need.label) == label
