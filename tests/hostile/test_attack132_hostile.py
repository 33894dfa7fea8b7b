"""Adversary pass 132: conda CUDA packages exactly as conda-forge and NVIDIA's channel publish
them, locked through the CLI on a local channel.

Expected values come from the records themselves and from shared/reference/cuda.md, never
from mlenv's output: §1 (Table 3, Linux column), §2 (a driver runs older toolkits' builds),
§4 and §8.11 (``__cuda`` is the newest CUDA the driver supports; ``cuda-version`` pins the
toolkit; conda ``constrains`` on a package bind only when that package is installed).

Findings pinned here:

1. ``constrains`` with an open toolkit floor made CPU packages CUDA builds. conda-forge's
   numba (numba-feedstock ``recipe/recipe.yaml``, ``run_constraints``: ``cuda-version
   >=11.2``, ``cudatoolkit >=11.2``, ``cuda-python >=11.6``) and Open MPI (openmpi-feedstock:
   4.1.1 ``cudatoolkit >=9.2``, 4.1.5 ``cudatoolkit >=11.2``, 4.1.6+ ``__cuda >=12.0`` and
   ``cuda-version >=12.0``) say "a CUDA toolkit, if one is installed, is at least X"; no build
   of theirs needs CUDA, and every newer toolkit meets the floor. mlenv read numba as "built
   for CUDA 11.2" and refused it for a CUDA 12.4 target ("use a CUDA 12 build of numba"), wrote
   ``cuda = "11.2"`` into CUDA 11.8 locks, warned that a manifest without [cuda] "holds CUDA
   builds (numba (CUDA 11.2))", and refused Open MPI 5 for a CUDA 13.0 target, though rattler
   solves every one of them.
2. A package whose ``cuda-version`` range leaves the target out (conda-forge pytorch
   ``cuda126_*`` depends ``cuda-version >=12.6,<13``, for a CUDA 12.4 or 13.0 target) was
   refused with "no cuda-version package in the channels matches CUDA 12.4" and the hint to
   "use channels that publish cuda-version 12.4", while the channel did publish it: the
   package's range, not the channel, is what leaves the target out, and the headline did not
   name the package or its constraint.
3. A ``__cuda`` range with an upper bound (``__cuda >=11.8,<13.a0``, ``__cuda >=12.8,<13``,
   the legacy ``constrains: __cuda <12``) under a driver that supports a CUDA above it was
   rightly refused, with the hint to "raise [cuda] version to satisfy __cuda >=11.8,<13.a0"
   (the target was already above it), or, for a 12.6 target on a 580 floor, to "raise [cuda]
   driver-floor". ``__cuda`` is the driver's CUDA (cuda.md §4), and the fleet's drivers do not
   get older when the manifest does: no target or floor at or above this one meets a cap, so
   the hint now says so and asks for another build.
4. NVIDIA's own channel publishes its split CUDA libraries with no depends at all
   (``nvidia::libnpp 12.0.2.50 0``, ``libnvjpeg 12.1.1.14 0``, ``libnvfatbin 12.4.127 0``, as
   a public pixi.lock of nvidia-channel records shows), and mlenv read no CUDA from them: a
   CUDA 12.1 NPP locked into a CUDA 11.8 environment on a 520 driver without a word. NVIDIA's
   cuda-toolkit 12.1.0 pins nvidia-npp-cu12 12.0.2.50 (shared/reference/cuda_matrix.json),
   and conda-forge builds these packages from NVIDIA's redist archive of that very version
   (libnpp, libnvjpeg, libnvfatbin, cuda-nvtx feedstocks), so they are read as the wheels of
   the same version, as cuda-cudart already was (cuda-nvtx was read by its name pattern
   already; now to its update too).
5. The pytorch channel names its torchvision and torchaudio CUDA builds ``py312_cu121``
   (``pytorch::torchvision-0.20.1-py312_cu121``, ``torchvision-0.9.0-py37_cu102``,
   ``torchvision-0.7.0-py36_cu92``; CPU builds ``py310_cpu``). mlenv refused every lock holding
   one: "'build py311_cu121' has a CUDA tag in a shape mlenv cannot read (cu121)". ``cuXYZ`` is
   read as PyTorch's wheel tags are (cuda.md §8.1: cu92 is 9.2, cu121 12.1).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract_conda
from mlenv.cuda.versions import CudaVersion, DriverVersion
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.conda_project import channel_packages

pytestmark = pytest.mark.hostile

# cuda.md §1, Table 3, Linux column (GA rows).
T3 = {"11.8": "520.61.05", "12.0": "525.60.13", "12.4": "550.54.14", "12.6": "560.28.03"}
T3 |= {"12.8": "570.26", "13.0": "580.65.06"}

# numba-feedstock recipe/recipe.yaml run_constraints, as the record's constrains.
NUMBA_CONSTRAINS = [
    "cuda-version >=11.2",
    "cudatoolkit >=11.2",
    "scipy >=1.0",
    "cuda-python >=11.6",
    "tbb >=2021.6.0",
    "libopenblas !=0.3.6",
]
# openmpi-feedstock: meta.yaml of 4.1.1 and 4.1.5, recipe.yaml of 4.1.6 (cuda_major 12).
OMPI_411 = ["cudatoolkit >=9.2"]
OMPI_415 = ["cudatoolkit >=11.2"]
OMPI_5 = ["__cuda >=12.0", "cuda-version >=12.0", "libprrte ==0.0.0"]


def _cuda_version(version: str) -> tuple[str, bytes]:
    """conda-forge's cuda-version X.Y: noarch, constrains ``__cuda >=X`` and cudatoolkit."""
    major = version.split(".")[0]
    return build_conda_package(
        "cuda-version", version, "h0_3", noarch="generic",
        constrains=[f"__cuda >={major}", f"cudatoolkit {version}|{version}.*"],
    )  # fmt: skip


