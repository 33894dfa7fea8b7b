"""Attack 257: NVIDIA-sourced CUDA cases, written from NVIDIA's documents and tools' real
outputs and run through mlenv's public entry points (``judge``, host detection with
``MLENV_DRIVER_VERSION`` and recorded nvidia-smi / /proc outputs, the image requirement verify
reads, ``verify --host``): Table 3 rows with their updates on Linux and WSL 2, the
minor-version floors per major, forward compatibility by GPU product, nvidia-smi's formats,
NVIDIA_REQUIRE_CUDA as NVIDIA's images set it, compute capabilities of named GPUs.

Wrong before this pass:

- ``verify OUTPUT --host`` judged an image's NVIDIA_REQUIRE_CUDA against the CUDA Version the
  host's nvidia-smi printed. Under forward compatibility that is the cuda-compat libcuda's
  (580.95.05 printing 13.3), while libnvidia-container compares ``cuda>=`` with the CUDA of
  the driver's own libcuda (the compat libraries are an image's, mounted only after its
  requirement held, through its ``brand=...,driver>=N`` terms): a ``cuda>=13.x`` image with no
  term for the host's branch was passed, and one with such terms was passed for GeForce too.
  ``cuda.requirement.runtime_cuda`` now gives the driver's own CUDA there.
- ``verify --host``'s forward-compatibility warning did not say that an image mlenv builds
  from the lock asks ``driver>=`` the target's Table 3 driver, which the runtime refuses on
  the host's older branch: the warning read as if the image ran there.
- Under forward compatibility an RTX or Quadro workstation GPU ("NVIDIA RTX A6000", "Quadro
  RTX 8000", "NVIDIA RTX 6000 Ada Generation", "NVIDIA RTX PRO 6000 Blackwell ...") got the
  generic "check that every GPU is a data-center GPU", and a Quadro, NVS or T-series card that
  is no RTX card, none of the three kinds NVIDIA's guide names, got the same warning. The
  guide supports "select NGC Server Ready SKUs of RTX cards" and names none (neither does
  cuda.md), so an RTX card is now asked about as such a SKU, a data-center or Jetson GPU is
  not asked about, and the others are refused as GeForce is (error 804)
  (``cuda.forward.forward_said``).

- ``jax-cuda12-plugin`` on an sm_50 fleet passed: JAX's CUDA 12 wheels start at SM 5.2
  (``framework_archs`` rows for JAX; ``rules._package_findings`` reads a framework's arch list
  for a wheel whose need is a whole major too).

``HELD`` cases kept what NVIDIA's documents say; each names its table or row.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlenv import host
from mlenv.cuda import requirement
from mlenv.cuda.matrix import major_floor
from mlenv.cuda.requirement import evaluate_requirement, reported_cuda
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.host import SMI_QUERY_ARGV, detect
from mlenv.host_text import HostError, parse_driver_override
from mlenv.judge_outputs import image_requirement_findings
from tests.support.cli import run_in_process, run_mlenv
from tests.support.cuda_project import project_on_base
from tests.support.fake_host import with_glibc
from tests.support.nvidia_dsl import real_values

pytestmark = pytest.mark.hostile

NOTES = "https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html"
T3 = f"{NOTES} Table 3"
MINOR = "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html"
FORWARD = "https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html"
RUNTIME = "NVIDIA/libnvidia-container src/cli/dsl.c, src/driver.c (cuda = the driver's libcuda)"


def _target(
    cuda: str, driver: str, *, reported: str = "", gpus: tuple[str, ...] = (), wsl: bool = False
) -> CudaTarget:
    return CudaTarget(
        CudaVersion.parse(cuda),
        DriverVersion.parse(driver),
        (),
        checked=True,
        windows=wsl,
        reported=CudaVersion.parse(reported) if reported else None,
        gpus=gpus,
    )


def _said(target: CudaTarget, needs: list[PackageNeed] | None = None) -> tuple[str, str]:
    """(severity:code joined by +, or ok; every message and hint)."""
    found = judge(target, needs or [])
    got = "+".join(sorted({f"{f.severity}:{f.code}" for f in found})) or "ok"
    return got, " ".join(f"{f.message} {f.hint}" for f in found)


# --- the finding: forward compatibility by GPU product ----------------------------------------

# 580.95.05 (R580) whose nvidia-smi prints CUDA 13.3: cuda-compat-13-3 on the loader path, which
# the guide's matrix supports on R580; the verdict turns on the GPU alone.
_RTX_CARDS = [
    "NVIDIA RTX A6000",
    "Quadro RTX 8000",
    "NVIDIA RTX 6000 Ada Generation",
    "NVIDIA RTX PRO 6000 Blackwell Workstation Edition",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition",
]


@pytest.mark.parametrize("gpu", _RTX_CARDS)
def test_forward_compat_on_an_rtx_card_asks_for_a_server_ready_sku(gpu: str) -> None:
    """FORWARD ("select NGC Server Ready SKUs of RTX cards"; no SKU named). Before: "check
    that every GPU is a data-center GPU". Now: a warning asking whether it is such a SKU."""
    got, said = _said(_target("13.3", "580.95.05", reported="13.3", gpus=(gpu,)))
    assert got == "warning:driver-forward-compat", (FORWARD, said)
    assert f"each RTX card ({gpu}) is one of the select NGC Server Ready SKUs" in said
    assert "its guide names none" in said and "data-center GPU" not in said.split("check ")[1]


