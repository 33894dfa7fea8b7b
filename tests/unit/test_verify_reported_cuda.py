"""verify --host judges the "CUDA Version" the driver reports, not only its number.

NVIDIA: nvidia-smi's "CUDA Version" is the newest CUDA the installed driver supports, and the
container runtime checks an image's NVIDIA_REQUIRE_CUDA=cuda>=X.Y against it
(https://docs.nvidia.com/deploy/cuda-compatibility/). On WSL 2 the driver number is the
Windows driver's, whose Table 3 column differs from Linux's (CUDA 12.4 GA: Linux >= 550.54.14,
Windows >= 551.61, https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/
index.html), so Windows 551.23 (a CUDA 12.3 driver) passed a CUDA 12.4 lock by number alone.
"""

from __future__ import annotations

import pytest

from mlenv.judge import Judged, verify_lock
from tests.support.locks import HASH, codes, locked, make_lock

LOCK = make_lock([locked("torch", "2.6.0+cu124")])


@pytest.mark.parametrize(
    ("judged", "expected"),
    [
        # WSL 2: Windows 551.23 reports CUDA 12.3; Table 3 Windows needs 551.61 for 12.4
        (
            Judged("551.23", "nvidia-smi", cuda="12.3"),
            [("error", "driver-cuda-below-target", "")],
        ),
        (Judged("551.61", "nvidia-smi", cuda="12.4"), []),
        (Judged("580.88", "nvidia-smi", cuda="13.0"), []),
        # Linux: the driver number already says it; one finding, not two
        (
            Judged("535.104.05", "nvidia-smi", cuda="12.2"),
            [("error", "driver-below-toolkit", "")],
        ),
        # no reported CUDA (--driver, or an override): the number alone decides
        (Judged("551.23", "--driver"), []),
    ],
)
def test_the_reported_cuda_version_must_reach_the_target(
    judged: Judged, expected: list[tuple[str, str, str]]
) -> None:
    assert codes(verify_lock(LOCK, HASH, judged)) == expected


def test_the_finding_says_what_the_driver_reports() -> None:
    (finding,) = verify_lock(LOCK, HASH, Judged("551.23", "nvidia-smi", cuda="12.3")).findings
    assert finding.message == (
        "driver 551.23 reports CUDA Version 12.3, below the target CUDA 12.4: the container "
        "runtime will not start the image on it"
    )
    assert finding.hint == "upgrade the driver to one that reports CUDA Version 12.4 or newer"
