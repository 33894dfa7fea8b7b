"""Ninety-fifth adversary pass: NVIDIA's CUDA components from conda were judged less strictly
than the same components from PyPI. ``nvidia-cuda-runtime-cu12==12.6.77`` is traced to the
toolkit update that shipped it (12.6 Update 2, Table 3 driver 560.35.03) and a fleet whose floor
is the 12.6 GA driver (560.28.03) gets a ``driver-minor-compat`` warning; ``cuda-cudart
12.6.77`` from conda-forge or the nvidia channel, built from the same NVIDIA archive at the
same version, read as "CUDA 12.6" with no update, and libcublas, libcufft ... not at all, so
the same fleet passed without a word. Each test fails if the conda records stop being read
through NVIDIA's component rows (``component_versions``) as the wheels are.

Expected updates come from the component table of shared/reference/cuda.md §8.2 (cuda-toolkit
pins on PyPI); drivers are Table 3's, read from mlenv's data, never typed here.
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.conda.records import CondaRecord
from mlenv.cuda.matrix import min_driver, table3_driver
from mlenv.cuda.needs import conda_need
from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaVersion
from mlenv.judge import Verdict, verify_lock
from mlenv.lockfile import LockedPlatform
from tests.support.locks import HASH, codes, conda_record, make_lock

DATA = json.loads((resources.files("mlenv") / "data" / "cuda.json").read_text(encoding="utf-8"))

# (conda package, its version, the NVIDIA wheel of the same component, the update that pinned
# that version: cuda.md §8.2's table, e.g. cuda-runtime 12.6.77 first in cuda-toolkit 12.6.2)
CASES = [
    ("cuda-cudart", "12.6.77", "nvidia-cuda-runtime-cu12", "12.6.2"),
    ("cuda-cudart-dev_linux-64", "12.6.77", "nvidia-cuda-runtime-cu12", "12.6.2"),
    ("cuda-nvrtc", "12.6.85", "nvidia-cuda-nvrtc-cu12", "12.6.3"),
    ("libcublas", "12.6.4.1", "nvidia-cublas-cu12", "12.6.3"),
    ("libcufft", "11.3.0.4", "nvidia-cufft-cu12", "12.6.2"),
    ("libcusolver", "11.7.1.2", "nvidia-cusolver-cu12", "12.6.2"),
    ("cuda-nvcc", "12.6.77", "nvidia-cuda-nvcc-cu12", "12.6.2"),
    ("cuda-cudart", "13.0.88", "nvidia-cuda-runtime", "13.0.1"),
    ("libcublas", "13.1.0.3", "nvidia-cublas", "13.0.2"),
    ("libcufft", "12.0.0.61", "nvidia-cufft", "13.0.1"),
    ("libcusparse", "12.6.3.3", "nvidia-cusparse", "13.0.1"),
]


def _record(name: str, version: str) -> CondaRecord:
    """A conda-forge record as the CUDA feedstocks build it: pinned to its CUDA X.Y."""
    major, minor = version.split(".")[:2] if name.startswith("cuda-") else ("", "")
    cuda = f"{major}.{minor}" if major else None
    depends = (f"cuda-version >={cuda},<{major}.{int(minor) + 1}.0a0",) if cuda else ()
    record = conda_record(name, version, "h5888daf_0", depends=depends)
    need = conda_need(record)
    assert need is not None, name
    return dataclasses.replace(record, cuda=need.need.label)


def _verdict(record: CondaRecord, floor: str) -> Verdict:
    """verify of a lock of the record whose [target].requires-driver is what `lock` writes."""
    item = conda_need(record)
    assert item is not None
    cuda = str(item.need.cuda)
    lock = make_lock([], cuda, floor, requires_driver=None)
    lock = lock.with_platforms([LockedPlatform("linux-64", (), (record,))])
    written = verify_lock(lock, HASH, None).requires_driver
    target = dataclasses.replace(lock.target, requires_driver=written)
    lock = dataclasses.replace(lock, target=target)
    return verify_lock(lock, HASH, None)


@pytest.mark.parametrize(("name", "version", "wheel", "release"), CASES)
def test_a_conda_component_is_traced_to_its_update_as_its_wheel_is(
    name: str, version: str, wheel: str, release: str
) -> None:
    """Protects the conda reading (conda_components): the update, CUDA and source of a conda
    record are those of NVIDIA's wheel of the same version (the pip reading is the reference)."""
    conda = extract_conda(name, version, "h5888daf_0", (), ())
    pip = extract(wheel, version)
    assert conda is not None and pip is not None
    assert (conda.label, conda.release, conda.source) == (pip.label, pip.release, pip.source)
    assert conda.release == release


