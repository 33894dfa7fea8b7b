"""Adversary pass 156: a package's unconditional Requires-Dist against its generic CUDA extra.

The finding: a wheel with no table row whose base lines require CUDA 12 wheels
(``nvidia-cuda-runtime-cu12==12.8.90``) and whose ``cuda`` extra requires CUDA 13 ones
(``nvidia-cuda-runtime~=13.0; extra == "cuda"``) was read as CUDA 12 with no contradiction: the
extras were read only when nothing else said a CUDA. It is built for one of the two, and mlenv
cannot tell which. Real PyPI metadata never pairs them so (``test_cuda_pypi_requires_dist``);
an extra named for a major (nvidia-cutlass-dsl's ``[cu13]``) is a choice of build, not a claim.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

MARKERS = Target("linux-64", "3.11", "2.28").markers
FILE = "foo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl"

# ``extra === "cuda"`` is left out: packaging cannot evaluate it with no extra, so the
# unconditional reading refuses the metadata as broken before any extra is read (as pip's).
# lines that say one major, in the spellings PyPI's metadata uses (name case and separators
# are normalised as PEP 503 does: NVIDIA_CUBLAS_CU12 is nvidia-cublas-cu12)
_LINES = {
    12: [
        "nvidia-cuda-runtime-cu12==12.8.90",
        "NVIDIA_CUBLAS_CU12==12.8.4.1",
        "nvidia.cudnn.cu12>=9.1",
        "nvidia-cuda-runtime-cu12~=12.0",
        "cuda-bindings==12.9.4",
        "Nvidia-Nccl-Cu12>=2.20",
    ],
    13: [
        "nvidia-cuda-runtime~=13.0",
        "nvidia-cusparselt-cu13>=0.8",  # not nvidia-cuda-runtime-cu13: a placeholder, no claim
        "NVIDIA_CUDNN_CU13>=9.12",
        "nvidia-cublas==13.0.0.19",
        "cuda-bindings<14,>=13.0.3",
        "nvidia.nccl.cu13>=2.27",
    ],
}
_GENERIC = ["cuda", "CUDA", "cudnn", "and-cuda", "and_cuda", "With.Cuda", "gpu-cuda"]
_CHOICES = ["cu13", "cuda13", "cu12", "cuda12-local", "qnx-cu13", "deepstream", "cudf"]
_MARKERS = [
    'extra == "{e}"',
    '"{e}" == extra',
    "extra == '{e}'",
    '"{e}" in extra',
    'sys_platform == "linux" and extra == "{e}"',
    '(extra == "{e}") and platform_machine == "x86_64"',
    'platform_machine == "x86_64" and "{e}" == extra',
]


def _requires(base: str, extra_line: str, extra: str, marker: str) -> list[str]:
    return [base, "numpy>=1.26", f"{extra_line}; {marker.format(e=extra)}"]


@settings(max_examples=300, deadline=None)
@given(
    base_major=st.sampled_from([12, 13]),
    extra_major=st.sampled_from([12, 13]),
    base_index=st.integers(0, 5),
    extra_index=st.integers(0, 5),
    extra=st.sampled_from(_GENERIC + _CHOICES),
    marker=st.sampled_from(_MARKERS),
    base_first=st.booleans(),
)
def test_a_generic_cuda_extra_of_another_major_contradicts_the_base(
    base_major: int,
    extra_major: int,
    base_index: int,
    extra_index: int,
    extra: str,
    marker: str,
    base_first: bool,
) -> None:
    base, line = _LINES[base_major][base_index], _LINES[extra_major][extra_index]
    requires = _requires(base, line, extra, marker)
    if not base_first:
        requires.reverse()
    need = extract("foo", "1.0", FILE, requires, "", MARKERS)
    assert need is not None and need.cuda.major == base_major  # the base decides the build
    expected = extra in _GENERIC and extra_major != base_major
    assert [c.cuda.major for c in need.conflicts] == ([extra_major] if expected else [])
    if expected:
        assert extra in need.conflicts[0].evidence and line in need.conflicts[0].evidence


def test_an_extra_that_does_not_hold_on_the_platform_says_nothing() -> None:
    """``extra == "cuda" and platform_machine == "aarch64"`` is no line on x86_64."""
    requires = [
        "nvidia-cuda-runtime-cu12==12.8.90",
        'nvidia-cuda-runtime~=13.0; extra == "cuda" and platform_machine == "aarch64"',
    ]
    need = extract("foo", "1.0", FILE, requires, "", MARKERS)
    assert need is not None and need.conflicts == ()


def test_a_line_that_holds_without_the_extra_is_a_base_line() -> None:
    """``extra == "cuda" or sys_platform == "linux"`` holds with no extra: a plain line, and
    two plain lines of two majors were already a conflict (the newer claim wins)."""
    requires = [
        "nvidia-cuda-runtime-cu12==12.8.90",
        'nvidia-cudnn-cu13>=9.12; extra == "cuda" or sys_platform == "linux"',
    ]
    need = extract("foo", "1.0", FILE, requires, "", MARKERS)
    assert need is not None and len(need.conflicts) == 1
    assert "Requires-Dist [" not in need.conflicts[0].evidence


def test_many_lines_of_the_other_major_give_one_finding() -> None:
    """tensorflow's ``and-cuda`` holds a dozen lines: one contradiction, not a dozen."""
    extra = [f'{line}; extra == "and-cuda"' for line in _LINES[13]]
    need = extract("foo", "1.0", FILE, ["nvidia-cuda-runtime-cu12==12.8.90", *extra], "", MARKERS)
    assert need is not None and len(need.conflicts) == 1


