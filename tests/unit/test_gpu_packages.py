"""The GPU package table (mlenv/data/gpu_packages.json) and what mlenv concludes from it.

These packages name no CUDA in their name or PyPI version; a wrong or missing row is a silent
pass (a CUDA 12 onnxruntime-gpu locked for a CUDA 13 fleet), so every row is checked against
its own example and the facts its source states are checked independently of the table.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from mlenv.cuda import packages as cudapkg
from mlenv.cuda.package_table import build
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.judge import verify_lock
from mlenv.lockfile import LockedPackage
from tests.support.locks import HASH, codes, locked, make_lock

TEXT = (resources.files("mlenv") / "data" / "gpu_packages.json").read_text(encoding="utf-8")
DATA: dict[str, Any] = json.loads(TEXT)
SOURCE_RE = re.compile(r"https://\S+|[\w.-]+/[\w.-]+@[0-9a-f]{7,40}:\S+")
TAG = "cp312-cp312-manylinux_2_28_x86_64"
PYPI = "https://pypi.org/simple"
CUDA_12_FEED = "https://aiinfra.pkgs.visualstudio.com/PublicPackages/_packaging/onnxruntime-cuda-12/pypi/simple/"


def wheel(name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}-{TAG}.whl"


def rows() -> list[dict[str, Any]]:
    return list(DATA["packages"])


def row_id(row: dict[str, Any]) -> str:
    return f"{row['package']}-{row['example_version']}"


@pytest.mark.parametrize("row", rows(), ids=row_id)
def test_row_has_a_source_and_a_known_status(row: dict[str, Any]) -> None:
    """A fact without a source cannot be checked against its document."""
    assert SOURCE_RE.fullmatch(row["source"])
    assert row["status"] in {"confirmed", "secondary", "unconfirmed"}


@pytest.mark.parametrize("row", rows(), ids=row_id)
def test_row_gives_its_verdict_on_its_example_wheel(row: dict[str, Any]) -> None:
    """Each row decides its own example (first match wins, so an earlier row must not shadow
    it), and extract()/undetermined() say what the row's cuda value means."""
    name, version = row["package"], row["example_version"]
    index = row.get("example_index", PYPI)
    need = extract(name, version, wheel(name, version), index=index)
    unread = cudapkg.undetermined(name, version, index)
    cuda = row["cuda"]
    if cuda == "from-index":
        digits = re.search(row["index"], index)
        assert digits is not None
        assert need is not None
        assert need.label == f"{digits['digits'][:-1]}.{digits['digits'][-1]}"
        assert need.source == row["source"]
    elif re.fullmatch(r"\d+\.(\d+|x)", cuda):
        assert need is not None
        assert (need.label, need.source) == (cuda, row["source"])
    elif cuda == "multi":
        assert need is not None and need.multi is not None and need.source == row["source"]
        builds = [CudaVersion.parse(text) for text in row["builds"]]
        assert list(need.multi.builds) == sorted(builds)
        assert need.label == "|".join(f"{m}.x" for m in sorted({b.major for b in builds}))
        assert (need.multi.loader, need.multi.follows) == (row["loader"], row["follows"])
    elif cuda == "from-tags":
        assert need is None
        assert unread is not None and "GPU package table says only those can tell" in unread
    else:
        assert cuda in ("from-tags-or-cpu", "none")
        assert need is None and unread is None


@pytest.mark.parametrize("family", DATA["families"], ids=lambda f: f["id"])
def test_family_has_a_source_and_a_default_hint(family: dict[str, Any]) -> None:
    assert SOURCE_RE.fullmatch(family["source"])
    assert "*" in family["hint"]


@pytest.mark.parametrize("row", rows(), ids=row_id)
def test_every_gpu_row_has_a_family_hint(row: dict[str, Any]) -> None:
    """A refusal of a table package always says where its CUDA builds are published."""
    if row["cuda"] != "none":
        assert cudapkg.hint(row["package"], CudaVersion(13, 0))
        assert cudapkg.family(row["package"]) == row["family"]


def test_a_from_index_row_without_digits_is_refused_when_the_table_loads() -> None:
    """A broken row fails loudly at load time instead of misreading every index."""
    broken = {"families": [], "packages": [dict(rows()[0], cuda="from-index", index="feed")]}
    with pytest.raises(CudaError, match="no index pattern with a digits group"):
        build(broken)


