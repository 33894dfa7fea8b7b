"""Adversary pass 79: WSL 2 leftovers of pass 71, and `mlenv init --from` leftovers of pass 75.

WSL 2 (shared/reference/cuda.md): nvidia-smi on WSL 2 prints the *Windows* host's driver, which
Table 3's Windows column ranks (cuda.md §1), and Table 2's Windows minor-version compatibility
floors are 452.39 for 11.x and 527.41 for 12.x (cuda.md §2). §2 notes a conflicting 528.33 for
12.x (uv, TensorFlow pip.md, the 12.0 *Update 1* Table 3 row); 527.41 is the value of NVIDIA's
own minor-version compatibility guide (the primary source §2 cites, "confirmed" per the header)
and of Table 3's 12.0 GA row, the first 12.x toolkit, so it is followed here. For 13.x the
Windows column is N/A (§1); nvidia-smi's "CUDA Version" is the newest CUDA the driver supports
(§4) and is what the container runtime compares (§7), so it decides there.

Pass 71 taught the target judgement the Windows columns; a lock with *no* CUDA target still
judged each package's need on a WSL host by the Linux column, and a newer-minor package on a
WSL 13.x target was "driver-unconfirmed" even when the reported CUDA Version covered it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.versions import DriverVersion
from mlenv.judge import Judged, verify_lock
from mlenv.lockfile import Lock
from tests.support.locks import HASH, codes, locked, make_lock

# (torch local tag, Table 3 GA Linux, Table 3 GA Windows): typed from cuda.md §1
TORCH_ROWS = [
    ("cu129", "575.51.03", "576.02"),
    ("cu128", "570.26", "570.65"),
    ("cu126", "560.28.03", "560.76"),
    ("cu124", "550.54.14", "551.61"),
    ("cu121", "530.30.02", "531.14"),
    ("cu118", "520.61.05", "520.06"),
    ("cu117", "515.43.04", "516.01"),
    ("cu113", "465.19.01", "465.89"),
    ("cu111", "455.23", "456.38"),
    ("cu102", "440.33", "441.22"),
]
# Table 2 minor-version compatibility floors, cuda.md §2: (Linux, Windows)
MAJOR_FLOORS = {"cupy-cuda11x": ("450.80.02", "452.39"), "cupy-cuda12x": ("525.60.13", "527.41")}


def _untargeted(name: str, version: str) -> Lock:
    return make_lock([locked(name, version)], cuda=None, floor=None, requires_driver=None)


def _errors(lock: Lock, judged: Judged) -> list[tuple[str, str, str]]:
    return [c for c in codes(verify_lock(lock, HASH, judged)) if c[0] == "error"]


def _wsl(driver: str, cuda: str = "") -> Judged:
    return Judged(driver, "nvidia-smi", cuda=cuda, windows=True)


def test_an_untargeted_cu124_torch_on_wsl_is_ranked_by_the_windows_column() -> None:
    """12.4 GA: Linux >= 550.54.14, Windows >= 551.61. Windows 551.23 passed by Linux's."""
    lock = _untargeted("torch", "2.6.0+cu124")
    verdict = verify_lock(lock, HASH, _wsl("551.23"))
    assert [(f.code, f.needs) for f in verdict.findings if f.severity == "error"] == [
        ("driver-below-package", "driver >= 551.61")
    ]
    message = next(f.message for f in verdict.findings if f.severity == "error")
    assert "the Windows driver is 551.23 (checked, WSL 2)" in message
    assert _errors(lock, _wsl("551.61")) == []
    assert _errors(lock, Judged("551.23", "nvidia-smi")) == []  # a Linux 551.23 is enough


@pytest.mark.parametrize(("tag", "linux", "windows"), TORCH_ROWS)
def test_each_untargeted_torch_build_takes_its_own_column(
    tag: str, linux: str, windows: str
) -> None:
    lock = _untargeted("torch", f"2.0.0+{tag}")
    below = [("error", "driver-below-package", "torch")]
    assert _errors(lock, _wsl(windows)) == []
    assert _errors(lock, Judged(linux, "nvidia-smi")) == []
    assert _errors(lock, _wsl(_less(windows))) == below
    assert _errors(lock, Judged(_less(linux), "nvidia-smi")) == below


