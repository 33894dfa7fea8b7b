"""conda records, with the name, version, build, depends and constrains their channels publish,
against the verdict NVIDIA's rules give for a target CUDA and driver floor.

``tests/support/data/conda_cuda_cases.csv`` holds one record per row (``depends`` and
``constrains`` separated by `` ; ``) with the sources of its shape and of the verdict:
conda-forge's ``cuda-version`` pins ``__cuda >={major}`` only (minor-version compatibility),
``cudatoolkit`` ends at 11.x, build strings carry ``cuda_compiler_version`` (``cuda126_...``),
NVIDIA's split packages carry NVIDIA's component versions, ``__cuda`` in constrains binds.
``expected`` is ``ok``, ``none`` (no CUDA need: a CPU build or an optional toolkit), or
``severity:code`` joined by ``+``; ``hint_has`` as in ``nvidia_cuda_cases.csv``. Each record
goes through ``conda_need``, the reading ``lock`` and ``verify`` share, then ``judge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from mlenv.conda.records import CondaRecord
from mlenv.cuda.needs import conda_need
from mlenv.cuda.rules import PackageNeed, judge
from mlenv.cuda.tags import extract
from tests.support.csv_rows import csv_rows
from tests.support.cuda_verdicts import CaseColumns, assert_case, target
from tests.support.locks import conda_record

CASES_FILE = Path(__file__).parents[1] / "support" / "data" / "conda_cuda_cases.csv"


@dataclass(frozen=True)
class Case(CaseColumns):
    name: str
    version: str
    build: str
    depends: str
    constrains: str


CASES = csv_rows(CASES_FILE, Case)


def _specs(text: str) -> tuple[str, ...]:
    return tuple(spec.strip() for spec in text.split(" ; ") if spec.strip())


def _record(case: Case) -> CondaRecord:
    return conda_record(
        case.name,
        case.version,
        case.build,
        depends=_specs(case.depends),
        constrains=_specs(case.constrains),
        requires_driver=None,  # what the locker would write is what is judged here
    )


def test_the_table_is_large_and_every_row_names_its_source() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:
        assert case.source and case.expected, case.id


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_conda_case(case: Case) -> None:
    need = conda_need(_record(case))
    if case.expected == "none":
        assert need is None, (case.id, need)
        return
    assert need is not None, case.id
    findings = judge(case.target(), [need])
    assert_case(findings, case)


def _hints(case_id: str) -> str:
    (case,) = [case for case in CASES if case.id == case_id]
    need = conda_need(_record(case))
    assert need is not None
    return " ".join(finding.hint for finding in judge(case.target(), [need]))


def test_a_conda_record_is_told_the_conda_remedy_and_a_wheel_keeps_pips() -> None:
    """conda-forge jaxlib 0.4.35 cuda126py312 on a CUDA 11.8 target was told to ``install
    jax[cuda11]`` (PyPI's plugin wheels, which a conda environment does not take); now the
    cuda-version pin the lock constrains with. The PyPI wheel keeps the pip hint."""
    conda = _hints("k033")
    assert "cuda-version 11.8.*" in conda and "jax[cuda" not in conda
    wheel = extract("jax-cuda12-plugin", "0.4.35")
    assert wheel is not None
    pip = judge(target("11.8", "520.61.05"), [PackageNeed("jax-cuda12-plugin", "0.4.35", wheel)])
    assert "install jax[cuda11]" in " ".join(finding.hint for finding in pip)


def test_cudatoolkit_on_cuda_12_is_pointed_at_the_split_packages() -> None:
    """cudatoolkit 11.8.0 on a CUDA 12.8 target was told to "use a CUDA 12 build of
    cudatoolkit", which does not exist (conda-forge.github.io#1963); now the split packages."""
    hint = _hints("k013")
    assert "cudatoolkit ends at CUDA 11.x" in hint and "cuda-version 12.8.*" in hint
    assert "CUDA 12 build of cudatoolkit" not in hint


def test_a_driver_floor_alone_is_said_as_one_not_as_a_build() -> None:
    """A record whose only CUDA signal is ``constrains: __cuda >=12.8`` on a 12.4 target with a
    550 floor was said to be "built for CUDA 12.8": ``__cuda`` is the driver's CUDA, not the
    build's. Now it asks for a driver that supports 12.8, which the floor does not meet, and
    its hint names no cuda-version pin, which could not meet it."""
    (case,) = [case for case in CASES if case.id == "k026"]
    need = conda_need(_record(case))
    assert need is not None
    (finding,) = judge(target("12.4", "550.54.14"), [need])
    assert finding.message.startswith("example 1.0 asks for a driver that supports CUDA 12.8")
    assert "built for" not in finding.message
    assert "raise the driver floor to 570.26" in finding.hint
    assert "cuda-version" not in finding.hint  # no pin meets a floor on the driver