def test_data_file_is_canonical_json() -> None:
    assert json.dumps(DATA, indent=1, sort_keys=True, ensure_ascii=False) + "\n" == TEXT


@pytest.mark.parametrize(
    ("name", "version", "index", "label"),
    [
        # ORT CUDA EP page: "Starting with version 1.19, CUDA 12.x becomes the default" on PyPI.
        ("onnxruntime-gpu", "1.19.0", PYPI, "12.x"),
        ("onnxruntime-gpu", "1.23.2", PYPI, "12.x"),
        # The PyPI wheels themselves (build_and_package_info.py's cuda_version, the cuda extra):
        # 1.24.1-1.26.0 are CUDA 12.8 builds, 1.27.0-1.31.1 CUDA 13.0 builds.
        ("onnxruntime-gpu", "1.24.1", PYPI, "12.x"),
        ("onnxruntime-gpu", "1.26.0", PYPI, "12.x"),
        ("onnxruntime-gpu", "1.27.0", PYPI, "13.x"),
        ("onnxruntime-gpu", "1.31.1", PYPI, "13.x"),
        # Before 1.19 PyPI served CUDA 11.8 builds; the CUDA-12 feed served CUDA 12 ones.
        ("onnxruntime-gpu", "1.18.1", PYPI, "11.x"),
        ("onnxruntime-gpu", "1.18.1", CUDA_12_FEED, "12.x"),
        (
            "onnxruntime-gpu",
            "1.17.0",
            "https://pkgs.dev.azure.com/onnxruntime/onnxruntime/_packaging/onnxruntime-cuda-12/pypi/simple",
            "12.x",
        ),
        ("onnxruntime-gpu", "1.13.1", PYPI, "11.6"),
        ("onnxruntime-gpu", "1.6.0", PYPI, "10.2"),
        # tensorflow/docs source.md: 2.15+ CUDA 12, 2.5-2.14 CUDA 11.
        ("tensorflow", "2.16.1", PYPI, "12.x"),
        ("tensorflow", "2.14.0", PYPI, "11.x"),
        ("tensorflow", "2.3.0", PYPI, "10.1"),
        (
            "paddlepaddle-gpu",
            "3.2.0",
            "https://www.paddlepaddle.org.cn/packages/stable/cu118/",
            "11.8",
        ),
        ("paddlepaddle-gpu", "2.4.2", PYPI, "10.2"),
        ("paddlepaddle-gpu", "2.5.2.post120", PYPI, "12.0"),
        ("vllm", "0.3.3", PYPI, "12.1"),
        ("vllm", "0.8.5+cu118", PYPI, "11.8"),
        ("xformers", "0.0.28.post3+cu124", PYPI, "12.4"),
        ("xformers", "0.0.30", "https://download.pytorch.org/whl/cu126", "12.6"),
        ("mxnet-cu112", "1.9.1", PYPI, "11.2"),
        ("mxnet-cu102mkl", "1.6.0", PYPI, "10.2"),
    ],
)
def test_documented_cuda_of_packages_without_it_in_the_name(
    name: str, version: str, index: str, label: str
) -> None:
    need = extract(name, version, wheel(name, version), index=index)
    assert need is not None
    assert need.label == label


@pytest.mark.parametrize(
    ("name", "version", "label"),
    [
        # tensorflow/docs gpu.md (2019-09): "For releases 1.14 and older, CPU and GPU packages
        # are separate: pip install tensorflow==1.14 # CPU, pip install tensorflow-gpu==1.14".
        ("tensorflow", "1.13.1", None),
        ("tensorflow", "1.14.0", None),
        # RELEASE.md 1.15.0: the tensorflow pip package includes GPU support (source.md: 10.0);
        # tensorflow#36347: from 1.15.2 tensorflow is CPU-only again, tensorflow-gpu the GPU one.
        ("tensorflow", "1.15.0", "10.0"),
        ("tensorflow", "1.15.2", None),
        ("tensorflow", "1.15.5", None),
        # RELEASE.md 2.1.0: "The tensorflow pip package now includes GPU support by default".
        ("tensorflow", "2.0.0", None),
        ("tensorflow", "2.0.4", None),
        ("tensorflow", "2.1.0", "10.1"),
        # source.md tested builds: tensorflow_gpu 1.0-1.4 CUDA 8, 1.5-1.12 CUDA 9, 1.13-1.15 10.0.
        ("tensorflow-gpu", "1.4.1", "8.0"),
        ("tensorflow-gpu", "1.12.0", "9.0"),
        ("tensorflow-gpu", "1.14.0", "10.0"),
        ("tensorflow-gpu", "1.15.5", "10.0"),
        ("tensorflow-gpu", "2.0.0", "10.0"),
        ("tensorflow-cpu", "1.15.0", None),
        ("tensorflow-cpu", "2.1.0", None),
    ],
)
def test_tensorflow_before_2_1_is_cpu_only_unless_named_gpu(
    name: str, version: str, label: str | None
) -> None:
    """A CPU-only TensorFlow is neither refused (cuda-undetermined) nor given a CUDA need;
    tensorflow-gpu 1.x is judged by its tested CUDA."""
    need = extract(name, version, wheel(name, version), index=PYPI)
    assert (None if need is None else need.label) == label
    if label is None:
        assert cudapkg.undetermined(name, version, PYPI) is None


