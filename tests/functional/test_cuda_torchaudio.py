"""PyPI's torchaudio 2.11 is a CUDA 13 build that says so nowhere in its metadata: 2.11.0 has no
Requires-Dist at all, 2.11.1 only ``torch>=2.11``, while their libraries need
``libcudart.so.13`` and ``torchaudio/version.py`` says ``+cu130`` / ``+cu132`` (read from the
Linux x86_64 and aarch64 wheels). Round 2 against PyPI: ``torch torchvision torchaudio`` for
CUDA 12.6 locked torch 2.7.1 beside torchaudio 2.11.0, as uv does; the GPU package table now
reads them, so a CUDA 12 fleet takes the torchaudio of its torch.
"""

from __future__ import annotations

from pathlib import Path

from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion
from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

TAG = "cp311-cp311-manylinux_2_28_x86_64"
PYPI = "https://pypi.org/simple"


def test_pypis_torchaudio_2_11_reads_as_its_cuda_13_build() -> None:
    for version, cuda in (("2.11.0", CudaVersion(13, 0)), ("2.11.1", CudaVersion(13, 2))):
        for machine in ("x86_64", "aarch64"):
            name = f"torchaudio-{version}-cp312-cp312-manylinux_2_28_{machine}.whl"
            need = extract("torchaudio", version, name, (), PYPI)
            assert need is not None and need.cuda == cuda, (name, need)
    local = "torchaudio-2.11.0+cu126-cp312-cp312-manylinux_2_28_x86_64.whl"  # PyTorch's index
    need = extract(
        "torchaudio", "2.11.0+cu126", local, (), "https://download.pytorch.org/whl/cu126"
    )
    assert need is not None and need.cuda == CudaVersion(12, 6)


def test_a_cuda_12_fleet_takes_the_torchaudio_of_its_torch(tmp_path: Path) -> None:
    runtime = "nvidia-cuda-runtime-cu12==12.8.90"
    wheels = [
        build_wheel("nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_28_x86_64"),
        build_wheel("torch", "2.10.0", requires_dist=[runtime], tag=TAG),
        build_wheel("torchaudio", "2.10.0", requires_dist=["torch==2.10.0"], tag=TAG),
        build_wheel("torchaudio", "2.11.0", tag=TAG),  # PyPI's: no Requires-Dist at all
    ]
    index = write_simple_index(tmp_path / "feeds" / "pypi.org", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "gpu"\npython = "3.11"\nglibc = "2.28"\n'
        '[cuda]\nversion = "12.8"\ndriver-floor = "580.65.06"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["torch", "torchaudio"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    lock = load_lock((root / "mlenv.lock").read_text())
    pins = {p.name: p.version for p in lock.platforms[0].packages}
    assert pins["torch"] == pins["torchaudio"] == "2.10.0"