def test_an_unreadable_extra_line_is_no_evidence() -> None:
    """``nvidia-curand~=10.0`` names no CUDA release (onnxruntime-gpu's cuda extra has it)."""
    requires = ["nvidia-cuda-runtime-cu12==12.8.90", 'nvidia-curand~=10.0; extra == "cuda"']
    need = extract("foo", "1.0", FILE, requires, "", MARKERS)
    assert need is not None and need.conflicts == ()


def test_the_finding_names_the_package_both_majors_and_both_lines() -> None:
    requires = [
        "nvidia-cuda-runtime-cu12==12.8.90",
        'nvidia-cuda-runtime~=13.0; extra == "cuda"',
    ]
    need = extract("foo", "1.0", FILE, requires, "", MARKERS)
    assert need is not None
    target = CudaTarget(CudaVersion(12, 8), DriverVersion.parse("580.95.05"))
    findings = [f for f in judge(target, [PackageNeed("foo", "1.0", need)]) if f.package]
    assert [f.code for f in findings] == ["cuda-contradiction"]
    message = findings[0].message
    assert "foo 1.0" in message and "CUDA 12.8" in message and "CUDA 13.0" in message
    assert "nvidia-cuda-runtime-cu12==12.8.90" in message
    assert "Requires-Dist [cuda]: " in message and "nvidia-cuda-runtime~=13.0" in message
    assert "foo" in findings[0].hint


def test_a_lock_of_such_a_package_is_refused(tmp_path: Path) -> None:
    """End to end: ``mlenv lock`` of a package that is neither listed nor tagged, for a CUDA
    12.8 fleet whose base lines it meets, fails naming the contradiction."""
    wheels = [
        build_wheel(
            "foo",
            "1.0",
            requires_dist=[
                "nvidia-cuda-runtime-cu12==12.8.90",
                'nvidia-cuda-runtime~=13.0; extra == "cuda"',
            ],
            provides_extra=["cuda"],
            tag="cp311-cp311-manylinux_2_28_x86_64",
        ),
        build_wheel("nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_27_x86_64"),
    ]
    index = write_simple_index(tmp_path / "feeds" / "pypi.org", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "gpu"\npython = "3.11"\nglibc = "2.28"\n'
        '[cuda]\nversion = "12.8"\ndriver-floor = "580.95.05"\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["foo"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode != 0
    assert "contradicts CUDA 13.0" in result.stderr and "Requires-Dist [cuda]: " in result.stderr
    assert not (root / "mlenv.lock").exists()
