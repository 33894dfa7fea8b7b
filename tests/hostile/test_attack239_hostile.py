"""Attack 239: CUDA round 2 against attack 234's change (nvidia-smi's per-GPU lines joined by
blanks read as one driver / one capability per GPU) and the CUDA verdicts around it: values
joined by other whitespace (NBSP, U+3000, VT, FF), a header repeated per GPU or written as a
cell, CSV quoting, commas, a copy with junk, empty values, 128 KiB of GPUs; the hints of a
compute capability spelt as an architecture and of CUDA 11.0-11.6 NVIDIA wheels; forward
compatibility as a checked host reports it.

Wrong before this pass:

- ``MLENV_GPU_COMPUTE_CAP="compute_cap,9.0"`` (the csv header written as a cell, which no
  nvidia-smi prints) was read as one GPU of 9.0; attack 234 moved the header skip from the
  first line to the first word.
- ``compute_90``, ``sm90``, ``90``, ``90-real`` and ``8.0,sm_90`` got the generic hint, and a
  bad item among good ones (``9.0 9.0x``, an empty value) was not named.
- For CUDA 11.0-11.6 the ``nvidia-*-cu11`` hint said "at the versions cuda-toolkit==11.x.*
  pins": PyPI's cuda-toolkit starts at 11.8, and NVIDIA's -cu11 wheels at 11.7.
- ``verify --host`` on a 580 kernel driver whose libcuda reports CUDA 13.3 (cuda-compat-13-3
  on the loader path, which NVIDIA's guide supports on the 580 branch for data-center GPUs)
  was refused as a plain driver-below-toolkit error; it is now a warning naming the package
  and its conditions, and still an error on a GeForce GPU (error 804) or a branch NVIDIA does
  not list.

``HELD`` keeps what already refused or read as NVIDIA's tools print it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv import host
from mlenv.cuda.packages import hint as gpu_hint
from mlenv.cuda.rules import CudaTarget, judge
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.host_text import HostError, parse_compute_cap_override, parse_driver_override
from tests.support.cli import run_in_process
from tests.support.cuda_project import locked_cuda_project
from tests.support.fake_host import with_glibc

pytestmark = pytest.mark.hostile

FORWARD = "https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html"
SMI = "https://docs.nvidia.com/deploy/nvidia-smi/index.html (--query-gpu --format=csv)"
PYPI_TOOLKIT = "https://pypi.org/project/cuda-toolkit/#history (11.8.0 is the first release)"


def _refused_cap(value: str) -> str:
    with pytest.raises(HostError) as caught:
        parse_compute_cap_override(value)
    return caught.value.hint or ""


# --- the findings: compute capabilities ------------------------------------------------------


def test_compute_cap_header_as_a_cell_is_refused() -> None:
    """Input: "compute_cap,9.0". Before: read as ('9.0',). Now: refused naming 'compute_cap';
    --format=csv prints its header on a line of its own (SMI)."""
    assert "'compute_cap' is not a compute capability" in _refused_cap("compute_cap,9.0")


@pytest.mark.parametrize(
    ("value", "write"),
    [("compute_90", "write 9.0"), ("sm90", "write 9.0"), ("90", "write 9.0"),
     ("90-real", "write 9.0"), ("8.0,sm_90", "write 8.0,9.0"), ("sm_100a 12.0", "write 10.0,12.0"),
     ("compute_120", "write 12.0")],
)  # fmt: skip
def test_architecture_spellings_say_the_capability(value: str, write: str) -> None:
    """Input: a GPU architecture as nvcc (compute_90), CMake (90, 90-real) or a wheel's arch
    list spells it, alone or beside capabilities. Before: the generic hint. Now: the fix."""
    assert _refused_cap(value).endswith(write)


@pytest.mark.parametrize(
    ("value", "named"),
    [("9.0 9.0x", "'9.0x'"), ("9.0,,9.0", "an empty value"), ("8.6;9.0", "'8.6;9.0'"),
     ("9.0\u00a09.0", "'9.0\\xa09.0'"), ("compute_cap compute_cap 9.0", "'compute_cap'"),
     ("sm_75a", "'sm_75a'")],
)  # fmt: skip
def test_the_bad_item_is_named(value: str, named: str) -> None:
    """Before: the generic hint, the bad item unnamed among good ones. Now: named first."""
    assert _refused_cap(value).startswith(named)


# --- the finding: CUDA 11.0-11.6 NVIDIA wheels -------------------------------------------------


@pytest.mark.parametrize("minor", range(9))
def test_cu11_hint_is_true_for_each_minor(minor: int) -> None:
    """Before: "at the versions cuda-toolkit==11.<minor>.* pins" for every 11.x; PyPI's
    cuda-toolkit has no release before 11.8 (PYPI_TOOLKIT). Now: only 11.8's pins are named."""
    text = gpu_hint("nvidia-cublas-cu11", CudaVersion(11, minor)) or ""
    assert "cuda-toolkit starts at 11.8" in text, PYPI_TOOLKIT
    assert f"cuda-toolkit==11.{minor}.*" not in text or minor == 8


