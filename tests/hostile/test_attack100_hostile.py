"""Adversary pass 100: CUDA 13 component tracing and conda's ``__cuda`` of a newer major.

Expected values are typed from NVIDIA's facts as shared/reference/cuda.md gives them, never
read from mlenv/data/cuda.json:

- §8.2, the ``cuda-toolkit`` metapackage pins on PyPI (https://pypi.org/project/cuda-toolkit/
  <release>/, NVIDIA's own wheels), and its rule "nvjitlink major.minor == CUDA major.minor"
  verified on every release 11.8.0 ... 13.5.0;
- §1, Table 3 of the CUDA 13.2 Update 2 release notes
  (https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html);
- §4 and §8.11: conda's ``__cuda`` is the newest CUDA the *driver* supports; §2: the driver is
  backward compatible, so a driver for CUDA 13 runs a 12.6 build.

Findings pinned here:

1. conda's ``libnvjitlink 13.0.88`` was read as no CUDA at all (cuda.json had no 13.x
   nvJitLink rows), so it passed a CUDA 12.6 lock silently; with the rows it is CUDA 13. Both
   names stay "CUDA 13.x" (major only), not traced to an update: NVIDIA's own ``cuda-toolkit``
   13.0.3.0 admits any ``nvidia-nvjitlink>=13.0.88,<14``, and the CUDA 13.0 torch 2.14.1
   stack resolves 13.4.92 through it; tracing it refused that stack.
2. ``pytorch cuda126_*`` with ``depends: __cuda >=13`` failed with cuda-contradiction, and a
   package asking only ``__cuda >=13`` on a CUDA 12.x target failed as "built for CUDA 13.x"
   even on a 580 driver; it is a 12.6 build whose driver must support CUDA 13.0 (580.65.06),
   so the driver floor rises instead.
3. ``archs = ["8.6"]`` (nvidia-smi's compute_cap) or ``["86"]`` (CMake's) was refused without
   naming the ``sm_86`` meant.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.needs import conda_need
from mlenv.cuda.required import package_driver, required_driver
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.errors import ManifestError
from mlenv.judge import verify_lock
from mlenv.lockfile import LockedPlatform
from mlenv.manifest_read import loads
from tests.support.locks import HASH, codes, conda_record, make_lock

# Table 3 (cuda.md §1), Linux column.
T3 = {
    "12.6.0": "560.28.03",
    "12.9.0": "575.51.03",
    "13.0.0": "580.65.06",
    "13.0.1": "580.82.07",
    "13.0.2": "580.95.05",
    "13.1.0": "590.44.01",
    "13.1.1": "590.48.01",
    "13.2.0": "595.45.04",
}

# cuda.md §8.2's table, CUDA 13.0.0 ... 13.2.0 (the rows with a Table 3 driver): release ->
# the version each component family's pin names. PyPI wheel names are unsuffixed from CUDA 13;
# the conda names are conda_components' (conda-forge's split CUDA packages).
PINS = {
    "13.0.0": ("13.0.48", "13.0.48", "13.0.48", "13.0.0.19", "12.0.0.15", "10.4.0.35",
               "12.0.3.29", "12.6.2.49", "13.0.39"),
    "13.0.1": ("13.0.88", "13.0.88", "13.0.88", "13.0.2.14", "12.0.0.61", "10.4.0.35",
               "12.0.4.66", "12.6.3.3", "13.0.88"),
    "13.0.2": ("13.0.96", "13.0.88", "13.0.88", "13.1.0.3", "12.0.0.61", "10.4.0.35",
               "12.0.4.66", "12.6.3.3", "13.0.88"),
    "13.1.0": ("13.1.80", "13.1.80", "13.1.80", "13.2.0.9", "12.1.0.31", "10.4.1.34",
               "12.0.7.41", "12.7.2.19", "13.1.80"),
    "13.1.1": ("13.1.80", "13.1.115", "13.1.115", "13.2.1.1", "12.1.0.78", "10.4.1.81",
               "12.0.9.81", "12.7.3.1", "13.1.115"),
    "13.2.0": ("13.2.51", "13.2.51", "13.2.51", "13.3.0.5", "12.2.0.37", "10.4.2.51",
               "12.1.0.51", "12.7.9.17", "13.2.51"),
}  # fmt: skip
FAMILIES = (
    ("nvidia-cuda-runtime", "cuda-cudart"),
    ("nvidia-cuda-nvrtc", "cuda-nvrtc"),
    ("nvidia-cuda-nvcc", "cuda-nvcc"),
    ("nvidia-cublas", "libcublas"),
    ("nvidia-cufft", "libcufft"),
    ("nvidia-curand", "libcurand"),
    ("nvidia-cusolver", "libcusolver"),
    ("nvidia-cusparse", "libcusparse"),
    ("nvidia-nvjitlink", "libnvjitlink"),
)


def _first_release() -> list[tuple[str, str, str, str]]:
    """(wheel, conda name, version, the first release that pinned it), from PINS."""
    seen: dict[tuple[str, str], str] = {}
    for release, versions in PINS.items():
        for (wheel, _), version in zip(FAMILIES, versions, strict=True):
            seen.setdefault((wheel, version), release)
    names = dict(FAMILIES)
    return [(w, names[w], v, release) for (w, v), release in seen.items()]


TRACED = _first_release()


@pytest.mark.parametrize(("wheel", "conda", "version", "release"), TRACED)
def test_every_cuda_13_component_is_traced_to_its_update(
    wheel: str, conda: str, version: str, release: str
) -> None:
    """Was for nvJitLink: "13.x" from PyPI and nothing from conda; each family, both names."""
    minor = ".".join(release.split(".")[:2])
    for need in (extract(wheel, version), extract_conda(conda, version, "h0_0", (), ())):
        assert need is not None, (wheel, conda, version)
        if wheel == "nvidia-nvjitlink":  # any 13.x under cuda-toolkit 13.0.3.0's range
            assert (need.label, need.conflicts) == ("13.x", ())
        else:
            assert (need.label, need.release, need.conflicts) == (minor, release, ())


@pytest.mark.parametrize("version", ["13.0.88", "13.1.80", "13.2.51"])
@pytest.mark.parametrize("name", ["nvidia-nvjitlink", "libnvjitlink"])
def test_nvjitlink_13_fixes_only_the_major(name: str, version: str) -> None:
    """NVIDIA's cuda-toolkit 13.0.3.0 admits any nvidia-nvjitlink>=13.0.88,<14: a CUDA 13.0
    target takes any 13.x (torch 2.14.1's stack resolves 13.4.92), a 12.6 target none (was:
    conda's libnvjitlink 13.x read as no CUDA, so it passed there silently)."""
    if name == "libnvjitlink":
        need = extract_conda(name, version, "h0_0", (), ())
    else:
        need = extract(name, version)
    assert need is not None and need.label == "13.x"
    on_13 = CudaTarget(CudaVersion.parse("13.0"), DriverVersion.parse(T3["13.0.0"]))
    assert list(judge(on_13, [PackageNeed(name, version, need)])) == []
    on_12 = CudaTarget(CudaVersion.parse("12.6"), DriverVersion.parse(T3["12.6.0"]))
    found = judge(on_12, [PackageNeed(name, version, need)])
    assert [(f.severity, f.code) for f in found] == [("error", "cuda-major-mismatch")]


@settings(max_examples=200, deadline=None)
@given(
    minor=st.sampled_from([0, 1, 2]),
    patch=st.integers(min_value=0, max_value=999),
    wheel=st.sampled_from(["nvidia-cuda-nvrtc", "nvidia-cuda-runtime"]),
)
def test_a_toolkit_versioned_13_component_names_its_minor(
    minor: int, patch: int, wheel: str
) -> None:
    """cuda.md §8.2: for these families major.minor of the version is the CUDA major.minor, so
    any 13.<minor>.<patch> pin (standalone patches included) needs CUDA 13.<minor>."""
    need = extract(wheel, f"13.{minor}.{patch}")
    assert need is not None
    assert (need.label, need.major_only) == (f"13.{minor}", False)


def _need(build: str, *depends: str) -> PackageNeed:
    need = extract_conda("pytorch", "2.9.0", build, depends, ())
    assert need is not None
    return PackageNeed("pytorch", "2.9.0", need)


CUDA126 = ("cuda126_mkl_py312_h8bb5dc9_300", "__cuda >=13", "cuda-version >=12.6,<13")


@pytest.mark.parametrize(
    ("floor", "expected"),
    [
        (T3["12.6.0"], [("error", "cuda-driver-floor")]),  # a 12.6 driver is no CUDA 13 driver
        (T3["12.9.0"], [("error", "cuda-driver-floor")]),
        (T3["13.0.0"], []),  # the oldest driver that runs CUDA 13.0 runs the 12.6 build too
        (T3["13.2.0"], []),
    ],
)
def test_a_newer_major_cuda_floor_raises_the_driver_not_a_contradiction(
    floor: str, expected: list[tuple[str, str]]
) -> None:
    """Was: cuda-contradiction "CUDA 12.6 from 'build cuda126_…' contradicts CUDA 13.x"."""
    item = _need(*CUDA126)
    assert (item.need.label, item.need.conflicts) == ("12.6", ())
    target = CudaTarget(CudaVersion(12, 6), DriverVersion.parse(floor))
    found = judge(target, [item])
    assert [(f.severity, f.code) for f in found] == expected, found
    assert all(f"driver >= {T3['13.0.0']}" == f.needs for f in found)
    driver = package_driver(item)
    assert driver is not None and str(driver[0]) == T3["13.0.0"]


def test_a_checked_host_is_judged_by_the_cuda_version_it_reports() -> None:
    """conda compares __cuda with the driver's own CUDA Version (cuda.md §4): 13.0 passes."""
    item = _need(*CUDA126)
    host = DriverVersion.parse(T3["13.0.0"])

    def at(reported: str) -> list[str]:
        goal = CudaTarget(
            CudaVersion(12, 6), host, checked=True, reported=CudaVersion.parse(reported)
        )
        return [f.code for f in judge(goal, [item])]

    assert at("13.0") == [] and at("13.2") == []
    assert at("12.9") == ["cuda-driver-floor"]


@pytest.mark.parametrize(
    ("floor", "ok"), [(T3["12.6.0"], False), (T3["13.0.0"], True)]
)  # fmt: skip
def test_a_driver_floor_alone_of_a_newer_major_is_no_build_of_it(floor: str, ok: bool) -> None:
    """Was: cuda-major-mismatch "built for CUDA 13.x" for a package that only asks the driver
    for CUDA 13 (no build string, no cuda-version) even on a 580 driver floor."""
    item = _need("h0_0", "__cuda >=13")
    target = CudaTarget(CudaVersion(12, 6), DriverVersion.parse(floor))
    found = [f.code for f in judge(target, [item])]
    assert found == ([] if ok else ["cuda-driver-floor"])


def test_lock_records_the_raised_driver_and_verify_passes_at_it() -> None:
    """`mlenv lock` writes the driver the floor asks into requires-driver; verify then passes
    on that floor, and refuses the 12.6 GA floor naming the package."""
    record = conda_record(
        "pytorch", "2.9.0", CUDA126[0], depends=CUDA126[1:], cuda="12.6"
    )  # fmt: skip
    item = conda_need(record)
    assert item is not None
    assert str(record.requires_driver) == T3["13.0.0"]
    target = CudaTarget(CudaVersion(12, 6), DriverVersion.parse(T3["12.6.0"]))
    driver, why = required_driver(target, [item])
    assert (str(driver), why.startswith("pytorch 2.9.0")) == (T3["13.0.0"], True)

    def verdict(floor: str) -> list[tuple[str, str, str]]:
        lock = make_lock([], "12.6", floor, requires_driver=None)
        lock = lock.with_platforms([LockedPlatform("linux-64", (), (record,))])
        written = verify_lock(lock, HASH, None).requires_driver
        lock = dataclasses.replace(
            lock, target=dataclasses.replace(lock.target, requires_driver=written)
        )
        return codes(verify_lock(lock, HASH, None))

    assert verdict(T3["13.0.0"]) == []
    assert ("error", "cuda-driver-floor", "pytorch") in verdict(T3["12.6.0"])


def _manifest_problems(archs: str) -> list[str]:
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[cuda]\nversion = "13.0"\ndriver-floor = "{T3["13.0.0"]}"\narchs = {archs}\n'
    )
    try:
        loads(text, "m.toml")
    except ManifestError as exc:
        return [problem.message for problem in exc.problems]
    return []


@pytest.mark.parametrize(
    ("spelled", "arch"),
    [
        ("8.6", "sm_86"),  # nvidia-smi --query-gpu=compute_cap prints major.minor
        ("12.0", "sm_120"),
        ("86", "sm_86"),  # CMake's CUDA_ARCHITECTURES spelling
        ("120", "sm_120"),
        ("SM_90A", "sm_90a"),
        ("sm100f", "sm_100f"),
    ],
)
def test_a_compute_capability_spelling_is_refused_naming_the_arch(spelled: str, arch: str) -> None:
    """Was: only 'expected a GPU architecture like "sm_80"' for the spellings NVIDIA's own
    tools print; the arch named is one the manifest then accepts (CUDA 13.0: sm_75+)."""
    (message,) = _manifest_problems(f'["{spelled}"]')
    assert message.endswith(f"write {arch}"), message
    assert _manifest_problems(f'["{arch}"]') == []