CUDA_VERSIONS = [_cuda_version(v) for v in ("11.8", "12.4", "12.6", "12.8", "13.0")]


def _lock(
    root: Path,
    packages: list[tuple[str, bytes]],
    specs: list[str],
    cuda: tuple[str, str] | None,
) -> tuple[int, str, dict[str, Any]]:
    """``mlenv lock`` of ``specs`` from a channel of ``packages`` (plus python): exit code,
    stderr, and the conda entries of the lock by name (empty when none was written)."""
    channel = write_channel(root / "channel", [channel_packages()[0], *packages])
    project = root / "project"
    project.mkdir()
    text = '[environment]\nname = "x"\npython = "3.11"\n'
    if cuda is not None:
        text += f'[cuda]\nversion = "{cuda[0]}"\ndriver-floor = "{cuda[1]}"\n'
    text += f'[conda]\nchannels = ["{channel}"]\n'
    text += f"dependencies = {json.dumps(['python 3.11.*', *specs])}\n"
    (project / "mlenv.toml").write_text(text)
    done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(root / "cache")})
    lock = project / "mlenv.lock"
    entries: dict[str, Any] = {}
    if lock.exists():
        platform = tomllib.loads(lock.read_text())["platform"]["linux-64"]
        entries = {entry["name"]: entry for entry in platform["conda"]}
        verified = run_mlenv(["verify"], project, {"MLENV_CACHE_DIR": str(root / "cache")})
        assert verified.returncode == 0, verified.stdout + verified.stderr  # lock == verify
    return done.returncode, done.stderr, entries


# -- finding 1: constrains with an open toolkit floor ------------------------------------------


@pytest.mark.parametrize(
    "constrains", [NUMBA_CONSTRAINS, OMPI_411, OMPI_415], ids=["numba", "ompi-4.1.1", "ompi-4.1.5"]
)
def test_an_open_toolkit_floor_in_constrains_is_no_cuda_build(constrains: list[str]) -> None:
    assert extract_conda("numba", "0.60.0", "py312h83e6fd3_0", ["python"], constrains) is None


@pytest.mark.parametrize(
    ("cuda", "floor"), [("12.4", T3["12.4"]), ("13.0", T3["13.0"]), ("11.8", T3["11.8"])]
)
def test_numba_locks_for_any_cuda_the_floor_admits(tmp_path: Path, cuda: str, floor: str) -> None:
    """A 12.4 or 13.0 toolkit is >= 11.2: rattler solves it, and nothing in numba needs CUDA,
    so its entry carries no CUDA and no driver."""
    numba = build_conda_package(
        "numba", "0.60.0", "py311h4bc866e_0", depends=["python >=3.11,<3.12.0a0"],
        constrains=NUMBA_CONSTRAINS,
    )  # fmt: skip
    code, stderr, entries = _lock(tmp_path, [numba, *CUDA_VERSIONS], ["numba"], (cuda, floor))
    assert code == 0, stderr
    assert "cuda" not in entries["numba"] and "requires-driver" not in entries["numba"]


