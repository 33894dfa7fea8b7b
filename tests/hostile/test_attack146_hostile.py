"""Attack 146: NVIDIA's own CUDA facts, one row each, against mlenv's verdicts.

``tests/support/data/nvidia_cuda_cases.csv`` holds each case with the NVIDIA text it comes from
(``source``): Table 3 of the CUDA Toolkit Release Notes (each GA row's Linux and Windows driver,
and one step below it), the CUDA Compatibility guide (minor-version compatibility, the
forward-compatibility matrix of driver branches and ``cuda-compat-X-Y`` packages), the CUDA 13.0
removal of Maxwell, Pascal and Volta, the per-update drivers of the components PyPI's
``cuda-toolkit`` pins, and PyTorch's ``+cuXYZ`` builds. ``expected`` is the verdict those texts
give (``ok``, or ``severity:code`` joined by ``+``); ``hint_has`` is text the hint must hold
(``!text``: must not), e.g. the ``cuda-compat`` package NVIDIA's matrix names for a data-center
GPU; ``note`` says where mlenv is stricter than NVIDIA's text, and why.

Every row goes through ``judge`` (what ``lock`` and ``verify`` decide with); a subset goes
through the CLI itself: ``mlenv verify --host`` with ``MLENV_DRIVER_VERSION`` and ``mlenv lock``
refusing a driver floor the CUDA build cannot run on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import parse_wheel_filename

from mlenv.cuda.rules import PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, DriverVersion
from tests.support.cli import run_mlenv
from tests.support.csv_rows import csv_rows
from tests.support.cuda_verdicts import CaseColumns, assert_case
from tests.support.wheels import build_wheel, write_simple_index

CASES_FILE = Path(__file__).parents[1] / "support" / "data" / "nvidia_cuda_cases.csv"


@dataclass(frozen=True)
class Case(CaseColumns):
    package: str


CASES = csv_rows(CASES_FILE, Case)


def _needs(case: Case) -> list[PackageNeed]:
    """``name==version`` (the x86_64 build) or a wheel's file name, whose platform tag names the
    machine it is for (an aarch64 torch carries other GPU code)."""
    if not case.package:
        return []
    if case.package.endswith(".whl"):
        wheel, parsed = parse_wheel_filename(case.package)[:2]
        need = extract(wheel, str(parsed), case.package)
        assert need is not None, case.package
        return [PackageNeed.of_wheel(wheel, str(parsed), need, case.package)]
    name, version = case.package.split("==")
    need = extract(name, version)
    assert need is not None, case.package
    return [PackageNeed(name, version, need)]


def test_the_table_is_large_and_every_row_names_its_source() -> None:
    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:
        assert case.source, case.id
        assert case.os in {"linux", "wsl"}, case.id
        assert case.expected, case.id


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_nvidia_case(case: Case) -> None:
    if case.expected == "refused-input":
        with pytest.raises(CudaError):
            DriverVersion.parse(case.driver)
        return
    findings = judge(case.target(), _needs(case))
    assert_case(findings, case)


# --- the same rows through the CLI -------------------------------------------------------------

_TORCH_TAG = "cp311-cp311-manylinux_2_28_x86_64"


def _project(tmp_path: Path, case: Case, floor: str) -> None:
    name, version = case.package.split("==")
    wheels = [build_wheel(name, version, tag=_TORCH_TAG)]
    url = write_simple_index(tmp_path / "www", wheels)
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "nv"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'[cuda]\nversion = "{case.cuda}"\ndriver-floor = "{floor}"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["{case.package}"]\n'
    )


def _floor(cuda: str) -> str:
    """The target's GA driver (Table 3, typed here): the lowest floor a lock for it takes."""
    return {
        "11.8": "520.61.05",
        "12.1": "530.30.02",
        "12.4": "550.54.14",
        "12.6": "560.28.03",
        "12.8": "570.26",
        "12.9": "575.51.03",
        "13.0": "580.65.06",
        "13.2": "595.45.04",
    }[cuda]


def _caps(archs: str) -> str:
    """The case's GPUs as nvidia-smi's compute_cap prints them (sm_61 is 6.1, sm_120 12.0)."""
    ccs = [int(arch.removeprefix("sm_")) for arch in archs.split(",") if arch]
    return ",".join(f"{cc // 10}.{cc % 10}" for cc in ccs)


def _cli_cases() -> list[Case]:
    known = {"11.8", "12.1", "12.4", "12.6", "12.8", "12.9", "13.0", "13.2"}
    return [
        case
        for case in CASES
        if case.package.startswith("torch==") and case.os == "linux" and case.cuda in known
    ]