# --- the finding: forward compatibility on a checked host --------------------------------------


def _target(cuda: str, driver: str, reported: str | None, gpus: tuple[str, ...] = ()) -> CudaTarget:
    said = CudaVersion.parse(reported) if reported else None
    target = CudaTarget(
        CudaVersion.parse(cuda), DriverVersion.parse(driver), (), True, reported=said
    )
    return dataclasses.replace(target, gpus=gpus) if gpus else target  # held: as before


H100 = ("NVIDIA H100 80GB HBM3",)


@pytest.mark.parametrize(
    ("cuda", "driver", "reported", "gpus", "code", "said"),
    [
        # cuda-compat-13-3 on 580: listed (FORWARD's matrix), a data-center GPU's name
        ("13.3", "580.95.05", "13.3", H100, "warning:driver-forward-compat", "cuda-compat-13-3"),
        ("13.2", "570.124.06", "13.3", (), "warning:driver-forward-compat", "cuda-compat-13-3"),
        ("12.8", "535.230.02", "12.9", H100, "warning:driver-forward-compat", "cuda-compat-12-9"),
        # a consumer GPU: CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (FORWARD)
        ("13.3", "580.95.05", "13.3", ("NVIDIA GeForce RTX 4090",), "error:driver-below-toolkit",
         "error 804"),
        ("13.1", "570.124.06", "13.1", ("NVIDIA TITAN RTX",), "error:driver-below-toolkit",
         "error 804"),
        # a branch NVIDIA's matrix does not list (550 is end of life)
        ("12.8", "550.54.14", "12.8", H100, "error:driver-below-toolkit",
         "does not support on the 550 branch"),
        # the compat library reports a CUDA below the target
        ("13.3", "580.95.05", "13.2", H100, "error:driver-below-toolkit", "still below CUDA 13.3"),
    ],
)  # fmt: skip
def test_forward_compat_as_the_host_reports_it(
    cuda: str, driver: str, reported: str, gpus: tuple[str, ...], code: str, said: str
) -> None:
    """Input: a checked kernel driver below the target's Table 3 driver whose CUDA Version is a
    newer branch's. Before: driver-below-toolkit whatever it reported. Now: NVIDIA's rules."""
    (found,) = judge(_target(cuda, driver, reported, gpus), [])
    assert f"{found.severity}:{found.code}" == code, FORWARD
    assert said in found.message, FORWARD


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A CUDA 13.3 project (Table 3: 610.43.02), locked by the real CLI."""
    return locked_cuda_project(tmp_path_factory.mktemp("a239"), "13.3", "610.43.02")


def _compat_host(gpu: str) -> object:
    """A 580.95.05 kernel module whose nvidia-smi reports CUDA 13.3 (cuda-compat-13-3 loaded)."""
    query = ("nvidia-smi", "--query-gpu=driver_version,compute_cap,name", "--format=csv,noheader")
    banner = "| NVIDIA-SMI 580.95.05   Driver Version: 580.95.05   CUDA Version: 13.3 |\n"
    files = {"/sys/module/nvidia/version": "580.95.05\n"}
    outputs = {query: f"580.95.05, 9.0, {gpu}\n", ("nvidia-smi",): banner}
    return with_glibc(files, outputs, {})


def test_verify_host_warns_under_forward_compat(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: exit 1, driver-below-toolkit. Now: exit 0 with a warning naming the package, the
    data-center condition and the GPU to check."""
    monkeypatch.setattr(host, "RealHost", lambda: _compat_host("NVIDIA H100 80GB HBM3"))
    code, out, err = run_in_process(["verify", "--host"], *project)
    assert code == 0, out + err
    assert "driver-forward-compat" in out and "cuda-compat-13-3" in out, FORWARD
    assert "data-center" in out and "NVIDIA H100 80GB HBM3" in out


