"""Real-world CUDA cases through the real CLI, each judged by the document named in its source.

Every case serves fake wheels with the real distribution names, versions, wheel file names and
``Requires-Dist`` shapes from file:// indexes whose paths mimic the real feeds (so index-keyed
rows apply), runs ``mlenv lock`` and, for driver situations, ``mlenv verify --driver``, and
asserts the verdict (exit code) and the reason: the finding code, the package and the driver
and CUDA numbers of the message. The verdicts are mlenv's documented ones (README "CUDA and the
driver floor"): the target toolkit's Table 3 driver is a hard floor, another CUDA major is
refused, a newer minor needs its own Table 3 driver, a later toolkit update is a warning.

Conda packages are judged by ``verify`` on a lock holding them (``mlenv.cuda.needs``, the reading
``lock`` uses too), so they need no conda solver here.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlenv.lockfile import Lock, LockedPlatform
from mlenv.lockfile_fresh import inputs_hash
from mlenv.lockfile_read import loads as load_lock
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.locks import conda_closed, conda_record, target_of
from tests.support.wheels import build_wheel, write_simple_index

LINUX = "cp311-cp311-linux_x86_64"  # the PyTorch index's plain tag
MANY = "cp311-cp311-manylinux_2_28_x86_64"
ANY = "py3-none-manylinux_2_27_x86_64"  # NVIDIA component wheels
ABI3 = "cp38-abi3-manylinux1_x86_64"  # vLLM release assets
PYPI = "pypi.org"
BNB = "py3-none-manylinux_2_24_x86_64"  # bitsandbytes' wheels

# Sources, cited by every case.
TABLE3 = "https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html"
MINOR = "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html"
FORWARD = "https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html"
TORCH_IDX = "https://download.pytorch.org/whl/{}/torch/"
TORCH_PREV = "https://pytorch.org/get-started/previous-versions/"
TOOLKIT = "https://pypi.org/project/cuda-toolkit/{}/"
PYG = "https://data.pyg.org/whl/torch-2.5.0+cu124.html"
FLASH = "https://github.com/Dao-AILab/flash-attention/releases"
JAX_OLD = "https://storage.googleapis.com/jax-releases/jax_cuda_releases.html"
JAX = "https://github.com/jax-ml/jax/blob/main/docs/installation.md"
ORT = "https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html"
TF = "https://www.tensorflow.org/install/source#gpu"
TF_GPU_2019 = (
    "https://github.com/tensorflow/docs/blob/7f17cfb143481579636f41c68e8ac610f7c38929/"
    "site/en/install/gpu.md"
)
TF_RELEASE = "https://github.com/tensorflow/tensorflow/blob/master/RELEASE.md#release-210"
PADDLE = "https://www.paddlepaddle.org.cn/whl/linux/mkl/avx/stable.html"
PADDLE_1X = (
    "https://github.com/PaddlePaddle/docs/blob/3a237a4a26f808aff823ba0c7bd5bd0b22d38c07/"
    "doc/fluid/install/pip/linux-pip_en.md"
)
PADDLE_20 = (
    "https://github.com/PaddlePaddle/docs/blob/7aa72e44336462e4cbe6084dcb8a59b1e2126faf/"
    "doc/paddle/install/pip/linux-pip_en.md"
)
RAPIDS = "https://docs.rapids.ai/install/"
NVCC13 = "https://docs.nvidia.com/cuda/archive/13.0.0/cuda-toolkit-release-notes/index.html"
CUDA129 = "https://docs.nvidia.com/cuda/archive/12.8.0/cuda-toolkit-release-notes/index.html"
# NVIDIA's 13.3 Update 1 and 13.4 Update 1 notes (Table 1; Table 3 in no stored copy) and the
# 13.4 documentation ("NVIDIA Rubin preview"): docs/cuda.md.
CUDA1331 = "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html?ref=sungw.ooo"
CUDA1342 = "https://docs.nvidia.com/cuda/archive/13.4.2/cuda-toolkit-release-notes/index.html"
RUBIN = "https://docs.nvidia.com/cuda/archive/13.4.3/index.html"


@dataclass(frozen=True)
class Whl:
    """One wheel as its index serves it; ``feed`` is the index's host/path."""

    name: str
    version: str
    tag: str = MANY
    requires: tuple[str, ...] = ()
    feed: str = PYPI


@dataclass(frozen=True)
class Case:
    """One situation: what is served, what the fleet promises, the verdict and its reason."""

    id: str
    source: str
    wheels: tuple[Whl, ...]
    deps: tuple[str, ...]
    cuda: str
    floor: str
    exit: int
    reason: tuple[str, ...] = ()  # substrings of the output, in this order
    locked: dict[str, str | None] = field(default_factory=dict)  # name -> cuda in the lock
    driver: str | None = None  # then: lock must pass, verify --driver gives the verdict
    extra: str = ""  # more [cuda] keys
    absent: tuple[str, ...] = ()  # substrings that must not be in the output
    gpu: str | None = None  # then: verify --host on this compute capability and ``driver``


def torch(version: str, *, tag: str = LINUX, requires: tuple[str, ...] = ()) -> Whl:
    local = version.partition("+")[2]
    feed = f"download.pytorch.org/whl/{re.sub(r'[.].*', '', local) or 'cpu'}"
    return Whl("torch", version, tag, requires, feed)


CU12_PIN = "platform_system == 'Linux' and platform_machine == 'x86_64'"

