"""Attack 152: the extras rule, the onnxruntime-gpu rows and PyTorch's per-release arch lists.

- PyTorch's CUDA 12.8 wheels did not always start at sm_70: 2.7 dropped Volta from them
  (pytorch/pytorch#147607, before the 2.7 branch cut), 2.8 put it back (#157968, #160269) and
  2.11 dropped it again (#175253, RELEASE.md's 2.11 matrix). A V100 fleet passed torch
  2.7.1+cu128 and 2.11.0+cu128, which carry no sm_70 code.
- A GPU-table row without an index (PyPI's onnxruntime-gpu 1.27-1.31: CUDA 13) was taken over
  what the wheel's own ``cuda`` extra said: a CUDA 12 build of 1.28.0 served by a company
  mirror (its extra naming nvidia-*-cu12) passed a CUDA 13 fleet.
- A lock waited for the lookahead's reads still under way when the resolution ended: a page
  only a guess the resolver did not take asked for, held by the index, kept ``resolve`` (and
  the process, whose pool threads are joined at exit) until the index's deadline.
- An extra spelled ``"cuda12" == extra`` or ``extra === "cuda12"`` (valid PEP 508, which the
  resolver honours) was invisible to the extras rule, so a package offering a CUDA 12 and a
  CUDA 13 extra was read as built for CUDA 13 alone.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.index import HttpClient, SimpleIndex
from mlenv.report import MemoryReporter
from mlenv.resolver.resolve import resolve
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.httpserver import IndexServer
from tests.support.wheels import build_wheel, write_simple_index

MARKERS = Target("linux-64", "3.12", "2.28").markers
CU12_EXTRA = [
    "coloredlogs",
    'nvidia-cuda-runtime-cu12~=12.0; extra == "cuda"',
    'nvidia-cublas-cu12~=12.0; extra == "cuda"',
    'nvidia-cudnn-cu12~=9.0; extra == "cudnn"',
]
CU13_EXTRA = [
    "coloredlogs",
    'nvidia-cuda-runtime~=13.0; extra == "cuda"',
    'nvidia-cublas~=13.0; extra == "cuda"',
    'nvidia-cudnn-cu13~=9.0; extra == "cudnn"',
]
MIRROR = "https://artifactory.corp.example/api/pypi/ort-gpu/simple/onnxruntime-gpu/"


def _codes(cuda: str, driver: str, archs: tuple[str, ...], item: PackageNeed) -> set[str]:
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse(driver), archs)
    return {f.code for f in judge(target, [item]) if f.severity == "error"}


def _torch_item(name: str, version: str) -> PackageNeed:
    need = extract(name, version, f"{name}-{version}-cp312-cp312-manylinux_2_28_x86_64.whl")
    assert need is not None
    return PackageNeed(name, version, need)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("torch", "2.7.0+cu128"),
        ("torch", "2.7.1+cu128"),
        ("torchvision", "0.22.1+cu128"),
        ("torchaudio", "2.7.1+cu128"),
        ("torch", "2.11.0+cu128"),
        ("torch", "2.12.1+cu128"),
        ("torchvision", "0.26.0+cu128"),
        ("torchaudio", "2.11.0+cu128"),
    ],
)
def test_cu128_builds_without_volta_refuse_a_v100_fleet(name: str, version: str) -> None:
    item = _torch_item(name, version)
    assert "arch-not-built" in _codes("12.8", "570.26", ("sm_70",), item)
    assert "arch-not-built" in _codes("12.8", "570.26", ("sm_61",), item)
    assert "arch-not-built" not in _codes("12.8", "570.26", ("sm_75", "sm_90"), item)


@pytest.mark.parametrize(
    ("name", "version", "cuda", "driver"),
    [
        ("torch", "2.8.0+cu128", "12.8", "570.26"),
        ("torch", "2.8.0+cu129", "12.9", "575.51.03"),
        ("torch", "2.10.0+cu128", "12.8", "570.26"),
        ("torchvision", "0.23.0+cu129", "12.9", "575.51.03"),
        ("torchvision", "0.25.0+cu128", "12.8", "570.26"),
        ("torchaudio", "2.9.1+cu128", "12.8", "570.26"),
    ],
)
def test_releases_that_put_volta_back_still_run_on_it(
    name: str, version: str, cuda: str, driver: str
) -> None:
    item = _torch_item(name, version)
    assert "arch-not-built" not in _codes(cuda, driver, ("sm_70",), item)
    assert "arch-not-built" in _codes(cuda, driver, ("sm_60",), item)


@pytest.mark.parametrize("version", ["2.7.1+cu126", "2.11.0+cu126", "2.8.0+cu126"])
def test_cu126_builds_keep_maxwell_to_volta(version: str) -> None:
    item = _torch_item("torch", version)
    assert "arch-not-built" not in _codes("12.8", "570.26", ("sm_50", "sm_61", "sm_70"), item)


@pytest.mark.parametrize(
    ("version", "extras", "cuda", "driver"),
    [
        ("1.28.0", CU12_EXTRA, "13.0", "580.65.06"),  # a CUDA 12 build from a mirror
        ("1.31.2", CU12_EXTRA, "13.0", "580.65.06"),  # past the releases read, inside the row
        ("1.27.0.post1", CU12_EXTRA, "13.0", "580.65.06"),
        ("1.26.0+corp", CU13_EXTRA, "12.8", "570.26"),  # the other way
        ("1.25.1", CU13_EXTRA, "12.8", "570.26"),
    ],
)
def test_row_and_extras_that_disagree_are_refused(
    version: str, extras: list[str], cuda: str, driver: str
) -> None:
    filename = f"onnxruntime_gpu-{version}-cp312-cp312-manylinux_2_28_x86_64.whl"
    need = extract("onnxruntime-gpu", version, filename, extras, MIRROR, MARKERS)
    assert need is not None and need.conflicts, need
    item = PackageNeed("onnxruntime-gpu", version, need)
    assert "cuda-contradiction" in _codes(cuda, driver, (), item)


@pytest.mark.parametrize(
    ("version", "extras", "major"),
    [("1.28.0", CU13_EXTRA, 13), ("1.25.1", CU12_EXTRA, 12), ("1.32.0", CU13_EXTRA, 13)],
)
def test_row_and_extras_that_agree_pass(version: str, extras: list[str], major: int) -> None:
    filename = f"onnxruntime_gpu-{version}-cp312-cp312-manylinux_2_28_x86_64.whl"
    index = "https://pypi.org/simple/onnxruntime-gpu/"
    need = extract("onnxruntime-gpu", version, filename, extras, index, MARKERS)
    assert need is not None and need.cuda.major == major and not need.conflicts


@pytest.mark.parametrize(
    "hidden",
    [
        'nvidia-cuda-runtime-cu12~=12.0; "cuda12" == extra',
        'nvidia-cuda-runtime-cu12~=12.0; (extra=="cuda12")',
        'nvidia-cuda-runtime-cu12~=12.0; "cuda12" in extra',
        "nvidia-cuda-runtime-cu12~=12.0; 'cuda12' == extra or extra == 'cu12'",
        'nvidia-cuda-runtime-cu12~=12.0; python_version >= "3" and "cuda12" == extra',
    ],
)
def test_an_extra_spelled_otherwise_still_counts(hidden: str) -> None:
    """Two extras naming two majors: built for neither, however the marker is spelled."""
    requires = ["coloredlogs", hidden, 'nvidia-cuda-runtime~=13.0; extra == "cuda13"']
    filename = "onnxruntime_gpu-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    need = extract("onnxruntime-gpu", "1.32.0", filename, requires, "", MARKERS)
    assert need is None, need


@pytest.mark.parametrize(
    "line",
    [
        "nvidia-cuda-runtime-cu12~=12.0; extra === 'cuda12'",
        'nvidia-cuda-runtime-cu12~=12.0; "cuda12" === extra',
    ],
)
def test_an_extra_no_marker_evaluation_defines_is_refused(line: str) -> None:
    """``===`` on a string is undefined to packaging: the line is refused, never skipped."""
    requires = ["coloredlogs", line, 'nvidia-cuda-runtime~=13.0; extra == "cuda13"']
    filename = "onnxruntime_gpu-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    with pytest.raises(CudaError, match="cannot be parsed"):
        extract("onnxruntime-gpu", "1.32.0", filename, requires, "", MARKERS)


def test_a_line_every_extra_meets_is_a_plain_dependency() -> None:
    """``extra in "cuda12"`` holds with no extra ('' is in every string): the resolver installs
    it always, so it is read as a plain line, which the extras do not outvote."""
    requires = ['nvidia-cuda-runtime-cu12~=12.0; extra in "cuda12"']
    requires += ['nvidia-cuda-runtime~=13.0; extra == "cuda13"']
    filename = "onnxruntime_gpu-1.32.0-cp312-cp312-manylinux_2_28_x86_64.whl"
    need = extract("onnxruntime-gpu", "1.32.0", filename, requires, "", MARKERS)
    assert need is not None and need.cuda.major == 12


def test_without_markers_an_extra_on_the_right_is_still_an_extra() -> None:
    """Read with no target (the candidate judge), a line gated on an extra is skipped however
    the marker spells it; it was read as a plain CUDA 12 dependency."""
    for line in ['nvidia-cuda-runtime-cu12==12.8.90; "cuda" == extra']:
        assert extract("foo", "1.0", "foo-1.0-py3-none-any.whl", [line]) is None


_TAG = "cp311-cp311-manylinux_2_28_x86_64"


def _manifest(tmp_path: Path, url: str, cuda: str, floor: str, archs: str, pin: str) -> None:
    (tmp_path / "mlenv.toml").write_text(
        '[environment]\nname = "p"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n{archs}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["{pin}"]\n'
    )


def test_a_v100_fleet_locks_the_cu126_torch_27_not_the_cu128(tmp_path: Path) -> None:
    wheels = [
        build_wheel("torch", "2.7.1+cu128", tag=_TAG),
        build_wheel("torch", "2.7.1+cu126", tag=_TAG),
    ]
    url = write_simple_index(tmp_path / "www", wheels)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    _manifest(tmp_path, url, "12.8", "570.26", 'archs = ["sm_70"]\n', "torch==2.7.1+cu128")
    refused = run_mlenv(["lock"], tmp_path, env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "carry no code for sm_70" in refused.stderr
    _manifest(tmp_path, url, "12.8", "570.26", 'archs = ["sm_70"]\n', "torch==2.7.1")
    kept = run_mlenv(["lock"], tmp_path, env)
    assert kept.returncode == 0, kept.stderr
    lock_text = (tmp_path / "mlenv.lock").read_text()
    assert "2.7.1+cu126" in lock_text and "cu128" not in lock_text


def test_a_mirrors_cuda_12_onnxruntime_is_refused_by_a_cuda_13_lock(tmp_path: Path) -> None:
    """The index-less row says 13.x for 1.28.0; the wheel's own cuda extra says CUDA 12."""
    requires = [line for line in CU12_EXTRA if line != "coloredlogs"]
    extras = ["cuda", "cudnn"]
    wheels = [
        build_wheel(
            "onnxruntime-gpu", "1.28.0", tag=_TAG, requires_dist=requires, provides_extra=extras
        ),
        build_wheel("nvidia-cuda-runtime-cu12", "12.8.90", tag=_TAG),
        build_wheel("nvidia-cublas-cu12", "12.8.4.1", tag=_TAG),
        build_wheel("nvidia-cudnn-cu12", "9.8.0.87", tag=_TAG),
    ]
    url = write_simple_index(tmp_path / "www", wheels)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    _manifest(tmp_path, url, "13.0", "580.65.06", "", "onnxruntime-gpu==1.28.0")
    refused = run_mlenv(["lock"], tmp_path, env)
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr
    assert "contradicts" in refused.stderr and "nvidia-cuda-runtime-cu12" in refused.stderr
    assert not (tmp_path / "mlenv.lock").exists()


