"""Seventeenth adversary pass: real PaddlePaddle and TensorFlow version strings against the
CUDA reading of ``cuda.json`` tag_patterns and ``gpu_packages.json``.

A GPU build is never passed with a wrong or missing CUDA need, a CPU build is never refused as
GPU, an unreadable code is a clear error. Each test names its input and its source of truth.
"""

from __future__ import annotations

import re

import pytest

from mlenv.cuda import packages as cudapkg
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError
from mlenv.index.http import HttpClient
from mlenv.index.remote import SimpleIndex
from mlenv.judge import verify_lock
from tests.support.locks import HASH, codes, locked, make_lock

pytestmark = pytest.mark.hostile

PYPI = "https://pypi.org/simple"
PADDLE = "https://www.paddlepaddle.org.cn/whl/linux/mkl/avx/stable.html"


def wheel(name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}-cp37-cp37m-manylinux1_x86_64.whl"


def label(name: str, version: str, index: str = PYPI) -> str | None:
    need = extract(name, version, wheel(name, version), index=index)
    return None if need is None else need.label


@pytest.mark.parametrize("name", ["tf-nightly", "tf-nightly-gpu"])
def test_tf_nightly_is_a_gpu_package_never_silently_cpu(name: str) -> None:
    """Input: tf-nightly 2.22.0.dev20260204 (on PyPI now), tf-nightly-gpu 2.12.0.dev20230201.
    Truth: tensorflow/docs pip.html 'tf-nightly - Preview build (unstable). Ubuntu and Windows
    include GPU support'; its CUDA moved with master (tensorflow#60691: 'The Tensorflow nightly
    moved to CUDA 12 a few days ago', 2023-09). Expected: no silent pass, cuda-undetermined."""
    version = "2.22.0.dev20260204" if name == "tf-nightly" else "2.12.0.dev20230201"
    assert label(name, version) is None
    assert cudapkg.undetermined(name, version, PYPI) is not None
    found = codes(verify_lock(make_lock([locked(name, version)]), HASH, None))
    assert ("error", "cuda-undetermined", name) in found
    assert cudapkg.family(name) == "tensorflow"


def test_tf_nightly_cpu_is_no_gpu_package() -> None:
    """Input: tf-nightly-cpu 2.12.0.dev20230201. Truth: the CPU-only nightly (as
    tensorflow-cpu). Expected: neither a CUDA need nor a refusal."""
    assert label("tf-nightly-cpu", "2.12.0.dev20230201") is None
    assert cudapkg.undetermined("tf-nightly-cpu", "2.12.0.dev20230201", PYPI) is None


@pytest.mark.parametrize(
    ("name", "version", "cuda"),
    [
        # PyPI holds tensorflow 2.15.0rc0/rc1 wheels; 2.15 is CUDA 12 (source.md tested builds)
        ("tensorflow", "2.15.0rc1", "12.x"),
        ("tensorflow", "2.5.0rc0", "11.x"),
        ("tensorflow", "2.4.0rc0", "11.0"),
        ("tensorflow", "2.1.0rc0", "10.1"),
        ("tensorflow-gpu", "2.1.0rc0", "10.1"),
        ("tensorflow-gpu", "2.0.0b1", "10.0"),
        ("tensorflow-gpu", "1.13.0rc0", "10.0"),
        ("tensorflow-gpu", "1.5.0rc0", "9.0"),
    ],
)
def test_a_tensorflow_release_candidate_has_its_release_cuda(
    name: str, version: str, cuda: str
) -> None:
    """Input: TensorFlow pre-releases at a row's lower bound. Truth: an X.Y rc is built like
    X.Y (tensorflow#48423: 'TensorFlow pip packages are now built with CUDA11.2 ... now that we
    have a pip RC'). Expected: X.Y's CUDA, not cuda-undetermined (`>=2.15` excludes 2.15.0rc1)."""
    assert label(name, version) == cuda