@given(
    parts=st.tuples(st.integers(0, 2), st.integers(0, 25), st.integers(0, 6)),
    index=st.sampled_from([PYPI, ""]),
)
def test_tensorflow_gets_a_cuda_need_only_where_it_has_gpu_support(
    parts: tuple[int, int, int], index: str
) -> None:
    """Guards both directions over TensorFlow's release space: a CPU-only tensorflow (before
    2.1, but 1.15.0) never gets a CUDA need nor a refusal, and a release with GPU support
    (tensorflow 1.15.0 and 2.1+, every tensorflow-gpu) never comes out as no CUDA."""
    version = ".".join(map(str, parts))
    cpu_only = Version(version) < Version("2.1") and Version(version) != Version("1.15.0")
    need = extract("tensorflow", version, wheel("tensorflow", version), index=index)
    if cpu_only:
        assert need is None and cudapkg.undetermined("tensorflow", version, index) is None
    else:
        assert need is not None or cudapkg.undetermined("tensorflow", version, index)
    gpu = extract("tensorflow-gpu", version, wheel("tensorflow-gpu", version), index=index)
    assert gpu is not None or cudapkg.undetermined("tensorflow-gpu", version, index)


@pytest.mark.parametrize(
    ("name", "version", "index"),
    [
        ("onnxruntime-gpu", "1.32.0", PYPI),  # no PyPI wheel after 1.31.1 has been read
        ("xformers", "0.0.30", PYPI),
        ("flash-attn", "2.8.3", ""),
        ("bitsandbytes", "0.51.0", PYPI),  # no wheel after 0.50.2 has been read
        ("vllm", "0.10.1", PYPI),
        ("paddlepaddle-gpu", "2.6.2", PYPI),
        ("tensorflow", "2.22.0", PYPI),
        ("tensorrt", "10.13.0.35", PYPI),
    ],
)
def test_gpu_package_without_readable_cuda_is_undetermined(
    name: str, version: str, index: str
) -> None:
    """No row and no tag: mlenv says what it could not read instead of treating it as CPU."""
    assert extract(name, version, wheel(name, version), index=index) is None
    what = cudapkg.undetermined(name, version, index)
    assert what is not None
    message = cudapkg.finding(name, version, what, (), CudaVersion(12, 4)).message
    assert message == f"mlenv cannot tell which CUDA {name} {version} needs: {what}"
    assert "no CUDA version in its name, version or Requires-Dist" in what


@pytest.mark.parametrize(
    ("name", "version"),
    [("torch", "2.8.0"), ("torch", "2.8.0+cpu"), ("triton", "3.4.0"), ("numpy", "2.3.0")],
)
def test_cpu_builds_and_unpinned_packages_are_not_undetermined(name: str, version: str) -> None:
    """torch without +cuXYZ or nvidia-* Requires-Dist is a CPU build (the cpu-ok rules judge
    it); triton has no CUDA system dependency (uv); numpy is no GPU package."""
    assert cudapkg.undetermined(name, version, PYPI) is None


def test_torch_from_pypi_reads_cuda_from_requires_dist() -> None:
    """PyPI torch names its CUDA only through nvidia-*-cuNN (CUDA 13: unsuffixed) wheels."""
    cu12 = ["nvidia-cublas-cu12==12.8.4.1; platform_system == 'Linux'"]
    cu13 = ["nvidia-cublas==13.1.0.3; platform_system == 'Linux'"]
    need12 = extract("torch", "2.8.0", wheel("torch", "2.8.0"), cu12, index=PYPI)
    need13 = extract("torch", "2.9.0", wheel("torch", "2.9.0"), cu13, index=PYPI)
    assert need12 is not None and need13 is not None
    assert (need12.label, need12.release) == ("12.8", "12.8.1")
    assert (need13.label, need13.release) == ("13.0", "13.0.2")


