"""Adversary pass 121: every version of NVIDIA's CUDA wheels as PyPI publishes them, traced.

``fixtures/pypi_cuda/nvidia_wheels.json`` holds, as read from PyPI on 2026-12-06, the release
list of 124 CUDA distributions (1,649 versions: every nvidia-<component>[-cu11/-cu12/-cu13]
toolkit wheel, cuDNN, NCCL, cuSPARSELt, NVSHMEM, cuda-toolkit, cuda-python, cuda-bindings,
cuda-core, cupy-cuda11x/12x/13x, jax-cuda11/12/13 plugin and pjrt, tensorrt and its -cuNN
libs) and the exact pins of all 42 ``cuda-toolkit`` metapackage wheels (711 component
versions, each tied to its toolkit release). Expected drivers are Table 3's ("CUDA Toolkit and
Corresponding Driver Versions", CUDA Toolkit Release Notes), typed here, never computed.

Findings this file pins:

- NVIDIA reserves names with empty "Zero version placeholder" uploads: ``nvidia-cudnn-cu13
  0.0.0a0``, ``nvidia-nccl-cu13 0.0.0a0``, ``nvidia-nvshmem-cu13 0.0.0a0``, ``tensorrt-cu13
  0.0.0a0`` (wheels of ~1 kB, pyproject "Zero version placeholder for nvidia-cudnn-cu13"),
  ``nvidia-cusparselt-cu12 0.0.1.dev1`` ("A placeholder package to hold the name"),
  ``jax-cuda13-plugin 0.0.1rc0``, and the NGC-redirect sdists ``nvidia-cudnn-cu12
  0.0.1.dev5`` / ``nvidia-nccl-cu11 0.0.1.dev5``. mlenv refused the toolkit components'
  placeholders (``nvidia-cublas 0.0.0a0``) but passed these as real "CUDA 13.x" cuDNN, NCCL,
  TensorRT and JAX builds: an image with no cuDNN in it, judged runnable.
- ``nvidia-cuda-sanitizer-api-cu11 11.7.91`` is CUDA 11.7 Update 1's (NVIDIA's
  redistrib_11.7.1.json, cuda_sanitizer_api "11.7.91"), but mlenv knew no 11.7 row of the
  component and gave it the 11.7 GA's driver, 515.43.04, instead of Update 1's 515.48.07.
- PyPI's torch 2.1.1 .. 2.10.0 wheels for aarch64 are CPU-only (no libtorch_cuda.so among
  their ~12,000 members; 84-146 MB against the x86_64 wheel's 670 MB) yet carry the x86_64
  wheel's Requires-Dist, ``nvidia-cuda-nvrtc-cu12==12.8.93; platform_system == "Linux" and
  platform_machine == "x86_64"``. mlenv read those lines whatever their marker, so it locked
  the aarch64 CPU build as "CUDA 12.8" (driver floor 570.124.06), and a CUDA fleet that asked
  for torch took the CPU build silently, past the CPU-fallback check. torch 2.11.0's aarch64
  wheel (libtorch_cuda.so, ``cuda-toolkit[...]==13.0.2; platform_system == "Linux"``) is CUDA.
- ``nvidia-nvimgcodec-cu12-stubs 0.5.0.13.7`` (a 22 kB py3-none-any wheel, "Type stubs for
  NVIDIA NVIMGCODEC CUDA 12 bindings", Requires-Dist ``nvidia-nvimgcodec-cu12[all]``) was
  refused as "a CUDA tag in a shape mlenv cannot read (cu12)": a valid lock refused.
- DALI's nightly and weekly builds (``nvidia-dali-nightly-cuda120``, "NVIDIA DALI nightly for
  CUDA 12.0"; ``nvidia-dali-weekly-cuda130``, "... weekly for CUDA 13.0") were refused the
  same way, while the release name ``nvidia-dali-cuda120`` reads CUDA 12.0; so were
  TensorRT-RTX's ``tensorrt-rtx-cu12-libs`` / ``-bindings`` 1.7.1.116 (real 89 MB wheels),
  where ``tensorrt-cu12-libs`` reads CUDA 12.x; and NVIDIA's nvFuser wheels
  (``nvfuser-cu128-torch28``, "A Fusion Code Generator for NVIDIA GPUs", github.com/NVIDIA/
  Fuser), whose name holds the CUDA (cu128) before the torch it is built against.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from mlenv.cuda.required import package_driver
from mlenv.cuda.rules import PackageNeed
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

ROOT = Path(__file__).resolve().parents[2]
PYPI: dict[str, Any] = json.loads(
    (ROOT / "fixtures" / "pypi_cuda" / "nvidia_wheels.json").read_text(encoding="utf-8")
)

# Table 3 (Linux), from the release notes.
UPDATE_11_7_1 = "515.48.07"
UPDATE_12_8_1 = "570.124.06"


def _release(text: str) -> str:
    """A toolkit release without trailing zero parts: cuda-toolkit 12.8.2.0 is CUDA 12.8.2."""
    parts = list(Version(text).release)
    while len(parts) > 3 and parts[-1] == 0:
        parts.pop()
    return ".".join(map(str, parts))


def _first_pins() -> dict[tuple[str, str], str]:
    """(distribution, version) -> the first toolkit release whose metapackage pins it exactly."""
    first: dict[tuple[str, str], str] = {}
    for release in sorted(PYPI["toolkit_pins"], key=Version):
        if Version(release).is_prerelease:
            continue
        for dist, version in PYPI["toolkit_pins"][release].items():
            if version[0].isdigit():  # an exact pin; ranges are kept as written
                first.setdefault((dist, version), _release(release))
    return first


FIRST_PINS = _first_pins()


def test_the_fixture_holds_every_toolkit_release_and_distribution() -> None:
    assert len(PYPI["toolkit_pins"]) == 42 and len(PYPI["versions"]) == 124
    assert sum(map(len, PYPI["versions"].values())) == 1649
    assert len(FIRST_PINS) == 711


@pytest.mark.parametrize(
    ("dist", "version", "release"),
    [(d, v, r) for (d, v), r in sorted(FIRST_PINS.items()) if d != "nvidia-nvjitlink"],
)
def test_every_toolkit_pin_traces_to_the_release_that_pinned_it(
    dist: str, version: str, release: str
) -> None:
    """Guards the table: each component version a cuda-toolkit wheel pins is that toolkit
    release's (the first one, when several updates ship it). The unsuffixed nvidia-nvjitlink
    fixes only the major (cuda-toolkit 13.0.3.0 on admits any CUDA 13 nvJitLink)."""
    need = extract(dist, version)
    assert need is not None
    assert str(need.cuda) == ".".join(release.split(".")[:2])
    assert need.release is not None and _release(need.release) == release


def _expected_major(dist: str, version: str) -> int | None:
    """The CUDA major a distribution's name (or, for cuda-toolkit / cuda-bindings /
    cuda-python, its version) fixes; None for those that claim no CUDA of their own."""
    if dist in ("cuda-core", "tensorrt", "tensorrt-libs", "nvidia-cudnn", "nvidia-nccl"):
        return None
    if dist in ("cuda-toolkit", "cuda-bindings", "cuda-python"):
        return Version(version).major
    suffix = re.search(r"(?:-cu|cupy-cuda|jax-cuda)(1[123])(?:x|-|$)", dist)
    return int(suffix[1]) if suffix else 13  # unsuffixed nvidia-* wheels are CUDA 13's


def _placeholder(version: str) -> bool:
    return Version(version).release[:2] == (0, 0)


@pytest.mark.parametrize("dist", sorted(PYPI["versions"]))
def test_every_published_version_reads_its_major_or_is_refused_as_a_placeholder(
    dist: str,
) -> None:
    """No version crashes the reading; a 0.0.x upload of a distribution that claims a CUDA is
    refused as the name's placeholder (or read as the stub of the real name), every other
    version reads the major its name fixes."""
    wrong = []
    for version in PYPI["versions"][dist]:
        major = _expected_major(dist, version)
        if major is not None and _placeholder(version):
            try:  # refused here, or a stub naming the real package (nvidia-cublas-cu13)
                stub = extract(dist, version)
            except CudaError as exc:
                assert "placeholder" in exc.message
                continue
            if stub is None or stub.stub is None:
                wrong.append(f"{version}: placeholder read as {stub and stub.label}")
            continue
        need = extract(dist, version)
        got = None if need is None else need.cuda.major
        if got != major:
            wrong.append(f"{version}: {got}")
    assert not wrong, f"{dist} read as another CUDA major: {wrong}"


# The uploads that reserve a name, from PyPI (file, size in bytes, what it says).
PLACEHOLDERS = [
    ("nvidia-cudnn-cu13", "0.0.0a0"),  # nvidia_cudnn_cu13-0.0.0a0-py2.py3-none-any.whl, 1102
    ("nvidia-nccl-cu13", "0.0.0a0"),
    ("nvidia-nvshmem-cu13", "0.0.0a0"),
    ("nvidia-cusparselt-cu13", "0.0.0a0"),
    ("nvidia-cusparselt-cu12", "0.0.1.dev1"),  # "A placeholder package to hold the name"
    ("tensorrt-cu13", "0.0.0a0"),  # "Zero version placeholder for tensorrt-cu13", 1063
    ("jax-cuda13-plugin", "0.0.1rc0"),  # jax_cuda13_plugin-0.0.1rc0-py3-none-any.whl, 1116
    ("jax-cuda13-pjrt", "0.0.1rc0"),
    ("nvidia-cudnn-cu12", "0.0.1.dev5"),  # nvidia-cudnn-cu12-0.0.1.dev5.tar.gz, 4274
    ("nvidia-cudnn-cu11", "0.0.1.dev5"),
    ("nvidia-nccl-cu12", "0.0.1.dev5"),
    ("nvidia-nccl-cu11", "0.0.1.dev5"),
]


@pytest.mark.parametrize(("dist", "version"), PLACEHOLDERS)
def test_a_name_placeholder_of_an_nvidia_library_is_no_cuda_build(dist: str, version: str) -> None:
    """Before: "CUDA 13.x" (or 12.x, 11.x), judged runnable on a fleet of that major."""
    assert version in PYPI["versions"][dist]
    with pytest.raises(CudaError, match=rf"'{re.escape(dist)} {re.escape(version)}' is a plac"):
        extract(dist, version)


@pytest.mark.parametrize(
    ("dist", "version", "major"),
    [
        ("nvidia-cusparselt-cu12", "0.6.2", 12),  # cuSPARSELt's real versions are 0.x
        ("nvidia-cusparselt-cu13", "0.8.1.post1", 13),
        ("nvidia-cudnn-cu13", "9.12.0.46", 13),
        ("jax-cuda13-plugin", "0.7.2", 13),
        ("tensorrt-cu13", "10.13.2.6", 13),
        ("cuda-core", "0.1.1", None),
    ],
)
def test_real_zero_x_releases_still_read(dist: str, version: str, major: int | None) -> None:
    need = extract(dist, version)
    assert (None if need is None else need.cuda.major) == major


def test_sanitizer_api_11_7_91_is_cuda_11_7_update_1() -> None:
    """redistrib_11.7.1.json: cuda_sanitizer_api 11.7.91 (Table 3 11.7.1: 515.48.07); before,
    "CUDA 11.7" with the GA's 515.43.04."""
    need = extract("nvidia-cuda-sanitizer-api-cu11", "11.7.91")
    assert need is not None and need.release == "11.7.1"
    found = package_driver(PackageNeed("nvidia-cuda-sanitizer-api-cu11", "11.7.91", need))
    assert found is not None and str(found[0]) == UPDATE_11_7_1


