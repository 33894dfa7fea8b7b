"""Update-level tracing of every NVIDIA component wheel (cuda.json component_versions).

A component shipped by a later toolkit update than the driver floor's needs that update's
driver for its full feature set; below it, it runs only under minor-version compatibility. That
is the documented warning, and it must hold for every component, not only cuBLAS and friends.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion

DATA: dict[str, Any] = json.loads(
    (resources.files("mlenv") / "data" / "cuda.json").read_text(encoding="utf-8")
)
ROWS = DATA["component_versions"]


def _package(component: str, release: str) -> str:
    major = int(release.split(".")[0])
    return f"nvidia-{component}" + ("" if major >= 13 else f"-cu{major}")


def _updates(ga: str, update: str) -> list[tuple[str, str]]:
    """Components whose version first shipped in ``update`` (a later update than ``ga``)."""
    return sorted(
        (row["component"], row["version"])
        for row in ROWS
        if row["release"] == update and ga < update
    )


# (GA the driver floor is, update the component came with, the update's driver)
UPDATES = [
    ("12.4", "550.54.14", "12.4.1", "550.54.15"),
    ("13.0", "580.65.06", "13.0.2", "580.95.05"),
    ("12.6", "560.28.03", "12.6.2", "560.35.03"),
]
CASES = [
    (cuda, floor, update, driver, component, version)
    for cuda, floor, update, driver in UPDATES
    for component, version in _updates(f"{cuda}.0", update)
]


def test_every_component_of_the_toolkit_is_traced() -> None:
    """Every component NVIDIA's cuda-toolkit metapackage pins has rows, not only a few."""
    components = {row["component"] for row in ROWS}
    expected = {
        "cublas", "cuda-cccl", "cuda-crt", "cuda-culibos", "cuda-cuobjdump", "cuda-cupti",
        "cuda-cuxxfilt", "cuda-nvcc", "cuda-nvdisasm", "cuda-nvrtc", "cuda-opencl",
        "cuda-profiler-api", "cuda-runtime", "cuda-sanitizer-api", "cuda-tileiras", "cudla",
        "cufft", "cufile", "curand", "cusolver", "cusparse", "npp", "nvfatbin", "nvjitlink",
        "nvjpeg", "nvml-dev", "nvptxcompiler", "nvtx", "nvvm",
    }  # fmt: skip
    assert components == expected
    warned = {case[4] for case in CASES}
    assert {"cuda-runtime", "cuda-cupti", "cuda-nvrtc", "nvtx", "nvml-dev", "cublas"} <= warned


@pytest.mark.parametrize(
    ("cuda", "floor", "update", "driver", "component", "version"),
    CASES,
    ids=[f"{c[4]}-{c[5]}" for c in CASES],
)
def test_component_of_a_later_update_warns_at_the_ga_driver(
    cuda: str, floor: str, update: str, driver: str, component: str, version: str
) -> None:
    name = _package(component, update)
    need = extract(name, version)
    assert need is not None
    assert need.release == update
    item = PackageNeed(name, version, need)
    at_ga = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(floor))
    findings = judge(at_ga, [item])
    assert [(f.severity, f.code, f.needs) for f in findings] == [
        ("warning", "driver-minor-compat", f"driver >= {driver}")
    ]
    at_update = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver))
    assert judge(at_update, [item]) == ()


@pytest.mark.parametrize(
    ("name", "version", "release"),
    [
        # not pinned by any cuda-toolkit release: the newest earlier pinned version bounds it
        ("nvidia-cuda-runtime-cu12", "12.4.200", "12.4.1"),
        ("nvidia-cuda-nvrtc", "13.0.99", "13.0.1"),
        ("nvidia-nvtx-cu12", "12.6.80", "12.6.2"),
    ],
)
def test_unpinned_component_version_is_bounded_by_the_previous_update(
    name: str, version: str, release: str
) -> None:
    need = extract(name, version)
    assert need is not None
    assert need.release == release


def test_loose_requirement_is_not_traced_to_an_update() -> None:
    """~= and >= admit later builds: only an exact pin names the update."""
    loose = extract("torch", "2.9.0", requires_dist=["nvidia-cuda-runtime~=13.0.48"])
    exact = extract("torch", "2.9.0", requires_dist=["nvidia-cuda-runtime==13.0.96"])
    assert loose is not None and exact is not None
    assert (loose.label, loose.release) == ("13.0", None)
    assert (exact.label, exact.release) == ("13.0", "13.0.2")
