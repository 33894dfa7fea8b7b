"""CUDA tags in local version labels, build strings and names: read, or refused, never dropped.

Before issue 13 ``torch 2.5.1+cu124.cxx11.abi`` and PyG's ``torch-scatter 2.1.2+pt25cu124``
were read as CPU builds because the pattern was anchored at the end of the version. The
invariant now held by ``cuda._tagged``: a ``cuNN``/``cudaNN`` tag is either read by a pattern of
``mlenv/data/cuda.json`` or an error.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaError, CudaVersion

# Segments PyTorch, PyG and others put beside the CUDA tag; none is a CUDA tag itself.
NEUTRAL = st.sampled_from(
    ["cxx11", "abi", "with", "pypi", "cudnn", "cudnn89", "git1234", "post1", "local", "a1b2", "x"]
)
MAJORS = st.integers(min_value=10, max_value=13)
MINORS = st.integers(min_value=0, max_value=9)


@given(
    before=st.lists(NEUTRAL, max_size=3),
    after=st.lists(NEUTRAL, max_size=3),
    major=MAJORS,
    minor=MINORS,
    pyg=st.sampled_from(["", "pt25", "pt21", "pt113"]),
)
def test_a_cuxyz_segment_anywhere_in_the_local_label_is_read(
    before: list[str], after: list[str], major: int, minor: int, pyg: str
) -> None:
    """+cu124, +cu124.cxx11.abi, +cu121.with.pypi.cudnn, +pt25cu124, +local.cu118 ..."""
    label = ".".join([*before, f"{pyg}cu{major}{minor}", *after])
    need = extract("somepkg", f"2.5.1+{label}")
    assert need is not None
    assert (need.cuda, need.major_only) == (CudaVersion(major, minor), False)


@given(major=MAJORS, after=st.lists(NEUTRAL, max_size=2))
def test_cuda_nn_in_the_local_label_fixes_the_major(major: int, after: list[str]) -> None:
    """jaxlib's +cuda12.cudnn89 and a bare +cuda12: CUDA 12.x."""
    need = extract("jaxlib", ".".join([f"0.4.23+cuda{major}", *after]))
    assert need is not None
    assert (need.cuda.major, need.major_only) == (major, True)


@given(label=st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,3}", fullmatch=True))
def test_any_local_label_is_read_refused_or_has_no_cuda_tag(label: str) -> None:
    """The invariant over arbitrary labels: None only when no cuNN/cudaNN tag is in it."""
    tagged = re.search(r"(?<![a-z])cu(?:da)?[0-9]{2,}", label) is not None
    try:
        need = extract("somepkg", f"1.0+{label}")
    except CudaError as exc:
        assert tagged, label
        assert "CUDA tag" in exc.message
        return
    assert (need is not None) == tagged, label


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("2.5.1+cu1240", "a CUDA tag in a shape mlenv cannot read (cu1240)"),
        ("2.5.1+cu118.cu124", "two CUDA tags (cu118, cu124)"),
        ("2.5.1+pt25cu118.cu124", "two CUDA tags (cu118, cu124)"),
        ("0.4.23+cuda1234.cudnn89", "a CUDA tag in a shape mlenv cannot read (cuda1234)"),
        ("2.5.1+cu_124", "a CUDA tag in a shape mlenv cannot read (cu_124)"),
    ],
)
def test_unknown_or_double_local_tags_are_errors(version: str, message: str) -> None:
    with pytest.raises(CudaError, match=re.escape(message)):
        extract("torch", version)


def test_the_wheel_file_name_is_held_to_the_same_rule() -> None:
    """The version inside a wheel file name goes through the same reader as the version."""
    with pytest.raises(CudaError, match=r"cu1240"):
        extract("torch", "2.5.1", "torch-2.5.1+cu1240-cp311-cp311-linux_x86_64.whl")
    need = extract("torch", "2.5.1", "torch-2.5.1+cu124.cxx11.abi-cp311-cp311-linux_x86_64.whl")
    assert need is not None and need.cuda == CudaVersion(12, 4)


@pytest.mark.parametrize(
    ("version", "cuda"),
    [("0.1.69+cuda111", "11.1"), ("0.1.57+cuda102", "10.2"), ("2.5.1+cu92", "9.2")],
)
def test_three_digit_tags_carry_the_minor(version: str, cuda: str) -> None:
    need = extract("jaxlib", version)
    assert need is not None and str(need.cuda) == cuda and not need.major_only


@pytest.mark.parametrize("version", ["2.5.1+cpu.cxx11.abi", "2.1.2+pt25cpu", "2.5.1+rocm6.2"])
def test_non_cuda_labels_stay_cpu(version: str) -> None:
    assert extract("torch-scatter", version) is None


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("cudf-cu12", "12.x"),
        ("cuml-cu11", "11.x"),
        ("spconv-cu120", "12.0"),
        ("nvidia-dali-tf-plugin-cuda120", "12.0"),
    ],
)
def test_per_cuda_distribution_names_are_read(name: str, label: str) -> None:
    """RAPIDS and spconv name the CUDA in a -cuNN/-cuXYZ suffix; read as CPU before."""
    need = extract(name, "24.10.1")
    assert need is not None and need.label == label


@pytest.mark.parametrize("name", ["foo-cu1", "foo-cuda12x", "foo-cu1234"])
def test_unread_cuda_suffixes_in_names_are_errors(name: str) -> None:
    with pytest.raises(CudaError, match="CUDA tag"):
        extract(name, "1.0")


@pytest.mark.parametrize("name", ["cu2qu", "pycuda", "nvidia-ml-py", "ecu12"])
def test_names_that_only_look_like_cuda_stay_plain(name: str) -> None:
    assert extract(name, "1.0") is None


@pytest.mark.parametrize(
    "build", ["cuda1234_py311h0123456_0", "py311_cuda1234_0", "cuda118_cuda121_0", "cuda12x1_0"]
)
def test_conda_build_strings_with_an_unread_cuda_tag_are_errors(build: str) -> None:
    with pytest.raises(CudaError, match="CUDA tag"):
        extract_conda("pytorch", "2.5.1", build, (), ())


def test_rapids_conda_builds_name_the_major() -> None:
    """RAPIDS' cuda12_py312_<date>_g<hash> builds were read as CPU builds before."""
    need = extract_conda("kvikio", "25.02.01", "cuda12_py312_250227_g8fecf06_0", (), ())
    assert need is not None and (need.label, need.rule) == ("12.x", "conda-build-cudann")
