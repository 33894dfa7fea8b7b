"""Adversary pass 126: today's CUDA reading and lock rules, lock -> verify -> lock --check.

Findings this file pins (each failed before its fix):

- The GPU table's file-name rows for PyPI's torch 1.4-1.12 x86_64 wheels (CUDA 10.2/10.1
  bundled) matched any x86_64 file of those releases, so PyTorch's own CPU and ROCm builds
  (``torch-1.12.1+cpu-cp310-cp310-linux_x86_64.whl`` from download.pytorch.org/whl/cpu,
  ``torch-1.10.0+rocm4.2``) were locked as "CUDA 10.2" with driver 440.33, and refused on a
  CUDA 11 fleet as "built for CUDA 10.2" even with ``cpu-ok``. PyPI takes no local version,
  so a ``+local`` file is never one of the wheels the rows describe.
- verify judged each (name, version) once across platforms, so a multi-platform lock whose
  platforms read one release differently (PyPI's torch 2.9.0: CUDA 12.8 on x86_64 by its
  ``platform_machine == "x86_64"`` Requires-Dist lines, a CPU build on aarch64; torch 1.12.1:
  CUDA 10.2 by the x86_64 file name only) failed verify right after ``mlenv lock`` with
  ``lock-driver-mismatch``, whose hint (run ``mlenv lock``) changed nothing.
- ``mlenv lock`` read one file once for all platforms (by URL), so a py3-none-any wheel whose
  CUDA line holds on x86_64 only recorded CUDA 12.8 and a driver on aarch64 too.
- The banner's "(nvgpu)" GPU row was matched on any table row, so a process named
  ``/tmp/job (nvgpu)`` in a desktop A100's Processes table made ``verify --host`` take the
  host for a Jetson and drop its driver.
- The CUDA rules skipped every Requires-Dist line whose marker named ``extra ==``, so
  ``extra == "cuda" or platform_machine == "x86_64"``, which the resolver installs on x86_64
  with no extra asked, was no CUDA need there.
- With no ``[cuda]`` table, a conda record for a CUDA release whose driver mlenv does not
  know (``cuda-version >=13.5,<13.6``) stopped the lock, though verify (and the wheel rule of
  the same fix) reads it as recording no ``requires-driver``.
- A refusal for another CUDA major read from a Requires-Dist line (PyPI's torch 2.11.0, CUDA
  13 only by ``nvidia-cuda-runtime==13.2.86``, on a CUDA 12.8 fleet) did not name the line,
  as the newer-minor refusal now does: the user saw "torch 2.11.0 is built for CUDA 13.2"
  with nothing in its name, version or file saying so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.host import SMI_BANNER_ARGV, SMI_QUERY_ARGV, detect
from mlenv.host_text import parse_smi_banner
from mlenv.target import Target
from tests.support.cli import run_mlenv
from tests.support.conda_channel import build_conda_package, write_channel
from tests.support.conda_project import channel_packages
from tests.support.fake_host import with_glibc
from tests.support.wheels import build_wheel, write_simple_index

X86 = "cp311-cp311-manylinux_2_28_x86_64"
ARM = "cp311-cp311-manylinux_2_28_aarch64"


@pytest.mark.parametrize(
    ("version", "filename", "index"),
    [
        (
            "1.12.1+cpu",
            "torch-1.12.1+cpu-cp310-cp310-linux_x86_64.whl",
            "https://download.pytorch.org/whl/cpu",
        ),
        (
            "1.12.1+cpu.cxx11.abi",
            "torch-1.12.1+cpu.cxx11.abi-cp310-cp310-linux_x86_64.whl",
            "https://download.pytorch.org/whl/cpu-cxx11-abi",
        ),
        (
            "1.10.0+rocm4.2",
            "torch-1.10.0+rocm4.2-cp39-cp39-linux_x86_64.whl",
            "https://download.pytorch.org/whl/rocm4.2",
        ),
        ("1.4.0+cpu", "torch-1.4.0+cpu-cp38-cp38-linux_x86_64.whl", "https://mirror.example"),
        ("1.12.0a0+git67ece03", "torch-1.12.0a0+git67ece03-cp38-cp38-linux_x86_64.whl", ""),
    ],
)
def test_a_local_torch_1_x_build_is_not_read_as_pypis_cuda_10_wheel(
    version: str, filename: str, index: str
) -> None:
    assert extract("torch", version, filename, index=index) is None


def test_pypis_own_torch_1_12_wheels_still_read_cuda_10_2() -> None:
    """The rows' fact stays: PyPI's x86_64 file (and PyTorch's cu102 one, no local version)."""
    for filename in (
        "torch-1.12.1-cp310-cp310-manylinux1_x86_64.whl",
        "torch-1.12.1-cp310-cp310-linux_x86_64.whl",
    ):
        need = extract("torch", "1.12.1", filename)
        assert need is not None and need.label == "10.2"
    assert extract("torch", "1.12.1", "torch-1.12.1-cp310-cp310-manylinux2014_aarch64.whl") is None


def _project(tmp_path: Path, url: str, head: str, deps: str) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "m"\n{head}[pypi]\nindex-url = "{url}"\ndependencies = [{deps}]\n'
    )
    return root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")}