def test_numba_without_a_cuda_target_is_no_cuda_build(tmp_path: Path) -> None:
    numba = build_conda_package("numba", "0.60.0", "py311h4bc866e_0", constrains=NUMBA_CONSTRAINS)
    code, stderr, entries = _lock(tmp_path, [numba], ["numba"], None)
    assert code == 0, stderr
    assert "CUDA builds" not in stderr and "cuda" not in entries["numba"]


@pytest.mark.parametrize(("cuda", "floor"), [("13.0", T3["13.0"]), ("12.4", T3["12.4"])])
def test_open_mpi_5_locks_for_cuda_12_and_13(tmp_path: Path, cuda: str, floor: str) -> None:
    """Open MPI 5 constrains ``__cuda >=12.0`` (a driver that supports CUDA 12.0: Table 3's
    525.60.13) and ``cuda-version >=12.0`` (met by 12.4 and by 13.0)."""
    ompi = build_conda_package("openmpi", "5.0.6", "h0_100", constrains=OMPI_5)
    code, stderr, entries = _lock(tmp_path, [ompi, *CUDA_VERSIONS], ["openmpi"], (cuda, floor))
    assert code == 0, stderr
    assert entries["openmpi"]["requires-driver"] == T3["12.0"]


def test_open_mpi_5_is_still_refused_below_its_driver_floor(tmp_path: Path) -> None:
    """CUDA 11.8 on its own driver: ``__cuda`` is 11.8 < 12.0, so rattler keeps Open MPI 5 out
    and the refusal names it and the constraint."""
    ompi = build_conda_package("openmpi", "5.0.6", "h0_100", constrains=OMPI_5)
    code, stderr, _ = _lock(tmp_path, [ompi, *CUDA_VERSIONS], ["openmpi"], ("11.8", T3["11.8"]))
    assert code == 1
    assert "openmpi 5.0.6" in stderr and "__cuda >=12.0" in stderr


def _target(cuda: str, driver: str) -> CudaTarget:
    return CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver))


@pytest.mark.parametrize(
    ("depends", "cuda", "refused"),
    [
        (["cudatoolkit >=11.2"], "11.8", False),
        (["cudatoolkit >=11.2,<12"], "12.4", True),  # bounded: CUDA 11 only
        (["cuda-version >=12.0,<13"], "13.0", True),
        (["cuda-version 11.8|11.8.*"], "12.4", True),
        # a depends floor installs that toolkit: the package was linked against its major's
        # runtime (libcudart.so.11), which a 12.x toolkit does not provide
        (["cudatoolkit >=11.2"], "12.4", True),
        (["cuda-version >=12.0"], "13.0", True),
    ],
)
def test_a_floor_in_depends_stays_a_build_claim(
    depends: list[str], cuda: str, refused: bool
) -> None:
    need = extract_conda("pkg", "1.0", "h0_0", depends, [])
    assert need is not None
    findings = judge(_target(cuda, T3[cuda]), [PackageNeed("pkg", "1.0", need)])
    assert bool([f for f in findings if f.severity == "error"]) is refused, findings


def test_an_open_constrains_floor_beside_a_cuda_build_is_no_contradiction() -> None:
    """A cuda126 build that also constrains ``cuda-version >=11.2``: 12.6 meets the floor."""
    need = extract_conda(
        "pkg", "1.0", "cuda126_py312_h0_0", ["cuda-version >=12.6,<13"], ["cudatoolkit >=11.2"]
    )
    assert need is not None and (need.label, need.conflicts) == ("12.6", ())


@pytest.mark.parametrize(
    ("build", "depends", "constrains"),
    [
        ("cpu_mkl_py312_heeca0f5_108", ["libtorch 2.5.1 cpu_mkl_h9e9ac90_108"],
         ["pytorch-gpu ==99999999", "pytorch-cpu ==2.5.1"]),
        ("cpu_generic_py312_h0_0", ["libtorch 2.5.1 cpu_generic_h0_0"], ["pytorch-gpu <0.0a0"]),
        ("py3.12_cpu_0", ["cpuonly", "blas * mkl"], []),
    ],
)  # fmt: skip
def test_cpu_builds_of_pytorch_are_never_cuda(
    build: str, depends: list[str], constrains: list[str]
) -> None:
    assert extract_conda("pytorch", "2.5.1", build, depends, constrains) is None


# -- finding 2: a cuda-version range that leaves the target out -------------------------------

