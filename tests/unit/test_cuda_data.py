"""Every row of mlenv/data/cuda.json, checked against the reference it was derived from.

The expected values are transcribed from shared/reference/cuda.md, not from the data file,
so an edit of the data that drifts from the sourced facts fails here.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from mlenv.cuda import matrix
from mlenv.cuda.matrix import known_cuda_versions, min_driver, minor_compat_floor, supported_archs
from mlenv.cuda.tags import CudaNeed, extract, extract_conda
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion

TEXT = (resources.files("mlenv") / "data" / "cuda.json").read_text(encoding="utf-8")
DATA: dict[str, Any] = json.loads(TEXT)

# cuda.md §1, Table 3: release, Linux minimum, Windows minimum, status.
TOOLKITS = [
    ("13.5.0", None, None, "unconfirmed"),
    ("13.4.3", None, None, "unconfirmed"),
    ("13.4.2", None, None, "unconfirmed"),
    ("13.4.1", None, None, "unconfirmed"),
    ("13.3.1", "610.43.02", None, "secondary"),
    ("13.3.0", "610.43.02", None, "secondary"),
    ("13.2.2", "595.71.05", None, "confirmed"),
    ("13.2.1", "595.58.03", None, "confirmed"),
    ("13.2.0", "595.45.04", None, "confirmed"),
    ("13.1.2", None, None, "unconfirmed"),
    ("13.1.1", "590.48.01", None, "confirmed"),
    ("13.1.0", "590.44.01", None, "confirmed"),
    ("13.0.3", None, None, "unconfirmed"),
    ("13.0.2", "580.95.05", None, "confirmed"),
    ("13.0.1", "580.82.07", None, "confirmed"),
    ("13.0.0", "580.65.06", None, "confirmed"),
    ("12.9.2", None, None, "unconfirmed"),
    ("12.9.1", "575.57.08", "576.57", "confirmed"),
    ("12.9.0", "575.51.03", "576.02", "confirmed"),
    ("12.8.2", None, None, "unconfirmed"),
    ("12.8.1", "570.124.06", "572.61", "confirmed"),
    ("12.8.0", "570.26", "570.65", "confirmed"),
    ("12.6.3", "560.35.05", "561.17", "confirmed"),
    ("12.6.2", "560.35.03", "560.94", "confirmed"),
    ("12.6.1", "560.35.03", "560.94", "confirmed"),
    ("12.6.0", "560.28.03", "560.76", "confirmed"),
    ("12.5.1", "555.42.06", "555.85", "confirmed"),
    ("12.5.0", "555.42.02", "555.85", "confirmed"),
    ("12.4.1", "550.54.15", "551.78", "confirmed"),
    ("12.4.0", "550.54.14", "551.61", "confirmed"),
    ("12.3.2", None, None, "unconfirmed"),
    ("12.3.1", "545.23.08", "546.12", "confirmed"),
    ("12.3.0", "545.23.06", "545.84", "confirmed"),
    ("12.2.2", "535.104.05", "537.13", "confirmed"),
    ("12.2.1", "535.86.09", "536.67", "confirmed"),
    ("12.2.0", "535.54.03", "536.25", "confirmed"),
    ("12.1.1", "530.30.02", "531.14", "confirmed"),
    ("12.1.0", "530.30.02", "531.14", "confirmed"),
    ("12.0.1", "525.85.12", "528.33", "confirmed"),
    ("12.0.0", "525.60.13", "527.41", "confirmed"),
    ("11.8.0", "520.61.05", "520.06", "confirmed"),
    ("11.7.1", "515.48.07", "516.31", "confirmed"),
    ("11.7.0", "515.43.04", "516.01", "confirmed"),
    ("11.6.2", "510.47.03", "511.65", "confirmed"),
    ("11.6.1", "510.47.03", "511.65", "confirmed"),
    ("11.6.0", "510.39.01", "511.23", "confirmed"),
    ("11.5.2", "495.29.05", "496.13", "confirmed"),
    ("11.5.1", "495.29.05", "496.13", "confirmed"),
    ("11.5.0", "495.29.05", "496.04", "confirmed"),
    ("11.4.4", "470.82.01", "472.50", "confirmed"),
    ("11.4.3", "470.82.01", "472.50", "confirmed"),
    ("11.4.2", "470.57.02", "471.41", "confirmed"),
    ("11.4.1", "470.57.02", "471.41", "confirmed"),
    ("11.4.0", "470.42.01", "471.11", "confirmed"),
    ("11.3.1", "465.19.01", "465.89", "confirmed"),
    ("11.3.0", "465.19.01", "465.89", "confirmed"),
    ("11.2.2", "460.32.03", "461.33", "confirmed"),
    ("11.2.1", "460.32.03", "461.09", "confirmed"),
    ("11.2.0", "460.27.03", "460.82", "confirmed"),
    ("11.1.1", "455.32", "456.81", "confirmed"),
    ("11.1.0", "455.23", "456.38", "confirmed"),
    ("11.0.3", "450.51.06", "451.82", "confirmed"),
    ("11.0.2", "450.51.05", "451.48", "confirmed"),
    ("11.0.1", "450.36.06", "451.22", "confirmed"),
    ("10.2.89", "440.33", "441.22", "confirmed"),
    ("10.1", "418.39", "418.96", "confirmed"),
    ("10.0.130", "410.48", "411.31", "confirmed"),
    # Table 3 rows for 9.2 back to 7.0, which cuda.md §1 left untranscribed; the values are
    # from copies of Table 3 and uv's LINUX_CUDA_DRIVERS (the sources named in cuda.json).
    ("9.2.148", "396.37", "398.26", "secondary"),
    ("9.2.88", "396.26", "397.44", "secondary"),
    ("9.1.85", "390.46", "391.29", "secondary"),
    ("9.0.76", "384.81", "385.54", "secondary"),
    ("8.0.61", "375.26", "376.51", "secondary"),
    ("8.0.44", "367.48", "369.30", "secondary"),
    ("7.5.16", "352.31", "353.66", "secondary"),
    ("7.0.28", "346.46", "347.62", "secondary"),
]
# cuda.md §8.2: cuda-toolkit release -> cublas, cufft, curand, cusolver, cusparse pins.
PINS = [
    ("11.8.0", "11.11.3.6", "10.9.0.58", "10.3.0.86", "11.4.1.48", "11.7.5.86"),
    ("12.0.0", "12.0.1.189", "11.0.0.21", "10.3.1.50", "11.4.2.57", "12.0.0.76"),
    ("12.0.1", "12.0.2.224", "11.0.1.95", "10.3.1.124", "11.4.3.1", "12.0.1.140"),
    ("12.1.0", "12.1.0.26", "11.0.2.4", "10.3.2.56", "11.4.4.55", "12.0.2.55"),
    ("12.1.1", "12.1.3.1", "11.0.2.54", "10.3.2.106", "11.4.5.107", "12.1.0.106"),
    ("12.2.0", "12.2.1.16", "11.0.8.15", "10.3.3.53", "11.5.0.53", "12.1.1.53"),
    ("12.2.1", "12.2.4.5", "11.0.8.91", "10.3.3.129", "11.5.1.129", "12.1.2.129"),
    ("12.2.2", "12.2.5.6", "11.0.8.103", "10.3.3.141", "11.5.2.141", "12.1.2.141"),
    ("12.3.0", "12.3.2.9", "11.0.11.19", "10.3.4.52", "11.5.3.52", "12.1.3.153"),
    ("12.3.1", "12.3.4.1", "11.0.12.1", "10.3.4.101", "11.5.4.101", "12.2.0.103"),
    ("12.3.2", "12.3.4.1", "11.0.12.1", "10.3.4.107", "11.5.4.101", "12.2.0.103"),
    ("12.4.0", "12.4.2.65", "11.2.0.44", "10.3.5.119", "11.6.0.99", "12.3.0.142"),
    ("12.4.1", "12.4.5.8", "11.2.1.3", "10.3.5.147", "11.6.1.9", "12.3.1.170"),
    ("12.5.0", "12.5.2.13", "11.2.3.18", "10.3.6.39", "11.6.2.40", "12.4.1.24"),
    ("12.5.1", "12.5.2.13", "11.2.3.18", "10.3.6.39", "11.6.2.40", "12.4.1.24"),
    ("12.6.0", "12.6.0.22", "11.2.6.28", "10.3.7.37", "11.6.4.38", "12.5.2.23"),
    ("12.6.1", "12.6.1.4", "11.2.6.59", "10.3.7.68", "11.6.4.69", "12.5.3.3"),
    ("12.6.2", "12.6.3.3", "11.3.0.4", "10.3.7.77", "11.7.1.2", "12.5.4.2"),
    ("12.6.3", "12.6.4.1", "11.3.0.4", "10.3.7.77", "11.7.1.2", "12.5.4.2"),
    ("12.8.0", "12.8.3.14", "11.3.3.41", "10.3.9.55", "11.7.2.55", "12.5.7.53"),
    ("12.8.1", "12.8.4.1", "11.3.3.83", "10.3.9.90", "11.7.3.90", "12.5.8.93"),
    ("12.8.2.0", "12.8.5.5", "11.3.3.83", "10.3.9.90", "11.7.3.90", "12.5.8.93"),
    ("12.9.0", "12.9.0.13", "11.4.0.6", "10.3.10.19", "11.7.4.40", "12.5.9.5"),
    ("12.9.1", "12.9.1.4", "11.4.1.4", "10.3.10.19", "11.7.5.82", "12.5.10.65"),
    ("12.9.2.0", "12.9.2.10", "11.4.1.4", "10.3.10.19", "11.7.5.82", "12.5.10.65"),
    ("13.0.0", "13.0.0.19", "12.0.0.15", "10.4.0.35", "12.0.3.29", "12.6.2.49"),
    ("13.0.1", "13.0.2.14", "12.0.0.61", "10.4.0.35", "12.0.4.66", "12.6.3.3"),
    ("13.0.2", "13.1.0.3", "12.0.0.61", "10.4.0.35", "12.0.4.66", "12.6.3.3"),
    ("13.0.3.0", "13.1.1.3", "12.0.0.61", "10.4.0.35", "12.0.4.66", "12.6.3.3"),
    ("13.1.0", "13.2.0.9", "12.1.0.31", "10.4.1.34", "12.0.7.41", "12.7.2.19"),
    ("13.1.1", "13.2.1.1", "12.1.0.78", "10.4.1.81", "12.0.9.81", "12.7.3.1"),
    ("13.1.2.0", "13.2.2.2", "12.1.0.78", "10.4.1.81", "12.0.9.81", "12.7.3.1"),
    ("13.2.0", "13.3.0.5", "12.2.0.37", "10.4.2.51", "12.1.0.51", "12.7.9.17"),
    ("13.2.1", "13.4.0.1", "12.2.0.46", "10.4.2.55", "12.2.0.1", "12.7.10.1"),
    ("13.2.2", "13.4.1.3", "12.2.0.57", "10.4.2.66", "12.2.0.11", "12.7.10.12"),
    ("13.3.0", "13.5.1.27", "12.3.0.29", "10.4.3.29", "12.2.2.18", "12.8.1.7"),
    ("13.3.1", "13.6.0.2", "12.3.0.29", "10.4.3.29", "12.2.6.9", "12.8.2.51"),
    ("13.4.1.0", "13.7.0.27", "12.4.0.34", "10.4.4.49", "12.3.2.15", "12.8.6.49"),
    ("13.4.2", "13.8.0.4", "12.4.0.43", "10.4.4.72", "12.3.4.7", "12.8.6.72"),
    ("13.4.3", "13.8.0.4", "12.4.0.43", "10.4.4.72", "12.3.5.3", "12.8.6.72"),
    ("13.5.0", "13.10.0.20", "12.5.0.14", "10.4.5.25", "12.4.1.2", "12.9.4.2"),
]

# X.Y -> the Table 3 value of its lowest release with a known value (11.0: the RC row). Rows 9.2
# back to 7.0 as quoted by the copies named in mlenv/data/cuda.json and by uv's LINUX_CUDA_DRIVERS:
# CUDA 9.2 (torch+cu92, cupy-cuda92) is a known release.
MIN_DRIVERS = [
    ("7.0", "346.46"),
    ("7.5", "352.31"),
    ("8.0", "367.48"),
    ("9.0", "384.81"),
    ("9.1", "390.46"),
    ("9.2", "396.26"),
    ("10.0", "410.48"),
    ("10.1", "418.39"),
    ("10.2", "440.33"),
    ("11.0", "450.36.06"),
    ("11.1", "455.23"),
    ("11.2", "460.27.03"),
    ("11.3", "465.19.01"),
    ("11.4", "470.42.01"),
    ("11.5", "495.29.05"),
    ("11.6", "510.39.01"),
    ("11.7", "515.43.04"),
    ("11.8", "520.61.05"),
    ("12.0", "525.60.13"),
    ("12.1", "530.30.02"),
    ("12.2", "535.54.03"),
    ("12.3", "545.23.06"),
    ("12.4", "550.54.14"),
    ("12.5", "555.42.02"),
    ("12.6", "560.28.03"),
    ("12.8", "570.26"),
    ("12.9", "575.51.03"),
    ("13.0", "580.65.06"),
    ("13.1", "590.44.01"),
    ("13.2", "595.45.04"),
    ("13.3", "610.43.02"),
]

# cuda.md §2: major -> Linux floor, Windows floor.
COMPAT = [(11, "450.80.02", "452.39"), (12, "525.60.13", "527.41"), (13, "580", None)]

# cuda.md §6.
ARCHS = {
    10: (30, 32, 35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75),
    11: (35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90),
    12: (50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90, 100, 101, 103, 120, 121),
    13: (75, 80, 86, 87, 88, 89, 90, 100, 103, 107, 110, 120, 121),
}
ADDED_IN = {
    10: {},
    11: {"sm_86": "11.1", "sm_87": "11.4", "sm_89": "11.8", "sm_90": "11.8"},
    12: {"sm_100": "12.8", "sm_101": "12.8", "sm_120": "12.8", "sm_103": "12.9", "sm_121": "12.9"},
    13: {"sm_107": "13.4"},  # Rubin: NVIDIA's 13.4 docs, cuBLASDx 0.8.0, CUTLASS v4.8.0dev
}

SOURCE_RE = re.compile(r"https://\S+|[\w.-]+/[\w.-]+@[0-9a-f]{7,40}:\S+")
TABLES = (
    "toolkits",
    "minor_compat",
    "gpu_archs",
    "tag_patterns",
    "component_versions",
    "forward_compat",
    "conda_components",
    "framework_archs",
    "side_by_side",
)


def _toolkit_row(release: str) -> dict[str, Any]:
    rows = [row for row in DATA["toolkits"] if row["release"] == release]
    assert len(rows) == 1, release
    row: dict[str, Any] = rows[0]
    return row


@pytest.mark.parametrize(("release", "linux", "windows", "status"), TOOLKITS)
def test_toolkit_row_matches_table_3(
    release: str, linux: str | None, windows: str | None, status: str
) -> None:
    row = _toolkit_row(release)
    assert (row["linux_min_driver"], row["windows_min_driver"], row["status"]) == (
        linux,
        windows,
        status,
    )


def test_toolkit_rows_are_exactly_the_reference_releases() -> None:
    assert sorted(row["release"] for row in DATA["toolkits"]) == sorted(r[0] for r in TOOLKITS)


@pytest.mark.parametrize(("cuda", "driver"), MIN_DRIVERS)
def test_min_driver_is_the_ga_value(cuda: str, driver: str) -> None:
    found = min_driver(CudaVersion.parse(cuda))
    assert str(found) == driver
    assert found == DriverVersion.parse(driver)


@pytest.mark.parametrize("cuda", ["13.4", "13.5"])
def test_min_driver_of_an_unconfirmed_release_is_an_error(cuda: str) -> None:
    with pytest.raises(CudaError, match=f"the minimum driver for CUDA {cuda} is unconfirmed"):
        min_driver(CudaVersion.parse(cuda))


@pytest.mark.parametrize("cuda", ["12.7", "14.0", "9.3"])
def test_min_driver_of_an_unknown_release_is_an_error(cuda: str) -> None:
    with pytest.raises(CudaError, match=f"CUDA {cuda} is not a known CUDA release"):
        min_driver(CudaVersion.parse(cuda))


def test_known_cuda_versions_are_every_minor_of_table_3() -> None:
    expected = [cuda for cuda, _ in MIN_DRIVERS] + ["13.4", "13.5"]
    assert [str(cuda) for cuda in known_cuda_versions()] == expected


@pytest.mark.parametrize(("major", "linux", "windows"), COMPAT)
def test_minor_compat_floor(major: int, linux: str, windows: str | None) -> None:
    assert str(minor_compat_floor(major)) == linux
    rows = [row for row in DATA["minor_compat"] if row["major"] == major]
    assert [(row["linux"], row["windows"]) for row in rows] == [(linux, windows)]


def test_cuda_10_has_no_minor_compat_floor() -> None:
    with pytest.raises(CudaError, match=r"CUDA 10\.x has no minor-version compatibility floor"):
        minor_compat_floor(10)


@pytest.mark.parametrize("major", sorted(ARCHS))
def test_arch_list(major: int) -> None:
    expected = tuple(f"sm_{cc}" for cc in ARCHS[major])
    assert supported_archs(major) == expected
    (row,) = [row for row in DATA["gpu_archs"] if row["major"] == major]
    assert (row["lowest"], row["highest"]) == (expected[0], expected[-1])
    assert row["added_in"] == ADDED_IN[major]


def test_archs_of_an_unknown_major_are_an_error() -> None:
    with pytest.raises(CudaError, match=r"no GPU architecture data for CUDA 9\.x"):
        supported_archs(9)


def _example_need(pattern: dict[str, Any]) -> CudaNeed | None:
    kind = pattern["applies_to"]
    if kind == "version":
        return extract(pattern["example_name"], pattern["example"])
    if kind == "name":
        return extract(pattern["example"], pattern.get("example_version", "1.0"))
    if kind == "conda-build":
        return extract_conda("pkg", "1.0", pattern["example"], [], [])
    return extract_conda("pkg", "1.0", "h0_0", [pattern["example"]], [])


@pytest.mark.parametrize("pattern", DATA["tag_patterns"], ids=lambda p: str(p["id"]))
def test_tag_pattern_example_matches_and_extracts(pattern: dict[str, Any]) -> None:
    assert re.search(pattern["regex"], pattern["example"], re.IGNORECASE)
    need = _example_need(pattern)
    assert need is not None
    assert need.rule == pattern["id"]
    assert need.source == pattern["source"] or pattern["kind"] in ("table", "version")
    if pattern["example_cuda"] == "stub":
        assert need.stub is not None
    else:
        assert (need.label, need.stub) == (pattern["example_cuda"], None)


@pytest.mark.parametrize(
    "row",
    [
        {"id": "x", "kind": "fixed"},
        {"id": "x", "kind": "digits", "cuda": "10.0"},
    ],
)
def test_a_fixed_pattern_and_its_cuda_come_together(row: dict[str, Any]) -> None:
    """A fixed row without its release would read no CUDA, and a release on another kind
    would be silently ignored: both are a broken data file, refused when read."""
    with pytest.raises(CudaError, match="a fixed pattern needs a cuda value"):
        matrix._fixed_cuda(row)


def test_tag_pattern_ids_and_precedences_are_unique() -> None:
    patterns = DATA["tag_patterns"]
    assert len({p["id"] for p in patterns}) == len(patterns)
    assert len({(p["applies_to"], p["precedence"]) for p in patterns}) == len(patterns)


PIN_CASES = [
    (release, component, version)
    for release, *versions in PINS
    for component, version in zip(
        ("cublas", "cufft", "curand", "cusolver", "cusparse"), versions, strict=True
    )
]


def _release_tuple(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split("."))[:3]


def _first_release(component: str, version: str) -> str:
    """The oldest cuda-toolkit release in cuda.md pinning this version."""
    index = ("cublas", "cufft", "curand", "cusolver", "cusparse").index(component)
    releases = [row[0] for row in PINS if row[1 + index] == version]
    return ".".join(map(str, min(_release_tuple(release) for release in releases)))


def _package(component: str, major: int) -> str:
    return f"nvidia-{component}" + ("" if major >= 13 else f"-cu{major}")


@pytest.mark.parametrize(("release", "component", "version"), PIN_CASES)
def test_component_pin_from_the_reference(release: str, component: str, version: str) -> None:
    major, minor = _release_tuple(release)[:2]
    need = extract(_package(component, major), version)
    assert need is not None
    assert (need.label, need.release) == (f"{major}.{minor}", _first_release(component, version))


@pytest.mark.parametrize(
    "row", DATA["component_versions"], ids=lambda r: f"{r['component']}-{r['version']}"
)
def test_component_row_extracts_to_its_release(row: dict[str, Any]) -> None:
    major, minor = _release_tuple(row["release"])[:2]
    need = extract(_package(row["component"], major), row["version"])
    assert need is not None
    if row["component"] == "nvjitlink" and major >= 13:  # the row reads conda's libnvjitlink
        assert need.label == f"{major}.x"  # NVIDIA's cuda-toolkit 13.0.3.0 admits any 13.x
        return
    assert (need.label, need.release, need.source) == (
        f"{major}.{minor}",
        row["release"],
        row["source"],
    )
    _toolkit_row(row["release"])


@pytest.mark.parametrize("table", TABLES)
def test_every_row_has_a_source(table: str) -> None:
    rows = DATA[table]
    assert rows
    bad = [row for row in rows if not SOURCE_RE.fullmatch(row.get("source") or "")]
    assert bad == []


@pytest.mark.parametrize("table", TABLES)
def test_every_status_is_one_of_the_three(table: str) -> None:
    statuses = {row["status"] for row in DATA[table] if "status" in row}
    assert statuses <= {"confirmed", "secondary", "unconfirmed", "partly inferred"}


def test_unconfirmed_toolkits_have_no_driver_and_the_others_do() -> None:
    for row in DATA["toolkits"]:
        unconfirmed = row["status"] == "unconfirmed"
        assert (row["linux_min_driver"] is None) == unconfirmed, row["release"]


def test_data_file_is_canonical_json() -> None:
    assert json.dumps(DATA, indent=1, sort_keys=True, ensure_ascii=False) + "\n" == TEXT