@pytest.mark.parametrize("case", _cli_cases(), ids=[case.id for case in _cli_cases()])
def test_verify_host_gives_the_nvidia_verdict(tmp_path: Path, case: Case) -> None:
    """``mlenv verify --host`` on a node whose driver is the case's (MLENV_DRIVER_VERSION):
    exit 1 and the expected codes for an error, exit 0 otherwise."""
    ga = _floor(case.cuda)  # below the GA row only the host is too old, not the lock
    floor = max(DriverVersion.parse(ga), DriverVersion.parse(case.driver))
    _project(tmp_path, case, str(floor))
    env = {
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "MLENV_DRIVER_VERSION": case.driver,
        "MLENV_GPU_COMPUTE_CAP": _caps(case.archs) or "9.0",
    }
    locked = run_mlenv(["lock"], tmp_path, env)
    if case.expected in {"error:cuda-major-mismatch", "error:cuda-newer-minor"}:
        assert locked.returncode != 0, locked.stdout + locked.stderr  # lock refuses the build
        return
    assert locked.returncode == 0, locked.stderr
    done = run_mlenv(["verify", "--host", "--json"], tmp_path, env)
    report = json.loads(done.stdout)
    codes = sorted({f"{f['severity']}:{f['code']}" for f in report["findings"]})
    assert ("+".join(codes) or "ok") == case.expected, (case.source, done.stdout)
    assert done.returncode == (1 if case.expected.startswith("error") else 0), done.stderr