@pytest.mark.parametrize(
    "gpu",
    [
        "Quadro P4000",
        "Quadro GV100",
        "NVIDIA T1000 8GB",
        "NVIDIA T400 4GB",
        "NVS 510",
        "NVIDIA RTX A2000 Laptop GPU",  # no Server Ready SKU is a laptop part (adversary a264)
        "NVIDIA RTX 2000 Ada Generation Laptop GPU",
        "Quadro RTX 5000 with Max-Q Design",
    ],
)
def test_forward_compat_on_a_card_the_guide_does_not_name_is_refused(gpu: str) -> None:
    """FORWARD: data-center GPUs, RTX Server Ready SKUs and Jetson only. A Quadro, NVS or
    T-series card that is no RTX card is none of them. Before: the data-center warning. Now:
    refused with error 804, as a GeForce is."""
    got, said = _said(_target("13.3", "580.95.05", reported="13.3", gpus=(gpu,)))
    assert got == "error:driver-below-toolkit", (FORWARD, said)
    assert f"does not support {gpu}" in said and "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE" in said


@pytest.mark.parametrize(
    "gpus",
    [
        ("NVIDIA H100 80GB HBM3",),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB"),
        ("Tesla V100-SXM2-32GB",),
        ("Tesla T4",),
        ("NVIDIA L40S",),
        ("NVIDIA GH200 480GB",),
        ("NVIDIA B200",),
        ("NVIDIA A10G",),
        ("NVIDIA T4G",),
    ],
)
def test_forward_compat_on_data_center_gpus_asks_nothing_of_them(gpus: tuple[str, ...]) -> None:
    """FORWARD: data-center GPUs are supported. Before: asked to check they are data-center
    GPUs. Now: the warning asks only for the package on the loader path."""
    got, said = _said(_target("13.3", "580.95.05", reported="13.3", gpus=gpus))
    assert got == "warning:driver-forward-compat", (FORWARD, said)
    assert "check that each node runs cuda-compat-13-3" in said, said


def test_forward_compat_on_mixed_gpus_names_each_kind() -> None:
    """A node of an H100, an RTX A6000 and a GPU mlenv cannot place: each asked about as such."""
    gpus = ("NVIDIA H100 PCIe", "NVIDIA RTX A6000", "NVIDIA Graphics Device")
    got, said = _said(_target("13.3", "580.95.05", reported="13.3", gpus=gpus))
    assert got == "warning:driver-forward-compat", said
    assert "each RTX card (NVIDIA RTX A6000)" in said
    assert "every GPU is a data-center GPU (this host's: NVIDIA Graphics Device)" in said
    (found,) = judge(_target("13.3", "580.95.05", reported="13.3", gpus=gpus), [])
    assert "NVIDIA H100 PCIe" not in found.hint and "NVIDIA H100 PCIe" in found.message


def test_forward_compat_warning_says_the_image_is_still_refused() -> None:
    """An mlenv image asks ``driver>=<the target's Table 3 driver>`` (build_outputs.require_cuda),
    which libnvidia-container refuses on R580 whatever libcuda the host loads. Before: the
    warning read as if the image ran there. Now: it says the runtime does not start it."""
    got, said = _said(_target("13.3", "580.95.05", reported="13.3", gpus=("NVIDIA H100",)))
    assert got == "warning:driver-forward-compat", said
    assert "asks driver>=610.43.02 or newer in its NVIDIA_REQUIRE_CUDA" in said, RUNTIME