def test_a_held_page_only_a_guess_asked_for_does_not_hold_the_lock(tmp_path: Path) -> None:
    """``a`` needs ``b``, whose newest release (the lookahead's guess) needs ``evil``; the
    root ``b<2`` makes the resolver take b 1.0, so it never needs evil. The index holds evil's
    page until told, and z's page until evil's is asked for, so the guess is under way before
    the resolution can end. ``resolve`` returns with evil's page still held."""
    write_simple_index(
        tmp_path,
        [
            build_wheel("a", "1.0", requires_dist=["b"]),
            build_wheel("b", "2.0", requires_dist=["evil"]),
            build_wheel("b", "1.0"),
            build_wheel("evil", "1.0"),
            build_wheel("z", "1.0"),
        ],
    )
    client = HttpClient(retries=1, backoff=0.01, netrc_path=Path("/nonexistent"))
    with IndexServer(tmp_path) as server, client as http:
        server.hold("/simple/evil/", until="/simple/go-on/", longest=120.0)
        server.hold("/simple/z/", until="/simple/evil/", longest=120.0)
        try:
            resolution = resolve(
                [Requirement("a"), Requirement("b<2"), Requirement("z")],
                Target("linux-64", "3.11", "2.28"),
                SimpleIndex(f"{server.url}/simple/", http=http),
                reporter=MemoryReporter(),
                workers=8,
            )
            pins = {pin.name: str(pin.version) for pin in resolution.pins}
            assert pins == {"a": "1.0", "b": "1.0", "z": "1.0"}
            assert server.released.get("/simple/z/") is True  # evil was asked for
            assert "/simple/evil/" not in server.released  # and is still held
        finally:  # release the held page (go-on itself is no page: 404)
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"{server.url}/simple/go-on/")


