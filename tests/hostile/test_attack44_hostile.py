"""Attack pass 44: CUDA facts and judgement against NVIDIA's tables, fed inputs nobody here wrote.

Every row of Table 3 ("CUDA Toolkit and Corresponding Driver Versions", CUDA Toolkit Release
Notes, https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html),
transcribed here apart from mlenv's data, judged at its boundary drivers in several spellings;
the minor-version-compatibility floors per major (https://docs.nvidia.com/deploy/
cuda-compatibility/minor-version-compatibility.html); driver text as nvidia-smi and the kernel
print it; and the CUDA tag spellings of wheels and conda builds. Each test names what it
protects and fails if that rule breaks.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.needs import conda_need
from mlenv.cuda.required import package_driver
from mlenv.cuda.rules import CudaTarget, Finding, PackageNeed, judge
from mlenv.cuda.tags import extract, extract_conda
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.judge import Judged, verify_lock
from mlenv.lockfile import LockedPlatform
from tests.support.locks import HASH, codes, conda_record, make_lock

pytestmark = pytest.mark.hostile

# Table 3, Linux x86_64 column (13.2 Update 2 edition; 13.3 secondary): release -> minimum.
TABLE3 = [
    ("13.3.1", "610.43.02"), ("13.3.0", "610.43.02"),
    ("13.2.2", "595.71.05"), ("13.2.1", "595.58.03"), ("13.2.0", "595.45.04"),
    ("13.1.1", "590.48.01"), ("13.1.0", "590.44.01"),
    ("13.0.2", "580.95.05"), ("13.0.1", "580.82.07"), ("13.0.0", "580.65.06"),
    ("12.9.1", "575.57.08"), ("12.9.0", "575.51.03"),
    ("12.8.1", "570.124.06"), ("12.8.0", "570.26"),
    ("12.6.3", "560.35.05"), ("12.6.2", "560.35.03"), ("12.6.1", "560.35.03"),
    ("12.6.0", "560.28.03"),
    ("12.5.1", "555.42.06"), ("12.5.0", "555.42.02"),
    ("12.4.1", "550.54.15"), ("12.4.0", "550.54.14"),
    ("12.3.1", "545.23.08"), ("12.3.0", "545.23.06"),
    ("12.2.2", "535.104.05"), ("12.2.1", "535.86.09"), ("12.2.0", "535.54.03"),
    ("12.1.1", "530.30.02"), ("12.1.0", "530.30.02"),
    ("12.0.1", "525.85.12"), ("12.0.0", "525.60.13"),
    ("11.8.0", "520.61.05"),
    ("11.7.1", "515.48.07"), ("11.7.0", "515.43.04"),
    ("11.6.2", "510.47.03"), ("11.6.1", "510.47.03"), ("11.6.0", "510.39.01"),
    ("11.5.2", "495.29.05"), ("11.5.1", "495.29.05"), ("11.5.0", "495.29.05"),
    ("11.4.4", "470.82.01"), ("11.4.3", "470.82.01"), ("11.4.2", "470.57.02"),
    ("11.4.1", "470.57.02"), ("11.4.0", "470.42.01"),
    ("11.3.1", "465.19.01"), ("11.3.0", "465.19.01"),
    ("11.2.2", "460.32.03"), ("11.2.1", "460.32.03"), ("11.2.0", "460.27.03"),
    ("11.1.1", "455.32"), ("11.1.0", "455.23"),
    ("10.2.89", "440.33"), ("10.0.130", "410.48"),
]  # fmt: skip
# The GA (first) row of each minor: the target toolkit's hard floor in mlenv.
GA = {
    release.rsplit(".", 1)[0] if release.count(".") == 2 else release: driver
    for release, driver in reversed(TABLE3)
    if release.endswith((".0", ".89", ".130"))
}
GA["10.2"], GA["10.0"] = "440.33", "410.48"


def _below(driver: str) -> str:
    """The driver one step below: one patch, or one minor when the patch is zero/absent."""
    parts = [int(part) for part in driver.split(".")]
    parts[-1] -= 1
    if parts[-1] < 0:
        parts = parts[:-1]
        parts[-1] -= 1
    return ".".join(str(part) for part in parts)


def _spellings(driver: str) -> list[str]:
    """The same driver as it reaches mlenv: padded, with nvidia-smi's newline, CRLF, a trailing
    ``.0``, and twice (one line per GPU of ``--query-gpu=driver_version``)."""
    return [driver, f" {driver} ", f"{driver}\n", f"{driver}\r\n", f"{driver}.0",
            f"{driver}\n{driver}\n", f"driver_version\n{driver}\n"]  # fmt: skip


def _errors(findings: tuple[Finding, ...]) -> list[Finding]:
    return [finding for finding in findings if finding.severity == "error"]


def _torch(cuda: str) -> PackageNeed:
    major, minor = cuda.split(".")
    version = f"2.5.1+cu{major}{minor}"
    need = extract("torch", version)
    assert need is not None and need.label == cuda
    return PackageNeed("torch", version, need)


@pytest.mark.parametrize(("cuda", "minimum"), sorted(GA.items()))
def test_every_table3_minor_runs_at_its_ga_driver_and_not_one_step_below(
    cuda: str, minimum: str
) -> None:
    """Protects the hard floor (rules._target_findings) on every Table 3 minor: exactly the
    GA driver runs a +cuXY build of that minor, in every spelling a probe yields; one step
    below fails with driver-below-toolkit naming the minimum and the remedy."""
    target_cuda = CudaVersion.parse(cuda)
    for text in _spellings(minimum):
        driver = DriverVersion.parse(text, trim=True)
        target = CudaTarget(target_cuda, driver, checked=True)
        assert _errors(judge(target, [_torch(cuda)])) == [], text
    low = DriverVersion.parse(_below(minimum))
    found = _errors(judge(CudaTarget(target_cuda, low, checked=True), [_torch(cuda)]))
    assert [f.code for f in found] == ["driver-below-toolkit"]
    assert minimum in found[0].message and str(low) in found[0].message
    assert f"upgrade the driver to {minimum}" in found[0].hint


@pytest.mark.parametrize(("release", "minimum"), TABLE3)
def test_every_table3_row_is_the_driver_of_its_update(release: str, minimum: str) -> None:
    """Protects matrix.table3_driver through a conda build naming the full toolkit release
    (the pytorch channel's ``..._cuda12.1.1`` faiss builds): the driver a build of that update
    needs is exactly its Table 3 row, not the GA's and not a neighbour's."""
    need = extract_conda("faiss-gpu", "1.8.0", f"py3.11_h4c7d538_0_cuda{release}", [], [])
    assert need is not None and need.release == release, need
    found = package_driver(PackageNeed("faiss-gpu", "1.8.0", need))
    assert found is not None and found[0] == DriverVersion.parse(minimum), (release, found)


@pytest.mark.parametrize(
    ("build", "cuda", "release"),
    [
        ("py3.10_h4c7d538_0_cuda12.1.1", "12.1", "12.1.1"),  # faiss-gpu 1.8.0, pytorch channel
        ("py3.11_h4818125_0_cuda12.1.1", "12.1", "12.1.1"),  # faiss-gpu 1.10.0
        ("h5aaf3ed_0_cuda11.4.4", "11.4", "11.4.4"),  # libfaiss 1.8.0
        ("py3.6_cuda10.0.130_cudnn7.6.2_0", "10.0", "10.0.130"),  # pytorch 1.2.0
        ("py3.6_cuda9.2.148_cudnn7.1.4_1", "9.2", "9.2.148"),  # pytorch 1.0 (CUDA 9)
    ],
)
def test_a_conda_build_naming_the_full_toolkit_release_is_read_not_refused(
    build: str, cuda: str, release: str
) -> None:
    """Protects the conda-build-cudax.y.z row of mlenv/data/cuda.json: the pytorch channel's
    faiss-gpu builds end in ``_cuda12.1.1``; no pattern read X.Y.Z, so the tag detector
    refused them as 'a CUDA tag in a shape mlenv cannot read' and a CUDA 12.1 lock of the
    faiss NVIDIA's channel ships could not be verified at all. Read, they are judged: the
    right CUDA runs them, another major is refused."""
    record = conda_record("faiss-gpu", "1.8.0", build)
    item = conda_need(record)
    assert item is not None
    assert (str(item.need.cuda), item.need.release, item.need.major_only) == (cuda, release, False)
    driver = str(package_driver(item)[0])  # type: ignore[index]
    lock = make_lock([], cuda=cuda, floor=GA.get(cuda, "396.26"), requires_driver=driver)
    lock = lock.with_platforms([LockedPlatform("linux-64", (), (record,))])
    assert verify_lock(lock, HASH, Judged(driver, "--driver")).ok
    other = make_lock([], cuda="13.0", floor="580.65.06", requires_driver=None)
    other = other.with_platforms([LockedPlatform("linux-64", (), (record,))])
    verdict = verify_lock(other, HASH, Judged("580.65.06", "--driver"))
    assert ("error", "cuda-major-mismatch", "faiss-gpu") in codes(verdict)


@pytest.mark.parametrize("build", ["py3.12_cuda_12_h0_0", "x_cuda12.4.1.7_0", "x_cuda1240_0"])
def test_an_unread_conda_cuda_tag_is_still_refused(build: str) -> None:
    """The new row reads exactly X.Y.Z: a shape it does not cover stays a refusal, never a
    CPU build (``cuda_12_`` could be 12.x or 12.4 - an unread reading, so no reading)."""
    with pytest.raises(CudaError, match=r"cannot read|names no CUDA release"):
        extract_conda("pytorch", "2.5.1", build, [], [])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 998), min_size=1, max_size=3),
    st.integers(1, 999),
    st.sampled_from(["", " ", "\n", "\r\n", "\t"]),
)
def test_driver_text_compares_by_number_whatever_its_padding(
    rest: list[int], major: int, pad: str
) -> None:
    """Protects DriverVersion: zero-padded components (``535.104.05``) equal their numbers,
    probe padding is trimmed, and order is numeric per component (``535.104.05`` is above
    ``535.54.03`` though '1' < '5' as text)."""
    text = ".".join([str(major), *(f"{part:02d}" for part in rest)])
    parsed = DriverVersion.parse(pad + text + pad, trim=True)
    plain = DriverVersion.parse(".".join(map(str, [major, *rest])))
    assert parsed == plain
    bumped = DriverVersion.parse(".".join(map(str, [major, *rest[:-1], rest[-1] + 1])))
    assert plain < bumped


@pytest.mark.parametrize(
    ("name", "version", "cuda"),
    [
        ("nunchaku", "1.2.1+cu12.8torch2.8", "12.8"),  # nunchaku-ai/nunchaku v1.2.1 assets
        ("nunchaku", "1.2.1+cu13.0torch2.9", "13.0"),
        ("nunchaku", "1.3.0.dev20260213+cu13.0torch2.11", "13.0"),
        ("sageattention", "2.2.0+torch2.9.1.cuda13.1", "13.1"),  # third-party builds
    ],
)
def test_a_dotted_cuda_minor_in_a_local_label_is_read_whole(
    name: str, version: str, cuda: str
) -> None:
    """Protects the local-cux.y row of mlenv/data/cuda.json: nunchaku's release wheels name
    their CUDA as ``+cu12.8torch2.8``; local-cu took the ``cu12`` in front of the dot as
    'CUDA 12.x', a major-only reading the target toolkit satisfies, so a CUDA 12.8 build passed
    a CUDA 12.4 fleet on driver 550.54.15, below the 570.26 Table 3 gives 12.8."""
    need = extract(name, version, f"{name}-{version}-cp312-cp312-linux_x86_64.whl")
    assert need is not None
    assert (need.label, need.major_only) == (cuda, False)
    item = PackageNeed(name, version, need)
    minimum = GA.get(cuda)
    older = [c for c in map(CudaVersion.parse, GA) if c.major == need.cuda.major and c < need.cuda]
    if older:  # the fleet one minor behind, at that minor's GA driver: the build needs more
        behind = max(older)
        target = CudaTarget(behind, DriverVersion.parse(GA[str(behind)]), checked=True)
        assert [f.code for f in _errors(judge(target, [item]))] == ["cuda-newer-minor"]
    if minimum is not None:
        target = CudaTarget(need.cuda, DriverVersion.parse(minimum), checked=True)
        assert _errors(judge(target, [item])) == []


def test_a_dotted_cuda_tag_on_a_12_4_fleet_fails_verify() -> None:
    """The same through verify: the lock's CUDA 12.4 target, driver 550.54.15 (checked)."""
    from tests.support.locks import locked

    entry = locked("nunchaku", "1.2.1+cu12.8torch2.8")
    lock = make_lock([entry])
    verdict = verify_lock(lock, HASH, Judged("550.54.15", "--driver"))
    assert ("error", "cuda-newer-minor", "nunchaku") in codes(verdict)
    (finding,) = [f for f in verdict.findings if f.code == "cuda-newer-minor"]
    assert "570.26" in finding.message and "12.8" in finding.message


@pytest.mark.parametrize("update", ["12.4.1", "11.8.0", "12.9.1", "13.0.2", "12.2.2"])
def test_a_toolkit_update_as_the_target_says_how_to_write_it(update: str) -> None:
    """Protects manifest_values._CUDA_WANTED: [cuda] version takes the minor NVIDIA's
    compatibility is stated in; an update as nvidia/cuda image tags spell it (12.4.1) is refused
    with the spelling to use, not only 'like 12.4'."""
    from mlenv.errors import MlenvError
    from mlenv.manifest_read import loads

    minor = update.rsplit(".", 1)[0]
    text = f'[environment]\nname = "t"\npython = "3.11"\n[cuda]\nversion = "{update}"\n'
    with pytest.raises(MlenvError) as raised:
        loads(text + f'driver-floor = "{GA[minor]}"\n')
    shown = str(raised.value)
    assert "[cuda].version" in shown and update in shown
    assert 'is written "12.4"' in shown


# The oldest driver a build naming only its CUDA major runs on: the major's minor-version
# compatibility floor (11.x 450.80.02, 12.x 525.60.13) or, stricter, its first toolkit's
# Table 3 driver (13.0 GA 580.65.06; NVIDIA states the 13.x floor as ">= 580").
MAJOR_ONLY = [
    ("cupy-cuda12x", "13.3.0", "525.60.13"),
    ("nvidia-cudnn-cu12", "9.1.0.70", "525.60.13"),
    ("jax-cuda12-plugin", "0.4.35", "525.60.13"),
    ("nvidia-nccl-cu12", "2.21.5", "525.60.13"),
    ("cupy-cuda11x", "13.3.0", "450.80.02"),
    ("nvidia-cudnn-cu11", "8.9.2.26", "450.80.02"),
    ("nvidia-cudnn-cu13", "9.13.0.50", "580.65.06"),
    ("nvidia-nccl-cu13", "2.27.7", "580.65.06"),
]


@pytest.mark.parametrize(("name", "version", "floor"), MAJOR_ONLY)
def test_a_major_only_build_without_a_cuda_target_is_judged_against_its_major_floor(
    name: str, version: str, floor: str
) -> None:
    """Protects matrix.major_floor in judge._below_packages: a lock without a [cuda] target
    judged by `verify --driver` held a package's own need to the driver, but a build naming only
    its major (cupy-cuda12x) needed "nothing", so cupy-cuda12x on driver 470.82.01 passed with
    a warning, though no CUDA 12 application loads below 525.60.13."""
    from tests.support.locks import locked

    need = extract(name, version)
    assert need is not None and need.major_only
    lock = make_lock([locked(name, version)], cuda=None, floor=None, requires_driver=None)
    for driver in _spellings(floor):
        verdict = verify_lock(lock, HASH, Judged(str(DriverVersion.parse(driver, trim=True)), "x"))
        assert verdict.ok, (driver, codes(verdict))
    low = _below(floor)
    verdict = verify_lock(lock, HASH, Judged(low, "--driver"))
    assert ("error", "driver-below-package", name) in codes(verdict)
    (finding,) = [f for f in verdict.errors if f.code == "driver-below-package"]
    assert floor in finding.message and low in finding.message
    assert finding.hint == f"upgrade the driver to {floor}"


@pytest.mark.parametrize(
    ("name", "version", "cuda"),
    [
        ("cuda-cudart", "12.1.105", "12.1"),  # nvidia channel, beside pytorch-cuda 12.1
        ("cuda-nvrtc", "12.1.105", "12.1"),
        ("cuda-cupti", "12.1.105", "12.1"),
        ("cuda-toolkit", "12.1.0", "12.1"),
        ("cuda-runtime", "11.8.0", "11.8"),
        ("cuda-cudart", "12.4.127", "12.4"),
        ("cuda-cudart-dev", "13.0.96", "13.0"),
    ],
)
def test_a_conda_toolkit_component_without_cuda_version_needs_its_own_cuda(
    name: str, version: str, cuda: str
) -> None:
    """Protects the conda-ctk-component row of mlenv/data/cuda.json: a CUDA runtime
    component's version is its CUDA release (cudart 12.1.105 is CUDA 12.1, as NVIDIA's
    cuda-toolkit pins show), but only cuda-version / cudatoolkit / pytorch-cuda / __cuda specs
    were read, so a record whose depends name none of them needed no CUDA and passed `verify`
    of a CUDA 11.8 lock on driver 520.61.05."""
    record = conda_record(name, version, "0")
    item = conda_need(record)
    assert item is not None and str(item.need.cuda) == cuda and not item.need.major_only
    lock = make_lock([], cuda="11.8", floor="520.61.05", requires_driver="520.61.05")
    lock = lock.with_platforms([LockedPlatform("linux-64", (), (record,))])
    verdict = verify_lock(lock, HASH, Judged("520.61.05", "--driver"))
    wanted = "cuda-major-mismatch" if not cuda.startswith("11.") else None
    found = {code for _, code, package in codes(verdict) if package == name}
    assert (wanted in found) if wanted else not verdict.errors, codes(verdict)


@pytest.mark.parametrize("spec", ["cuda-nvcc 12.4.*", "libcublas >=12.4.5.8,<13.0a0"])
def test_compilers_and_separately_numbered_libraries_set_no_cuda(spec: str) -> None:
    """nvcc runs without a driver and cuBLAS is numbered apart (12.4.5.8 is not CUDA 12.4 by
    rule): the component row must not read them."""
    assert extract_conda("pkg", "1.0", "h0_0", [spec], []) is None
