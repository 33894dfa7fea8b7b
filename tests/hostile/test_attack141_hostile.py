"""Attack 141: the three CUDA judges (`mlenv lock`, `mlenv verify` of the lock or of a driver,
and the built image's NVIDIA_REQUIRE_CUDA as the NVIDIA container runtime reads it) swept over
every toolkit update of Table 3 and drivers just below, at and just above each value.

Findings:

1. A lock whose packages come from a later toolkit update than the driver floor's release
   (floor 550.54.14, the CUDA 12.4 GA driver; cuda-toolkit 12.4.1, 550.54.15) was passed by
   `lock` and lock-only `verify` with a warning (minor-version compatibility: it runs, with
   caveats), but the image asked ``driver>=550.54.15`` and the runtime refuses it on the
   floor; the same on every update of 12.0-13.2 (172 disagreements). NVIDIA's facts: the app
   runs on the GA driver of its minor under minor-version compatibility (CUDA Compatibility
   guide), so the image must ask only what must hold (``cuda>=X.Y,driver>=<GA values>``).
2. torch 2.14.1 pins ``cuda-toolkit==13.0.3`` (its METADATA): `lock` said it uses CUDA
   13.0.3, `verify` said 13.0.2, reading the release back from the recorded driver
   (580.95.05, which 13.0.3 shares with 13.0.2 in Table 3: 13.0.3 has no row of its own).

Expected values come from Table 3 as cuda.md §1 records it (written down here and in
``tests/support/nvidia_table3.py``), the runtime's rules from ``tests/support/nvidia_dsl.py``.
"""

from __future__ import annotations

import pytest

from mlenv.build_outputs import require_cuda
from mlenv.judge import Judged, Verdict, verify_lock
from mlenv.judge_outputs import image_requirement_findings
from mlenv.lockfile import Lock
from tests.support.locks import HASH, locked, make_lock
from tests.support.nvidia_dsl import runtime_accepts
from tests.support.nvidia_table3 import TABLE_3

# Table 3 (13.2 Update 2 edition), Linux x86_64: updates whose driver differs from the GA's.
UPDATES = [
    ("12.0.1", "525.85.12"),
    ("12.2.1", "535.86.09"),
    ("12.2.2", "535.104.05"),
    ("12.3.1", "545.23.08"),
    ("12.4.1", "550.54.15"),
    ("12.5.1", "555.42.06"),
    ("12.6.1", "560.35.03"),
    ("12.6.3", "560.35.05"),
    ("12.8.1", "570.124.06"),
    ("12.9.1", "575.57.08"),
    ("13.0.1", "580.82.07"),
    ("13.0.2", "580.95.05"),
    ("13.1.1", "590.48.01"),
    ("13.2.1", "595.58.03"),
    ("13.2.2", "595.71.05"),
]
GA = {cuda: linux for cuda, linux, _ in TABLE_3}


def _key(driver: str) -> tuple[int, ...]:
    return tuple(int(part) for part in driver.split("."))


def _around(driver: str) -> list[str]:
    parts = _key(driver)
    below = [*parts[:-1], parts[-1] - 1] if parts[-1] else [parts[0] - 1]
    above = [*parts[:-1], parts[-1] + 1]
    return [".".join(map(str, below)), driver, ".".join(map(str, above))]


def _reported(driver: str) -> str:
    """The CUDA Version a Linux driver reports: the newest X.Y whose GA driver it meets."""
    met = [cuda for cuda, linux in GA.items() if _key(linux) <= _key(driver)]
    return max(met, key=lambda cuda: _key(cuda))


def _cases() -> list[tuple[str, str, str, str]]:
    """(target CUDA, update release, update driver, driver judged): the update's own minor and
    the one before it as targets."""
    cases = []
    for release, update in UPDATES:
        minor = release.rsplit(".", 1)[0]
        major = minor.split(".")[0]
        older = [c for c in GA if c.split(".")[0] == major and _key(c) < _key(minor)]
        targets = [minor, *([max(older, key=_key)] if older else [])]
        for target in targets:
            drivers = {*_around(GA[target]), *_around(GA[minor]), *_around(update)}
            cases += [(target, release, update, d) for d in sorted(drivers, key=_key)]
    return cases


def _verdicts(lock: Lock, driver: str) -> tuple[Verdict, Verdict]:
    at_floor = verify_lock(make_lock(list(lock.platforms[0].packages), lock.target.cuda, driver),
                           HASH, None)  # fmt: skip
    checked = verify_lock(lock, HASH, Judged(driver, "--driver"))
    return at_floor, checked