# conda-forge pytorch 2.5.1 cuda126 (a record's depends as `conda search --info` prints them)
TORCH_DEPENDS = ["__cuda", "cuda-version >=12.6,<13", "python >=3.11,<3.12.0a0"]
CUDNN = build_conda_package(
    "cudnn", "9.3.0.75", "h93bb076_0", depends=["cuda-version >=12.0,<13.0a0"]
)


@pytest.mark.parametrize(("cuda", "floor"), [("12.4", T3["12.4"]), ("13.0", T3["13.0"])])
def test_a_cuda_126_build_is_refused_by_its_own_range_not_the_channels(
    tmp_path: Path, cuda: str, floor: str
) -> None:
    """The channel publishes cuda-version 12.4 and 13.0; pytorch's ``>=12.6,<13`` leaves both
    out (rattler: "the constraint cuda-version 12.4.* cannot be fulfilled")."""
    torch = build_conda_package(
        "pytorch", "2.5.1", "cuda126_mkl_py311_h8bb5dc9_300", depends=TORCH_DEPENDS
    )
    code, stderr, _ = _lock(tmp_path, [torch, *CUDA_VERSIONS], ["pytorch"], (cuda, floor))
    assert code == 1
    head = stderr.split("error: ", 1)[1].splitlines()[0]
    assert "pytorch 2.5.1" in head and "cuda-version >=12.6,<13" in head and cuda in head
    assert "no cuda-version package in the channels" not in stderr
    assert "publish cuda-version" not in stderr
    assert "build of pytorch made for CUDA " + cuda in stderr


@pytest.mark.parametrize(("cuda", "floor"), [("12.6", T3["12.6"]), ("12.8", T3["12.8"])])
def test_the_cuda_126_build_locks_where_its_range_admits_the_target(
    tmp_path: Path, cuda: str, floor: str
) -> None:
    """12.6 on its own driver, and 12.8 (minor-version compatible, §2) on 12.8's."""
    torch = build_conda_package(
        "pytorch", "2.5.1", "cuda126_mkl_py311_h8bb5dc9_300", depends=TORCH_DEPENDS
    )
    code, stderr, entries = _lock(tmp_path, [torch, *CUDA_VERSIONS], ["pytorch"], (cuda, floor))
    assert code == 0, stderr
    assert entries["pytorch"]["cuda"] == "12.6"
    assert entries["cuda-version"]["version"] == cuda


def test_a_channel_without_the_target_cuda_version_is_still_named(tmp_path: Path) -> None:
    """cudnn's ``>=12.0,<13.0a0`` admits 12.4, but the channel has no cuda-version 12.4."""
    versions = [_cuda_version("12.6"), _cuda_version("12.8")]
    code, stderr, _ = _lock(tmp_path, [CUDNN, *versions], ["cudnn"], ("12.4", T3["12.4"]))
    assert code == 1
    assert "no cuda-version package in the channels matches CUDA 12.4" in stderr
    assert "use channels that publish cuda-version 12.4" in stderr


# -- finding 3: a __cuda range capped below the driver's CUDA ---------------------------------


@pytest.mark.parametrize(
    ("spec", "cuda", "floor", "offered"),
    [
        ("__cuda >=11.8,<13.a0", "13.0", T3["13.0"], "13.0"),
        ("__cuda >=12.8,<13", "13.0", T3["13.0"], "13.0"),
        ("__cuda >=11.8,<13.a0", "12.6", T3["13.0"], "13.0"),  # a 12.6 target, a 580 fleet
    ],
)
def test_a_capped_cuda_range_is_refused_with_no_advice_to_raise(
    tmp_path: Path, spec: str, cuda: str, floor: str, offered: str
) -> None:
    gpulib = build_conda_package("gpulib", "1.0", "h0_0", depends=[spec])
    code, stderr, _ = _lock(tmp_path, [gpulib, *CUDA_VERSIONS], ["gpulib"], (cuda, floor))
    assert code == 1
    assert f"gpulib 1.0 needs {spec}" in stderr
    hint = stderr.split("hint: ", 1)[1]
    assert f"{spec} admits no driver that supports CUDA {offered}" in hint
    assert "require another build of gpulib" in hint and "raise" not in hint