@pytest.mark.parametrize("version", ["2.0.0a0", "2.0.0b0", "2.0.0b1", "1.14.0rc1"])
def test_a_cpu_only_tensorflow_pre_release_is_never_refused_as_gpu(version: str) -> None:
    """Input: tensorflow 2.0.0a0/b0/b1 (the GPU 2.0 previews were tensorflow-gpu). Truth:
    RELEASE.md 2.1.0 'The tensorflow pip package now includes GPU support by default'.
    Expected: no CUDA need and no cuda-undetermined (`<2.0` and `>=2.0` both excluded them)."""
    assert label("tensorflow", version) is None
    assert cudapkg.undetermined("tensorflow", version, PYPI) is None


def test_paddle_0_11_post8_is_cuda_8_0() -> None:
    """Input: paddlepaddle-gpu==0.11.0.post8. Truth: PaddlePaddle/docs pip_install_en.rst
    (2018) '0.11.0.post8  0.11.0 built with CUDA 8.0 and cuDNN 5'. Expected: CUDA 8.0."""
    assert label("paddlepaddle-gpu", "0.11.0.post8", PADDLE) == "8.0"


@pytest.mark.parametrize(
    ("version", "index", "cuda"),
    [
        ("3.0.0", "https://www.paddlepaddle.org.cn/packages/stable/cu126/", "12.6"),
        ("2.6.2", "https://www.paddlepaddle.org.cn/packages/stable/cu118/", "11.8"),
        ("2.6.2", "https://www.paddlepaddle.org.cn/packages/stable/cu123/", "12.3"),
        ("3.1.0.dev20250601", "https://www.paddlepaddle.org.cn/packages/nightly/cu129/", "12.9"),
    ],
)
def test_paddle_cuda_index_as_mlenv_records_it(version: str, index: str, cuda: str) -> None:
    """Input: paddlepaddle-gpu from Paddle's documented index, `-i .../packages/stable/cu126/`.
    Truth: PaddlePaddle/docs linux-pip_en.md ('If you are using CUDA 11.8: pip install
    paddlepaddle-gpu==3.0.0b1 -i .../packages/stable/cu118/'). mlenv records the index without
    its trailing slash (SimpleIndex.url), which the table's `cu126/` never matched (the
    functional test's file index ends in /simple). Expected: the index's CUDA."""
    recorded = SimpleIndex(index, http=HttpClient()).url
    assert not recorded.endswith("/")
    assert label("paddlepaddle-gpu", version, recorded) == cuda


@pytest.mark.parametrize("requirement", ["nvidia-cublas==11.5.1.101", "nvidia-cufft==10.4.2.58"])
def test_an_ngc_cuda_11_library_is_never_read_as_cuda_13(requirement: str) -> None:
    """Input: nvidia-tensorflow 1.15.5+nv21.x from pypi.ngc.nvidia.com (nvidia-pyindex), whose
    environments hold unsuffixed `nvidia-cublas==11.5.1.101`, `nvidia-cuda-runtime==11.3.58`.
    Truth: cuBLAS 11.x / cuFFT 10.x are CUDA 11 libraries; PyPI's unsuffixed CUDA 13 wheels
    start at the cuda-toolkit 13.0.0 pins (cuBLAS 13.0.0.19). Expected: never a CUDA 13 need;
    a version no toolkit pin names is a clear error naming it, not a guess."""
    name, version = requirement.split("==")
    with pytest.raises(CudaError, match=re.escape(requirement)):
        extract("nvidia-tensorflow", "1.15.5+nv21.5", "", [requirement])
    with pytest.raises(CudaError, match="names no CUDA release"):
        extract(name, version, wheel(name, version))


def test_an_unsuffixed_cuda_11_8_library_reads_as_11_8() -> None:
    """Input: unsuffixed `nvidia-cublas==11.11.3.6`. Truth: cuda-toolkit 11.8.0 pins cuBLAS
    11.11.3.6. Expected: CUDA 11.8 (the pin's toolkit), not 13.x."""
    need = extract("x", "1", "", ["nvidia-cublas==11.11.3.6"])
    assert need is not None and need.label == "11.8"