# torch 2.9.0's Requires-Dist, identical in its x86_64 and aarch64 wheels (PEP 658 METADATA of
# torch-2.9.0-cp314-cp314-manylinux_2_28_{x86_64,aarch64}.whl on PyPI), CUDA lines only.
X86 = 'platform_system == "Linux" and platform_machine == "x86_64"'
TORCH_2_9_0 = tuple(
    f"{pin}; {X86}"
    for pin in (
        "nvidia-cuda-nvrtc-cu12==12.8.93",
        "nvidia-cuda-runtime-cu12==12.8.90",
        "nvidia-cuda-cupti-cu12==12.8.90",
        "nvidia-cudnn-cu12==9.10.2.21",
        "nvidia-cublas-cu12==12.8.4.1",
        "nvidia-cufft-cu12==11.3.3.83",
        "nvidia-nccl-cu12==2.27.5",
        "nvidia-nvjitlink-cu12==12.8.93",
    )
)
# torch 2.11.0 (torch-2.11.0-cp314-cp314-manylinux_2_28_aarch64.whl holds libtorch_cuda.so)
LINUX = 'platform_system == "Linux"'
TORCH_2_11_0 = (
    f"cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,"
    f"nvtx]==13.0.2; {LINUX}",
    f"cuda-bindings<14,>=13.0.3; {LINUX}",
    f"nvidia-cudnn-cu13==9.19.0.56; {LINUX}",
)


