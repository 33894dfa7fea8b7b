"""Adversary pass 116: mlenv's CUDA judgements against NVIDIA's own documents, continued.

Expected drivers are Table 3's ("CUDA Toolkit and Corresponding Driver Versions", CUDA Toolkit
Release Notes; shared/reference/cuda.md §1), typed here, never computed.

Findings this file pins:

- CUDA 11.5 Update 2 and 11.6 Update 2 libraries were not traced at all: NVIDIA's
  redistributable manifests (https://developer.download.nvidia.com/compute/cuda/redist/
  redistrib_11.5.2.json and redistrib_11.6.2.json) give cuBLAS 11.7.4.6 / 11.9.2.110, cuFFT
  10.6.0.107 / 10.7.2.124, ... but ``nvidia-cublas-cu11==11.7.4.6`` read as "CUDA 11.x", so a
  CUDA 11.4 fleet on 470.82.01 took a CUDA 11.5 cuBLAS (Table 3: 495.29.05) silently, and
  11.6 Update 2's CUPTI, NVCC, NVTX ... (510.47.03) passed on the 11.6 GA's 510.39.01.
- conda's monolithic ``cudatoolkit X.Y.Z`` is the toolkit release X.Y.Z: conda-forge's recipe
  packages NVIDIA's runfile ``cuda_<X.Y.Z>_<driver>_linux.run`` from
  ``compute/cuda/<X.Y.Z>/local_installers`` at that version (conda-forge/cudatoolkit-feedstock
  recipe/meta.yaml: 11.2.1 is cuda_11.2.1_460.32.03_linux.run). mlenv read ``cudatoolkit
  11.2.1`` as "CUDA 11.2", passing the GA's 460.27.03, where Table 3 gives 11.2.1 460.32.03.
- NVIDIA's placeholder versions (``0.0.1.dev5``, ``0.0.1``) of a toolkit component wheel were
  read as CUDA 0.0 ("contradicts" the name's -cu12) or, for the table-versioned libraries
  (``nvidia-cublas-cu11 0.0.1.dev5``), passed as "CUDA 11.x": no CUDA component is versioned
  0.x, so the reason must say the release is a placeholder.
- Driver versions pasted as the tools print them (``575.51.03 (open)``, the /proc/driver/
  nvidia/version line, ``modinfo nvidia | grep ^version``, ``nvidia-smi --version``) were
  refused with a generic hint; the hint now names the driver the text holds.
- ``sm_101`` on CUDA 13: "CUDA 13.x has no sm_101", without saying that CUDA 13.0 renumbered
  Thor's sm_101 as sm_110 (CUDA 13.0 release notes; cuda.md §7).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from mlenv.cuda.rules import arch_findings
from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaError, DriverVersion
from mlenv.host_text import HostError, parse_driver_override
from tests.support.cuda_verdicts import target, verdict

DATA: dict[str, Any] = json.loads(
    (resources.files("mlenv") / "data" / "cuda.json").read_text(encoding="utf-8")
)

# Table 3 (Linux), typed from the release notes (cuda.md §1).
GA_11_2, UPDATE_11_2_1 = "460.27.03", "460.32.03"
GA_11_5 = "495.29.05"  # 11.5 GA, Update 1 and Update 2 alike
GA_11_6, UPDATE_11_6_2 = "510.39.01", "510.47.03"
UPDATE_11_4_3 = "470.82.01"


# (wheel, version) per redistrib_11.5.2.json / redistrib_11.6.2.json
WHEELS_11_5_2 = [
    ("nvidia-cublas-cu11", "11.7.4.6"),
    ("nvidia-cufft-cu11", "10.6.0.107"),
    ("nvidia-curand-cu11", "10.2.7.107"),
    ("nvidia-cusolver-cu11", "11.3.2.107"),
    ("nvidia-cusparse-cu11", "11.7.0.107"),
    ("nvidia-npp-cu11", "11.5.1.107"),
    ("nvidia-nvjpeg-cu11", "11.5.4.107"),
    ("nvidia-cuda-cupti-cu11", "11.5.114"),
    ("nvidia-cuda-nvcc-cu11", "11.5.119"),
    ("nvidia-nvtx-cu11", "11.5.114"),
]
WHEELS_11_6_2 = [
    ("nvidia-cublas-cu11", "11.9.2.110"),
    ("nvidia-cufft-cu11", "10.7.2.124"),
    ("nvidia-curand-cu11", "10.2.9.124"),
    ("nvidia-cusolver-cu11", "11.3.4.124"),
    ("nvidia-cusparse-cu11", "11.7.2.124"),
    ("nvidia-npp-cu11", "11.6.3.124"),
    ("nvidia-nvjpeg-cu11", "11.6.2.124"),
    ("nvidia-cuda-cupti-cu11", "11.6.124"),
    ("nvidia-cuda-nvcc-cu11", "11.6.124"),
    ("nvidia-nvtx-cu11", "11.6.124"),
]


@pytest.mark.parametrize(("name", "version"), WHEELS_11_5_2)
def test_a_cuda_11_5_update_2_component_is_cuda_11_5(name: str, version: str) -> None:
    """A CUDA 11.5 library needs 11.5's driver: on a CUDA 11.4 fleet at 470.82.01 it is a
    newer minor (an error), not 'CUDA 11.x'; on 11.5's own 495.29.05 it passes."""
    need = extract(name, version)
    assert need is not None
    assert (str(need.cuda), need.major_only, need.release) == ("11.5", False, "11.5.2")
    assert [s for s, _ in verdict("11.4", UPDATE_11_4_3, name, need)] == ["error"]
    assert verdict("11.5", GA_11_5, name, need) == []


