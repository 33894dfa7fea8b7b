"""Every Linux row of NVIDIA's Table 3 and Table 2, asserted through mlenv's public functions.

Source of every value: NVIDIA CUDA Toolkit Release Notes, Table 3 "CUDA Toolkit and
Corresponding Driver Versions" and Table 2 (minor version compatibility),
https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html, and the CUDA
Compatibility guide, https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html.
The rows are typed here by hand from NVIDIA's table, not read from mlenv/data/cuda.json, so a
wrong data row fails here.
"""

from __future__ import annotations

import pytest

from mlenv.cuda.matrix import min_driver, minor_compat_floor, table3_driver
from mlenv.cuda.required import package_driver
from mlenv.cuda.rules import CudaTarget, PackageNeed, arch_findings, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.errors import ManifestError
from mlenv.host_text import parse_driver_override
from mlenv.manifest_read import loads


def _below(driver: str) -> str:
    """The driver one step below ``driver`` in its last component (570.26 -> 570.25)."""
    parts = driver.split(".")
    last = int(parts[-1])
    assert last > 0
    parts[-1] = str(last - 1).zfill(len(parts[-1]))
    return ".".join(parts)


def _cuda(release: str) -> CudaVersion:
    major, minor = release.split(".")[:2]
    return CudaVersion(int(major), int(minor))


# (toolkit release, Table 3 label, Linux x86_64 "Toolkit Driver Version")
TABLE_3_LINUX = [
    ("13.2.2", "CUDA 13.2 Update 2", "595.71.05"),
    ("13.2.1", "CUDA 13.2 Update 1", "595.58.03"),
    ("13.2.0", "CUDA 13.2 GA", "595.45.04"),
    ("13.1.1", "CUDA 13.1 Update 1", "590.48.01"),
    ("13.1.0", "CUDA 13.1 GA", "590.44.01"),
    ("13.0.2", "CUDA 13.0 Update 2", "580.95.05"),
    ("13.0.1", "CUDA 13.0 Update 1", "580.82.07"),
    ("13.0.0", "CUDA 13.0 GA", "580.65.06"),
    ("12.9.1", "CUDA 12.9 Update 1", "575.57.08"),
    ("12.9.0", "CUDA 12.9 GA", "575.51.03"),
    ("12.8.1", "CUDA 12.8 Update 1", "570.124.06"),
    ("12.8.0", "CUDA 12.8 GA", "570.26"),
    ("12.6.3", "CUDA 12.6 Update 3", "560.35.05"),
    ("12.6.2", "CUDA 12.6 Update 2", "560.35.03"),
    ("12.6.1", "CUDA 12.6 Update 1", "560.35.03"),
    ("12.6.0", "CUDA 12.6 GA", "560.28.03"),
    ("12.5.1", "CUDA 12.5 Update 1", "555.42.06"),
    ("12.5.0", "CUDA 12.5 GA", "555.42.02"),
    ("12.4.1", "CUDA 12.4 Update 1", "550.54.15"),
    ("12.4.0", "CUDA 12.4 GA", "550.54.14"),
    ("12.3.1", "CUDA 12.3 Update 1", "545.23.08"),
    ("12.3.0", "CUDA 12.3 GA", "545.23.06"),
    ("12.2.2", "CUDA 12.2 Update 2", "535.104.05"),
    ("12.2.1", "CUDA 12.2 Update 1", "535.86.09"),
    ("12.2.0", "CUDA 12.2 GA", "535.54.03"),
    ("12.1.1", "CUDA 12.1 Update 1", "530.30.02"),
    ("12.1.0", "CUDA 12.1 GA", "530.30.02"),
    ("12.0.1", "CUDA 12.0 Update 1", "525.85.12"),
    ("12.0.0", "CUDA 12.0 GA", "525.60.13"),
    ("11.8.0", "CUDA 11.8 GA", "520.61.05"),
    ("11.7.1", "CUDA 11.7 Update 1", "515.48.07"),
    ("11.7.0", "CUDA 11.7 GA", "515.43.04"),
    ("11.6.2", "CUDA 11.6 Update 2", "510.47.03"),
    ("11.6.1", "CUDA 11.6 Update 1", "510.47.03"),
    ("11.6.0", "CUDA 11.6 GA", "510.39.01"),
    ("11.5.2", "CUDA 11.5 Update 2", "495.29.05"),
    ("11.5.1", "CUDA 11.5 Update 1", "495.29.05"),
    ("11.5.0", "CUDA 11.5 GA", "495.29.05"),
    ("11.4.4", "CUDA 11.4 Update 4", "470.82.01"),
    ("11.4.3", "CUDA 11.4 Update 3", "470.82.01"),
    ("11.4.2", "CUDA 11.4 Update 2", "470.57.02"),
    ("11.4.1", "CUDA 11.4 Update 1", "470.57.02"),
    ("11.4.0", "CUDA 11.4.0 GA", "470.42.01"),
    ("11.3.1", "CUDA 11.3.1 Update 1", "465.19.01"),
    ("11.3.0", "CUDA 11.3.0 GA", "465.19.01"),
    ("11.2.2", "CUDA 11.2.2 Update 2", "460.32.03"),
    ("11.2.1", "CUDA 11.2.1 Update 1", "460.32.03"),
    ("11.2.0", "CUDA 11.2.0 GA", "460.27.03"),
    ("11.1.1", "CUDA 11.1.1 Update 1", "455.32"),
    ("11.1.0", "CUDA 11.1 GA", "455.23"),
    ("11.0.3", "CUDA 11.0.3 Update 1", "450.51.06"),
    ("11.0.2", "CUDA 11.0.2 GA", "450.51.05"),
    ("11.0.1", "CUDA 11.0.1 RC", "450.36.06"),
    ("10.2.89", "CUDA 10.2.89", "440.33"),
    ("10.1", "CUDA 10.1 (10.1.105 general release, and updates)", "418.39"),
    ("10.0.130", "CUDA 10.0.130", "410.48"),
]