def test_mlenv_lock_exits_while_a_guess_is_still_held(tmp_path: Path) -> None:
    """The same through the CLI: the process ends (Python joined the old pool's threads at
    exit) with the guess's page still held, and the lock holds the resolver's pins only."""
    www = tmp_path / "www"
    write_simple_index(
        www,
        [
            build_wheel("a", "1.0", requires_dist=["b"]),
            build_wheel("b", "2.0", requires_dist=["evil"]),
            build_wheel("b", "1.0"),
            build_wheel("evil", "1.0"),
            build_wheel("z", "1.0"),
        ],
    )
    project = tmp_path / "p"
    project.mkdir()
    with IndexServer(www) as server:
        server.hold("/simple/evil/", until="/simple/go-on/", longest=120.0)
        server.hold("/simple/z/", until="/simple/evil/", longest=120.0)
        (project / "mlenv.toml").write_text(
            '[environment]\nname = "p"\npython = "3.11"\nplatforms = ["linux-64"]\n'
            f'[pypi]\nindex-url = "{server.url}/simple/"\ndependencies = ["a", "b<2", "z"]\n'
        )
        try:
            done = run_mlenv(["lock"], project, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
            assert done.returncode == 0, done.stderr
            assert server.released.get("/simple/z/") is True
            assert "/simple/evil/" not in server.released
            assert "evil" not in (project / "mlenv.lock").read_text()
        finally:
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"{server.url}/simple/go-on/")