def _markers(platform: str) -> dict[str, str]:
    return Target(platform, "3.14").markers


def test_torch_reads_its_cuda_only_from_requirements_that_hold_on_the_target() -> None:
    x86 = extract(
        "torch",
        "2.9.0",
        "torch-2.9.0-cp314-cp314-manylinux_2_28_x86_64.whl",
        TORCH_2_9_0,
        markers=_markers("linux-64"),
    )
    assert x86 is not None and (str(x86.cuda), x86.release) == ("12.8", "12.8.1")
    arm = extract(
        "torch",
        "2.9.0",
        "torch-2.9.0-cp314-cp314-manylinux_2_28_aarch64.whl",
        TORCH_2_9_0,
        markers=_markers("linux-aarch64"),
    )
    assert arm is None  # the CPU-only aarch64 wheel
    cuda13 = extract(
        "torch",
        "2.11.0",
        "torch-2.11.0-cp314-cp314-manylinux_2_28_aarch64.whl",
        TORCH_2_11_0,
        markers=_markers("linux-aarch64"),
    )
    assert cuda13 is not None and (str(cuda13.cuda), cuda13.release) == ("13.0", "13.0.2")


AARCH64 = "cp311-cp311-manylinux_2_28_aarch64"


def _lock(tmp_path: Path, wheels: dict[str, list[tuple[str, bytes]]]) -> tuple[int, str, Path]:
    indexes = [write_simple_index(tmp_path / "feeds" / feed, w) for feed, w in wheels.items()]
    root = tmp_path / "p"
    root.mkdir()
    extra = "".join(f'"{url}", ' for url in indexes[1:])
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "a"\npython = "3.11"\nplatforms = ["linux-aarch64"]\n'
        f'[cuda]\nversion = "12.8"\ndriver-floor = "{UPDATE_12_8_1}"\n'
        f'[pypi]\nindex-url = "{indexes[0]}"\nextra-index-urls = [{extra}]\n'
        'index-strategy = "best-match"\ndependencies = ["torch==2.9.0"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    return result.returncode, result.stdout + result.stderr, root


