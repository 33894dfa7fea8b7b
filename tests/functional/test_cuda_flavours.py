"""Side-by-side CUDA flavours (``mlenv.cuda.flavours``): ``nvidia-cutlass-dsl`` from 4.6 always
installs ``-libs-cu12`` and, with ``[cu13]``, ``-libs-cu13`` beside it; ``-libs-base`` loads the
newest flavour the driver runs. The wheels carry the real Requires-Dist of PyPI's releases
(https://pypi.org/project/nvidia-cutlass-dsl/4.8.1/, 4.5.3; vllm 0.34.0 pins
``nvidia-cutlass-dsl[cu13]==4.8.0``). Before, a CUDA 13 fleet walked ``[cu13]`` back to 4.5.3
and could not lock vllm 0.30 or later at all: the unconditional ``-libs-cu12`` line was read
as a CUDA 12 build of the parent, and the cu12 flavour refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

LIBS = "py3-none-manylinux_2_28_x86_64"
FLOORS = {"12.8": "570.26", "13.0": "580.65.06"}


def _cutlass(version: str) -> list[tuple[str, bytes]]:
    base = f"nvidia-cutlass-dsl-libs-base=={version}"
    cu13 = f'nvidia-cutlass-dsl-libs-cu13=={version}; extra == "cu13"'
    side_by_side = version >= "4.6"
    cu12 = [f"nvidia-cutlass-dsl-libs-cu12=={version}"] if side_by_side else []
    parent = [base, *cu12, cu13]
    wheels = [
        build_wheel("nvidia-cutlass-dsl", version, requires_dist=parent, provides_extra=["cu13"]),
        build_wheel(
            "nvidia-cutlass-dsl-libs-base", version, requires_dist=["cuda-bindings>=12.8"], tag=LIBS
        ),
        build_wheel("nvidia-cutlass-dsl-libs-cu13", version, tag=LIBS),
    ]
    if side_by_side:
        wheels.append(build_wheel("nvidia-cutlass-dsl-libs-cu12", version, tag=LIBS))
    return wheels


def _lock(tmp_path: Path, cuda: str, dependency: str) -> tuple[int, str, dict[str, str]]:
    wheels = [
        *_cutlass("4.5.3"),
        *_cutlass("4.8.0"),
        *_cutlass("4.8.1"),
        build_wheel("cuda-bindings", "12.9.4", tag="cp311-cp311-manylinux_2_28_x86_64"),
        build_wheel("cuda-bindings", "13.0.3", tag="cp311-cp311-manylinux_2_28_x86_64"),
        build_wheel("servelike", "0.34.0", requires_dist=["nvidia-cutlass-dsl[cu13]==4.8.0"]),
        # nvidia-cudnn-frontend 1.32.0 asks for [cu13] on every Linux, 1.18.0 for no flavour
        build_wheel("frontendlike", "1.18.0", requires_dist=["nvidia-cutlass-dsl>=4.4"]),
        build_wheel("frontendlike", "1.32.0", requires_dist=["nvidia-cutlass-dsl[cu13]>=4.8.0"]),
    ]
    index = write_simple_index(tmp_path / "feeds" / "pypi.org", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "gpu"\npython = "3.11"\nglibc = "2.28"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{FLOORS[cuda]}"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["{dependency}"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    pins: dict[str, str] = {}
    if result.returncode == 0:
        lock = load_lock((root / "mlenv.lock").read_text())
        pins = {p.name: p.version for p in lock.platforms[0].packages}
    return result.returncode, result.stderr, pins


@pytest.mark.parametrize("dependency", ["nvidia-cutlass-dsl[cu13]", "servelike"])
def test_cuda_13_locks_the_newest_release_with_both_flavours(
    tmp_path: Path, dependency: str
) -> None:
    """NVIDIA's CUDA 13 install, asked for directly or pinned by a framework (vllm's shape)."""
    code, stderr, pins = _lock(tmp_path, "13.0", dependency)
    assert code == 0, stderr
    version = "4.8.1" if dependency.startswith("nvidia") else "4.8.0"
    assert pins["nvidia-cutlass-dsl"] == version
    assert pins["nvidia-cutlass-dsl-libs-cu12"] == pins["nvidia-cutlass-dsl-libs-cu13"] == version
    assert pins["cuda-bindings"] == "13.0.3"


def test_cuda_13_without_the_cu13_flavour_is_refused_naming_the_extra(tmp_path: Path) -> None:
    """Plain ``nvidia-cutlass-dsl`` installs only the cu12 flavour, which is what a CUDA 13
    driver would then load: refused, saying what to ask for (before: a silent 4.5.3)."""
    code, stderr, _ = _lock(tmp_path, "13.0", "nvidia-cutlass-dsl")
    assert code == 1
    assert "nvidia-cutlass-dsl-libs-cu12 4.8.1 is the CUDA 12.x flavour" in stderr
    assert "nvidia-cutlass-dsl-libs-cu13 4.8.1 is not locked beside it" in stderr
    assert '"nvidia-cutlass-dsl[cu13]"' in stderr


def test_cuda_12_takes_the_cu12_flavour_alone(tmp_path: Path) -> None:
    code, stderr, pins = _lock(tmp_path, "12.8", "nvidia-cutlass-dsl")
    assert code == 0, stderr
    assert pins["nvidia-cutlass-dsl"] == "4.8.1"
    assert "nvidia-cutlass-dsl-libs-cu13" not in pins


def test_cuda_12_refuses_a_cu13_flavour_even_beside_its_own(tmp_path: Path) -> None:
    """A newer major's flavour is what a newer driver would load on a CUDA 12 fleet."""
    code, stderr, _ = _lock(tmp_path, "12.8", "nvidia-cutlass-dsl[cu13]")
    assert code == 1
    assert "nvidia-cutlass-dsl-libs-cu13 4.8.1 is built for CUDA 13.x" in stderr


def test_cuda_12_walks_back_past_a_requirer_of_the_cu13_flavour(tmp_path: Path) -> None:
    """sglang 0.5.10 on CUDA 12.8 (round 2 against PyPI): nvidia-cudnn-frontend 1.32.0 asks for
    ``nvidia-cutlass-dsl[cu13]``. The resolver took it and the lock then failed, saying the
    cu12 flavour was not locked beside it (it was) and to ask for a ``[cu12]`` extra that does
    not exist; the resolver now refuses the cu13 flavour and takes the requirer's older release."""
    code, stderr, pins = _lock(tmp_path, "12.8", "frontendlike")
    assert code == 0, stderr
    assert pins["frontendlike"] == "1.18.0"
    assert pins["nvidia-cutlass-dsl"] == pins["nvidia-cutlass-dsl-libs-cu12"] == "4.8.1"
    assert "nvidia-cutlass-dsl-libs-cu13" not in pins