@pytest.mark.parametrize(
    ("spec", "cuda", "floor"),
    [
        ("__cuda >=11.8,<13.a0", "12.4", T3["12.4"]),  # below the cap: solved
        ("__cuda >=12", "12.0", T3["12.0"]),
        ("__cuda >=12.8", "12.6", T3["12.8"]),  # a 12.6 target on drivers that support 12.8
    ],
)
def test_a_cuda_range_the_driver_meets_locks(
    tmp_path: Path, spec: str, cuda: str, floor: str
) -> None:
    gpulib = build_conda_package("gpulib", "1.0", "h0_0", depends=[spec])
    code, stderr, entries = _lock(tmp_path, [gpulib, *CUDA_VERSIONS], ["gpulib"], (cuda, floor))
    assert code == 0, stderr
    low = spec.split(">=")[1].split(",")[0]  # the floor's CUDA: Table 3's driver for it
    assert entries["gpulib"]["requires-driver"] == T3[low if "." in low else low + ".0"]


def test_a_cuda_floor_above_the_target_still_says_raise(tmp_path: Path) -> None:
    """``__cuda >=12.8`` on a 12.6 target and its own driver: the driver floor is below."""
    gpulib = build_conda_package("gpulib", "1.0", "h0_0", depends=["__cuda >=12.8"])
    target = ("12.6", T3["12.6"])
    code, stderr, _ = _lock(tmp_path, [gpulib, *CUDA_VERSIONS], ["gpulib"], target)
    assert code == 1
    assert "gpulib 1.0 needs __cuda >=12.8" in stderr
    assert "admits no driver" not in stderr and "raise [cuda] version" in stderr


