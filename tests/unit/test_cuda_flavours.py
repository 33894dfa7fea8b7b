"""Side-by-side CUDA flavours (``mlenv.cuda.flavours``) against a restatement of the rule: a
flavour of another major than the target passes only when older and beside the target's
flavour of the same release (a newer one refused alone, by the resolver's verdict on one file);
a line naming flavours claims no build only at side-by-side releases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet

from mlenv.cuda.flavours import flavour_line, flavour_major, unpaired
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion

FLAVOUR = "nvidia-cutlass-dsl-libs-cu{}"
releases = st.sampled_from(["4.6.0", "4.7.1", "4.8.0", "4.8.1"])


def _item(major: int, version: str) -> PackageNeed:
    need = extract(FLAVOUR.format(major), version)
    assert need is not None and need.cuda == CudaVersion(major, 0)
    return PackageNeed(FLAVOUR.format(major), version, need)


@given(
    st.sets(st.tuples(st.integers(11, 14), releases), min_size=1, max_size=6), st.integers(11, 14)
)
def test_a_flavour_passes_only_when_older_and_beside_the_targets(
    locked: set[tuple[int, str]], target: int
) -> None:
    items = [_item(m, v) for m, v in sorted(locked)]
    cuda = CudaTarget(CudaVersion(target, 0), DriverVersion.parse("999.99"))
    alone = {f.package for item in items for f in judge(cuda, [item], pairs=False) if f.package}
    paired = {name for name, *_ in unpaired(target, items)}
    assert alone == {FLAVOUR.format(m) for m, _ in locked if m > target}
    lone = {FLAVOUR.format(m) for m, v in locked if m < target and (target, v) not in locked}
    assert paired == lone


@pytest.mark.parametrize(
    ("name", "specifier", "claims_none"),
    [
        ("nvidia-cutlass-dsl-libs-cu12", "==4.8.1", True),
        ("NVIDIA_Cutlass_DSL_Libs_CU12", "==4.6.0", True),
        ("nvidia-cutlass-dsl-libs-cu13", ">=4.6", True),
        ("nvidia-cutlass-dsl-libs-cu13", "==4.8.*", True),
        ("nvidia-cutlass-dsl-libs-cu13", "==4.5.3", False),  # one path, no side by side
        ("nvidia-cutlass-dsl-libs-cu12", ">=4.5", False),  # may reach 4.5.x
        ("nvidia-cutlass-dsl-libs-cu12", "", False),  # any release
        ("nvidia-cutlass-dsl-libs-cu12", "<5", False),
        ("nvidia-cutlass-dsl-libs-base", "==4.8.1", False),
        ("nvidia-cudnn-cu12", "==9.1.0.70", False),
    ],
)
def test_a_line_claims_no_build_only_at_side_by_side_releases(
    name: str, specifier: str, claims_none: bool
) -> None:
    assert flavour_line(name, SpecifierSet(specifier)) is claims_none


def test_the_parent_reads_no_cuda_from_its_flavours_but_a_cuda_line_still_counts() -> None:
    flavours = [
        "nvidia-cutlass-dsl-libs-base==4.8.1",
        "nvidia-cutlass-dsl-libs-cu12==4.8.1",
        'nvidia-cutlass-dsl-libs-cu13==4.8.1; extra == "cu13"',
    ]
    markers = {"platform_machine": "x86_64", "sys_platform": "linux", "python_version": "3.11"}
    assert extract("nvidia-cutlass-dsl", "4.8.1", requires_dist=flavours, markers=markers) is None
    other = extract(
        "nvidia-cutlass-dsl",
        "4.8.1",
        requires_dist=[*flavours, "nvidia-cublas-cu12==12.8.4.1"],
        markers=markers,
    )
    assert other is not None and other.cuda.major == 12
    assert flavour_major("nvidia-cutlass-dsl-libs-cu12", "4.5.3") is None
    assert flavour_major("nvidia-cutlass-dsl-libs-cu12", "not a version") is None
    assert flavour_major("nvidia-cutlass-dsl-libs-cu13", "4.8.1") == 13