@pytest.mark.parametrize(
    ("cuda", "floor", "package"),
    [
        ("13.0", "575.57.08", "torch==2.9.0+cu130"),  # Table 3: 13.0 GA >= 580.65.06
        ("12.8", "565.57.01", "torch==2.7.1+cu128"),  # Table 3: 12.8 GA >= 570.26
        ("12.4", "545.23.08", "torch==2.5.1+cu124"),  # Table 3: 12.4 GA >= 550.54.14
        ("11.8", "470.256.02", "torch==2.7.1+cu118"),  # Table 3: 11.8 GA >= 520.61.05
    ],
)
def test_lock_refuses_a_floor_the_cuda_build_cannot_start_on(
    tmp_path: Path, cuda: str, floor: str, package: str
) -> None:
    case = Case("", "", "linux", "any", floor, "", cuda, "", "", "", "", package=package)
    _project(tmp_path, case, floor)
    locked = run_mlenv(["lock"], tmp_path, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert locked.returncode != 0
    assert "driver-floor" in locked.stderr and f"driver {floor} is below" in locked.stderr


def test_wsl_driver_reporting_an_older_cuda_is_said_once_and_as_too_old() -> None:
    """WSL 2, a CUDA 13.0 lock, Windows driver 576.57 whose nvidia-smi prints "CUDA Version:
    12.9". Table 3's Windows column is N/A for 13.x, so the reported CUDA decides (nvidia-smi
    docs: the newest CUDA the driver supports). verify --host said two errors, one of them that
    the driver "cannot be checked by its number" and to run `mlenv verify --host` where
    nvidia-smi prints the CUDA Version, which is what had just run; now one error says the
    driver reports 12.9, below 13.0."""
    from mlenv.judge import Judged, verify_lock
    from tests.support.locks import HASH, locked, make_lock

    lock = make_lock([locked("torch", "2.9.0+cu130", "13.0")], cuda="13.0", floor="580.65.06")
    judged = Judged("576.57", "nvidia-smi", cuda="12.9", windows=True)
    (finding,) = verify_lock(lock, HASH, judged).findings
    assert (finding.severity, finding.code) == ("error", "driver-cuda-below-target")
    assert "reports CUDA Version 12.9, below the target CUDA 13.0" in finding.message
    assert "cannot be checked" not in finding.message
    assert "verify --host" not in finding.hint
    ok = verify_lock(lock, HASH, Judged("580.88", "nvidia-smi", cuda="13.0", windows=True))
    assert ok.findings == ()


# nvidia-smi's header as different drivers print it, copied from public issues (the URL each
# comes from): R610 renamed the labels (docs.nvidia.com/deploy/nvidia-smi: "deprecated Driver
# Version and CUDA Version in favor of KMD Version and CUDA UMD Version"); a driver whose CUDA
# library is not mounted prints "CUDA Version: N/A"; WSL 2 prints its own tool version beside
# the Windows driver, and "ERR!" when it cannot ask; before R410 there was no CUDA field.
_BANNERS = [
    (  # github.com/sgl-project/sglang/issues/27487 (B200, R610)
        "| NVIDIA-SMI 610.43.02              KMD"
        " Version: 610.43.02     CUDA UMD Version: 13.3     |",
        "610.43.02",
        "13.3",
    ),
    (  # github.com/Syllo/nvtop/issues/448 (R595)
        "| NVIDIA-SMI 595.71.05              Driver"
        " Version: 595.71.05      CUDA Version: 13.2     |",
        "595.71.05",
        "13.2",
    ),
    (  # github.com/turlucode/ros-docker-gui/issues/12 (container without the CUDA library)
        "| NVIDIA-SMI 470.57.02    Driver Version: 470.57.02    CUDA Version: N/A      |",
        "470.57.02",
        None,
    ),
    (  # github.com/microsoft/WSL/issues/11277 (WSL 2: Windows driver 555.99)
        "| NVIDIA-SMI 555.52.01              Driver"
        " Version: 555.99         CUDA Version: 12.5     |",
        "555.99",
        "12.5",
    ),
    (  # github.com/microsoft/WSL/issues/11589 (WSL 2, CUDA Version ERR!)
        "| NVIDIA-SMI 545.46                 Driver Version: 546.80       CUDA Version: ERR!     |",
        "546.80",
        None,
    ),
    (  # github.com/CFSworks/nvml_fix/issues/11 (R396: no CUDA field)
        "| NVIDIA-SMI 396.24                 Driver Version: 396.24                    |",
        "396.24",
        None,
    ),
    (  # nvidia-smi -q on R610: the old label kept, holding a deprecation note, not a version
        "KMD Version                               : 610.43.02\n"
        "CUDA UMD Version                          : 13.3\n"
        "Driver Version                            : [Deprecated; use KMD Version instead]\n",
        "610.43.02",
        "13.3",
    ),
]


@pytest.mark.parametrize(("text", "driver", "cuda"), _BANNERS)
def test_nvidia_smi_headers_of_every_driver_generation(
    text: str, driver: str, cuda: str | None
) -> None:
    from mlenv.host_text import parse_smi_banner

    banner = parse_smi_banner(text)
    assert banner is not None
    assert (banner.driver, banner.cuda) == (driver, cuda)


@pytest.mark.parametrize(
    ("value", "driver"),
    [
        ("580.65.06", "580.65.06"),
        ("470.256.02", "470.256.02"),
        ("535.288.01", "535.288.01"),
        ("610.43.02", "610.43.02"),
        ("580.65.06\n580.65.06\n", "580.65.06"),  # --format=csv,noheader on two GPUs
        ("driver_version\n575.57.08\n", "575.57.08"),  # --format=csv keeps its header
        ("32.0.15.8088", None),  # Windows' file version of 580.88: refused, 580.88 hinted
        ("610.43.02 (open)", None),
    ],
)
def test_driver_version_strings_as_nvidia_prints_them(value: str, driver: str | None) -> None:
    from mlenv.host_text import HostError, parse_driver_override

    if driver is not None:
        assert parse_driver_override(value) == driver
        return
    with pytest.raises(HostError) as caught:
        parse_driver_override(value)
    assert ("580.88" if value.startswith("32.") else "610.43.02") in (caught.value.hint or "")


def test_a_pascal_fleet_is_refused_a_cu128_torch_by_lock_and_by_verify_host(
    tmp_path: Path,
) -> None:
    """PyTorch's CUDA 12.8 wheels are built for 7.0;7.5;8.0;8.6;9.0;10.0;12.0 (its
    .ci/manywheel/build_cuda.sh: "removing sm_50-sm_60"), though CUDA 12.8 itself still builds
    for Pascal: a P100/GTX 1080 (6.0/6.1) fleet passed ``torch==2.8.0+cu128`` and failed at its
    first kernel. ``lock`` with cuda.archs sm_61 now refuses the build (and keeps +cu126), and
    ``verify --host`` on a 6.1 GPU fails a lock that holds it."""
    wheels = [
        build_wheel("torch", "2.8.0+cu128", tag=_TORCH_TAG),
        build_wheel("torch", "2.8.0+cu126", tag=_TORCH_TAG),
    ]
    url = write_simple_index(tmp_path / "www", wheels)

    def manifest(archs: str, pin: str) -> None:
        (tmp_path / "mlenv.toml").write_text(
            '[environment]\nname = "p"\npython = "3.11"\nplatforms = ["linux-64"]\n'
            f'[cuda]\nversion = "12.8"\ndriver-floor = "570.26"\n{archs}'
            f'[pypi]\nindex-url = "{url}"\ndependencies = ["{pin}"]\n'
        )

    env = {
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "MLENV_DRIVER_VERSION": "570.124.06",
        "MLENV_GPU_COMPUTE_CAP": "6.1",
    }
    manifest('archs = ["sm_61"]\n', "torch==2.8.0+cu128")
    refused = run_mlenv(["lock"], tmp_path, env)
    assert refused.returncode == 1
    assert "carry no code for sm_61" in refused.stderr
    manifest('archs = ["sm_61"]\n', "torch==2.8.0")
    kept = run_mlenv(["lock"], tmp_path, env)
    assert kept.returncode == 0, kept.stderr
    lock_text = (tmp_path / "mlenv.lock").read_text()
    assert "2.8.0+cu126" in lock_text and "cu128" not in lock_text
    manifest("", "torch==2.8.0+cu128")  # no archs promised: the lock holds the cu128 build
    assert run_mlenv(["lock"], tmp_path, env).returncode == 0
    done = run_mlenv(["verify", "--host", "--json"], tmp_path, env)
    assert done.returncode == 1
    codes = {(f["code"], f["package"]) for f in json.loads(done.stdout)["findings"]}
    assert codes == {("arch-not-built", "torch")}
    env["MLENV_GPU_COMPUTE_CAP"] = "7.0"  # Volta: kept in the cu128 list
    assert run_mlenv(["verify", "--host"], tmp_path, env).returncode == 0
