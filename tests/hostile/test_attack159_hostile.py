"""Attack 159: a second pass over NVIDIA's CUDA facts, each row with the NVIDIA text it comes from.

``tests/support/data/nvidia_cuda_facts.csv`` holds the facts that are not one ``judge`` verdict
(those went into ``nvidia_cuda_cases.csv``, checked by attack 146): the CUDA Version a driver
reports, which ``cuda-compat-X-Y`` NVIDIA's forward-compatibility matrix gives a driver branch
(none for an end-of-life branch), Table 3's Windows column for the update releases, the
minor-version compatibility floors, how the NVIDIA runtime reads a real ``nvidia/cuda`` base
image's ``NVIDIA_REQUIRE_CUDA`` with its ``brand=`` forward-compatibility terms, and the
driver on ``/proc/driver/nvidia/version`` as the open kernel module prints it, and the
release a component wheel's version belongs to (release notes Table 1). ``-`` expects no
value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mlenv.cuda.matrix import forward_compat, major_floor, minor_compat_floor, table3_driver
from mlenv.cuda.requirement import evaluate_requirement, reported_cuda
from mlenv.cuda.rules import CudaTarget, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.host_text import parse_proc_driver_version
from tests.support.csv_rows import csv_rows

FACTS_FILE = Path(__file__).parents[1] / "support" / "data" / "nvidia_cuda_facts.csv"

# nvidia/cuda:12.0.0-base-ubuntu22.04's NVIDIA_REQUIRE_CUDA (gitlab.com/nvidia/container-images/
# cuda, dist/12.0.0/ubuntu2204/base/Dockerfile): cuda>=12.0, or a data-center GPU on R450, or
# any brand on R470/R510/R515/R520 (the image carries cuda-compat-12-0).
REQUIRE_12_0_BASE = (
    "cuda>=12.0 brand=tesla,driver>=450,driver<451 "
    "brand=tesla,driver>=470,driver<471 brand=unknown,driver>=470,driver<471 "
    "brand=nvidia,driver>=470,driver<471 brand=nvidiartx,driver>=470,driver<471 "
    "brand=geforce,driver>=470,driver<471 brand=geforcertx,driver>=470,driver<471 "
    "brand=quadro,driver>=470,driver<471 brand=quadrortx,driver>=470,driver<471 "
    "brand=titan,driver>=470,driver<471 brand=titanrtx,driver>=470,driver<471 "
    "brand=tesla,driver>=510,driver<511 brand=unknown,driver>=510,driver<511 "
    "brand=nvidia,driver>=510,driver<511 brand=nvidiartx,driver>=510,driver<511 "
    "brand=geforce,driver>=510,driver<511 brand=geforcertx,driver>=510,driver<511 "
    "brand=quadro,driver>=510,driver<511 brand=quadrortx,driver>=510,driver<511 "
    "brand=titan,driver>=510,driver<511 brand=titanrtx,driver>=510,driver<511 "
    "brand=tesla,driver>=515,driver<516 brand=unknown,driver>=515,driver<516 "
    "brand=nvidia,driver>=515,driver<516 brand=nvidiartx,driver>=515,driver<516 "
    "brand=geforce,driver>=515,driver<516 brand=geforcertx,driver>=515,driver<516 "
    "brand=quadro,driver>=515,driver<516 brand=quadrortx,driver>=515,driver<516 "
    "brand=titan,driver>=515,driver<516 brand=titanrtx,driver>=515,driver<516 "
    "brand=tesla,driver>=520,driver<521 brand=unknown,driver>=520,driver<521 "
    "brand=nvidia,driver>=520,driver<521 brand=nvidiartx,driver>=520,driver<521 "
    "brand=geforce,driver>=520,driver<521 brand=geforcertx,driver>=520,driver<521 "
    "brand=quadro,driver>=520,driver<521 brand=quadrortx,driver>=520,driver<521 "
    "brand=titan,driver>=520,driver<521 brand=titanrtx,driver>=520,driver<521"
)


@dataclass(frozen=True)
class Fact:
    id: str
    source: str
    function: str
    input: str
    expected: str
    note: str


FACTS = csv_rows(FACTS_FILE, Fact)


def _answer(fact: Fact) -> str:
    """What mlenv answers for the fact's function and input, ``-`` for no value."""
    if fact.function == "reported_cuda":
        return reported_cuda(fact.input)
    if fact.function == "forward_compat":
        cuda, driver = fact.input.split("|")
        return forward_compat(CudaVersion.parse(cuda), DriverVersion.parse(driver)) or "-"
    if fact.function == "table3_windows":
        minor = CudaVersion.parse(".".join(fact.input.split(".")[:2]))
        found = table3_driver(minor, fact.input, windows=True)
        return "-" if found is None else str(found[0])
    if fact.function == "minor_floor":
        return str(minor_compat_floor(int(fact.input)))
    if fact.function == "minor_floor_windows":
        floor = major_floor(int(fact.input), windows=True)
        return "-" if floor is None else str(floor[0])
    if fact.function == "require":
        driver, brand = fact.input.split("|")
        held = evaluate_requirement(
            REQUIRE_12_0_BASE, cuda=reported_cuda(driver), driver=driver, brand=brand
        )
        return "true" if held else "false"
    if fact.function == "component_release":
        name, version = fact.input.split("==")
        need = extract(name, version)
        return "-" if need is None or need.release is None else need.release
    if fact.function == "proc_version":
        return parse_proc_driver_version(fact.input) or "-"
    raise AssertionError(f"{fact.id}: unknown function {fact.function}")


def test_every_fact_names_its_source() -> None:
    assert len(FACTS) >= 60
    assert len({fact.id for fact in FACTS}) == len(FACTS)
    assert all(fact.source and fact.expected for fact in FACTS)


@pytest.mark.parametrize("fact", FACTS, ids=[fact.id for fact in FACTS])
def test_nvidia_fact(fact: Fact) -> None:
    assert _answer(fact) == fact.expected, (fact.source, fact.note)


@pytest.mark.parametrize(
    ("cuda", "arch", "absent"),
    [
        ("13.0", "sm_101", "sm_107"),  # Rubin (CC 10.7) from 13.4 only
        ("12.8", "sm_88", "sm_103"),  # sm_103 and sm_121 from 12.9
        ("12.0", "sm_88", "sm_100"),  # Blackwell from 12.8
    ],
)
def test_an_arch_refusal_lists_only_what_the_target_cuda_builds_for(
    cuda: str, arch: str, absent: str
) -> None:
    """CUDA 13.0 release notes and nvcc 13.0.88 --list-gpu-arch (no sm_107), the 13.4
    documentation (Rubin from 13.4): a CUDA 13.0 target refused sm_101 with the hint "CUDA
    13.x supports ... sm_107 ...", naming as the answer an architecture mlenv itself refuses
    on 13.0; the hint now lists the target release's own architectures."""
    driver = DriverVersion.parse("620")
    (finding,) = judge(CudaTarget(CudaVersion.parse(cuda), driver, (arch,)), [])
    assert finding.code == "arch-unsupported"
    assert f"CUDA {cuda} supports " in finding.hint
    listed = finding.hint.split(" supports ")[1].split(", ")
    assert absent not in listed and "sm_90" in listed
    (refused,) = judge(CudaTarget(CudaVersion.parse(cuda), driver, (absent,)), [])
    assert refused.code == "arch-unsupported"