# fmt: off
CASES = [
    # -- PyTorch local version tags (the silent passes of issue 13) -------------------------
    Case("torch-cu124", TORCH_IDX.format("cu124"), (torch("2.5.1+cu124"),), ("torch==2.5.1",),
         "12.4", "550.54.14", 0, locked={"torch": "12.4"}),
    Case("torch-cu124-cxx11abi", TORCH_IDX.format("cu124"), (torch("2.5.1+cu124.cxx11.abi"),),
         ("torch==2.5.1",), "12.4", "550.54.14", 0, locked={"torch": "12.4"}),
    Case("torch-cxx11abi-newer-minor", TORCH_IDX.format("cu126"),
         (torch("2.6.0+cu126.cxx11.abi"),), ("torch==2.6.0",), "12.4", "550.54.14", 1,
         ("torch 2.6.0+cu126.cxx11.abi is built for CUDA 12.6, newer than the target CUDA 12.4",
          "needs driver 560.28.03 but the driver floor is 550.54.14")),
    Case("torch-cxx11abi-other-major", TORCH_IDX.format("cu118"),
         (torch("2.5.1+cu118.cxx11.abi"),), ("torch==2.5.1",), "12.4", "550.54.14", 1,
         ("torch 2.5.1+cu118.cxx11.abi is built for CUDA 11.8, but the target is CUDA 12.4",
          "https://download.pytorch.org/whl/cu124")),
    Case("torch-with-pypi-cudnn", TORCH_IDX.format("cu121"),
         (torch("2.1.0+cu121.with.pypi.cudnn"),), ("torch==2.1.0",), "13.0", "580.65.06", 1,
         ("torch 2.1.0+cu121.with.pypi.cudnn is built for CUDA 12.1, "
          "but the target is CUDA 13.0",)),
    Case("torch-with-pypi-cudnn-ok", TORCH_IDX.format("cu121"),
         (torch("2.1.0+cu121.with.pypi.cudnn"),), ("torch==2.1.0",), "12.2", "535.54.03", 0,
         locked={"torch": "12.1"}),
    Case("torch-cu118-on-12", TORCH_IDX.format("cu118"), (torch("2.5.1+cu118"),),
         ("torch==2.5.1",), "12.4", "550.54.14", 1,
         ("torch 2.5.1+cu118 is built for CUDA 11.8, but the target is CUDA 12.4",)),
    Case("torch-cu128-on-12.6", TORCH_IDX.format("cu128"), (torch("2.7.1+cu128"),),
         ("torch==2.7.1",), "12.6", "560.28.03", 1,
         ("torch 2.7.1+cu128 is built for CUDA 12.8, newer than the target CUDA 12.6",
          "needs driver 570.26 but the driver floor is 560.28.03")),
    Case("torch-cu128-on-12.6-driver-570", TORCH_IDX.format("cu128"), (torch("2.7.1+cu128"),),
         ("torch==2.7.1",), "12.6", "570.26", 0, locked={"torch": "12.8"}),
    Case("torch-cu130-on-12.9", TORCH_IDX.format("cu130"), (torch("2.9.0+cu130"),),
         ("torch==2.9.0",), "12.9", "575.51.03", 1,
         ("torch 2.9.0+cu130 is built for CUDA 13.0, but the target is CUDA 12.9",)),
    Case("torch-cu132-on-13.0", TABLE3, (torch("2.12.0+cu132"),), ("torch==2.12.0",), "13.0",
         "580.65.06", 1,
         ("torch 2.12.0+cu132 is built for CUDA 13.2, newer than the target CUDA 13.0",
          "needs driver 595.45.04")),
    Case("torch-cu127-no-such-cuda", TABLE3, (torch("2.5.1+cu127"),), ("torch==2.5.1",), "12.4",
         "550.54.14", 1, ("names CUDA 12.7", "which is not a known CUDA release")),
    Case("torch-cu134-driver-unconfirmed", TABLE3, (torch("2.14.0+cu134"),), ("torch==2.14.0",),
         "13.0", "580.65.06", 1,
         ("torch 2.14.0+cu134 is built for CUDA 13.4, whose minimum driver is unconfirmed",)),
    Case("crt-13.3-update-1-on-13.3", CUDA1331, (Whl("nvidia-cuda-crt", "13.3.73", ANY),),
         ("nvidia-cuda-crt==13.3.73",), "13.3", "610.43.02", 0,
         locked={"nvidia-cuda-crt": "13.3"}),
    Case("cudart-13.4-update-1-on-13.3", CUDA1342, (Whl("nvidia-cuda-runtime", "13.4.92", ANY),),
         ("nvidia-cuda-runtime==13.4.92",), "13.3", "610.43.02", 1,
         ("nvidia-cuda-runtime 13.4.92 is built for CUDA 13.4, whose minimum driver is "
          "unconfirmed",)),
    Case("rubin-arch-on-13.3", RUBIN, (), ("filelock",), "13.3", "610.43.02", 1,
         ("sm_107 needs CUDA 13.4 or newer; the target is CUDA 13.3",),
         extra='archs = ["sm_107"]\n'),
    Case("torch-cu126-prefers-target-variant", TORCH_PREV,
         (torch("2.6.0+cu118"), torch("2.6.0+cu124"), torch("2.6.0+cu126"), torch("2.6.0+cpu")),
         ("torch==2.6.0",), "12.4", "550.54.14", 0, locked={"torch": "12.4"}),
    Case("torch-cpu-fallback-refused", TORCH_PREV,
         (torch("2.6.0+cu126"), torch("2.6.0+cpu.cxx11.abi")), ("torch==2.6.0",), "12.4",
         "550.54.14", 1,
         ("CPU-only", "torch 2.6.0+cpu.cxx11.abi",
          "refused 2.6.0+cu126", "built for CUDA 12.6, newer than the target CUDA 12.4")),
    Case("torch-cpu-fallback-cpu-ok", TORCH_PREV,
         (torch("2.6.0+cu126"), torch("2.6.0+cpu")), ("torch==2.6.0",), "12.4",
         "550.54.14", 0, locked={"torch": None}, extra='cpu-ok = ["torch"]\n'),
    Case("torch-rocm-fallback-refused", TORCH_PREV,
         (torch("2.5.1+cu124"), torch("2.5.1+rocm6.2")), ("torch==2.5.1",), "13.0",
         "580.65.06", 1, ("CPU-only", "+rocm6.2", "refused 2.5.1+cu124")),
    Case("torch-unknown-cu-shape", TORCH_IDX.format("cu124"), (torch("2.5.1+cu1240"),),
         ("torch==2.5.1",), "12.4", "550.54.14", 1,
         ("'2.5.1+cu1240' has a CUDA tag in a shape mlenv cannot read (cu1240)",)),
    Case("torch-two-cu-tags", TORCH_IDX.format("cu124"), (torch("2.5.1+cu118.cu124"),),
         ("torch==2.5.1",), "12.4", "550.54.14", 1, ("has two CUDA tags (cu118, cu124)",)),
    Case("torchvision-cu124", TORCH_IDX.format("cu124"),
         (torch("2.5.1+cu124"), Whl("torchvision", "0.20.1+cu124", LINUX,
                                    ("torch==2.5.1",), "download.pytorch.org/whl/cu124")),
         ("torchvision==0.20.1",), "12.4", "550.54.14", 0,
         locked={"torch": "12.4", "torchvision": "12.4"}),
    # PyPI torch: CUDA only through Requires-Dist (generate_binary_build_matrix.py pins)
    Case("pypi-torch-2.8-cu128-update1-warns", TOOLKIT.format("12.8.1"),
         (Whl("torch", "2.8.0", MANY, (f"nvidia-cublas-cu12==12.8.4.1; {CU12_PIN}",
                                       f"nvidia-cuda-runtime-cu12==12.8.90; {CU12_PIN}")),
          Whl("nvidia-cublas-cu12", "12.8.4.1", ANY),
          Whl("nvidia-cuda-runtime-cu12", "12.8.90", ANY)),
         ("torch==2.8.0",), "12.8", "570.26", 0,
         ("driver-minor-compat", "nvidia-cublas-cu12 12.8.4.1 uses CUDA 12.8.1",
          "needs driver 570.124.06"),
         locked={"torch": "12.8", "nvidia-cublas-cu12": "12.8",
                 "nvidia-cuda-runtime-cu12": "12.8"}),
    Case("pypi-torch-2.9-cuda13-on-12", TOOLKIT.format("13.0.2"),
         (Whl("torch", "2.9.0", MANY, (f"nvidia-cublas==13.1.0.3; {CU12_PIN}",
                                       f"nvidia-cuda-runtime~=13.0.48; {CU12_PIN}")),
          Whl("nvidia-cublas", "13.1.0.3", ANY), Whl("nvidia-cuda-runtime", "13.0.96", ANY)),
         ("torch==2.9.0",), "12.8", "570.26", 1,
         ("built for CUDA 13.0", "but the target is CUDA 12.8")),
    # torch 2.5.1+cu124 as the PyTorch index serves it: its nvidia-* pins are CUDA 12.4
    # Update 1 components, so the 12.4 GA driver runs them under minor-version compatibility
    Case("torch-cu124-with-its-nvidia-pins", TORCH_IDX.format("cu124"),
         (torch("2.5.1+cu124", requires=(f"nvidia-cublas-cu12==12.4.5.8; {CU12_PIN}",
                                         f"nvidia-cuda-runtime-cu12==12.4.127; {CU12_PIN}",
                                         f"nvidia-cudnn-cu12==9.1.0.70; {CU12_PIN}")),
          Whl("nvidia-cublas-cu12", "12.4.5.8", ANY),
          Whl("nvidia-cuda-runtime-cu12", "12.4.127", ANY),
          Whl("nvidia-cudnn-cu12", "9.1.0.70", ANY)),
         ("torch==2.5.1",), "12.4", "550.54.14", 0,
         ("the environment needs driver 550.54.15", "driver-minor-compat",
          "needs driver 550.54.15 (CUDA 12.4 Update 1)"),
         locked={"torch": "12.4", "nvidia-cublas-cu12": "12.4",
                 "nvidia-cuda-runtime-cu12": "12.4", "nvidia-cudnn-cu12": "12.x"}),
    Case("pypi-torch-2.8-on-12.4", TOOLKIT.format("12.8.1"),
         (Whl("torch", "2.8.0", MANY, (f"nvidia-cublas-cu12==12.8.4.1; {CU12_PIN}",)),
          Whl("nvidia-cublas-cu12", "12.8.4.1", ANY)),
         ("torch==2.8.0",), "12.4", "550.54.14", 1,
         ("torch 2.8.0 is built for CUDA 12.8, newer than the target CUDA 12.4",
          "needs driver 570.26 but the driver floor is 550.54.14",
          "https://download.pytorch.org/whl/cu124")),
    Case("pypi-torch-backtracks-to-the-target-cuda", TOOLKIT.format("12.4.1"),
         (Whl("torch", "2.8.0", MANY, (f"nvidia-cublas-cu12==12.8.4.1; {CU12_PIN}",)),
          Whl("torch", "2.5.1", MANY, (f"nvidia-cublas-cu12==12.4.5.8; {CU12_PIN}",)),
          Whl("nvidia-cublas-cu12", "12.8.4.1", ANY), Whl("nvidia-cublas-cu12", "12.4.5.8", ANY)),
         ("torch",), "12.4", "550.54.15", 0,
         locked={"torch": "12.4", "nvidia-cublas-cu12": "12.4"}),
    Case("jax-cuda12-picks-the-target-cublas",
         "https://github.com/jax-ml/jax/blob/main/build/nvidia-requirements.txt",
         (Whl("jax-cuda12-plugin", "0.4.35", MANY, ("nvidia-cublas-cu12>=12.1.3.1",)),
          Whl("nvidia-cublas-cu12", "12.4.5.8", ANY), Whl("nvidia-cublas-cu12", "12.9.1.4", ANY)),
         ("jax-cuda12-plugin==0.4.35",), "12.4", "550.54.15", 0,
         locked={"jax-cuda12-plugin": "12.x", "nvidia-cublas-cu12": "12.4"}),
    Case("cuda-toolkit-12.8.1-metapackage", TOOLKIT.format("12.8.1"),
         (Whl("cuda-toolkit", "12.8.1", "py3-none-any",
              ("nvidia-cuda-runtime-cu12==12.8.90.*; extra == 'cudart'",)),
          Whl("nvidia-cuda-runtime-cu12", "12.8.90", ANY)),
         ("cuda-toolkit[cudart]==12.8.1",), "12.8", "570.26", 0,
         ("driver-minor-compat", "cuda-toolkit 12.8.1 uses CUDA 12.8.1", "needs driver 570.124.06"),
         locked={"cuda-toolkit": "12.8", "nvidia-cuda-runtime-cu12": "12.8"}),
    # -- PyG, flash-attn, vLLM, DGL local tags ------------------------------------------------
    Case("pyg-scatter-pt25cu124", PYG,
         (torch("2.5.1+cu124"), Whl("torch-scatter", "2.1.2+pt25cu124", LINUX, (),
                                    "data.pyg.org/whl")),
         ("torch==2.5.1", "torch-scatter==2.1.2"), "12.4", "550.54.14", 0,
         locked={"torch": "12.4", "torch-scatter": "12.4"}),
    Case("pyg-scatter-pt25cu124-on-13", PYG,
         (Whl("torch-scatter", "2.1.2+pt25cu124", LINUX, (), "data.pyg.org/whl"),),
         ("torch-scatter==2.1.2",), "13.0", "580.65.06", 1,
         ("torch-scatter 2.1.2+pt25cu124 is built for CUDA 12.4, but the target is CUDA 13.0",
          "https://data.pyg.org/whl/torch-<torch version>+cu130.html")),
    Case("pyg-scatter-pt25cu126-newer-minor", PYG,
         (Whl("torch-scatter", "2.1.2+pt25cu126", LINUX, (), "data.pyg.org/whl"),),
         ("torch-scatter==2.1.2",), "12.4", "550.54.14", 1,
         ("torch-scatter 2.1.2+pt25cu126 is built for CUDA 12.6", "needs driver 560.28.03")),
    Case("flash-attn-cu122", FLASH,
         (Whl("flash-attn", "2.3.6+cu122torch2.1cxx11abiFALSE", "cp311-cp311-linux_x86_64"),),
         ("flash-attn==2.3.6",), "12.4", "550.54.14", 0, locked={"flash-attn": "12.2"}),
    Case("flash-attn-cu12-on-13", FLASH,
         (Whl("flash-attn", "2.8.3+cu12torch2.8cxx11abiTRUE", "cp311-cp311-linux_x86_64"),),
         ("flash-attn==2.8.3",), "13.0", "580.65.06", 1,
         ("flash-attn 2.8.3+cu12torch2.8cxx11abitrue is built for CUDA 12.x, "
          "but the target is CUDA 13.0", "github.com/Dao-AILab/flash-attention/releases")),
    Case("flash-attn-pypi-undetermined", FLASH, (Whl("flash-attn", "2.8.3", MANY),),
         ("flash-attn==2.8.3",), "12.4", "550.54.14", 1,
         ("mlenv cannot tell which CUDA flash-attn 2.8.3 needs",)),
    Case("vllm-cu118-asset", "https://github.com/vllm-project/vllm/releases/tag/v0.8.5",
         (Whl("vllm", "0.8.5+cu118", ABI3),), ("vllm==0.8.5",), "12.4", "550.54.14", 1,
         ("vllm 0.8.5+cu118 is built for CUDA 11.8, but the target is CUDA 12.4",)),
    Case("vllm-pypi-0.6-cuda-12.1", "https://github.com/vllm-project/vllm/blob/v0.6.3/setup.py",
         (Whl("vllm", "0.6.3", MANY),), ("vllm==0.6.3",), "12.4", "550.54.14", 0,
         locked={"vllm": "12.1"}),
    Case("dgl-cu121", "https://data.dgl.ai/wheels/torch-2.3/cu121/repo.html",
         (Whl("dgl", "2.4.0+cu121", MANY, (), "data.dgl.ai/wheels"),), ("dgl==2.4.0",), "11.8",
         "520.61.05", 1, ("dgl 2.4.0+cu121 is built for CUDA 12.1, but the target is CUDA 11.8",)),
    # -- JAX --------------------------------------------------------------------------------
    Case("jaxlib-cuda12-cudnn89", JAX_OLD,
         (Whl("jaxlib", "0.4.23+cuda12.cudnn89", MANY, (), "storage.googleapis.com/jax"),),
         ("jaxlib==0.4.23",), "11.8", "520.61.05", 1,
         ("jaxlib 0.4.23+cuda12.cudnn89 is built for CUDA 12.x, but the target is CUDA 11.8",)),
    Case("jaxlib-cuda12-cudnn89-ok", JAX_OLD,
         (Whl("jaxlib", "0.4.23+cuda12.cudnn89", MANY, (), "storage.googleapis.com/jax"),),
         ("jaxlib==0.4.23",), "12.4", "550.54.14", 0, locked={"jaxlib": "12.x"}),
    Case("jaxlib-cuda111", JAX_OLD,
         (Whl("jaxlib", "0.1.69+cuda111", MANY, (), "storage.googleapis.com/jax"),),
         ("jaxlib==0.1.69",), "12.4", "550.54.14", 1,
         ("jaxlib 0.1.69+cuda111 is built for CUDA 11.1, but the target is CUDA 12.4",)),
    Case("jax-cuda12-plugin-on-13", JAX,
         (Whl("jax-cuda12-plugin", "0.4.35", MANY, ("jax-cuda12-pjrt==0.4.35",)),
          Whl("jax-cuda12-pjrt", "0.4.35", "py3-none-manylinux2014_x86_64")),
         ("jax-cuda12-plugin==0.4.35",), "13.0", "580.65.06", 1,
         ("jax-cuda12-p", "is built for CUDA 12.x, but the target is CUDA 13.0", "jax[cuda13]")),
    Case("jax-cuda12-plugin-ok", JAX,
         (Whl("jax-cuda12-plugin", "0.4.35", MANY, ("jax-cuda12-pjrt==0.4.35",)),
          Whl("jax-cuda12-pjrt", "0.4.35", "py3-none-manylinux2014_x86_64")),
         ("jax-cuda12-plugin==0.4.35",), "12.4", "550.54.14", 0,
         locked={"jax-cuda12-plugin": "12.x", "jax-cuda12-pjrt": "12.x"}),
    # -- NVIDIA component wheels: update-level tracing ---------------------------------------
    Case("cublas-12.4.5.8-update1-warns", TOOLKIT.format("12.4.1"),
         (Whl("nvidia-cublas-cu12", "12.4.5.8", ANY),), ("nvidia-cublas-cu12==12.4.5.8",),
         "12.4", "550.54.14", 0,
         ("driver-minor-compat", "nvidia-cublas-cu12 12.4.5.8 uses CUDA 12.4.1",
          "needs driver 550.54.15 (CUDA 12.4 Update 1)"),
         locked={"nvidia-cublas-cu12": "12.4"}),
    Case("cublas-12.4.5.8-at-update1-driver", TOOLKIT.format("12.4.1"),
         (Whl("nvidia-cublas-cu12", "12.4.5.8", ANY),), ("nvidia-cublas-cu12==12.4.5.8",),
         "12.4", "550.54.15", 0, locked={"nvidia-cublas-cu12": "12.4"},
         absent=("driver-minor-compat",)),
    Case("cudart-12.1.105-on-12.4", TOOLKIT.format("12.1.1"),
         (Whl("nvidia-cuda-runtime-cu12", "12.1.105", ANY),),
         ("nvidia-cuda-runtime-cu12==12.1.105",), "12.4", "550.54.14", 0,
         locked={"nvidia-cuda-runtime-cu12": "12.1"}, absent=("WARNING",)),
    Case("cudart-12.4.127-on-12.2", TOOLKIT.format("12.4.1"),
         (Whl("nvidia-cuda-runtime-cu12", "12.4.127", ANY),),
         ("nvidia-cuda-runtime-cu12==12.4.127",), "12.2", "535.104.05", 1,
         ("nvidia-cuda-runtime-cu12 12.4.127 is built for CUDA 12.4, newer than the target "
          "CUDA 12.2", "needs driver 550.54.14")),
    Case("cudart-13.0.96-update2-warns", TOOLKIT.format("13.0.2"),
         (Whl("nvidia-cuda-runtime", "13.0.96", ANY),), ("nvidia-cuda-runtime==13.0.96",),
         "13.0", "580.65.06", 0,
         ("driver-minor-compat", "nvidia-cuda-runtime 13.0.96 uses CUDA 13.0.2",
          "needs driver 580.95.05"), locked={"nvidia-cuda-runtime": "13.0"}),
    Case("cudart-13.0.96-on-12.8", TOOLKIT.format("13.0.2"),
         (Whl("nvidia-cuda-runtime", "13.0.96", ANY),), ("nvidia-cuda-runtime==13.0.96",),
         "12.8", "570.26", 1,
         ("nvidia-cuda-runtime 13.0.96 is built for CUDA 13.0, but the target is CUDA 12.8",)),
    Case("cublas-13.1.0.3-is-13.0-update2", TOOLKIT.format("13.0.2"),
         (Whl("nvidia-cublas", "13.1.0.3", ANY),), ("nvidia-cublas==13.1.0.3",), "13.0",
         "580.82.07", 0,
         ("driver-minor-compat", "nvidia-cublas 13.1.0.3 uses CUDA 13.0.2",
          "needs driver 580.95.05"), locked={"nvidia-cublas": "13.0"}),
    Case("nvrtc-12.6.85-update3", TOOLKIT.format("12.6.3"),
         (Whl("nvidia-cuda-nvrtc-cu12", "12.6.85", ANY),), ("nvidia-cuda-nvrtc-cu12==12.6.85",),
         "12.6", "560.35.03", 0,
         ("driver-minor-compat", "uses CUDA 12.6.3", "needs driver 560.35.05")),
    Case("cufft-11.2.1.3-is-12.4.1", TOOLKIT.format("12.4.1"),
         (Whl("nvidia-cufft-cu12", "11.2.1.3", ANY),), ("nvidia-cufft-cu12==11.2.1.3",),
         "12.4", "550.54.14", 0, ("driver-minor-compat", "uses CUDA 12.4.1"),
         locked={"nvidia-cufft-cu12": "12.4"}),
    Case("cudnn-cu12-on-13", "https://pypi.org/project/nvidia-cudnn-cu12/",
         (Whl("nvidia-cudnn-cu12", "9.1.0.70", ANY),), ("nvidia-cudnn-cu12==9.1.0.70",),
         "13.0", "580.65.06", 1,
         ("nvidia-cudnn-cu12 9.1.0.70 is built for CUDA 12.x, but the target is CUDA 13.0",
          "nvidia-cublas, nvidia-cuda-runtime")),
    Case("cu13-placeholder", "https://pypi.org/project/nvidia-cuda-runtime-cu13/",
         (Whl("nvidia-cuda-runtime-cu13", "0.0.1", "py3-none-any"),),
         ("nvidia-cuda-runtime-cu13",), "13.0", "580.65.06", 1,
         ("nvidia-cuda-runtime-cu13 0.0.1 is a placeholder package", "nvidia-cuda-runtime")),
    # -- GPU packages whose CUDA is not (always) in the name ---------------------------------
    Case("cupy-cuda12x", "https://pypi.org/project/cupy-cuda12x/",
         (Whl("cupy-cuda12x", "13.3.0", MANY),), ("cupy-cuda12x==13.3.0",), "12.4",
         "550.54.14", 0, locked={"cupy-cuda12x": "12.x"}),
    Case("cupy-cuda11x-on-12", "https://pypi.org/project/cupy-cuda11x/",
         (Whl("cupy-cuda11x", "13.3.0", MANY),), ("cupy-cuda11x==13.3.0",), "12.4",
         "550.54.14", 1, ("cupy-cuda11x 13.3.0 is built for CUDA 11.x", "install cupy-cuda12x")),
    Case("tensorrt-cu12-on-13", "https://pypi.org/project/tensorrt-cu12/",
         (Whl("tensorrt-cu12", "10.7.0", "py3-none-any"),), ("tensorrt-cu12==10.7.0",), "13.0",
         "580.65.06", 1, ("tensorrt-cu12 10.7.0 is built for CUDA 12.x", "install tensorrt-cu13")),
    Case("dali-cuda120", "https://pypi.org/project/nvidia-dali-cuda120/",
         (Whl("nvidia-dali-cuda120", "1.45.0", "py3-none-manylinux2014_x86_64"),),
         ("nvidia-dali-cuda120==1.45.0",), "12.4", "550.54.14", 0,
         locked={"nvidia-dali-cuda120": "12.0"}),
    Case("dali-cuda120-on-13", "https://pypi.org/project/nvidia-dali-cuda120/",
         (Whl("nvidia-dali-cuda120", "1.45.0", "py3-none-manylinux2014_x86_64"),),
         ("nvidia-dali-cuda120==1.45.0",), "13.0", "580.65.06", 1,
         ("nvidia-dali-cuda120 1.45.0 is built for CUDA 12.0", "install nvidia-dali-cuda130")),
    Case("paddle-post120", PADDLE,
         (Whl("paddlepaddle-gpu", "2.6.1.post120", MANY, (), "www.paddlepaddle.org.cn/whl"),),
         ("paddlepaddle-gpu==2.6.1.post120",), "12.4", "550.54.14", 0,
         locked={"paddlepaddle-gpu": "12.0"}),
    Case("paddle-post117-on-12", PADDLE,
         (Whl("paddlepaddle-gpu", "2.5.2.post117", MANY, (), "www.paddlepaddle.org.cn/whl"),),
         ("paddlepaddle-gpu==2.5.2.post117",), "12.4", "550.54.14", 1,
         ("paddlepaddle-gpu 2.5.2.post117 is built for CUDA 11.7",)),
    Case("paddle-1.8-post107-is-cuda-10.0", PADDLE_1X,
         (Whl("paddlepaddle-gpu", "1.8.5.post107", MANY, (), "www.paddlepaddle.org.cn/whl"),),
         ("paddlepaddle-gpu==1.8.5.post107",), "10.0", "410.48", 0,
         locked={"paddlepaddle-gpu": "10.0"}),
    Case("paddle-1.8-post97-on-10", PADDLE_1X,
         (Whl("paddlepaddle-gpu", "1.8.5.post97", MANY, (), "www.paddlepaddle.org.cn/whl"),),
         ("paddlepaddle-gpu==1.8.5.post97",), "10.0", "410.48", 1,
         ("paddlepaddle-gpu 1.8.5.post97 is built for CUDA 9.0",
          "install paddlepaddle-gpu 1.5-1.8 .post107 (CUDA 10.0)"), absent=("10.7", "9.7")),
    Case("paddle-2.0-post90-on-9.0", PADDLE_20,
         (Whl("paddlepaddle-gpu", "2.0.2.post90", MANY, (), "www.paddlepaddle.org.cn/whl"),),
         ("paddlepaddle-gpu==2.0.2.post90",), "9.0", "384.81", 0,
         locked={"paddlepaddle-gpu": "9.0"}),
    Case("paddle-3-cu126-index-newer-minor", "https://www.paddlepaddle.org.cn/packages/stable/cu126/",
         (Whl("paddlepaddle-gpu", "3.0.0", MANY, (),
              "www.paddlepaddle.org.cn/packages/stable/cu126"),),
         ("paddlepaddle-gpu==3.0.0",), "12.4", "550.54.14", 1,
         ("paddlepaddle-gpu 3.0.0 is built for CUDA 12.6", "needs driver 560.28.03")),
    Case("ort-1.18-pypi-is-cuda11", ORT, (Whl("onnxruntime-gpu", "1.18.0", MANY),),
         ("onnxruntime-gpu==1.18.0",), "12.4", "550.54.14", 1,
         ("onnxruntime-gpu 1.18.0 is built for CUDA 11.x, but the target is CUDA 12.4",
          "onnxruntime-cuda-12")),
    Case("ort-1.19-pypi-is-cuda12", ORT, (Whl("onnxruntime-gpu", "1.19.2", MANY),),
         ("onnxruntime-gpu==1.19.2",), "12.4", "550.54.14", 0,
         locked={"onnxruntime-gpu": "12.x"}),
    Case("ort-1.20-pypi-on-13", ORT, (Whl("onnxruntime-gpu", "1.20.1", MANY),),
         ("onnxruntime-gpu==1.20.1",), "13.0", "580.65.06", 1,
         ("onnxruntime-gpu 1.20.1 is built for CUDA 12.x, but the target is CUDA 13.0",)),
    Case("ort-1.18-cuda12-feed", ORT,
         (Whl("onnxruntime-gpu", "1.18.0", MANY, (),
              "aiinfra.pkgs.visualstudio.com/PublicPackages/_packaging/onnxruntime-cuda-12/pypi"),),
         ("onnxruntime-gpu==1.18.0",), "12.4", "550.54.14", 0,
         locked={"onnxruntime-gpu": "12.x"}),
    Case("tensorflow-2.15-and-cuda", TF,
         (Whl("tensorflow", "2.15.1", MANY,
              ("nvidia-cublas-cu12==12.2.5.6; extra == 'and-cuda'",),),
          Whl("nvidia-cublas-cu12", "12.2.5.6", ANY)),
         ("tensorflow[and-cuda]==2.15.1",), "12.4", "550.54.14", 0,
         locked={"tensorflow": "12.x", "nvidia-cublas-cu12": "12.2"}),
    Case("tensorflow-2.14-on-12", TF, (Whl("tensorflow", "2.14.1", MANY),),
         ("tensorflow==2.14.1",), "12.4", "550.54.14", 1,
         ("tensorflow 2.14.1 is built for CUDA 11.x, but the target is CUDA 12.4",)),
    Case("tensorflow-1.14-is-cpu-only", TF_GPU_2019, (Whl("tensorflow", "1.14.0", MANY),),
         ("tensorflow==1.14.0",), "10.0", "410.48", 0, locked={"tensorflow": None},
         absent=("cuda-undetermined",)),
    Case("tensorflow-gpu-1.14-is-cuda-10.0", TF, (Whl("tensorflow-gpu", "1.14.0", MANY),),
         ("tensorflow-gpu==1.14.0",), "10.0", "410.48", 0, locked={"tensorflow-gpu": "10.0"}),
    Case("tensorflow-gpu-1.12-on-10", TF, (Whl("tensorflow-gpu", "1.12.0", MANY),),
         ("tensorflow-gpu==1.12.0",), "10.0", "410.48", 1,
         ("tensorflow-gpu 1.12.0 is built for CUDA 9.0, but the target is CUDA 10.0",
          "tensorflow-gpu 1.13 to 2.0 is built for CUDA 10.0")),
    Case("tensorflow-2.0-is-cpu-only", TF_RELEASE, (Whl("tensorflow", "2.0.0", MANY),),
         ("tensorflow==2.0.0",), "12.4", "550.54.14", 0, locked={"tensorflow": None},
         absent=("CUDA 10.0",)),
    Case("mxnet-cu112-on-12", "https://pypi.org/project/mxnet-cu112/",
         (Whl("mxnet-cu112", "1.9.1", MANY),), ("mxnet-cu112==1.9.1",), "12.4", "550.54.14", 1,
         ("mxnet-cu112 1.9.1 is built for CUDA 11.2, but the target is CUDA 12.4",)),
    Case("xformers-pytorch-cu124-index", "https://download.pytorch.org/whl/cu124/xformers/",
         (Whl("xformers", "0.0.28.post3", MANY, (), "download.pytorch.org/whl/cu124"),),
         ("xformers==0.0.28.post3",), "12.4", "550.54.14", 0, locked={"xformers": "12.4"}),
    Case("xformers-pypi-undetermined", "https://pypi.org/project/xformers/0.0.28.post3/",
         (Whl("xformers", "0.0.28.post3", MANY),), ("xformers==0.0.28.post3",), "12.4",
         "550.54.14", 1,
         ("mlenv cannot tell which CUDA xformers 0.0.28.post3 needs",
          '[cuda] unverified = ["xformers"]')),
    # bitsandbytes ships libcudaXY libraries for many CUDA releases in one wheel (read from
    # PyPI's wheels) and loads the one of torch.version.cuda: exactly (up to 0.49) or the
    # nearest of its major (0.50, cextension.get_cuda_bnb_library_path)
    Case("bitsandbytes-0.45-on-12", "https://pypi.org/project/bitsandbytes/0.45.0/#files",
         (Whl("bitsandbytes", "0.45.0", BNB),), ("bitsandbytes==0.45.0",), "12.4", "550.54.14",
         0, locked={"bitsandbytes": "11.x|12.x"}),
    Case("bitsandbytes-0.45-on-13", "https://pypi.org/project/bitsandbytes/0.45.0/#files",
         (Whl("bitsandbytes", "0.45.0", BNB),), ("bitsandbytes==0.45.0",), "13.0", "580.65.06",
         1, ("bitsandbytes 0.45.0 is built for CUDA 11.x|12.x, but the target is CUDA 13.0",
             "0.48 and later for CUDA 13")),
    Case("bitsandbytes-newest-for-13", "https://pypi.org/project/bitsandbytes/0.48.0/#files",
         (Whl("bitsandbytes", "0.47.0", BNB), Whl("bitsandbytes", "0.48.0", BNB)),
         ("bitsandbytes",), "13.0", "580.65.06", 0,
         locked={"bitsandbytes": "11.x|12.x|13.x"}),
    Case("bitsandbytes-0.46.0-beside-torch-cu129",
         "https://pypi.org/project/bitsandbytes/0.46.0/#files",
         (torch("2.8.0+cu129"), Whl("bitsandbytes", "0.46.0", BNB)),
         ("torch==2.8.0", "bitsandbytes==0.46.0"), "12.9", "575.51.03", 1,
         ("bitsandbytes 0.46.0 loads the library for the CUDA torch 2.8.0+cu129 is built for "
          "(12.9)", "ships a CUDA 12.9 library")),
    Case("bitsandbytes-0.50-beside-torch-cu129",
         "https://pypi.org/project/bitsandbytes/0.50.2/#files",
         (torch("2.8.0+cu129"), Whl("bitsandbytes", "0.50.2", BNB)),
         ("torch==2.8.0", "bitsandbytes==0.50.2"), "12.9", "575.51.03", 0,
         locked={"bitsandbytes": "11.x|12.x|13.x", "torch": "12.9"}),
    Case("bitsandbytes-read-though-listed-unverified",
         "https://pypi.org/project/bitsandbytes/0.45.0/#files",
         (Whl("bitsandbytes", "0.45.0", BNB),), ("bitsandbytes==0.45.0",), "12.4", "550.54.14",
         0, locked={"bitsandbytes": "11.x|12.x"}, extra='unverified = ["bitsandbytes"]\n',
         absent=("cuda-unverified",)),
    Case("bitsandbytes-unread-undetermined", "https://pypi.org/project/bitsandbytes/",
         (Whl("bitsandbytes", "0.51.0", BNB),), ("bitsandbytes==0.51.0",), "12.4",
         "550.54.14", 1, ("mlenv cannot tell which CUDA bitsandbytes 0.51.0 needs",)),
    Case("bitsandbytes-unread-unverified-warns", "https://pypi.org/project/bitsandbytes/",
         (Whl("bitsandbytes", "0.51.0", BNB),), ("bitsandbytes==0.51.0",), "12.4",
         "550.54.14", 0, ("cuda-unverified",), locked={"bitsandbytes": "unverified"},
         extra='unverified = ["bitsandbytes"]\n'),
    Case("rapids-cudf-cu12-on-13", RAPIDS,
         (Whl("cudf-cu12", "24.10.1", MANY, (), "pypi.nvidia.com"),), ("cudf-cu12==24.10.1",),
         "13.0", "580.65.06", 1,
         ("cudf-cu12 24.10.1 is built for CUDA 12.x, but the target is CUDA 13.0",)),
    Case("spconv-cu120-on-11", "https://pypi.org/project/spconv-cu120/",
         (Whl("spconv-cu120", "2.3.6", MANY),), ("spconv-cu120==2.3.6",), "11.8", "520.61.05",
         1, ("spconv-cu120 2.3.6 is built for CUDA 12.0, but the target is CUDA 11.8",)),
    # -- driver situations (verify --driver on a lock made for the floor) --------------------
    *(
        Case(f"driver-{driver}-cuda-{cuda}", TABLE3, (torch(f"{tv}+{cu}"),), (f"torch=={tv}",),
             cuda, floor, exit, reason, driver=driver)
        for cuda, floor, tv, cu, driver, exit, reason in [
            ("12.4", "550.54.14", "2.5.1", "cu124", "550.54.14", 0, ("OK: 0 error(s)",)),
            ("12.4", "550.54.14", "2.5.1", "cu124", "550.54.13", 1,
             ("driver-below-toolkit", "driver 550.54.13 (checked) is below 550.54.14, the "
              "minimum driver for CUDA 12.4; needed by torch 2.5.1+cu124", "target CUDA 12.3")),
            # minor-version compatibility would load it, but the image's NVIDIA_REQUIRE_CUDA
            # (cuda>=12.4) does not start on a 12.0 driver: mlenv's documented hard floor
            ("12.4", "550.54.14", "2.5.1", "cu124", "525.60.13", 1,
             ("driver 525.60.13 (checked) is below 550.54.14", "target CUDA 12.0")),
            ("12.4", "550.54.14", "2.5.1", "cu124", "535.104.05", 1,
             ("driver 535.104.05 (checked) is below 550.54.14", "target CUDA 12.2")),
            ("12.4", "550.54.14", "2.5.1", "cu124", "580.65.06", 0, ("OK: 0 error(s)",)),
            ("12.8", "570.26", "2.7.1", "cu128", "570.26", 0, ("OK: 0 error(s)",)),
            ("12.8", "570.26", "2.7.1", "cu128", "565.57.01", 1,
             ("driver 565.57.01 (checked) is below 570.26", "target CUDA 12.6")),
            ("12.8", "570.26", "2.7.1", "cu128", "550.54.15", 1,
             ("driver 550.54.15 (checked) is below 570.26", "target CUDA 12.4")),
            ("12.9", "575.51.03", "2.8.0", "cu129", "575.57.08", 0, ("OK: 0 error(s)",)),
            ("12.9", "575.51.03", "2.8.0", "cu129", "570.124.06", 1,
             ("driver 570.124.06 (checked) is below 575.51.03", "target CUDA 12.8")),
            ("13.0", "580.65.06", "2.9.0", "cu130", "580.65.06", 0, ("OK: 0 error(s)",)),
            ("13.0", "580.65.06", "2.9.0", "cu130", "590.44.01", 0, ("OK: 0 error(s)",)),
            # forward compatibility (cuda-compat-13-0 on a data-center 575) is not assumed
            ("13.0", "580.65.06", "2.9.0", "cu130", "575.57.08", 1,
             ("driver 575.57.08 (checked) is below 580.65.06", "minimum driver for CUDA 13.0")),
            ("13.0", "580.65.06", "2.9.0", "cu130", "580", 1,
             ("driver 580 (checked) is below 580.65.06",)),
            ("12.2", "535.54.03", "2.1.0", "cu121", "535.54.03", 0, ("OK: 0 error(s)",)),
            ("12.2", "535.54.03", "2.1.0", "cu121", "530.30.02", 1,
             ("driver 530.30.02 (checked) is below 535.54.03", "target CUDA 12.1")),
            ("12.4", "550.54.14", "2.5.1", "cu124", "550.54.14.0", 0, ("OK: 0 error(s)",)),
            ("11.8", "520.61.05", "2.5.1", "cu118", "520.61.05", 0, ("OK: 0 error(s)",)),
            ("11.8", "520.61.05", "2.5.1", "cu118", "470.82.01", 1,
             ("driver 470.82.01 (checked) is below 520.61.05", "target CUDA 11.4")),
            ("11.8", "520.61.05", "2.5.1", "cu118", "450.80.02", 1,
             ("driver 450.80.02 (checked) is below 520.61.05", "target CUDA 11.0")),
        ]
    ),
    # -- GPU architectures: [cuda] archs is judged when the manifest is read ----------------
    *(
        Case(f"arch-{arch}-cuda-{cuda}", source, (), (), cuda, floor, exit, reason,
             extra=f'archs = ["{arch}"]\n')
        for cuda, floor, arch, exit, reason, source in [
            ("13.0", "580.65.06", "sm_70", 1,
             ("CUDA 13.x does not support sm_70; its oldest architecture is sm_75",
              "target CUDA 12.x"), NVCC13),
            ("13.0", "580.65.06", "sm_61", 1, ("CUDA 13.x does not support sm_61",), NVCC13),
            ("13.0", "580.65.06", "sm_75", 0, (), NVCC13),
            ("13.0", "580.65.06", "sm_110", 0, (), NVCC13),
            ("13.0", "580.65.06", "sm_101", 1, ("CUDA 13.x has no sm_101",), NVCC13),
            ("12.4", "550.54.14", "sm_120", 1,
             ("sm_120 needs CUDA 12.8 or newer; the target is CUDA 12.4",), CUDA129),
            ("12.6", "560.28.03", "sm_100", 1, ("sm_100 needs CUDA 12.8 or newer",), CUDA129),
            ("12.8", "570.26", "sm_100", 0, (), CUDA129),
            ("12.8", "570.26", "sm_103", 1, ("sm_103 needs CUDA 12.9 or newer",), TABLE3),
            ("12.9", "575.51.03", "sm_121", 0, (), TABLE3),
            ("12.9", "575.51.03", "sm_110", 1, ("CUDA 12.x has no sm_110",), NVCC13),
            ("12.8", "570.26", "sm_100f", 1,
             ("sm_100f (an 'f' target) needs CUDA 12.9 or newer",), TABLE3),
            ("12.0", "525.60.13", "sm_90a", 0, (), TABLE3),
            ("12.4", "550.54.14", "sm_75a", 1, ("'sm_75a' is not a GPU architecture",), TABLE3),
            ("12.4", "550.54.14", "sm_35", 1,
             ("CUDA 12.x does not support sm_35", "target CUDA 11.x"), TABLE3),
            ("11.7", "515.43.04", "sm_89", 1, ("sm_89 needs CUDA 11.8 or newer",), TABLE3),
        ]
    ),
    Case("host-volta-on-cuda-13", NVCC13, (torch("2.9.0+cu130"),), ("torch==2.9.0",), "13.0",
         "580.65.06", 1, ("sm_70",), driver="580.65.06", gpu="7.0"),
    Case("host-hopper-on-cuda-13", NVCC13, (torch("2.9.0+cu130"),), ("torch==2.9.0",), "13.0",
         "580.65.06", 0, ("OK: 0 error(s)",), driver="580.65.06", gpu="9.0"),
    Case("host-blackwell-on-cuda-12.4", CUDA129, (torch("2.5.1+cu124"),), ("torch==2.5.1",),
         "12.4", "550.54.14", 1, ("sm_120",), driver="570.124.06", gpu="12.0"),
    # a cu126 build locked for a 12.4 fleet whose floor meets 12.6's driver: a 12.5 driver
    # runs the 12.4 toolkit but not the 12.6 build
    Case("driver-newer-minor-build-on-verify", TABLE3, (torch("2.6.0+cu126"),),
         ("torch==2.6.0",), "12.4", "560.28.03", 1,
         ("cuda-newer-minor", "torch 2.6.0+cu126 is built for CUDA 12.6, newer than the target "
          "CUDA 12.4; it needs driver 560.28.03 but the driver is 555.42.06 (checked)"),
         driver="555.42.06"),
    Case("driver-update-warning-on-verify", TOOLKIT.format("12.2.2"),
         (Whl("nvidia-cublas-cu12", "12.2.5.6", ANY),), ("nvidia-cublas-cu12==12.2.5.6",),
         "12.2", "535.104.05", 0,
         ("driver-minor-compat", "needs driver 535.104.05 (CUDA 12.2 Update 2)",
          "driver 535.86.10 (checked) runs it only under minor-version compatibility"),
         driver="535.86.10"),
    Case("driver-fullwidth-digits", TABLE3, (torch("2.5.1+cu124"),), ("torch==2.5.1",), "12.4",
         "550.54.14", 1, ("is not a driver version",), driver="\uff15\uff15\uff10.54.14"),
    Case("driver-empty", TABLE3, (torch("2.5.1+cu124"),), ("torch==2.5.1",), "12.4",
         "550.54.14", 1, ("'' is not a driver version",), driver=""),
]
# fmt: on


