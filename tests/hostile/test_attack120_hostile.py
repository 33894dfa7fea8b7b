"""Attack 120: ``mlenv lock`` against ``uv pip compile`` on real PyPI metadata, for real GPU ML
requirement sets; each fault found is rebuilt here as in-memory wheels (no network).

The run (PyPI as it stood on 2026-12-06; uv 0.13.9 with ``--no-build``, the manifest's Python
and ``x86_64``/``aarch64-manylinux_2_28``, or 2_17): 100 sets (torch/torchvision/torchaudio on
CUDA 11.6 to 13.3, vllm, sglang, xformers, jax[cuda12]/[cuda13]/[cuda12-local],
tensorflow[and-cuda], cupy-cuda11x/12x/13x, onnxruntime-gpu, tensorrt-cu12/tensorrt,
nvidia-dali-cuda120, transformers[torch], accelerate, deepspeed, triton,
sentence-transformers, lightning, ray[default], diffusers, bitsandbytes, cuml-cu12, cudf-cu12,
faiss-gpu-cu12, paddlepaddle-gpu, mxnet, nvidia-modelopt[torch], nemo-toolkit, xgboost,
spacy[cuda12x], cuda-toolkit[all], cuda-python; numpy<2 / torch<2.5 bounds, torch 1.12.1,
1.13.1 and 2.0.1 on CUDA 11.6/11.7, torch 2.1.2 on 12.1, Python 3.10 to 3.14, markers,
constraints, ``prerelease = "allow"``, unverified packages, refusals). Every lock mlenv wrote
was checked with uv, its pins given as constraints: uv reproduced each one exactly.

| outcome | sets |
|---|---|
| same pins as uv | 34 |
| both lock, pins differ: uv takes builds the CUDA rules refuse (torch 2.11+ is CUDA 13, a
  newer minor than the driver floor runs), or another valid choice | 45 |
| mlenv refuses by a documented rule, uv locks: CUDA unreadable (vllm, xformers,
  bitsandbytes, paddlepaddle-gpu without ``unverified``), newer minor than the driver (torch
  2.7.0 on 12.4, torch 2.0.1 on 11.7, tensorflow 2.18 on 12.2), other major (cupy-cuda12x on
  11.8, cupy-cuda13x on 12.9), jax[cuda12] on CUDA 13 | 11 |
| both fail (only sdists: tensorrt-cu12, flash-attn, torch-scatter, tensorflow 2.15's
  tensorrt 8.6.1, vllm 0.6.3's pyairports; a version that does not exist; pypi.nvidia.com
  unreachable) | 8 |
| mlenv wrong (fixed): nvidia-modelopt[torch] refused (now locks as uv); torch 1.12.1 from
  PyPI, a CUDA 10.2 build, locked as CPU on CUDA 11.6 (now refused) | 2 |

Three more sets failed before their fixes and are counted above as rerun after them (vllm and
paddlepaddle-gpu with ``unverified``, torch torchvision with no ``[cuda]`` table); torch 2.0.1's
refusal was right but did not say why.

The faults, each rebuilt below: ``nvidia-modelopt[torch]`` refused as a "dropped extra" that
its newest release dropped itself; ``vllm`` (and ``paddlepaddle-gpu``) accepted with
``[cuda] unverified`` then refused as a CPU-only build; ``torch torchvision`` with no
``[cuda]`` table stopped on CUDA 13.5's cccl having no known driver; and torch 2.0.1's
refusal as CUDA 11.8 not naming the Requires-Dist line that makes it so.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

TAG = "cp311-cp311-manylinux_2_28_x86_64"
CUDA_128 = '[cuda]\nversion = "12.8"\ndriver-floor = "570.124.06"\n'


def _modelopt_world(tmp_path: Path) -> str:
    wheels = [
        # 0.47.0, the newest: torch is a plain dependency, the "torch" extra is gone
        build_wheel(
            "nvidia-modelopt",
            "0.47.0",
            requires_dist=["torch>=2.8", 'onnx; extra == "onnx"'],
            provides_extra=["onnx", "hf", "all"],
        ),
        # 0.33.0: torch only through the "torch" extra
        build_wheel(
            "nvidia-modelopt",
            "0.33.0",
            requires_dist=['torch>=2.6; extra == "torch"'],
            provides_extra=["torch", "onnx"],
        ),
        # torch 2.15.0 from PyPI is a CUDA 13 build, refused on a CUDA 12 fleet
        build_wheel("torch", "2.15.0", tag=TAG, requires_dist=["nvidia-cuda-runtime==13.2.86"]),
        build_wheel(
            "torch", "2.10.0", tag=TAG, requires_dist=["nvidia-cuda-runtime-cu12==12.8.90"]
        ),
        build_wheel("nvidia-cuda-runtime", "13.2.86", tag="py3-none-manylinux_2_27_x86_64"),
        build_wheel("nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_27_x86_64"),
    ]
    return write_simple_index(tmp_path / "pypi", wheels)


def _project(tmp_path: Path, url: str, deps: str) -> Path:
    root = tmp_path / "p"
    root.mkdir(exist_ok=True)
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "m"\npython = "3.11"\n{CUDA_128}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = [{deps}]\n'
    )
    return root


def test_an_extra_the_newest_release_dropped_is_a_warning_not_a_cuda_refusal(
    tmp_path: Path,
) -> None:
    """``nvidia-modelopt[torch]``: the newest release has no ``torch`` extra because torch is
    now a plain dependency; uv locks 0.47.0 and warns, and so must mlenv, CUDA target or not."""
    root = _project(tmp_path, _modelopt_world(tmp_path), '"nvidia-modelopt[torch]"')
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    lock = (root / "mlenv.lock").read_text()
    assert 'name = "nvidia-modelopt"\nversion = "0.47.0"' in lock
    assert 'name = "torch"\nversion = "2.10.0"' in lock
    assert "does not provide the extra 'torch'" in result.stderr
    assert "newer releases that have it" not in result.stderr


def test_an_extra_a_newer_refused_release_has_still_fails_the_cuda_lock(tmp_path: Path) -> None:
    """The rule the fix keeps: the resolver walked back from releases with the extra."""
    wheels = [
        build_wheel(
            "jax",
            "0.5.0",
            provides_extra=["cuda13"],
            requires_dist=['jax-cuda13-plugin==0.5.0; extra == "cuda13"'],
        ),
        build_wheel("jax-cuda13-plugin", "0.5.0", tag=TAG),
        build_wheel("jax", "0.4.0"),  # from before the extra existed
    ]
    root = _project(tmp_path, write_simple_index(tmp_path / "pypi", wheels), '"jax[cuda13]"')
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "jax 0.4.0 has no extra 'cuda13'" in result.stderr
    assert not (root / "mlenv.lock").exists()


def test_an_unverified_gpu_package_is_not_called_a_cpu_build(tmp_path: Path) -> None:
    """``vllm`` from PyPI with ``[cuda] unverified = ["vllm"]`` on a CUDA 12.9 fleet: the lock
    took vllm 0.11.2 (whose CUDA mlenv cannot read, as the user accepted) and then failed
    "vllm 0.11.2 ... is a CPU-only build", because the GPU package table reads the old
    sdist-only 0.6.6.post1 as CUDA 12.1. A release whose CUDA cannot be read is the
    ``cuda-undetermined`` rule's (an unverified warning here), never a CPU fallback."""
    wheels = [
        ("vllm-0.6.6.post1.tar.gz", b"sdist"),  # PyPI's last 0.6 release: only an sdist
        build_wheel(
            "vllm", "0.11.2", tag="cp38-abi3-manylinux1_x86_64", requires_dist=["torch==2.9.0"]
        ),
        build_wheel("torch", "2.9.0", tag=TAG, requires_dist=["nvidia-cuda-runtime-cu12==12.8.90"]),
        build_wheel("nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_27_x86_64"),
    ]
    url = write_simple_index(tmp_path / "pypi", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "v"\npython = "3.11"\n'
        '[cuda]\nversion = "12.9"\ndriver-floor = "575.57.08"\nunverified = ["vllm"]\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["vllm"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert "CPU-only" not in result.stderr
    lock = (root / "mlenv.lock").read_text()
    entry = lock[lock.index('name = "vllm"') :]
    assert 'version = "0.11.2"' in entry.split("[[")[0]
    assert 'cuda = "unverified"' in entry.split("[[")[0]


def test_a_lock_without_a_cuda_target_takes_a_component_of_a_release_with_no_known_driver(
    tmp_path: Path,
) -> None:
    """``torch torchvision`` on Python 3.12 with no ``[cuda]`` table: uv locks the CUDA 13
    stack, whose ``nvidia-cuda-cccl`` 13.3.5.0.6 is CUDA 13.5's (cuda-toolkit 13.5.0 pins it),
    a release with no confirmed Table 3 driver; mlenv stopped with "the minimum driver for
    CUDA 13.5 is not known" although there is no fleet to judge it against. Without a target
    the lock records no driver for it and only warns that a [cuda] table is missing."""
    wheels = [
        build_wheel("nvidia-cuda-cccl", "13.3.5.0.6", tag="py3-none-manylinux_2_27_x86_64"),
    ]
    url = write_simple_index(tmp_path / "pypi", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "c"\npython = "3.12"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["nvidia-cuda-cccl"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    assert "no [cuda]" in result.stderr  # the warning that a CUDA target is missing
    lock = (root / "mlenv.lock").read_text()
    assert 'version = "13.3.5.0.6"' in lock
    checked = run_mlenv(["verify"], root, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_refusal_read_from_requires_dist_names_the_line(tmp_path: Path) -> None:
    """``torch==2.0.1`` from PyPI on a CUDA 11.7 fleet (driver 515.65.01): PyTorch calls the
    wheel cu117, and mlenv refused it as "built for CUDA 11.8" without saying why; the reason is
    one Requires-Dist line, ``nvidia-cufft-cu11==10.9.0.58``, CUDA 11.8's cuFFT. The refusal
    names the line that sets the CUDA."""
    wheels = [
        build_wheel(
            "torch",
            "2.0.1",
            tag="cp310-cp310-manylinux1_x86_64",
            requires_dist=[
                'nvidia-cuda-runtime-cu11==11.7.99; platform_system == "Linux" and '
                'platform_machine == "x86_64"',
                'nvidia-cufft-cu11==10.9.0.58; platform_system == "Linux" and '
                'platform_machine == "x86_64"',
            ],
        ),
        build_wheel("nvidia-cuda-runtime-cu11", "11.7.99", tag="py3-none-manylinux1_x86_64"),
        build_wheel("nvidia-cufft-cu11", "10.9.0.58", tag="py3-none-manylinux1_x86_64"),
    ]
    url = write_simple_index(tmp_path / "pypi", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "t"\npython = "3.10"\n'
        '[cuda]\nversion = "11.7"\ndriver-floor = "515.65.01"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["torch==2.0.1"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "torch 2.0.1 is built for CUDA 11.8, newer than the target CUDA 11.7" in result.stderr
    assert "nvidia-cufft-cu11==10.9.0.58" in result.stderr


def test_pypi_torch_1_12_bundles_cuda_10_2_and_is_no_build_for_a_cuda_11_fleet(
    tmp_path: Path,
) -> None:
    """``torch==1.12.1`` from PyPI on a CUDA 11.6 fleet: uv and mlenv both locked it, mlenv
    with no CUDA recorded and no word, reading it as a CPU build; its Linux x86_64 wheel (776
    MB) carries ``torch/lib/libcudart-80664282.so.10.2``, a CUDA 10.2 build, another major."""
    wheels = [
        build_wheel(
            "torch",
            "1.12.1",
            tag="cp310-cp310-manylinux1_x86_64",
            requires_dist=["typing-extensions"],
        ),
        build_wheel("typing-extensions", "4.16.0"),
    ]
    url = write_simple_index(tmp_path / "pypi", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "t"\npython = "3.10"\n'
        '[cuda]\nversion = "11.6"\ndriver-floor = "510.47.03"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["torch==1.12.1"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "torch 1.12.1 is built for CUDA 10.2, but the target is CUDA 11.6" in result.stderr
    assert not (root / "mlenv.lock").exists()