def test_verify_host_refuses_forward_compat_on_geforce(
    project: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host, "RealHost", lambda: _compat_host("NVIDIA GeForce RTX 4090"))
    code, out, err = run_in_process(["verify", "--host"], *project)
    assert code == 1, out + err
    assert "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE" in out, FORWARD


# --- held ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "driver", "reported"),
    [("12.8", "565.77.01", "12.7"),  # 565 reports 12.7, a CUDA no toolkit shipped: its own
     ("13.3", "610.20", "13.3"),  # an early 610 driver reports its branch's CUDA
     ("13.3", "580.95.05", None), ("13.3", "580.95.05", "13.0")],
)  # fmt: skip
def test_held_no_forward_compat_claimed(cuda: str, driver: str, reported: str | None) -> None:
    (found,) = judge(_target(cuda, driver, reported), [])
    assert found.code == "driver-below-toolkit" and "forward-compatible" not in found.message


# Whitespace a shell never joins lines with (NBSP, U+3000, VT, FF, NEL, zero-width space), a
# header per GPU, CSV quoting, a comma, a copy with junk: each is refused naming the value.
_OTHER_SPACE = st.sampled_from(["\u00a0", "\u3000", "\v", "\f", "\x85", "\u2028", "\u200b"])


@given(driver=st.sampled_from(["560.35.03", "580.95.05"]), space=_OTHER_SPACE)
def test_held_other_whitespace_is_refused(driver: str, space: str) -> None:
    value = f"{driver}{space}{driver}"
    with pytest.raises(HostError) as caught:
        parse_driver_override(value)
    assert repr(value) in caught.value.message
    with pytest.raises(HostError):
        parse_compute_cap_override(f"9.0{space}9.0")


@pytest.mark.parametrize(
    "value",
    ["driver_version 560.35.03 driver_version 560.35.03", '"560.35.03"', "560.35.03, 560.35.03",
     "560.35.03 560.35.03junk", "560.35.03 560.35.03 x", "560.35.03\r560.35.03",
     "560.35.03 560.35.03 560.35.04"],
)  # fmt: skip
def test_held_driver_shapes_refused(value: str) -> None:
    with pytest.raises(HostError) as caught:
        parse_driver_override(value)
    assert repr(value) in caught.value.message and "560.35.0" in (caught.value.hint or "")


def test_held_linear_in_gpus() -> None:
    """An environment variable holds at most 128 KiB (Linux MAX_ARG_STRLEN): that many GPUs'
    lines read and refused in well under a second each."""
    gpus = 131072 // len("560.35.03 ")
    started = time.monotonic()
    assert parse_driver_override(" ".join(["560.35.03"] * gpus)) == "560.35.03"
    assert len(parse_compute_cap_override(" ".join(["9.0"] * (131072 // 4)))) == 131072 // 4
    with pytest.raises(HostError):
        parse_driver_override(" ".join(["560.35.03"] * gpus) + " 560.35.04")
    with pytest.raises(HostError):
        parse_compute_cap_override(" ".join(["9.0"] * (131072 // 4)) + " 9.0x")
    assert time.monotonic() - started < 5.0