def _manifest(case: Case, indexes: list[str]) -> str:
    deps = ", ".join(f'"{dep}"' for dep in case.deps)
    extra = "".join(f'"{url}", ' for url in indexes[1:])
    return (
        f'[environment]\nname = "rw"\npython = "3.11"\n'
        f'[cuda]\nversion = "{case.cuda}"\ndriver-floor = "{case.floor}"\n{case.extra}'
        f'[pypi]\nindex-url = "{indexes[0]}"\nextra-index-urls = [{extra}]\n'
        f'index-strategy = "best-match"\ndependencies = [{deps}]\n'
    )


def _in_order(text: str, parts: tuple[str, ...]) -> None:
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, f"{part!r} not found after position {at} in:\n{text}"
        at = found + len(part)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_real_world_case(case: Case, tmp_path: Path) -> None:
    """The verdict and the reason for one real-world package or driver situation; before
    issue 13's fixes the cxx11.abi, PyG, with.pypi.cudnn and RAPIDS cases passed silently."""
    assert case.source.startswith("https://")
    feeds: dict[str, list[tuple[str, bytes]]] = {PYPI: [build_wheel("filelock", "3.20.0")]}
    for whl in case.wheels:
        wheel = build_wheel(whl.name, whl.version, requires_dist=whl.requires, tag=whl.tag)
        feeds.setdefault(whl.feed, []).append(wheel)
    indexes = [
        write_simple_index(tmp_path / "feeds" / feed, wheels) for feed, wheels in feeds.items()
    ]
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(_manifest(case, indexes))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_mlenv(["lock"], root, env)
    output = result.stdout + result.stderr
    if case.driver is not None or result.returncode == 0:
        # a lock that passes is verified too: at the floor (the finding codes) or a driver
        assert result.returncode == 0, result.stderr
        driver = [] if case.driver is None else ["--driver", case.driver]
        if case.gpu is not None and case.driver is not None:
            driver = ["--host"]
            env = {**env, "MLENV_DRIVER_VERSION": case.driver, "MLENV_GPU_COMPUTE_CAP": case.gpu}
        result = run_mlenv(["verify", *driver], root, env)
        output += result.stdout + result.stderr
    assert result.returncode == case.exit, output
    _in_order(output, case.reason)
    for part in case.absent:
        assert part not in output, output
    assert "Traceback" not in output
    if case.locked:
        lock = load_lock((root / "mlenv.lock").read_text())
        assert {p.name: p.cuda for _, p in lock.packages()} == case.locked
    elif case.exit != 0 and case.driver is None:
        assert not (root / "mlenv.lock").exists()