@pytest.mark.parametrize(("name", "version"), WHEELS_11_6_2)
def test_a_cuda_11_6_update_2_component_needs_its_update_driver(name: str, version: str) -> None:
    """On the 11.6 GA's 510.39.01 an 11.6 Update 2 component runs under minor-version
    compatibility only (the warning); Update 2's 510.47.03 runs it."""
    need = extract(name, version)
    assert need is not None
    assert (str(need.cuda), need.release) == ("11.6", "11.6.2")
    assert verdict("11.6", GA_11_6, name, need) == [("warning", "driver-minor-compat")]
    assert verdict("11.6", UPDATE_11_6_2, name, need) == []


def test_the_11_6_ga_components_stay_the_ga() -> None:
    """The GA's own builds (cudart 11.6.55, the 11.6.0 label of NVIDIA's conda channel) need
    only the GA's driver: the Update 2 rows must not reach back."""
    need = extract("nvidia-cuda-runtime-cu11", "11.6.55")
    assert need is not None
    assert verdict("11.6", GA_11_6, "nvidia-cuda-runtime-cu11", need) == []


# CUDA 11.7 libraries per redistrib_11.7.0.json (GA) and redistrib_11.7.1.json (Update 1)
GA_11_7, UPDATE_11_7_1 = "515.43.04", "515.48.07"
WHEELS_11_7 = [
    ("nvidia-cublas-cu11", "11.10.1.25", "11.10.3.66"),
    ("nvidia-cufft-cu11", "10.7.2.50", "10.7.2.91"),
    ("nvidia-curand-cu11", "10.2.10.50", "10.2.10.91"),
    ("nvidia-cusolver-cu11", "11.3.5.50", "11.4.0.1"),
    ("nvidia-cusparse-cu11", "11.7.3.50", "11.7.4.91"),
    ("nvidia-npp-cu11", "11.7.3.21", "11.7.4.75"),
    ("nvidia-nvjpeg-cu11", "11.7.2.34", "11.8.0.2"),
]


@pytest.mark.parametrize(("name", "ga", "update"), WHEELS_11_7)
def test_cuda_11_7_libraries_are_traced_to_their_release(name: str, ga: str, update: str) -> None:
    """torch 1.13.1 pins nvidia-cublas-cu11==11.10.3.66, CUDA 11.7 Update 1's: on the GA's
    515.43.04 the warning; the GA's own cuBLAS 11.10.1.25 needs only the GA's driver."""
    for version, release in ((ga, "11.7.0"), (update, "11.7.1")):
        need = extract(name, version)
        assert need is not None
        assert (str(need.cuda), need.release) == ("11.7", release)
        warned = [("warning", "driver-minor-compat")] if release == "11.7.1" else []
        assert verdict("11.7", GA_11_7, name, need) == warned
        assert verdict("11.7", UPDATE_11_7_1, name, need) == []


def test_every_component_row_names_a_table_3_release() -> None:
    """A component row's release is a toolkit release NVIDIA's Table 3 lists (a row of
    ``toolkits``), so its driver is Table 3's, never an invented release."""
    releases = {row["release"] for row in DATA["toolkits"]}
    stray = [
        (row["component"], row["version"], row["release"])
        for row in DATA["component_versions"]
        if row["release"] not in releases
    ]
    assert stray == []


# conda's monolithic cudatoolkit: conda-forge's version is the runfile's toolkit release
@pytest.mark.parametrize(
    ("version", "build", "cuda", "release", "ga", "update"),
    [
        ("11.2.1", "h8204236_8", "11.2", "11.2.1", GA_11_2, UPDATE_11_2_1),
        ("11.0.3", "h88f8997_8", "11.0", "11.0.3", "450.36.06", "450.51.06"),
        ("11.6.2", "hfc3e2af_12", "11.6", "11.6.2", GA_11_6, UPDATE_11_6_2),
    ],
)
def test_conda_cudatoolkit_is_its_toolkit_release(
    version: str, build: str, cuda: str, release: str, ga: str, update: str
) -> None:
    """cudatoolkit X.Y.Z is the toolkit update X.Y.Z (conda-forge's recipe repackages the
    NVIDIA runfile of that release): on the GA's driver, the minor-version warning."""
    need = extract_conda("cudatoolkit", version, build, [], [])
    assert need is not None
    assert (str(need.cuda), need.release) == (cuda, release)
    assert verdict(cuda, ga, "cudatoolkit", need) == [("warning", "driver-minor-compat")]
    assert verdict(cuda, update, "cudatoolkit", need) == []


