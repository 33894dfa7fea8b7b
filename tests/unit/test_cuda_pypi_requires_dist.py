"""Real PyPI metadata judged as before the generic-CUDA-extra contradiction rule.

``tests/support/data/pypi_requires_dist.json`` holds the Requires-Dist of 82 real wheels
(torch 2.4-2.15, tensorflow 2.15-2.21, vllm, jax and its CUDA plugins, onnxruntime-gpu,
cupy-cuda12x/13x, nvidia-cutlass-dsl and its libs, bitsandbytes, xformers, flashinfer-python),
each with the URL of the wheel it was read from, and what mlenv judged before the rule. The rule
(a ``cuda``-like extra naming another major than the unconditional lines) must not fire on
any of them: PyPI publishes no such release, so a report of it is a real contradiction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlenv.cuda.requires_said import generic_cuda_extra
from mlenv.cuda.tags import extract
from mlenv.target import Target

DATA = Path(__file__).parents[1] / "support" / "data" / "pypi_requires_dist.json"
RELEASES: list[dict[str, Any]] = json.loads(DATA.read_text())["releases"]


def _id(row: dict[str, Any]) -> str:
    return f"{row['name']}-{row['version']}-{row['platform']}"


def test_the_data_covers_the_releases_asked_about() -> None:
    names = {row["name"] for row in RELEASES}
    for name in ("torch", "tensorflow", "vllm", "jax", "onnxruntime-gpu", "nvidia-cutlass-dsl"):
        assert name in names
    assert all(row["source"].startswith("https://files.pythonhosted.org/") for row in RELEASES)
    cutlass = {row["version"] for row in RELEASES if row["name"] == "nvidia-cutlass-dsl"}
    assert {"4.5.3", "4.6.0", "4.8.1"} <= cutlass


@pytest.mark.parametrize("row", RELEASES, ids=_id)
def test_a_real_release_judges_as_before(row: dict[str, Any]) -> None:
    markers = Target(row["platform"], "3.11", "2.28").markers
    filename = row["source"].rsplit("/", 1)[1]
    need = extract(row["name"], row["version"], filename, row["requires_dist"], "", markers)
    assert (need and need.label) == row["judged"]
    assert sorted(c.label for c in (need.conflicts if need else ())) == row["conflicts"]


def test_cutlass_dsl_pairs_its_cu12_library_with_a_cu13_extra() -> None:
    """What the rule must leave alone: 4.6 on, the base names ``-libs-cu12`` and ``[cu13]``
    ``-libs-cu13`` (an extra named for a major, a choice of build, not a generic one)."""
    for row in RELEASES:
        if row["name"] == "nvidia-cutlass-dsl" and row["version"] >= "4.6":
            assert f"nvidia-cutlass-dsl-libs-cu12=={row['version']}" in row["requires_dist"]
            line = f'nvidia-cutlass-dsl-libs-cu13=={row["version"]}; extra == "cu13"'
            assert line in row["requires_dist"]
            assert row["judged"] is None and row["conflicts"] == []  # flavours: no build claim


@pytest.mark.parametrize(
    ("extra", "generic"),
    [
        ("cuda", True),
        ("cudnn", True),
        ("and-cuda", True),
        ("And_CUDA", True),
        ("with_cuda", True),
        ("cuda12", False),
        ("cu13", False),
        ("qnx-cu13", False),
        ("cuda13-local", False),
        ("deepstream", False),
        ("cudf", False),
    ],
)
def test_which_extras_are_generic_cuda_extras(extra: str, generic: bool) -> None:
    assert generic_cuda_extra(extra) is generic