CONDA = "https://conda.anaconda.org/conda-forge/linux-64/"
PT = ("pytorch", "2.5.1")
# fmt: off
CONDA_CASES = [
    # (name and version, build, depends, target cuda, exit, reason, source)
    (PT, "cuda126_mkl_py312_h8bb5dc9_300", ("__cuda", "cuda-version >=12.6,<13"), "12.4", 1,
     ("pytorch 2.5.1 is built for CUDA 12.6, newer than the target CUDA 12.4",
      "needs driver 560.28.03"), CONDA),
    (PT, "cuda120_py311h0123456_300", ("__cuda >=12", "cuda-version >=12.0,<13"), "12.4", 0,
     ("OK: 0 error(s)",), CONDA),
    (PT, "cuda118_py311h0123456_300", ("cuda-version >=11.8,<12",), "12.4", 1,
     ("pytorch 2.5.1 is built for CUDA 11.8, but the target is CUDA 12.4",), CONDA),
    (PT, "py3.11_cuda12.1_cudnn8.9.2_0", ("pytorch-cuda 12.1.*",), "13.0", 1,
     ("pytorch 2.5.1 is built for CUDA 12.1, but the target is CUDA 13.0",),
     "https://anaconda.org/pytorch/pytorch/files"),
    (PT, "cuda1240_py311h0123456_0", (), "12.4", 1,
     ("a CUDA tag in a shape mlenv cannot read (cuda1240)",), CONDA),
    (("kvikio", "25.02.01"), "cuda12_py312_250227_g8fecf06_0", (), "13.0", 1,
     ("kvikio 25.02.01 is built for CUDA 12.x, but the target is CUDA 13.0",),
     "https://anaconda.org/rapidsai/kvikio/files"),
    (("kvikio", "25.02.01"), "cuda12_py312_250227_g8fecf06_0", (), "12.4", 0,
     ("OK: 0 error(s)",), "https://anaconda.org/rapidsai/kvikio/files"),
    (("cuda-version", "12.4"), "h3060b56_3", ("__cuda >=12",), "12.2", 1,
     ("cuda-version 12.4 is built for CUDA 12.4, newer than the target CUDA 12.2",
      "needs driver 550.54.14"), "https://anaconda.org/conda-forge/cuda-version/files"),
    (("cuda-version", "12.4"), "h3060b56_3", ("__cuda >=12",), "12.4", 0,
     ("OK: 0 error(s)",), "https://anaconda.org/conda-forge/cuda-version/files"),
    (("cupy", "13.3.0"), "py311h0123456_2", ("__cuda >=12", "cuda-version >=12,<13"), "13.0",
     1, ("cupy 13.3.0 is built for CUDA 12.x, but the target is CUDA 13.0",),
     "https://anaconda.org/conda-forge/cupy/files"),
    (("onnxruntime", "1.20.1"), "gpu_cuda124py312h05d824c_0", (), "12.4", 0,
     ("OK: 0 error(s)",), "https://anaconda.org/anaconda/onnxruntime/files"),
]
# fmt: on