def test_a_cpu_torch_1_12_with_cpu_ok_locks_on_a_cuda_11_fleet(tmp_path: Path) -> None:
    """Before: refused, "torch 1.12.1+cpu is built for CUDA 10.2, but the target is CUDA 11.6"."""
    tag = "cp310-cp310-linux_x86_64"
    url = write_simple_index(tmp_path / "cpu", [build_wheel("torch", "1.12.1+cpu", tag=tag)])
    head = (
        'python = "3.10"\n[cuda]\nversion = "11.6"\ndriver-floor = "510.47.03"\n'
        'cpu-ok = ["torch"]\n'
    )
    root, env = _project(tmp_path, url, head, '"torch==1.12.1+cpu"')
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 0, result.stderr
    lock = (root / "mlenv.lock").read_text()
    assert "cpu-ok = true" in lock and 'cuda = "10.2"' not in lock
    assert run_mlenv(["verify"], root, env).returncode == 0


TORCH_X86_LINES = (
    'nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux" and platform_machine == '
    '"x86_64"',
)


@pytest.mark.parametrize(
    ("wheels", "pin", "cuda"),
    [
        (  # one Requires-Dist for both wheels: CUDA 12.8 on x86_64 only
            [
                build_wheel("torch", "2.9.0", tag=X86, requires_dist=TORCH_X86_LINES),
                build_wheel("torch", "2.9.0", tag=ARM, requires_dist=TORCH_X86_LINES),
                build_wheel(
                    "nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_27_x86_64"
                ),
            ],
            "torch==2.9.0",
            'version = "12.8"\ndriver-floor = "570.124.06"\ncpu-ok = ["torch"]\n',
        ),
        (  # one py3-none-any file, CUDA 12.8 by its Requires-Dist on x86_64 only
            [
                build_wheel("cudaish", "1.0", requires_dist=TORCH_X86_LINES),
                build_wheel(
                    "nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_27_x86_64"
                ),
            ],
            "cudaish==1.0",
            None,
        ),
        (  # the file name: CUDA 10.2 on x86_64 only
            [
                build_wheel("torch", "1.12.1", tag="cp310-cp310-manylinux1_x86_64"),
                build_wheel("torch", "1.12.1", tag="cp310-cp310-manylinux2014_aarch64"),
            ],
            "torch==1.12.1",
            None,
        ),
    ],
)
def test_a_release_read_differently_per_platform_verifies_right_after_lock(
    tmp_path: Path, wheels: list[tuple[str, bytes]], pin: str, cuda: str | None
) -> None:
    python = "3.10" if pin.startswith("torch==1.") else "3.11"
    head = f'python = "{python}"\nplatforms = ["linux-64", "linux-aarch64"]\n'
    head += f"[cuda]\n{cuda}" if cuda else ""
    url = write_simple_index(tmp_path / "pypi", wheels)
    root, env = _project(tmp_path, url, head, f'"{pin}"')
    assert run_mlenv(["lock"], root, env).returncode == 0
    first = (root / "mlenv.lock").read_text()
    assert first.count("requires-driver = ") >= 1  # the x86_64 torch is a CUDA build
    verified = run_mlenv(["verify"], root, env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "lock-driver-mismatch" not in verified.stdout + verified.stderr
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0
    assert run_mlenv(["lock"], root, env).returncode == 0
    assert (root / "mlenv.lock").read_text() == first


def _entries(lock: str, platform: str, name: str) -> str:
    """The text of ``name``'s entry on ``platform`` in a written lock."""
    head = f'[[platform.{platform}.package]]\nname = "{name}"\n'
    start = lock.index(head)
    end = lock.find("[[", start + len(head))
    return lock[start : end if end != -1 else len(lock)]


@pytest.mark.parametrize(
    "platforms", ['"linux-64", "linux-aarch64"', '"linux-aarch64", "linux-64"']
)
def test_one_file_on_two_platforms_is_read_with_each_platforms_markers(
    tmp_path: Path, platforms: str
) -> None:
    """A py3-none-any wheel whose CUDA line holds on x86_64 only: the same file (URL) on both
    platforms. Before, the first platform's reading was reused for the other, so the aarch64
    entry recorded CUDA 12.8 and a driver (or, the other way round, the x86_64 one none)."""
    wheels = [
        build_wheel("cudaish", "1.0", requires_dist=TORCH_X86_LINES),
        build_wheel("nvidia-cuda-runtime-cu12", "12.8.90", tag="py3-none-manylinux_2_27_x86_64"),
    ]
    url = write_simple_index(tmp_path / "pypi", wheels)
    head = f'python = "3.11"\nplatforms = [{platforms}]\n'
    head += '[cuda]\nversion = "12.8"\ndriver-floor = "570.124.06"\n'
    root, env = _project(tmp_path, url, head, '"cudaish"')
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = (root / "mlenv.lock").read_text()
    x86, arm = _entries(lock, "linux-64", "cudaish"), _entries(lock, "linux-aarch64", "cudaish")
    assert 'cuda = "12.8"' in x86 and 'requires-driver = "570.124.06"' in x86
    assert "cuda =" not in arm and "requires-driver" not in arm
    assert run_mlenv(["verify"], root, env).returncode == 0
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0


DESKTOP_BANNER = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.124.06             Driver Version: 570.124.06     CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|=========================================+========================+======================|
|   0  NVIDIA A100-SXM4-80GB          On  |   00000000:07:00.0 Off |                    0 |
+-----------------------------------------+------------------------+----------------------+

+-----------------------------------------------------------------------------------------+
| Processes:                                                                              |
|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |
|        ID   ID                                                               Usage      |
|=========================================================================================|
|    0   N/A  N/A      4242      C   /tmp/job (nvgpu)                            1234MiB |
+-----------------------------------------------------------------------------------------+
"""


def test_a_process_named_nvgpu_does_not_make_a_desktop_host_a_jetson() -> None:
    banner = parse_smi_banner(DESKTOP_BANNER)
    assert banner is not None and banner.nvgpu is None
    query = "570.124.06, 8.0, NVIDIA A100-SXM4-80GB\n"
    host = with_glibc(outputs={SMI_QUERY_ARGV: query, SMI_BANNER_ARGV: DESKTOP_BANNER})
    facts = detect(host)
    assert facts.driver == "570.124.06" and facts.cuda_driver_version == "12.8"


_ATOMS = (
    'extra == "cuda"',
    'extra != "cpu"',
    'platform_machine == "x86_64"',
    'platform_machine == "aarch64"',
    'python_version >= "3.12"',
    'python_version < "3.12"',
    'sys_platform == "linux"',
    'sys_platform == "win32"',
    'platform_system == "Linux"',
    'implementation_name == "pypy"',
)


@settings(max_examples=300, deadline=None)
@given(
    atoms=st.lists(st.sampled_from(_ATOMS), min_size=1, max_size=4),
    joins=st.lists(st.sampled_from((" and ", " or ")), min_size=3, max_size=3),
    platform=st.sampled_from(("linux-64", "linux-aarch64")),
    python=st.sampled_from(("3.11", "3.12")),
)
def test_a_cuda_line_is_read_exactly_where_the_resolver_installs_it(
    atoms: list[str], joins: list[str], platform: str, python: str
) -> None:
    """The resolver installs a Requires-Dist line (no extra asked) where its marker holds with
    ``extra`` empty; the CUDA rules must read it there and nowhere else. Before, any line whose
    marker named ``extra ==`` was skipped, ``extra == "cuda" or platform_machine == "x86_64"``
    too, though x86_64 installs it."""
    marker = atoms[0] + "".join(j + a for j, a in zip(joins, atoms[1:], strict=False))
    markers = Target(platform, python).markers
    line = f"nvidia-cuda-runtime-cu12==12.8.90; {marker}"
    installed = Marker(marker).evaluate({**markers, "extra": ""})
    need = extract("wrapper", "1.0", "wrapper-1.0-py3-none-any.whl", [line], markers=markers)
    assert (need is not None) == installed, (marker, platform, python)


def test_a_conda_record_of_an_unknown_cuda_release_locks_without_a_cuda_table(
    tmp_path: Path,
) -> None:
    cccl = build_conda_package("cuda-cccl", "13.5.1", "h0_0", depends=["cuda-version >=13.5,<13.6"])
    version = build_conda_package("cuda-version", "13.5", "h0_0")
    channel = write_channel(tmp_path / "channel", [channel_packages()[0], cccl, version])
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "x"\npython = "3.11"\n'
        f'[conda]\nchannels = ["{channel}"]\ndependencies = ["python 3.11.*", "cuda-cccl"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], root, env)
    assert locked.returncode == 0, locked.stderr
    lock = (root / "mlenv.lock").read_text()
    assert 'cuda = "13.5"' in lock and "requires-driver" not in lock
    assert run_mlenv(["verify"], root, env).returncode == 0
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0


def test_a_major_refusal_read_from_requires_dist_names_the_line() -> None:
    markers = Target("linux-64", "3.11").markers
    need = extract(
        "torch",
        "2.11.0",
        "torch-2.11.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        ['nvidia-cuda-runtime==13.2.86; platform_system == "Linux"'],
        markers=markers,
    )
    assert need is not None and need.cuda.major == 13
    target = CudaTarget(CudaVersion.parse("12.8"), DriverVersion.parse("570.124.06"))
    messages = [f.message for f in judge(target, [PackageNeed("torch", "2.11.0", need)])]
    assert any(
        "but the target is CUDA 12.8" in m
        and "(its Requires-Dist nvidia-cuda-runtime==13.2.86)" in m
        for m in messages
    ), messages