@pytest.mark.parametrize(
    "gpus", [("NVIDIA GeForce RTX 5090",), ("NVIDIA H100 80GB HBM3", "NVIDIA TITAN V")]
)
def test_held_forward_compat_on_consumer_gpus_is_refused(gpus: tuple[str, ...]) -> None:
    """FORWARD: GeForce and other consumer GPUs fail with error 804 (HELD since attack 239)."""
    got, said = _said(_target("13.3", "580.95.05", reported="13.3", gpus=gpus))
    assert got == "error:driver-below-toolkit" and "error 804" in said, (FORWARD, said)


# --- the finding: the CUDA an image's requirement is judged by ---------------------------------

_REQUIRE_13_0 = next(v.value for v in real_values() if v.image_cuda == "13.0")
# A CUDA 13.3 image's value in NVIDIA's format: 13.0's terms with R580's in place of R575's
# (FORWARD's matrix lists cuda-compat-13-3 on R580), not a copy of NVIDIA's own 13.3 value.
_REQUIRE_13_3 = _REQUIRE_13_0.replace("cuda>=13.0", "cuda>=13.3").replace(
    "driver>=575,driver<576", "driver>=580,driver<581"
)


@pytest.mark.parametrize(
    ("driver", "reported", "runtime"),
    [
        ("580.95.05", "13.3", "13.0"),  # cuda-compat-13-3 on R580 (FORWARD's matrix)
        ("570.124.06", "13.0", "12.8"),  # cuda-compat-13-0 on R570
        ("535.230.02", "12.9", "12.2"),  # cuda-compat-12-9 on R535
        # HELD: the driver's own CUDA stands
        ("580.95.05", "13.0", "13.0"),
        ("565.57.01", "12.7", "12.7"),  # R565 prints 12.7, no toolkit's: its own libcuda's
        ("610.43.02", "13.3", "13.3"),
        ("550.54.15", "", "12.4"),  # nothing printed: inferred from Table 3 (cuda.md section 4)
    ],
)
def test_the_runtime_judges_by_the_drivers_own_cuda(
    driver: str, reported: str, runtime: str
) -> None:
    """RUNTIME: libnvidia-container's ``cuda`` is cuDriverGetVersion of the driver's libcuda."""
    assert requirement.runtime_cuda(driver, reported) == runtime, RUNTIME


def test_an_image_requirement_under_forward_compat() -> None:
    """nvidia/cuda:13.0.0's NVIDIA_REQUIRE_CUDA on 570.124.06 printing CUDA 13.0. Before: no
    finding (cuda>=13.0 held for every brand). Now: only its brand=...,driver>=570 terms admit
    it, and not for GeForce."""
    driver, said = "570.124.06", "13.0"
    (found,) = image_requirement_findings(
        [_REQUIRE_13_0], driver, requirement.runtime_cuda(driver, said), said
    )
    assert found.code == "image-requirement-brand", found.message
    assert "GeForce" not in found.message.split("only for ")[1]
    assert "the CUDA 13.0 this host reports is a cuda-compat libcuda's" in found.message
    assert not evaluate_requirement(_REQUIRE_13_0, cuda="12.8", driver=driver, brand="GeForce")


@pytest.fixture(scope="module")
def image_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The golden project on a base whose NVIDIA_REQUIRE_CUDA is a CUDA 13.3 image's, locked
    for CUDA 13.0 (driver 580.65.06) and built offline."""
    base_env = [f"NVIDIA_REQUIRE_CUDA={_REQUIRE_13_3}", "CUDA_VERSION=13.3.0"]
    project, env = project_on_base(tmp_path_factory.mktemp("a257"), base_env, "13.0", "580.65.06")
    done = run_mlenv(["build", "--offline"], project, env)
    assert done.returncode == 0, done.stderr
    return project, env


def _smi_host(driver: str, cuda: str, gpu: str, cap: str = "9.0") -> object:
    banner = f"| NVIDIA-SMI {driver}   Driver Version: {driver}   CUDA Version: {cuda} |\n"
    files = {"/sys/module/nvidia/version": f"{driver}\n"}
    return with_glibc(files, {SMI_QUERY_ARGV: f"{driver}, {cap}, {gpu}\n", ("nvidia-smi",): banner})


def test_verify_output_host_judges_the_image_by_the_drivers_cuda(
    image_project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``verify dist/oci --host`` on 580.95.05 printing CUDA 13.3 (cuda-compat-13-3 on the
    host's loader path). Before: the base's cuda>=13.3 passed for every GPU. Now: a warning that
    the runtime starts it only through its brand=...,driver>=580 terms (not on GeForce)."""
    monkeypatch.setattr(host, "RealHost", lambda: _smi_host("580.95.05", "13.3", "NVIDIA H100"))
    code, out, err = run_in_process(["verify", "dist/oci", "--host"], *image_project)
    assert code == 0, out + err
    assert "image-requirement-brand" in out and "driver 580.95.05 (CUDA 13.0)" in out, out
    assert "the CUDA 13.3 this host reports is a cuda-compat libcuda's" in out, out


