"""Attack 163: side-by-side CUDA flavours (``mlenv.cuda.flavours``). A package is exempt from
the major check for bearing a flavour's name only when its build is that flavour's major: a
conda record named ``nvidia-cutlass-dsl-libs-cu13`` whose build string or ``cuda-version``
depends say CUDA 12 is a CUDA 12 build, and passed a CUDA 13 fleet with no finding at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.specifiers import SpecifierSet

from mlenv.cuda.flavours import flavour_line, flavour_major
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract_conda
from mlenv.cuda.versions import CudaVersion, DriverVersion
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.httpserver import IndexServer

FLAVOUR = "nvidia-cutlass-dsl-libs-cu{}"
FLOORS = {11: "520.61.05", 12: "570.26", 13: "580.65.06"}


def _target(major: int) -> CudaTarget:
    return CudaTarget(CudaVersion(major, 0), DriverVersion.parse(FLOORS[major]))


def _conda(name: str, version: str, built_for: int) -> PackageNeed:
    need = extract_conda(
        name, version, "h0123abc_0", [f"cuda-version >={built_for}.0,<{built_for + 1}"], []
    )
    assert need is not None and need.cuda.major == built_for
    return PackageNeed(name, version, need)


@pytest.mark.parametrize("pairs", [True, False])
def test_a_cuda_12_conda_build_named_like_the_cu13_flavour_is_refused_on_cuda_13(
    pairs: bool,
) -> None:
    """Before: no finding at all, on the resolver's per-file verdict and on verify's."""
    item = _conda(FLAVOUR.format(13), "9.0", 12)
    assert flavour_major(item.name, item.version) == 13
    codes = [f.code for f in judge(_target(13), [item], pairs=pairs) if f.severity == "error"]
    assert "cuda-major-mismatch" in codes


def test_the_build_string_alone_is_enough() -> None:
    need = extract_conda(FLAVOUR.format(13), "4.8.1", "cuda12_0", [], [])
    assert need is not None and need.cuda.major == 12
    found = judge(_target(13), [PackageNeed(FLAVOUR.format(13), "4.8.1", need)])
    assert [f.code for f in found if f.severity == "error"] == ["cuda-major-mismatch"]


@given(
    st.sampled_from([11, 12, 13]),
    st.sampled_from([11, 12, 13]),
    st.sampled_from([11, 12, 13]),
    st.sampled_from(["4.6.0", "4.8.1", "9.0"]),
)
def test_a_flavour_is_exempt_only_as_a_build_of_its_own_major(
    named: int, built: int, target: int, version: str
) -> None:
    """Per file (pairs off): a build of another major than the target passes only when it is
    the flavour its name says, of an older major (the pair rule then judges it beside its
    siblings); a newer major's flavour is refused alone, as round 2 against PyPI set."""
    item = _conda(FLAVOUR.format(named), version, built)
    codes = {f.code for f in judge(_target(target), [item], pairs=False) if f.severity == "error"}
    refused = built != target and (built != named or named > target)
    assert ("cuda-major-mismatch" in codes) is refused


def test_mlenv_lock_refuses_the_conda_cuda_12_build_on_a_cuda_13_fleet(tmp_path: Path) -> None:
    """Through the CLI: before, ``+ nvidia-cutlass-dsl-libs-cu13 9.0=cuda12_0`` was locked."""
    package = build_conda_package(FLAVOUR.format(13), "9.0", "cuda12_0", files={"lib/x": b"x\n"})
    write_channel(tmp_path / "channel", [package])
    root = tmp_path / "project"
    root.mkdir()
    with IndexServer(tmp_path / "channel") as server:
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "x"\npython = "3.11"\n'
            '[cuda]\nversion = "13.0"\ndriver-floor = "580.65.06"\n'
            f'[conda]\nchannels = ["{server.url}"]\ndependencies = ["{FLAVOUR.format(13)}"]\n'
        )
        done = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 1, done.stderr
    assert "nvidia-cutlass-dsl-libs-cu13 9.0 is built for CUDA 12.x" in done.stderr
    assert not (root / "mlenv.lock").exists()


@pytest.mark.parametrize(
    ("version", "side_by_side"),
    [("4.9.0rc1", True), ("4.6.0", True), ("4.8.1.post1", True), ("4.6.0.dev1", False)],
)
def test_pre_releases_are_read_the_same_whatever_packaging_defaults_to(
    version: str, side_by_side: bool
) -> None:
    """4.9.0rc1 is a side-by-side release and 4.6.0.dev1 (before 4.6) is not, with packaging
    24 (whose ``in`` leaves pre-releases out) as with 26; the pair is judged at the rc too."""
    name = FLAVOUR.format(12)
    assert (flavour_major(name, version) == 12) is side_by_side
    assert flavour_line(name, SpecifierSet(f"=={version}")) is side_by_side
    pair = [_conda(FLAVOUR.format(12), version, 12), _conda(FLAVOUR.format(13), version, 13)]
    codes = {f.code for f in judge(_target(13), pair) if f.severity == "error"}
    assert ("cuda-major-mismatch" in codes) is not side_by_side