@pytest.mark.parametrize("version", ["11.0.221", "11.1.74", "11.8.0"])
def test_a_cudatoolkit_version_that_is_no_update_stays_its_minor(version: str) -> None:
    """Anaconda's defaults build numbers (11.0.221, 11.1.74: libcudart's, no Table 3 release)
    are not read as an update; 11.8.0 is the 11.8 GA itself."""
    need = extract_conda("cudatoolkit", version, "h6bb024c_0", [], [])
    assert need is not None
    assert need.release in (None, "11.8.0")
    cuda = ".".join(version.split(".")[:2])
    first = {"11.0": "450.36.06", "11.1": "455.23", "11.8": "520.61.05"}[cuda]
    assert verdict(cuda, first, "cudatoolkit", need) == []


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("nvidia-cuda-runtime-cu12", "0.0.1.dev5"),
        ("nvidia-cuda-nvrtc-cu11", "0.0.1"),
        ("nvidia-cublas-cu11", "0.0.1.dev5"),
        ("nvidia-cublas-cu12", "0.0.1"),
        ("nvidia-cublas", "0.0.1"),
        ("nvidia-cuda-runtime", "0.0.1.dev5"),
    ],
)
def test_a_placeholder_version_is_refused_as_one(name: str, version: str) -> None:
    """No NVIDIA toolkit component is versioned 0.x: such a wheel is a placeholder, and the
    error says so rather than 'CUDA 0.0 contradicts 12.x' or passing it as CUDA 11.x."""
    with pytest.raises(CudaError) as raised:
        extract(name, version)
    text = f"{raised.value} {raised.value.hint}"
    assert "placeholder" in text
    assert "contradicts" not in text
    assert "CUDA 0.0" not in text


# What users paste: the tools' own output around the driver version.
PASTED = [
    ("575.51.03 (open)", "575.51.03"),
    (
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.51.03  Release Build  "
        "(dvs-builder@U16-I3-B03-4-3)  Tue Apr 29 20:55:20 UTC 2025",
        "575.51.03",
    ),
    ("version:        575.51.03", "575.51.03"),
    (
        "NVIDIA-SMI version  : 575.51.03\nNVML version        : 575.51\n"
        "DRIVER version      : 575.51.03\nCUDA Version        : 12.9",
        "575.51.03",
    ),
    ("Driver Version: 550.54.14", "550.54.14"),
]


@pytest.mark.parametrize(("text", "driver"), PASTED)
def test_a_pasted_tool_line_is_refused_with_the_driver_it_holds(text: str, driver: str) -> None:
    """Refused (a driver is written as nvidia-smi prints the number alone), with a hint that
    names the driver found in the text, in the accepted shape."""
    with pytest.raises(CudaError) as raised:
        DriverVersion.parse(text, where="--driver", trim=True)
    assert f"write {driver}" in (raised.value.hint or "")
    with pytest.raises(HostError) as host:
        parse_driver_override(text)
    assert f"write {driver}" in (host.value.hint or "")


@pytest.mark.parametrize("text", ["latest", "550.54.14a", "v550.54"])
def test_an_unrelated_text_keeps_the_general_hint(text: str) -> None:
    """No driver-shaped word, or a typo (not a paste: nothing is guessed): the general shape.
    (Two drivers in one text get a hint naming both: attack 220.)"""
    with pytest.raises(CudaError) as raised:
        DriverVersion.parse(text, trim=True)
    assert "e.g. 550.54.14" in (raised.value.hint or "")


@pytest.mark.parametrize(("arch", "new"), [("sm_101", "sm_110"), ("sm_101a", "sm_110a")])
def test_sm_101_on_cuda_13_names_its_new_number(arch: str, new: str) -> None:
    """CUDA 13.0 renumbered Thor's sm_101 as sm_110: the refusal says so."""
    found = arch_findings(target("13.0", "580.65.06", (arch,)))
    assert [finding.code for finding in found] == ["arch-unsupported"]
    text = f"{found[0].message} {found[0].hint}"
    assert new in text
    assert "renumbered" in text or "renamed" in text


def test_sm_110_on_cuda_12_9_names_its_cuda_12_number() -> None:
    """Thor under CUDA 12.x is sm_101: sm_110 is its CUDA 13 number."""
    found = arch_findings(target("12.9", "575.51.03", ("sm_110",)))
    assert [finding.code for finding in found] == ["arch-unsupported"]
    assert "write sm_101" in found[0].message


def test_sm_101_on_cuda_12_9_is_still_valid() -> None:
    """Before 13.0 sm_101 is Thor's own name (CUDA 12.9)."""
    assert arch_findings(target("12.9", "575.51.03", ("sm_101",))) == []