def test_held_verify_output_host_on_the_drivers_own_cuda(
    image_project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """580.95.05 printing its own CUDA 13.0: the same verdict as under cuda-compat-13-3 (the
    runtime sees the same driver), with no word of a compat libcuda."""
    monkeypatch.setattr(host, "RealHost", lambda: _smi_host("580.95.05", "13.0", "NVIDIA H100"))
    code, out, err = run_in_process(["verify", "dist/oci", "--host"], *image_project)
    assert code == 0 and "image-requirement-brand" in out, out + err
    assert "cuda-compat libcuda" not in out


# --- HELD: Table 3 rows, updates included, Linux and WSL 2 --------------------------------------


@pytest.mark.parametrize(
    ("cuda", "driver", "wsl", "expected"),
    [
        ("12.4", "550.54.14", False, "ok"),  # 12.4 GA row
        ("12.4", "550.54.13", False, "error:driver-below-toolkit"),
        ("12.6", "560.28.03", False, "ok"),  # 12.6 GA row
        ("12.6", "555.42.06", False, "error:driver-below-toolkit"),  # 12.5 Update 1's
        ("12.8", "570.26", False, "ok"),  # 12.8 GA row (Table 3, not the runfile's 570.86.10)
        ("12.8", "565.57.01", False, "error:driver-below-toolkit"),
        ("13.0", "580.65.06", False, "ok"),  # 13.0 GA row
        ("13.0", "575.57.08", False, "error:driver-below-toolkit"),  # 12.9 Update 1's
        ("13.1", "590.44.01", False, "ok"),
        ("13.2", "595.45.04", False, "ok"),
        ("11.8", "520.61.05", False, "ok"),
        ("10.2", "440.33", False, "ok"),
        ("10.2", "418.39", False, "error:driver-below-toolkit"),  # 10.x: no minor compat
        ("12.4", "551.61", True, "ok"),  # Windows column
        ("12.4", "551.60", True, "error:driver-below-toolkit"),
        ("12.6", "560.76", True, "ok"),
        ("12.8", "570.65", True, "ok"),  # Table 3's Windows value, not the installer's 571.96
        ("11.8", "520.06", True, "ok"),
    ],
)  # fmt: skip
def test_held_table3_rows(cuda: str, driver: str, wsl: bool, expected: str) -> None:
    got, said = _said(_target(cuda, driver, wsl=wsl))
    assert got == expected, (T3, said)


@pytest.mark.parametrize(
    ("cuda", "floor", "raise_to"),
    [("12.4", "550.54.13", "550.54.14"),  # 12.4 GA row
     ("13.0", "580", "580.65.06"),  # NVIDIA's ">= 580" is held at the 13.0 GA driver
     ("12.8", "525.60.13", "570.26")],  # the 12.x floor is no 12.8 driver (MINOR's caveats)
)  # fmt: skip
def test_held_lock_refuses_a_floor_below_table3(
    tmp_path: Path, cuda: str, floor: str, raise_to: str
) -> None:
    (tmp_path / "mlenv.toml").write_text(
        f'[environment]\nname = "v"\npython = "3.11"\n[cuda]\nversion = "{cuda}"\n'
        f'driver-floor = "{floor}"\n[pypi]\ndependencies = []\n'
    )
    done = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, (T3, done.stdout + done.stderr)
    assert f"raise driver-floor to {raise_to}" in done.stderr, done.stderr


def _cudart(version: str) -> list[PackageNeed]:
    name = "nvidia-cuda-runtime-cu12"
    need = extract(
        name, version, f"{name.replace('-', '_')}-{version}-py3-none-manylinux2014_x86_64.whl"
    )
    assert need is not None
    return [PackageNeed(name, version, need)]


@pytest.mark.parametrize(
    ("cuda", "driver", "cudart", "expected", "named"),
    [
        # 12.4 Update 1's cudart 12.4.127 wants 550.54.15; GA's driver runs it under minor compat
        ("12.4", "550.54.14", "12.4.127", "warning:driver-minor-compat", "550.54.15"),
        ("12.4", "550.54.15", "12.4.127", "ok", ""),
        # 12.6 Update 2's cudart 12.6.77 wants 560.35.03
        ("12.6", "560.28.03", "12.6.77", "warning:driver-minor-compat", "560.35.03"),
        ("12.6", "560.35.03", "12.6.77", "ok", ""),
        # 12.8 Update 1's cudart 12.8.90 wants 570.124.06
        ("12.8", "570.26", "12.8.90", "warning:driver-minor-compat", "570.124.06"),
        ("12.8", "570.124.06", "12.8.90", "ok", ""),
    ],
)  # fmt: skip
def test_held_update_rows(cuda: str, driver: str, cudart: str, expected: str, named: str) -> None:
    """T3's update rows (12.4.1, 12.6.2, 12.8.1) reached through the cudart a wheel pins."""
    got, said = _said(_target(cuda, driver), _cudart(cudart))
    assert got == expected, (T3, said)
    assert named in said


# --- HELD: nvidia-smi and /proc as they print -------------------------------------------------

_PROC_OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build  "
    "(dvs-builder@U16-I3-B13-2-2)  Wed Feb 26 00:57:05 UTC 2025\nGCC version:  gcc version 11.4.0 "
    "(Ubuntu 11.4.0-1ubuntu1~22.04)\n"
)
_PROC_PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
    "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n"
)