def test_a_lock_an_older_mlenv_wrote_for_numba_is_rewritten_by_lock(tmp_path: Path) -> None:
    """A CUDA 11.8 lock from before this fix records ``cuda = "11.2"`` for numba: verify says
    the CUDA rules differ, and `mlenv lock` writes the fields again, moving no pin."""
    numba = build_conda_package("numba", "0.60.0", "py311h4bc866e_0", constrains=NUMBA_CONSTRAINS)
    code, stderr, _ = _lock(tmp_path, [numba, *CUDA_VERSIONS], ["numba"], ("11.8", T3["11.8"]))
    assert code == 0, stderr
    project, env = tmp_path / "project", {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    lock = project / "mlenv.lock"
    fresh = lock.read_text()
    old = fresh.replace(
        'constrains = ["cuda-version >=11.2",',
        'cuda = "11.2"\nconstrains = ["cuda-version >=11.2",',
    )
    assert old != fresh
    lock.write_text(old)
    verified = run_mlenv(["verify"], project, env)
    assert verified.returncode == 1
    assert "numba" in verified.stdout + verified.stderr
    assert "CUDA rules differ" in verified.stdout + verified.stderr
    relocked = run_mlenv(["lock"], project, env)
    assert relocked.returncode == 0, relocked.stderr
    assert lock.read_text() == fresh


# -- finding 4: NVIDIA's channel's split libraries without depends -----------------------------

# shared/reference/cuda_matrix.json, nvidia_pip_versions: the cuda-toolkit release whose pins
# name each version, and so the CUDA the library was built for.
NVIDIA_CHANNEL = [
    ("libnpp", "12.0.2.50", "12.1"),  # cuda-toolkit 12.1.0: nvidia-npp-cu12 12.0.2.50
    ("libnvjpeg", "12.1.0.39", "12.1"),  # cuda-toolkit 12.1.0: nvidia-nvjpeg-cu12 12.1.0.39
    ("libnvfatbin", "12.4.127", "12.4"),  # cuda-toolkit 12.4.1: nvidia-nvfatbin-cu12
    ("cuda-nvtx", "12.1.105", "12.1"),  # cuda-toolkit 12.1.1: nvidia-nvtx-cu12 12.1.105
]


@pytest.mark.parametrize(("name", "version", "cuda"), NVIDIA_CHANNEL)
def test_nvidia_channel_libraries_without_depends_are_read(
    name: str, version: str, cuda: str
) -> None:
    need = extract_conda(name, version, "0", [], [])
    assert need is not None and need.label == cuda


@pytest.mark.parametrize(("name", "version", "cuda"), NVIDIA_CHANNEL)
def test_a_cuda_12_library_is_refused_for_a_cuda_11_target(
    tmp_path: Path, name: str, version: str, cuda: str
) -> None:
    library = build_conda_package(name, version, "0")
    code, stderr, _ = _lock(tmp_path, [library], [name], ("11.8", T3["11.8"]))
    assert code == 1
    assert f"{name} {version} is built for CUDA {cuda}, but the target is CUDA 11.8" in stderr


def test_nvidia_npp_for_12_1_needs_12_1s_driver(tmp_path: Path) -> None:
    """On 12.0 with 12.0's driver: a 12.1 build needs Table 3's 530.30.02 (cuda.md §1)."""
    library = build_conda_package("libnpp", "12.0.2.50", "0")
    code, stderr, _ = _lock(tmp_path, [library], ["libnpp"], ("12.0", T3["12.0"]))
    assert code == 1
    assert "libnpp 12.0.2.50 is built for CUDA 12.1" in stderr and "530.30.02" in stderr
    code, stderr, entries = _lock(tmp_path / "ok", [library], ["libnpp"], ("12.1", "530.30.02"))
    assert code == 0, stderr
    assert (entries["libnpp"]["cuda"], entries["libnpp"]["requires-driver"]) == (
        "12.1",
        "530.30.02",
    )


def test_cupy_core_a_cuda_build_whose_only_signal_is_a_bounded_constraint_stays_cuda() -> None:
    """cupy-core (cupy-feedstock recipe.yaml) depends on no CUDA package and constrains
    ``pin_compatible("cuda-version", lower_bound="x")``, i.e. ``>=12,<13.0a0``: a bounded range
    is a build claim, unlike numba's open floor, so a CUDA 13 target refuses it."""
    constrains = [
        "cuda-version >=12,<13.0a0",
        "cuda-nvrtc >=12,<13.0a0",
        "libcublas >=12,<13.0a0",
        "scipy >=1.14,<1.17",
    ]
    depends = ["python >=3.12,<3.13.0a0", "cuda-pathfinder >=1.3.4,<2.0a0", "numpy >=2.0"]
    need = extract_conda("cupy-core", "14.1.0", "py312h0a2b3c4_1", depends, constrains)
    assert need is not None and need.label == "12.x"
    findings = judge(_target("13.0", T3["13.0"]), [PackageNeed("cupy-core", "14.1.0", need)])
    assert [f.code for f in findings] == ["cuda-major-mismatch"]


# -- finding 5: the pytorch channel's torchvision/torchaudio builds ----------------------------


@pytest.mark.parametrize(
    ("build", "cuda"),
    [("py312_cu121", "12.1"), ("py38_cu113", "11.3"), ("py37_cu102", "10.2"), ("py36_cu92", "9.2")],
)
def test_pytorch_channel_cu_builds_are_read(build: str, cuda: str) -> None:
    need = extract_conda("torchvision", "0.20.1", build, [], [])
    assert need is not None and need.label == cuda


def test_pytorch_channel_cpu_builds_are_not_cuda() -> None:
    depends = ["pytorch 1.13.1", "pytorch-mutex 1.0 cpu"]
    assert extract_conda("torchvision", "0.14.1", "py310_cpu", depends, ["cpuonly"]) is None


def _pytorch_channel() -> list[tuple[str, bytes]]:
    """pytorch 2.5.1, pytorch-cuda 12.1, pytorch-mutex and torchvision 0.20.1 as the pytorch
    channel publishes them (build strings and depends; payloads are empty)."""
    mutex = ["pytorch-mutex 1.0 cuda"]
    return [
        build_conda_package("pytorch-mutex", "1.0", "cuda"),
        build_conda_package("pytorch-cuda", "12.1", "ha16c6d3_6"),
        build_conda_package(
            "pytorch", "2.5.1", "py3.11_cuda12.1_cudnn9.1.0_0",
            depends=["pytorch-cuda >=12.1,<12.2", *mutex],
        ),
        build_conda_package(
            "torchvision", "0.20.1", "py311_cu121",
            depends=["pytorch 2.5.1", "pytorch-cuda 12.1.*", *mutex],
        ),
    ]  # fmt: skip


def test_a_pytorch_channel_torchvision_locks_for_its_cuda(tmp_path: Path) -> None:
    target = ("12.1", "530.30.02")  # cuda.md §1, Table 3: 12.1 GA
    code, stderr, entries = _lock(tmp_path, _pytorch_channel(), ["torchvision"], target)
    assert code == 0, stderr
    assert entries["torchvision"]["cuda"] == "12.1" and entries["pytorch"]["cuda"] == "12.1"


def test_a_pytorch_channel_torchvision_is_refused_for_cuda_11(tmp_path: Path) -> None:
    code, stderr, _ = _lock(tmp_path, _pytorch_channel(), ["torchvision"], ("11.8", T3["11.8"]))
    assert code == 1
    assert "torchvision 0.20.1 is built for CUDA 12.1, but the target is CUDA 11.8" in stderr
    assert "cannot read" not in stderr