@pytest.mark.parametrize(
    ("package", "build", "depends", "cuda", "exit", "reason", "source"),
    CONDA_CASES,
    ids=[f"{case[0][0]}-{case[1]}-on-{case[3]}" for case in CONDA_CASES],
)
def test_real_world_conda_build(
    package: tuple[str, str],
    build: str,
    depends: tuple[str, ...],
    cuda: str,
    exit: int,
    reason: tuple[str, ...],
    source: str,
    tmp_path: Path,
) -> None:
    """A conda build in the lock, judged by verify as lock judges it (build string cudaXYZ /
    cuda_X.Y, cuda-version, __cuda and pytorch-cuda depends, the cuda-version package)."""
    assert source.startswith("https://")
    name, version = package
    floors = {"12.2": "535.54.03", "12.4": "550.54.14", "13.0": "580.65.06"}
    root = tmp_path / "p"
    root.mkdir()
    text = (
        f'[environment]\nname = "t"\npython = "3.11"\n[cuda]\nversion = "{cuda}"\n'
        f'driver-floor = "{floors[cuda]}"\n'
        f'[conda]\nchannels = ["conda-forge"]\ndependencies = ["{name}"]\n'
    )
    (root / "mlenv.toml").write_text(text)
    filename = f"{name}-{version}-{build}.conda"
    record = conda_record(name, version, build, depends=depends)
    assert record.url == f"{CONDA}{filename}"
    manifest = load_manifest(text)
    target = dataclasses.replace(target_of(manifest), requires_driver=floors[cuda])
    platform = LockedPlatform("linux-64", (), conda_closed(record))
    lock = Lock(inputs_hash(manifest), target, (platform,))
    (root / "mlenv.lock").write_text(render(lock))
    result = run_mlenv(["verify"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    output = result.stdout + result.stderr
    assert result.returncode == exit, output
    _in_order(output, reason)
    assert "Traceback" not in output