@pytest.mark.parametrize(
    ("files", "query", "driver", "caps"),
    [
        ({"/proc/driver/nvidia/version": _PROC_OPEN}, "", "570.124.06", []),
        ({"/proc/driver/nvidia/version": _PROC_PROPRIETARY}, "", "550.54.15", []),
        # a MIG-enabled node: the query lists the parent GPUs, not the MIG devices
        ({}, "580.95.05, 9.0, NVIDIA H100 80GB HBM3\n580.95.05, 9.0, NVIDIA H100 80GB HBM3\n",
         "580.95.05", ["9.0", "9.0"]),
        # mixed products, one whose compute capability is [N/A]
        ({}, "550.54.15, 8.9, NVIDIA L4\n550.54.15, 8.6, NVIDIA RTX A6000\n550.54.15, [N/A], "
         "NVIDIA A100-SXM4-40GB\n", "550.54.15", ["8.9", "8.6", None]),
    ],
)  # fmt: skip
def test_held_driver_detection(
    files: dict[str, str], query: str, driver: str, caps: list[str | None]
) -> None:
    outputs: dict[tuple[str, ...], str] = {SMI_QUERY_ARGV: query} if query else {}
    facts = detect(with_glibc(files, outputs))
    assert facts.driver == driver and [g.compute_cap for g in facts.gpus] == caps


@pytest.mark.parametrize(
    "value",
    ["550.54.15", "driver_version\n550.54.15\n", "550.54.15\n550.54.15\n", "580.65.06\r\n",
     "560.35.03 560.35.03"],
)  # fmt: skip
def test_held_driver_override_as_nvidia_smi_prints_it(value: str) -> None:
    """``--query-gpu=driver_version --format=csv[,noheader]``, one GPU or several."""
    assert parse_driver_override(value) in ("550.54.15", "580.65.06", "560.35.03")


@pytest.mark.parametrize(
    ("value", "hint"),
    [("R580", "branch 580"), ("32.0.15.7261", "572.61"),
     ("NVIDIA UNIX x86_64 Kernel Module  550.54.15", "write 550.54.15 alone")],
)  # fmt: skip
def test_held_driver_override_refusals_say_the_fix(value: str, hint: str) -> None:
    with pytest.raises(HostError) as caught:
        parse_driver_override(value)
    assert hint in (caught.value.hint or "")


# --- HELD: NVIDIA_REQUIRE_CUDA as NVIDIA's images set it ----------------------------------------