@pytest.mark.parametrize(("release", "label", "driver"), TABLE_3_LINUX)
def test_each_table_3_row_is_the_driver_of_its_release(
    release: str, label: str, driver: str
) -> None:
    """table3_driver(X.Y, release) is the Table 3 row of that release, label and value."""
    found = table3_driver(_cuda(release), release)
    assert found is not None
    assert (found[0].text, found[1]) == (driver, label)


@pytest.mark.parametrize(
    ("release", "label", "driver"),
    [row for row in TABLE_3_LINUX if _cuda(row[0]) >= CudaVersion(11, 8)],
)
def test_each_release_needs_its_table_3_driver_for_its_full_feature_set(
    release: str, label: str, driver: str
) -> None:
    """A cuda-toolkit==<release> pin needs the Table 3 driver of that release: the exact value
    passes, one below is never silently accepted (PyPI has cuda-toolkit from 11.8 on)."""
    need = extract("cuda-toolkit", release)
    assert need is not None
    item = PackageNeed("cuda-toolkit", release, need)
    assert package_driver(item) == (DriverVersion.parse(driver), label)
    target = CudaTarget(_cuda(release), DriverVersion.parse(driver))
    assert judge(target, [item]) == ()
    below = CudaTarget(_cuda(release), DriverVersion.parse(_below(driver)))
    assert judge(below, [item]) != ()


# GA rows: the Table 3 value of each CUDA minor's first release.
TABLE_3_GA: dict[str, str] = {}
for _release, _label, _driver in reversed(TABLE_3_LINUX):
    TABLE_3_GA.setdefault(str(_cuda(_release)), _driver)


@pytest.mark.parametrize(("cuda", "driver"), sorted(TABLE_3_GA.items()))
def test_min_driver_is_the_ga_row_and_the_target_needs_it(cuda: str, driver: str) -> None:
    """min_driver(X.Y) is the GA row; a target at it has no driver finding, one below has."""
    version = CudaVersion.parse(cuda)
    assert min_driver(version) == DriverVersion.parse(driver)
    assert judge(CudaTarget(version, DriverVersion.parse(driver)), []) == ()
    (finding,) = judge(CudaTarget(version, DriverVersion.parse(_below(driver))), [])
    assert (finding.severity, finding.code) == ("error", "driver-below-toolkit")


@pytest.mark.parametrize(
    ("major", "floor"), [(11, "450.80.02"), (12, "525.60.13"), (13, "580.65.06")]
)
def test_minor_version_compatibility_floors(major: int, floor: str) -> None:
    """Table 2 / compat guide: CUDA 11.x >= 450.80.02, 12.x >= 525.60.13, 13.x ">= 580" (mlenv
    holds the 580 branch; every 580 driver NVIDIA published is at or above 580.65.06)."""
    assert minor_compat_floor(major) <= DriverVersion.parse(floor)
    assert minor_compat_floor(major) > DriverVersion.parse(_below(floor.split(".")[0]))


def test_before_cuda_11_there_is_no_minor_version_floor() -> None:
    """Compat guide: minor version compatibility starts with CUDA 11; 10.x needs its own row."""
    with pytest.raises(CudaError, match="no minor-version compatibility floor"):
        minor_compat_floor(10)