@pytest.mark.parametrize(("name", "version", "wheel", "release"), CASES)
def test_a_floor_below_the_update_driver_warns_and_its_driver_passes(
    name: str, version: str, wheel: str, release: str
) -> None:
    """Protects the driver judgement of conda components: with the minor's GA driver as the
    floor, the update's Table 3 driver is named in a driver-minor-compat warning (as for the
    wheel); with that driver as the floor there is no warning."""
    record = _record(name, version)
    cuda = CudaVersion(*map(int, release.split(".")[:2]))
    full = table3_driver(cuda, release)
    assert full is not None
    ga = min_driver(cuda)
    assert ga < full[0], (ga, full)  # each case's update raised the driver over its GA
    low = _verdict(record, str(ga))
    assert ("warning", "driver-minor-compat", name) in codes(low), low.findings
    [warning] = [f for f in low.findings if f.code == "driver-minor-compat"]
    assert f"needs driver {full[0]}" in warning.message and name == warning.package
    assert low.requires_driver == str(full[0]) and low.ok, low.findings
    at = _verdict(record, str(full[0]))
    assert ("warning", "driver-minor-compat", name) not in codes(at), at.findings
    assert at.ok, at.findings


def test_cuda_version_names_the_minor_family_not_an_update() -> None:
    """Protects the cuda-version metapackage reading: cuda-version 12.6 is any 12.6 update
    (its recipe constrains only __cuda >=12), so the 12.6 GA driver is enough."""
    record = conda_record("cuda-version", "12.6", "h7480c83_3", constrains=("__cuda >=12",))
    need = conda_need(record)
    assert need is not None
    assert (need.need.label, need.need.release) == ("12.6", None)
    ga = min_driver(CudaVersion(12, 6))
    verdict = _verdict(dataclasses.replace(record, cuda="12.6"), str(ga))
    assert verdict.ok and not verdict.findings, verdict.findings


@pytest.mark.parametrize("name", ["cudnn", "libcudnn", "nccl", "cuda-python"])
def test_a_library_that_is_no_toolkit_component_is_not_traced(name: str) -> None:
    """Protects against reading a non-toolkit library's own version (cuDNN 9.5.1.17) as a
    toolkit component's: only the conda_components rows are traced."""
    assert extract_conda(name, "12.6.77", "h0_0", (), ()) is None


_ROWS = [
    (conda["conda"], row["component"], row["version"])
    for conda in DATA["conda_components"]
    for row in DATA["component_versions"]
    if row["component"] == conda["component"]
]


def _wheel(component: str, version: str) -> str | None:
    """The NVIDIA wheel name of a component version the table places in one CUDA major."""
    majors = {
        int(row["release"].split(".")[0])
        for row in DATA["component_versions"]
        if row["component"] == component and row["version"] == version
    }
    if len(majors) != 1:
        return None
    major = majors.pop()
    return f"nvidia-{component}" + ("" if major >= 13 else f"-cu{major}")


@settings(max_examples=200)
@given(st.sampled_from(_ROWS))
def test_every_component_row_reads_the_same_from_conda_and_pypi(row: tuple[str, str, str]) -> None:
    """Protects the one-place rule: any component version NVIDIA's cuda-toolkit pinned reads
    the same (CUDA, update, source) from its conda package as from its wheel."""
    conda_name, component, version = row
    wheel = _wheel(component, version)
    conda = extract_conda(conda_name, version, "h0_0", (), ())
    if wheel is None:
        return
    pip = extract(wheel, version)
    assert conda is not None and pip is not None, (conda_name, version)
    assert (conda.label, conda.release) == (pip.label, pip.release), (conda_name, version)