@pytest.mark.parametrize(
    ("image", "driver", "brand", "starts"),
    [
        ("12.8", "570.124.06", "GeForce", True),  # cuda>=12.8 on the 12.8 driver
        ("12.8", "560.35.03", "Tesla", True),  # brand=tesla,driver>=560,driver<561
        ("12.8", "560.35.03", "GeForce", False),  # no geforce term from 12.5 on
        ("12.9", "565.57.01", "Quadro", True),
        ("13.0", "575.57.08", "Unknown", True),  # brand=unknown,driver>=575,driver<576
        ("13.0", "550.54.15", "GRID", True),
        ("13.0", "560.35.03", "Tesla", False),  # 560 is not among 13.0's terms
        ("12.4", "535.104.05", "GeForce", True),  # 12.4 still lists geforce terms
    ],
)  # fmt: skip
def test_held_real_image_requirements(image: str, driver: str, brand: str, starts: bool) -> None:
    """The nvidia/cuda base images' values (fixtures/nvidia_require_cuda) on a driver reporting
    its own CUDA (cuda.md section 7.1's table)."""
    value = next(v.value for v in real_values() if v.image_cuda == image)
    got = evaluate_requirement(value, cuda=reported_cuda(driver), driver=driver, brand=brand)
    assert got is starts, RUNTIME


# --- HELD: compute capabilities of named GPUs ---------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "driver", "arch", "expected"),
    [
        ("13.0", "580.65.06", "sm_70", "error:arch-dropped"),  # V100: 13.0 removed Volta
        ("13.0", "580.65.06", "sm_75", "ok"),  # T4: 13.x starts at 7.5
        ("12.8", "570.26", "sm_120", "ok"),  # RTX 5090 / RTX PRO 6000: added in 12.8
        ("12.6", "560.28.03", "sm_120", "error:arch-unsupported"),
        ("12.9", "575.51.03", "sm_103", "ok"),  # B300: added in 12.9
        ("12.8", "570.26", "sm_103", "error:arch-unsupported"),
        ("13.0", "580.65.06", "sm_110", "ok"),  # Thor: sm_101 renamed sm_110 in 13.0
        ("12.9", "575.51.03", "sm_100f", "ok"),  # family targets new in 12.9
    ],
)  # fmt: skip
def test_held_archs_per_cuda(cuda: str, driver: str, arch: str, expected: str) -> None:
    target = dataclasses.replace(_target(cuda, driver), archs=(arch,))
    got, said = _said(target)
    assert got == expected, ("cuda.md section 6; nvcc --list-gpu-arch", said)


@pytest.mark.parametrize(
    ("machine", "arch", "expected"),
    [("x86_64", "sm_50", "error:arch-not-built"),  # Maxwell GM107 (Tesla M10, Quadro K2200)
     ("aarch64", "sm_50", "error:arch-not-built"),
     ("x86_64", "sm_52", "ok"),  # Tesla M60 / M40, JAX's lowest
     ("x86_64", "sm_90", "ok")],
)  # fmt: skip
def test_jax_cuda12_wheels_start_at_sm_52(machine: str, arch: str, expected: str) -> None:
    """JAX (docs/installation.md @cec06d11): CUDA 12 wheels support SM 5.2 and newer, while
    CUDA 12 builds for sm_50. Before: a fleet of sm_50 GPUs passed jax-cuda12-plugin (its
    need is the whole major, and no arch list was read for it). Now: arch-not-built."""
    wheel = f"jax_cuda12_plugin-0.7.2-cp311-cp311-manylinux_2_27_{machine}.whl"
    need = extract("jax-cuda12-plugin", "0.7.2", wheel)
    assert need is not None
    item = PackageNeed.of_wheel("jax-cuda12-plugin", "0.7.2", need, wheel)
    target = dataclasses.replace(_target("12.8", "570.26"), archs=(arch,), checked=False)
    got, said = _said(target, [item])
    assert got == expected, said
    assert expected == "ok" or "built for CUDA 12.x" in said


@pytest.mark.parametrize(
    ("major", "windows", "floor"),
    [(11, False, "450.80.02"), (11, True, "452.39"), (12, False, "525.60.13"),
     (12, True, "527.41"), (13, False, "580.65.06")],
)  # fmt: skip
def test_held_minor_version_floors(major: int, windows: bool, floor: str) -> None:
    """MINOR's floors per major (13.x: ">= 580", held at the 13.0 GA driver, cuda.md section 2)."""
    found = major_floor(major, windows=windows)
    assert found is not None and str(found[0]) == floor, MINOR