@pytest.mark.parametrize(
    ("cuda", "driver", "codes"),
    [
        # a newer CUDA major than the driver's branch runs nowhere without forward compatibility
        ("13.0", "570.172.08", ["error:driver-below-toolkit"]),
        ("13.0", "575.57.08", ["error:driver-below-toolkit"]),
        ("12.0", "520.61.05", ["error:driver-below-toolkit"]),
        # an older toolkit on a newer driver: backward compatibility
        ("11.8", "580.65.06", []),
        ("12.2", "595.71.05", []),
        # real driver spellings: 470.256.02 (R470), 535.104.05 (12.2 Update 2), 580.65.06
        ("11.4", "470.256.02", []),
        ("12.2", "535.104.05", []),
        ("13.0", "580.65.06", []),
        # two components, as Windows and older Linux drivers are written
        ("12.0", "525.60", ["error:driver-below-toolkit"]),
        ("12.0", "525.61", []),
    ],
)
def test_driver_against_target(cuda: str, driver: str, codes: list[str]) -> None:
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver, trim=True))
    assert [f"{f.severity}:{f.code}" for f in judge(target, [])] == codes


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("535.104.05", (535, 104, 5)),
        (" 550.54.14\n", (550, 54, 14)),
        ("470.256.02\r\n", (470, 256, 2)),
        ("552.22", (552, 22)),
        ("525.60", (525, 60)),
        ("580.65.06.0", (580, 65, 6)),
    ],
)
def test_driver_spellings(text: str, key: tuple[int, ...]) -> None:
    assert DriverVersion.parse(text, trim=True).key == key


@pytest.mark.parametrize(
    "text",
    [
        "550.54.14\n550.54.14\n550.54.14\n550.54.14\n",  # csv,noheader on a 4-GPU node
        "driver_version\n550.54.14\n550.54.14\n",  # --format=csv keeps its header
        "550.54.14\r\n",
    ],
)
def test_nvidia_smi_driver_version_query_output_is_one_driver(text: str) -> None:
    """`nvidia-smi --query-gpu=driver_version --format=csv,noheader` prints the driver once per
    GPU (nvidia-smi documentation, --query-gpu); `--driver "$(nvidia-smi ...)"` or
    MLENV_DRIVER_VERSION set from it on a multi-GPU node is that one driver."""
    assert DriverVersion.parse(text, trim=True).text == "550.54.14"
    assert parse_driver_override(text) == "550.54.14"


@pytest.mark.parametrize("text", ["550.54.14\n535.104.05\n", "driver_version\n", "\n\n"])
def test_disagreeing_or_empty_query_output_is_refused(text: str) -> None:
    with pytest.raises(CudaError, match="is not a driver version"):
        DriverVersion.parse(text, trim=True)


@pytest.mark.parametrize(
    ("cuda", "arch", "code"),
    [
        # CUDA 13.0 release notes: Maxwell, Pascal, Volta removed; Thor's sm_101 is sm_110
        ("13.0", "sm_50", "arch-dropped"),
        ("13.0", "sm_52", "arch-dropped"),
        ("13.0", "sm_60", "arch-dropped"),
        ("13.0", "sm_70", "arch-dropped"),
        ("13.0", "sm_101", "arch-unsupported"),
        ("13.0", "sm_100", None),
        ("13.0", "sm_120", None),
        ("12.9", "sm_110", "arch-unsupported"),
        ("12.9", "sm_101", None),
        # CUDA 12.x still builds for Maxwell through Volta (deprecated, not removed)
        ("12.9", "sm_50", None),
        ("12.9", "sm_52", None),
        ("12.9", "sm_60", None),
        ("12.9", "sm_70", None),
        # Blackwell: sm_100/sm_101/sm_120 from 12.8, sm_103/sm_121 from 12.9
        ("12.6", "sm_120", "arch-unsupported"),
        ("12.8", "sm_100", None),
        ("12.8", "sm_103", "arch-unsupported"),
        # Ampere GA10x sm_86 from CUDA 11.1; CUDA 11.0 removed sm_30
        ("11.0", "sm_86", "arch-unsupported"),
        ("11.1", "sm_86", None),
        ("10.2", "sm_30", None),
        ("11.0", "sm_30", "arch-dropped"),
    ],
)
def test_architecture_per_toolkit(cuda: str, arch: str, code: str | None) -> None:
    version = CudaVersion.parse(cuda)
    findings = judge(CudaTarget(version, min_driver(version), (arch,)), [])
    assert [f.code for f in findings] == ([code] if code else [])