@pytest.mark.parametrize(("target", "release", "update", "driver"), _cases())
def test_lock_verify_and_the_image_agree_on_every_driver(
    target: str, release: str, update: str, driver: str
) -> None:
    """Below the GA drivers (target's, and the package's minor's): refused by all three; from
    them to the update's driver: runs under minor-version compatibility, a warning, and the
    runtime starts the image; from the update's driver on: clean. No brand changes it: mlenv's
    requirement has no forward-compatibility term."""
    minor = release.rsplit(".", 1)[0]
    lock = make_lock([locked("cuda-toolkit", release, minor)], target, GA[target])
    must = max(_key(GA[target]), _key(GA[minor]))
    runs = _key(driver) >= must
    at_floor, checked = _verdicts(lock, driver)
    codes = [(f.severity, f.code) for f in checked.findings]
    if not runs:
        assert not at_floor.ok and not checked.ok, codes
    elif _key(driver) < _key(update):
        assert codes == [("warning", "driver-minor-compat")]
        assert [(f.severity, f.code) for f in at_floor.findings] == codes
    else:
        assert codes == [] and at_floor.findings == ()
    value = require_cuda(lock)
    assert value is not None
    for brand in ("Tesla", "GeForce", "Unknown"):
        starts = runtime_accepts(value, cuda=_reported(driver), driver=driver, brand=brand)
        assert starts == runs, (value, brand)
    image = image_requirement_findings([value], driver, _reported(driver))
    assert (image == []) == runs, image


def test_the_reported_floor_case_starts_the_image() -> None:
    """The report: floor 550.54.14 (CUDA 12.4 GA), packages of 12.4 Update 1 (550.54.15)."""
    lock = make_lock([locked("cuda-toolkit", "12.4.1", "12.4")], "12.4", "550.54.14")
    verdict = verify_lock(lock, HASH, None)
    assert [(f.severity, f.code) for f in verdict.findings] == [("warning", "driver-minor-compat")]
    assert verdict.requires_driver == "550.54.15"  # the full feature set, as the lock records
    assert require_cuda(lock) == "cuda>=12.4,driver>=550.54.14"
    assert runtime_accepts(require_cuda(lock) or "", cuda="12.4", driver="550.54.14",
                           brand="Tesla")  # fmt: skip


def test_a_newer_minor_build_asks_its_minors_ga_driver() -> None:
    """CUDA 12.6.3 (560.35.05) under a CUDA 12.4 target: refused below 12.6 GA (560.28.03),
    warned from there: the image asks 560.28.03, not 560.35.05."""
    lock = make_lock([locked("cuda-toolkit", "12.6.3", "12.6")], "12.4", "560.28.03")
    assert require_cuda(lock) == "cuda>=12.4,driver>=560.28.03"


def test_verify_reads_torch_2_14_1_as_cuda_13_0_3_as_lock_does() -> None:
    """torch 2.14.1 pins cuda-toolkit==13.0.3 (its METADATA, the local mirror's wheel); the
    lock records its driver, 580.95.05 (13.0.3 has no Table 3 row: 13.0.2's value). verify must
    name the release the locked cuda-toolkit gives, 13.0.3, as `lock` did, not 13.0.2."""
    toolkit = locked("cuda-toolkit", "13.0.3.0", "13.0")
    torch = locked("torch", "2.14.1", "13.0", requires_driver="580.95.05",
                   dependencies=("cuda-toolkit", "filelock"),
                   filename="torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl")  # fmt: skip
    lock = make_lock([toolkit, torch], "13.0", "580.65.06")
    found = {f.package: f for f in verify_lock(lock, HASH, None).findings}
    assert found["torch"].code == "driver-minor-compat"
    assert "torch 2.14.1 uses CUDA 13.0.3 " in found["torch"].message
    assert "13.0.2" not in found["torch"].message.split("needs driver")[0]


def test_without_the_pinning_dependency_verify_still_names_a_release_of_that_driver() -> None:
    """An override dropped cuda-toolkit: the recorded driver alone names Table 3's first row
    with it, CUDA 13.0.2 (580.95.05), still a real release of that driver."""
    torch = locked("torch", "2.14.1", "13.0", requires_driver="580.95.05",
                   filename="torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl")  # fmt: skip
    lock = make_lock([torch], "13.0", "580.65.06")
    (finding,) = verify_lock(lock, HASH, None).findings
    assert "uses CUDA 13.0.2 " in finding.message