TARGET_13 = CudaTarget(CudaVersion(13, 0), DriverVersion.parse("580.65.06"))


@pytest.mark.parametrize(
    ("name", "version", "index", "place"),
    [
        ("onnxruntime-gpu", "1.20.1", PYPI, "_packaging/onnxruntime-cuda-13/"),
        ("cupy-cuda12x", "13.3.0", PYPI, "cupy-cuda13x"),
        ("jax-cuda12-plugin", "0.7.0", PYPI, "jax[cuda13]"),
        ("tensorflow", "2.17.1", PYPI, "TensorFlow's pip builds are CUDA 12"),
        ("torch", "2.8.0+cu128", PYPI, "https://download.pytorch.org/whl/cu130"),
        ("nvidia-cudnn-cu12", "9.10.2.21", PYPI, "cuda-toolkit==13.0.*"),
        ("paddlepaddle-gpu", "2.5.2.post120", PYPI, "packages/stable/cu130/"),
        ("nvidia-dali-cuda120", "1.50.0", PYPI, "nvidia-dali-cuda130"),
    ],
)
def test_major_mismatch_hint_names_the_family_place(
    name: str, version: str, index: str, place: str
) -> None:
    """The hint points at where this package's CUDA builds are, not always PyTorch's index."""
    need = extract(name, version, wheel(name, version), index=index)
    assert need is not None
    findings = judge(TARGET_13, [PackageNeed(name, version, need)])
    mismatch = [f for f in findings if f.code == "cuda-major-mismatch"]
    assert len(mismatch) == 1
    assert place in mismatch[0].hint
    if not name.startswith("torch"):
        assert "download.pytorch.org" not in mismatch[0].hint


def test_undetermined_is_an_error_unless_listed_then_a_warning() -> None:
    what = cudapkg.undetermined("xformers", "0.0.30", PYPI)
    assert what is not None
    error = cudapkg.finding("xformers", "0.0.30", what, (), CudaVersion(12, 4))
    warning = cudapkg.finding("xformers", "0.0.30", what, ("xformers",), CudaVersion(12, 4))
    assert (error.severity, error.code, error.package) == ("error", "cuda-undetermined", "xformers")
    assert "[cuda] unverified" in error.hint
    assert "download.pytorch.org/whl/cu124" in error.hint
    assert (warning.severity, warning.code) == ("warning", "cuda-unverified")
    assert what in warning.message
    spelled = cudapkg.finding("Flash_Attn", "2.8.3", what, ("flash_attn",), None)
    assert (spelled.severity, spelled.package) == ("warning", "flash-attn")


# Packages whose every row needs CUDA evidence (no CPU or unpinned row): for them, no version
# from no index may come out as "no CUDA" - that is the silent pass this table exists to stop.
GPU_ONLY = sorted(
    {row["package"] for row in rows()}
    - {row["package"] for row in rows() if row["cuda"] in ("none", "from-tags-or-cpu")}
)
VERSIONS = st.lists(st.integers(0, 40), min_size=1, max_size=4).map(
    lambda parts: ".".join(map(str, parts))
)
INDEXES = st.sampled_from(
    [
        PYPI,
        "",
        CUDA_12_FEED,
        "https://www.paddlepaddle.org.cn/packages/stable/cu126/",
        "file:///srv/wheels",
        "https://aiinfra.pkgs.visualstudio.com/PublicPackages/_packaging/onnxruntime-cuda-13/pypi/simple/",
    ]
)