# Table 1 ("Component Versions") of NVIDIA's 13.3, 13.3 Update 1, 13.4, 13.4 Update 1 and 13.5
# release notes, typed by hand: (release that first shipped the version, component, version).
# Read 2026-12-04 in stored copies of
#   13.3:          https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html?trk=public_post_comment-text
#   13.3 Update 1: https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html?ref=sungw.ooo
#   13.4 (13.4.1): https://docs.nvidia.com/cuda/archive/13.4.1/cuda-toolkit-release-notes/index.html
#   13.4 Update 1: https://docs.nvidia.com/cuda/archive/13.4.2/cuda-toolkit-release-notes/index.html
#   13.5:          https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/?ref=journal.qualiteg.com
# Their Table 3 could not be read, so these releases have no driver row above.
TABLE_1 = [
    ("13.3.0", "cuda-runtime", "13.3.29"),
    ("13.3.0", "cuda-crt", "13.3.33"),
    ("13.3.0", "cuda-culibos", "13.3.33"),
    ("13.3.0", "cuda-cuobjdump", "13.3.29"),
    ("13.3.0", "cuda-cupti", "13.3.35"),
    ("13.3.0", "cuda-cccl", "13.3.3.3.1"),
    ("13.3.1", "cuda-crt", "13.3.73"),
    ("13.3.1", "cuda-cuobjdump", "13.3.73"),
    ("13.3.1", "cuda-cccl", "13.3.3.4.1"),
    ("13.4.1", "cuda-crt", "13.4.59"),
    ("13.4.1", "cuda-cccl", "13.3.4.2.1"),
    ("13.4.2", "cuda-runtime", "13.4.92"),
    ("13.4.2", "cuda-crt", "13.4.92"),
    ("13.4.2", "cuda-culibos", "13.4.92"),
    ("13.4.2", "cuda-cuobjdump", "13.4.92"),
    ("13.4.2", "cuda-cccl", "13.3.4.3.1"),
    ("13.5.0", "cuda-runtime", "13.5.37"),
    ("13.5.0", "cuda-crt", "13.5.37"),
    ("13.5.0", "cuda-culibos", "13.5.25"),
    ("13.5.0", "cuda-cuobjdump", "13.5.37"),
    ("13.5.0", "cuda-cupti", "13.5.25"),
    ("13.5.0", "cuda-cccl", "13.3.5.0.6"),
]


@pytest.mark.parametrize(("release", "component", "version"), TABLE_1)
def test_table_1_component_versions_trace_to_their_release(
    release: str, component: str, version: str
) -> None:
    """An exact pin of a Table 1 version is traced to the release whose notes list it first
    (13.4 GA is versioned 13.4.1: the notes say 13.4.0 was the developer preview)."""
    need = extract(f"nvidia-{component}", version)
    assert need is not None
    assert (need.label, need.release) == (str(_cuda(release)), release)


@pytest.mark.parametrize("cuda", ["13.4", "13.5"])
def test_release_notes_without_a_readable_table_3_leave_the_driver_unconfirmed(cuda: str) -> None:
    """The 13.4 and 13.5 notes were found but not their Table 3: no driver is guessed, not even
    the R615 branch NVIDIA's CUTLASS notes tie to 13.4 GA."""
    version = CudaVersion.parse(cuda)
    assert table3_driver(version) is None
    with pytest.raises(CudaError, match=f"the minimum driver for CUDA {cuda} is unconfirmed"):
        min_driver(version)


@pytest.mark.parametrize(
    ("cuda", "arch", "code"),
    [
        # Rubin (CC 10.7): preview support from CUDA 13.4 (NVIDIA's 13.4 documentation,
        # https://docs.nvidia.com/cuda/archive/13.4.3/index.html; SM107 per cuBLASDx 0.8.0,
        # https://docs.nvidia.com/cuda/cublasdx/0.8.0/release_notes.html)
        ("13.4", "sm_107", None),
        ("13.4", "sm_107a", None),
        ("13.5", "sm_107", None),
        ("13.3", "sm_107", "arch-unsupported"),
        ("13.0", "sm_107", "arch-unsupported"),
        ("12.9", "sm_107", "arch-unsupported"),
    ],
)
def test_rubin_architecture_per_toolkit(cuda: str, arch: str, code: str | None) -> None:
    """arch_findings alone: 13.4 and 13.5 have no confirmed driver to build a judged target on."""
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse("620.70.06"), (arch,))
    assert [f.code for f in arch_findings(target)] == ([code] if code else [])


def test_rubin_before_13_4_is_refused_when_the_manifest_is_read() -> None:
    text = (
        '[environment]\nname = "x"\npython = "3.11"\n'
        '[cuda]\nversion = "13.3"\ndriver-floor = "610.43.02"\narchs = ["sm_90", "sm_107"]\n'
    )
    with pytest.raises(ManifestError) as caught:
        loads(text, "m.toml")
    assert [f"{p.where}: {p.message}" for p in caught.value.problems] == [
        "m.toml: [cuda].archs[1]: sm_107 needs CUDA 13.4 or newer; the target is CUDA 13.3"
    ]