def test_an_aarch64_fleet_never_takes_pypis_cpu_torch_as_a_cuda_build(tmp_path: Path) -> None:
    """PyTorch's aarch64 +cu129 build needs 575.51.03 (Table 3 12.9 GA), above the fleet's
    floor, so it is refused; PyPI's torch 2.9.0 for aarch64 is what is left, a CPU build.
    Before: read as "CUDA 12.8" from its x86_64-only Requires-Dist and locked silently."""
    pypi = [
        build_wheel("torch", "2.9.0", requires_dist=("filelock", *TORCH_2_9_0), tag=AARCH64),
        build_wheel("filelock", "3.20.0"),
    ]
    cu129 = [build_wheel("torch", "2.9.0+cu129", requires_dist=("filelock",), tag=AARCH64)]
    feeds = {"pypi.org": pypi, "download.pytorch.org/whl/cu129": cu129}
    code, output, root = _lock(tmp_path, feeds)
    assert code != 0, output
    assert "torch 2.9.0 (torch-2.9.0-cp311-cp311-manylinux_2_28_aarch64.whl) is a CPU-only" in (
        output
    )
    assert "refused 2.9.0+cu129" in output and "Traceback" not in output
    assert not (root / "mlenv.lock").exists()


@pytest.mark.parametrize(
    ("dist", "version", "label"),
    [  # each from https://pypi.org/pypi/<dist>/json
        ("nvidia-nvimgcodec-cu12-stubs", "0.5.0.13.7", "12.x"),
        ("nvidia-nvimgcodec-cu11-stubs", "0.5.0.13.7", "11.x"),
        ("nvidia-dali-nightly-cuda120", "2.5.0.dev20261016", "12.0"),
        ("nvidia-dali-weekly-cuda130", "2.3.0.dev20260726", "13.0"),
        ("tensorrt-rtx-cu12-libs", "1.7.1.116", "12.x"),  # an 89 MB manylinux_2_28_x86_64 wheel
        ("tensorrt-rtx-cu13-bindings", "1.7.1.116", "13.x"),
        ("nvfuser-cu128-torch28", "0.2.34.dev20251001", "12.8"),  # NVIDIA/Fuser, 8.9 MB wheel
        ("nvfuser-cu130-torch29", "0.2.35.dev20260115", "13.0"),
    ],
)
def test_nvidia_names_beside_the_release_names_read_their_cuda(
    dist: str, version: str, label: str
) -> None:
    """Before: "has a CUDA tag in a shape mlenv cannot read", a refusal of a valid lock."""
    need = extract(dist, version)
    assert need is not None and need.label == label