@given(name=st.sampled_from(GPU_ONLY), version=VERSIONS, index=INDEXES)
def test_a_gpu_package_is_never_silently_cpu(name: str, version: str, index: str) -> None:
    need = extract(name, version, wheel(name, version), index=index)
    unread = cudapkg.undetermined(name, version, index)
    assert need is not None or unread is not None


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        # listed unverified: a warning on every verify, never a pass without a word
        (locked("xformers", "0.0.30", "unverified"), [("warning", "cuda-unverified", "xformers")]),
        # the mark deleted by hand: the package is a GPU package all the same
        (locked("xformers", "0.0.30"), [("error", "cuda-undetermined", "xformers")]),
        # readable by a newer table: judged on its CUDA, the old mark is moot
        (locked("onnxruntime-gpu", "1.20.1", "unverified"), []),
        (
            locked("onnxruntime-gpu", "1.18.1"),
            [("error", "cuda-major-mismatch", "onnxruntime-gpu")],
        ),
        # the lock's index decides, as it did at lock time
        (
            locked("onnxruntime-gpu", "1.18.1", "12.x", index=CUDA_12_FEED),
            [],
        ),
        (locked("triton", "3.4.0"), []),
    ],
    ids=["unverified", "mark-removed", "now-readable", "pypi-cuda-11", "cuda-12-feed", "triton"],
)
def test_verify_judges_gpu_packages_from_the_lock(
    package: LockedPackage, expected: list[tuple[str, str, str]]
) -> None:
    assert codes(verify_lock(make_lock([package]), HASH, None)) == expected


def _respell(name: str, separators: list[str], upper: list[bool]) -> str:
    parts = re.split(r"[-_.]+", name)
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        out += separators[i % len(separators)] + part
    return "".join(c.upper() if upper[i % len(upper)] else c for i, c in enumerate(out))


@given(
    name=st.sampled_from(sorted({row["package"] for row in rows()})),
    listed=st.tuples(
        st.lists(st.sampled_from(["-", "_", ".", "--", "_-"]), min_size=1),
        st.lists(st.booleans(), min_size=1),
    ),
    locked_as=st.tuples(
        st.lists(st.sampled_from(["-", "_", "."]), min_size=1),
        st.lists(st.booleans(), min_size=1),
    ),
)
def test_unverified_matches_every_spelling_of_a_name(
    name: str, listed: tuple[list[str], list[bool]], locked_as: tuple[list[str], list[bool]]
) -> None:
    """However the manifest and the lock spell a package, [cuda] unverified accepts it; and
    no spelling of an unlisted package slips through as a warning."""
    what = "no CUDA version in its name, version or Requires-Dist"
    spelled = _respell(name, *locked_as)
    accepted = cudapkg.finding(spelled, "1.0", what, (_respell(name, *listed),), None)
    refused = cudapkg.finding(spelled, "1.0", what, ("some-other-package",), None)
    assert (accepted.severity, accepted.package) == ("warning", name)
    assert (refused.severity, refused.code) == ("error", "cuda-undetermined")


@pytest.mark.parametrize(
    ("version", "filename"),
    [
        ("1.12.1+cpu", "torch-1.12.1+cpu-cp310-cp310-linux_x86_64.whl"),
        ("1.11.0+cpu", "torch-1.11.0+cpu-cp39-cp39-linux_x86_64.whl"),
        ("1.12.1+rocm5.1.1", "torch-1.12.1+rocm5.1.1-cp310-cp310-linux_x86_64.whl"),
        ("1.10.0+cpu.cxx11.abi", "torch-1.10.0+cpu.cxx11.abi-cp39-cp39-linux_x86_64.whl"),
        ("1.4.0+cpu", "torch-1.4.0+cpu-cp38-cp38-linux_x86_64.whl"),
    ],
)
def test_pytorch_index_local_builds_are_not_pypis_bundled_cuda_10_2(
    version: str, filename: str
) -> None:
    """The rows for PyPI's torch 1.4-1.12 x86_64 wheels (they bundle CUDA 10.1/10.2) read the
    file name; a local build from PyTorch's CPU or ROCm index is another file of the same
    release and bundles no CUDA, so it must not be read as CUDA 10.2 (and refused on a CUDA 11
    fleet)."""
    need = extract("torch", version, filename, (), "https://download.pytorch.org/whl/cpu")
    assert need is None or need.cuda is None or need.cuda.major != 10


@pytest.mark.parametrize(
    "filename",
    [
        "torch-1.12.1-cp310-cp310-manylinux1_x86_64.whl",
        "torch-1.5.0-cp38-cp38-manylinux1_x86_64.whl",
    ],
)
def test_pypis_own_torch_1_12_files_still_read_as_cuda_10_2(filename: str) -> None:
    version = filename.split("-")[1]
    need = extract("torch", version, filename, (), "https://pypi.org/simple")
    assert need is not None and need.cuda == CudaVersion(10, 2)
