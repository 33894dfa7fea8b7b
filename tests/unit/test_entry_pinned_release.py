"""An entry's recorded ``requires-driver`` is its floor in verify, as it was in `mlenv lock`.

`mlenv lock` reads a wheel's CUDA update release from the components its METADATA pins
(torch 2.8.0's ``nvidia-cuda-runtime-cu12==12.8.90`` is CUDA 12.8 Update 1) and records that
update's driver on the entry and on [target]. verify cannot re-read METADATA offline; when no
other entry carries the update (an override dropped the pinned components) it used to derive
the GA's driver and call the lock's [target] edited, and `mlenv lock` then lowered [target]
below the entry. Every Table 3 row is tried: its driver, recorded on a wheel of its minor, is
what [target] must record.
"""

from __future__ import annotations

import pytest

from mlenv.cuda.matrix import facts
from mlenv.cuda_fields import rederived
from mlenv.judge import Judged, verify_lock
from mlenv.lockfile import Lock
from tests.support.locks import HASH, codes, locked, make_lock

ROWS = sorted(
    {(str(row.cuda), str(row.linux)) for row in facts().releases if row.linux is not None}
)


def _lock(cuda: str, driver: str, floor: str, target: str | None = None) -> Lock:
    torch = locked("torch", "2.8.0", cuda, requires_driver=driver)
    return make_lock([torch], cuda=cuda, floor=floor, requires_driver=target or driver)


@pytest.mark.parametrize(("cuda", "driver"), ROWS)
def test_a_recorded_update_driver_is_the_floor_verify_needs(cuda: str, driver: str) -> None:
    floor = str(min(row.linux for row in facts().releases if str(row.cuda) == cuda and row.linux))
    lock = _lock(cuda, driver, floor)
    verdict = verify_lock(lock, HASH, None)
    assert verdict.requires_driver == driver
    assert not [c for c in codes(verdict) if c[0] == "error"], verdict.findings
    assert rederived(lock) is lock


def test_a_host_below_the_recorded_update_is_told_so() -> None:
    lock = _lock("12.8", "570.124.06", "570.26")
    verdict = verify_lock(lock, HASH, Judged("570.86.10", "MLENV_DRIVER_VERSION"))
    compat = [f for f in verdict.findings if f.code == "driver-minor-compat"]
    assert [f.package for f in compat] == ["torch"]
    assert "570.124.06" in compat[0].message and "requires-driver" in compat[0].message


def test_target_below_the_recorded_update_stays_refused() -> None:
    lowered = _lock("12.8", "570.124.06", "570.26", target="570.26")
    verdict = verify_lock(lowered, HASH, None)
    assert ("error", "lock-driver-mismatch", "") in codes(verdict)
    assert rederived(lowered).target.requires_driver == "570.124.06"


def test_a_recorded_driver_of_another_minor_is_still_refused() -> None:
    lock = _lock("12.8", "575.51.03", "570.26")  # 12.9's driver on a 12.8 build
    verdict = verify_lock(lock, HASH, None)
    assert ("error", "lock-driver-mismatch", "torch") in codes(verdict)