def _less(driver: str) -> str:
    parts = driver.split(".")
    if int(parts[-1]) > 0:
        return ".".join([*parts[:-1], str(int(parts[-1]) - 1).zfill(len(parts[-1]))])
    return f"{int(parts[0]) - 1}.99"


@settings(max_examples=120)
@given(
    row=st.sampled_from(TORCH_ROWS),
    major=st.integers(400, 600),
    minor=st.integers(0, 99),
    windows=st.booleans(),
)
def test_any_checked_driver_is_below_exactly_when_its_column_says(
    row: tuple[str, str, str], major: int, minor: int, windows: bool
) -> None:
    tag, linux, win = row
    driver = f"{major}.{minor:02d}"
    floor = DriverVersion.parse(win if windows else linux)
    judged = Judged(driver, "nvidia-smi", windows=windows)
    found = _errors(_untargeted("torch", f"2.0.0+{tag}"), judged)
    assert (found == [("error", "driver-below-package", "torch")]) == (
        DriverVersion.parse(driver) < floor
    )
    assert found in ([], [("error", "driver-below-package", "torch")])


@pytest.mark.parametrize("name", sorted(MAJOR_FLOORS))
def test_a_major_only_build_on_wsl_takes_table_2s_windows_floor(name: str) -> None:
    """cupy-cuda12x on WSL: 527.41 (cuda.md §2's primary value, not 528.33); Linux 525.60.13."""
    linux, windows = MAJOR_FLOORS[name]
    lock = _untargeted(name, "13.0.0")
    below = [("error", "driver-below-package", name)]
    assert _errors(lock, _wsl(windows)) == []
    assert _errors(lock, _wsl(_less(windows))) == below
    assert _errors(lock, _wsl(linux)) == below  # Linux's floor is below Windows'
    assert _errors(lock, Judged(linux, "nvidia-smi")) == []
    needs = [f.needs for f in verify_lock(lock, HASH, _wsl(linux)).findings]
    assert f"driver >= {windows}" in needs


@pytest.mark.parametrize(
    ("name", "version"), [("torch", "2.9.0+cu130"), ("cupy-cuda13x", "13.6.0")]
)
def test_an_untargeted_13x_build_on_wsl_is_judged_by_the_reported_cuda(
    name: str, version: str
) -> None:
    """Table 3's Windows column is N/A for 13.x (cuda.md §1); nvidia-smi's CUDA Version decides."""
    lock = _untargeted(name, version)
    assert _errors(lock, _wsl("581.15", cuda="13.0")) == []
    assert _errors(lock, _wsl("581.15", cuda="13.2")) == []
    assert _errors(lock, _wsl("576.02", cuda="12.9")) == [("error", "driver-below-package", name)]
    # without the reported number nothing ranks a Windows 13.x driver: refused, not guessed
    assert _errors(lock, _wsl("581.15")) == [("error", "driver-unconfirmed", name)]


def _wsl_13(package: str) -> Lock:
    return make_lock([locked("torch", package)], cuda="13.0", floor="580.65.06")


def test_a_newer_minor_build_on_a_wsl_13x_target_is_judged_by_the_reported_cuda() -> None:
    """A +cu132 torch on a 13.0 target: NVIDIA's example (cuda.md §2) is a driver reporting
    CUDA 13.0 running the 13.4 runtime only under minor-version compatibility, which the rules
    refuse for a newer minor (no PTX JIT); a driver reporting 13.2 supports 13.2 fully (§4)."""
    lock = _wsl_13("2.10.0+cu132")
    assert _errors(lock, _wsl("595.79", cuda="13.2")) == []
    assert _errors(lock, _wsl("595.79", cuda="13.3")) == []
    verdict = verify_lock(lock, HASH, _wsl("581.15", cuda="13.0"))
    assert [(f.code, f.needs) for f in verdict.findings if f.severity == "error"] == [
        ("cuda-newer-minor", "CUDA Version >= 13.2")
    ]
    assert "reports CUDA Version 13.0" in verdict.findings[0].message
    assert "reports CUDA Version 13.2 or newer" in verdict.findings[0].hint
    # not on WSL: Linux's Table 3 ranks the number (13.2 GA needs 595.45.04)
    assert _errors(lock, Judged("595.45.04", "nvidia-smi", cuda="13.2")) == []
    assert _errors(lock, Judged("581.15", "nvidia-smi", cuda="13.0")) == [
        ("error", "cuda-newer-minor", "torch")
    ]
