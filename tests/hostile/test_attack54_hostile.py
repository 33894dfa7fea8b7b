"""Attack pass 54: driver text in the shapes NVIDIA's tools and Windows really print it.

``MLENV_DRIVER_VERSION=R580`` lost the branch hint the driver reader gives ``--driver R580``;
Windows' own version of a driver (Device Manager: 32.0.15.7657 is NVIDIA's 576.57) was refused
without saying which number to write; ``nvidia-smi --query-gpu`` printing ``[Not Supported]``
for a field threw away every GPU; rows disagreeing on the driver had the first row believed.
A driver below the target's Table 3 value on a branch NVIDIA's forward-compatibility matrix
lists for the target's cuda-compat package got no word of that path in the hint.
Each test names what it protects and fails if its fix is undone.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cuda.matrix import forward_compat
from mlenv.cuda.rules import CudaTarget, judge
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.host_text import HostError, parse_driver_override, parse_smi_query

pytestmark = pytest.mark.hostile


def test_driver_override_naming_a_branch_says_it_is_a_branch() -> None:
    """NVIDIA writes branches as R580; the override must say so, as --driver R580 does."""
    with pytest.raises(HostError) as caught:
        parse_driver_override("R580")
    assert caught.value.where == "MLENV_DRIVER_VERSION"
    assert "names NVIDIA driver branch 580" in (caught.value.hint or "")
    assert "unset MLENV_DRIVER_VERSION" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("windows", "nvidia"),
    [
        ("32.0.15.7657", "576.57"),  # CUDA 12.9 Update 1's Windows driver (Table 3)
        ("31.0.15.5222", "552.22"),
        ("30.0.14.9649", "496.49"),
        ("31.0.15.2865", "528.65"),
    ],
)
def test_windows_file_version_is_refused_with_nvidias_number(windows: str, nvidia: str) -> None:
    """Windows shows a driver as 32.0.15.7657; Table 3 and nvidia-smi number it 576.57."""
    with pytest.raises(CudaError) as direct:
        DriverVersion.parse(windows)
    with pytest.raises(HostError) as override:
        parse_driver_override(windows)
    for caught in (direct, override):
        assert f"NVIDIA driver {nvidia}; write {nvidia}" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("580", "580"),
        ("580.65", "580.65"),
        ("570.26", "570.26"),  # CUDA 12.8 GA's Table 3 driver has two fields
        ("570.124.06", "570.124.06"),
        (" 580.65.06\r\n", "580.65.06"),
        ("580.65.06\n580.65.06\n", "580.65.06"),
    ],
)
def test_driver_override_real_shapes(text: str, expected: str) -> None:
    assert parse_driver_override(text) == expected


@pytest.mark.parametrize("text", ["garbage", "", "580.", "v580.65.06", "580.65.06-1", "0580.65"])
def test_driver_override_garbage_names_the_variable(text: str) -> None:
    with pytest.raises(HostError) as caught:
        parse_driver_override(text)
    assert caught.value.where == "MLENV_DRIVER_VERSION"
    assert caught.value.hint


def test_smi_query_not_supported_compute_cap_keeps_the_gpu() -> None:
    """nvidia-smi prints [Not Supported] as well as [N/A]; neither is a reason to drop GPUs."""
    gpus = parse_smi_query("535.104.05, [Not Supported], NVIDIA A100-SXM4-40GB\n")
    assert gpus is not None
    assert [(g.driver, g.compute_cap) for g in gpus] == [("535.104.05", None)]


def test_smi_query_rows_disagreeing_on_the_driver_are_refused() -> None:
    """One kernel module per host: rows naming two drivers leave no driver to believe."""
    text = "550.54.14, 9.0, NVIDIA H100\n535.104.05, 9.0, NVIDIA H100\n"
    assert parse_smi_query(text) is None


@given(
    major=st.integers(100, 999),
    minor=st.integers(0, 999),
    patch=st.one_of(st.none(), st.integers(0, 99)),
    gpus=st.integers(1, 8),
    crlf=st.booleans(),
)
def test_smi_query_agreeing_rows_give_one_driver(
    major: int, minor: int, patch: int | None, gpus: int, crlf: bool
) -> None:
    driver = f"{major}.{minor:02d}" + ("" if patch is None else f".{patch:02d}")
    end = "\r\n" if crlf else "\n"
    found = parse_smi_query(f"{driver}, 8.0, NVIDIA A100{end}" * gpus)
    assert found is not None
    assert {g.driver for g in found} == {driver}
    assert len(found) == gpus


# Forward compatibility (NVIDIA, forward-compatibility.html): never assumed, but named in the
# hint where NVIDIA's matrix lists the driver's branch for the target's cuda-compat package.


@pytest.mark.parametrize(
    ("cuda", "driver", "package"),
    [
        ("12.8", "535.104.05", "cuda-compat-12-8"),
        ("12.4", "535.54.03", "cuda-compat-12-4"),
        ("12.9", "570.124.06", "cuda-compat-12-9"),
        ("12.9", "535.104.05", "cuda-compat-12-9"),
        ("13.0", "570.124.06", "cuda-compat-13-0"),
        ("13.2", "580.65.06", "cuda-compat-13-2"),
    ],
)
def test_forward_compat_is_named_but_still_an_error(cuda: str, driver: str, package: str) -> None:
    (found,) = judge(CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver)), [])
    assert (found.severity, found.code) == ("error", "driver-below-toolkit")
    assert f"on the {driver.split('.')[0]} branch with {package}" in found.hint
    assert "only on data-center GPUs, select NGC Server Ready RTX SKUs and Jetson" in found.hint


@pytest.mark.parametrize(
    ("cuda", "driver"),
    [
        ("13.0", "575.57.08"),  # a New Feature Branch: not in NVIDIA's matrix
        ("12.8", "570.26"),  # its own branch: not below the minimum at all
        ("12.9", "560.35.03"),  # branch 560 is not listed (end of life)
        ("12.8", "550.54.14"),  # cuda-compat-12-8 is listed for 535 only
        ("12.2", "535.40.01"),  # cuda-compat-12-2 is N/A on 535, its own branch
        ("13.1", "530.30.02"),
    ],
)
def test_forward_compat_is_not_offered_off_nvidias_matrix(cuda: str, driver: str) -> None:
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver))
    assert forward_compat(target.cuda, target.driver_floor) is None
    assert all("cuda-compat" not in found.hint for found in judge(target, []))


@pytest.mark.parametrize("cuda", ["13.4", "13.5"])
def test_unconfirmed_target_hint_says_the_newest_known_value_is_secondary(cuda: str) -> None:
    """cuda.md: 13.3's 610.43.02 comes from third-party quotes of NVIDIA's notes only; a hint
    sending the user to 13.3 as "known" must say how it is known."""
    (found,) = judge(CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse("615.10")), [])
    assert found.code == "driver-unconfirmed"
    assert "13.3's only from secondary sources" in found.hint


@given(
    os_major=st.integers(10, 32),
    branch=st.integers(300, 999),
    minor=st.integers(0, 99),
    prefix=st.integers(1, 9),
)
def test_any_windows_file_version_hint_names_its_nvidia_number(
    os_major: int, branch: int, minor: int, prefix: int
) -> None:
    """Windows writes NVIDIA's abc.de as <os>.0.<p>a.bcde; the hint gives abc.de back."""
    nvidia = f"{branch}.{minor:02d}"
    digits = nvidia.replace(".", "")
    windows = f"{os_major}.0.{prefix}{digits[0]}.{digits[1:]}"
    with pytest.raises(HostError) as caught:
        parse_driver_override(windows)
    assert f"NVIDIA driver {nvidia};" in (caught.value.hint or "")
