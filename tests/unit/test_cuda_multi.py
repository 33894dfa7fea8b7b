"""Multi-CUDA wheels (bitsandbytes): which fleets and which torch builds they run beside.

The reference model below restates bitsandbytes' own loader (``cextension.py`` of 0.43-0.50:
the library of ``torch.version.cuda`` if shipped, else, from 0.50, the newest of the same major
below it, else the oldest above it; never another major); the rules must agree with it on any
set of shipped libraries and any torch build.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cuda.multi import MultiCuda, unloadable
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import CudaNeed, extract
from mlenv.cuda.versions import CudaVersion, DriverVersion

WHEEL = "bitsandbytes-{}-py3-none-manylinux_2_24_x86_64.whl"
ROWS = [
    row
    for row in json.loads((resources.files("mlenv") / "data" / "gpu_packages.json").read_text())[
        "packages"
    ]
    if row["cuda"] == "multi"
]
TARGETS = {11: ("11.8", "520.61.05"), 12: ("12.4", "550.54.14"), 13: ("13.0", "580.65.06")}
cudas = st.builds(CudaVersion, st.integers(11, 13), st.integers(0, 9))


def reference_loads(builds: set[CudaVersion], cuda: CudaVersion, same_major: bool) -> bool:
    if cuda in builds:
        return True
    return same_major and any(build.major == cuda.major for build in builds)


def torch_need(cuda: CudaVersion) -> PackageNeed:
    need = CudaNeed(cuda, False, "local-version", f"torch 2.8.0+cu{cuda.major}{cuda.minor}", "")
    return PackageNeed("torch", f"2.8.0+cu{cuda.major}{cuda.minor}", need)


def bnb_need(builds: set[CudaVersion], loader: Any) -> PackageNeed:
    multi = MultiCuda(tuple(sorted(builds)), loader, "torch")
    newest = CudaVersion(max(b.major for b in builds), 0)
    return PackageNeed("bitsandbytes", "9.9", CudaNeed(newest, True, "t", "e", "s", multi=multi))


@given(st.sets(cudas, min_size=1, max_size=8), cudas, st.sampled_from(["exact", "same-major"]))
def test_library_missing_exactly_when_the_loader_finds_none(
    builds: set[CudaVersion], cuda: CudaVersion, loader: Any
) -> None:
    said = unloadable([bnb_need(builds, loader), torch_need(cuda)])
    assert bool(said) is not reference_loads(builds, cuda, loader == "same-major")
    loaded = MultiCuda(tuple(sorted(builds)), loader, "torch").loads(cuda)
    if loaded is not None and loader == "same-major" and cuda not in builds:
        same = sorted(b for b in builds if b.major == cuda.major)
        below = [b for b in same if b < cuda]
        assert loaded == (below[-1] if below else same[0])  # nearest: newest below, else above


@given(st.sets(cudas, min_size=1, max_size=8), st.integers(11, 13))
def test_a_torch_fixing_only_its_major_or_absent_is_never_held_against_it(
    builds: set[CudaVersion], major: int
) -> None:
    cu = PackageNeed("torch", "2.8.0", CudaNeed(CudaVersion(major, 0), True, "r", "e", "s"))
    assert unloadable([bnb_need(builds, "exact"), cu]) == []
    assert unloadable([bnb_need(builds, "exact")]) == []


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["versions"])
@pytest.mark.parametrize("major", sorted(TARGETS))
def test_every_read_release_runs_on_the_majors_it_ships(row: dict[str, Any], major: int) -> None:
    """A fleet of a major the wheel ships a library for is fine; any other is refused, naming
    the majors it does ship."""
    version = row["example_version"]
    need = extract("bitsandbytes", version, WHEEL.format(version), index="https://pypi.org/simple")
    assert need is not None
    cuda, driver = TARGETS[major]
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver))
    found = list(judge(target, [PackageNeed("bitsandbytes", version, need)]))
    shipped = {CudaVersion.parse(text).major for text in row["builds"]}
    assert [f.code for f in found if f.severity == "error"] == (
        [] if major in shipped else ["cuda-major-mismatch"]
    )
    if major not in shipped:
        assert need.label in found[0].message


def test_a_release_nobody_has_read_is_not_judged() -> None:
    """0.51.0 is after the last wheel read: no row claims it (cuda-undetermined, not a guess)."""
    assert extract("bitsandbytes", "0.51.0", WHEEL.format("0.51.0"), index="") is None
