"""Adversary pass 85: CUDA/driver judgements as NVIDIA states them.

Every expected driver is typed from shared/reference/cuda.md §1, which cites NVIDIA's CUDA
Toolkit Release Notes (13.2 Update 2), Table 3 "CUDA Toolkit and Corresponding Driver Versions"
(https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html); 13.x has no
Windows value there (N/A). None is read from mlenv/data/cuda.json.

The finding this file pins: conda's ``__cuda`` virtual package is the newest CUDA the *driver*
supports (conda/rattler crates/rattler_virtual_packages/src/cuda.rs; cuda.md §4), and NVIDIA's
driver is backward compatible (release notes, "CUDA Driver": applications built with older
toolkits run on newer drivers). mlenv read ``depends: __cuda >=11.8`` as a CUDA 11.8 *build*:
a CUDA 12.4 lock failed with cuda-major-mismatch, and a cuda126 build that also asks
``__cuda >=11.8`` failed with cuda-contradiction, though a 12.x driver meets both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract_conda
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.errors import ManifestError
from mlenv.host import SMI_BANNER_ARGV, SMI_QUERY_ARGV, detect
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.lockfile_fresh import inputs_hash
from mlenv.lockfile_render import render
from mlenv.manifest_read import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.fake_host import with_glibc
from tests.support.locks import conda_closed, conda_record, target_of
from tests.support.nvidia_table3 import TABLE_3


def _key(driver: str) -> tuple[int, ...]:
    """NVIDIA's drivers compare per dotted component (cuda_matrix.json _meta)."""
    parts = [int(part) for part in driver.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _target(cuda: str, driver: str, *, windows: bool = False) -> CudaTarget:
    return CudaTarget(
        CudaVersion.parse(cuda), DriverVersion.parse(driver), checked=True, windows=windows
    )


_DRIVER = st.tuples(
    st.integers(400, 620), st.integers(0, 130), st.integers(0, 99), st.booleans()
).map(lambda p: f"{p[0]}.{p[1]:02d}.{p[2]:02d}" if p[3] else f"{p[0]}.{p[1]:02d}")


@settings(max_examples=200)
@given(row=st.sampled_from(TABLE_3), driver=_DRIVER, windows=st.booleans())
def test_the_verdict_is_driver_at_or_above_table_3(
    row: tuple[str, str, str | None], driver: str, windows: bool
) -> None:
    """For every (toolkit, driver) pair: refused iff driver < Table 3's value in the column of
    the driver judged, and the message names the driver, the minimum and the CUDA."""
    cuda, linux, win = row
    minimum = win if windows else linux
    findings = judge(_target(cuda, driver, windows=windows), [])
    if minimum is None:  # 13.x on WSL 2 without the driver's reported CUDA Version
        assert [f.code for f in findings] == ["driver-unconfirmed"]
        return
    below = [f for f in findings if f.code == "driver-below-toolkit"]
    assert bool(below) == (_key(driver) < _key(minimum)), (cuda, driver, minimum)
    for finding in below:
        assert driver in finding.message and minimum in finding.message
        assert f"CUDA {cuda}" in finding.message
        assert f"upgrade the driver to {minimum}" in finding.hint


@pytest.mark.parametrize(("cuda", "linux", "windows"), TABLE_3)
def test_exact_minimum_passes_and_one_below_fails(
    cuda: str, linux: str, windows: str | None
) -> None:
    parts = linux.split(".")
    parts[-1] = str(int(parts[-1]) - 1).zfill(len(parts[-1]))
    assert judge(_target(cuda, linux), []) == ()
    assert [f.code for f in judge(_target(cuda, ".".join(parts)), [])] == ["driver-below-toolkit"]
    if windows is not None:
        assert judge(_target(cuda, windows, windows=True), []) == ()


# conda's __cuda: a floor on the driver's CUDA, never a build's major


def _conda_need(build: str, *depends: str) -> PackageNeed:
    need = extract_conda("gpulib", "1.0", build, depends, ())
    assert need is not None
    return PackageNeed("gpulib", "1.0", need)


@pytest.mark.parametrize(
    ("cuda", "driver", "depends"),
    [
        ("12.4", "550.54.14", ("__cuda >=11.8",)),
        ("12.4", "550.54.14", ("__cuda >=11.8,<13",)),
        ("13.0", "580.65.06", ("__cuda >=12.6",)),
        ("13.0", "580.65.06", ("__cuda >=11.2",)),
        ("12.0", "525.60.13", ("cuda-version >=12.0,<13", "__cuda >=11.8")),
    ],
)
def test_an_older_driver_floor_of_another_major_passes(
    cuda: str, driver: str, depends: tuple[str, ...]
) -> None:
    """Was: cuda-major-mismatch "built for CUDA 11.8, but the target is CUDA 12.4"."""
    assert judge(_target(cuda, driver), [_conda_need("h0", *depends)]) == ()


def test_a_build_with_an_older_driver_floor_is_no_contradiction() -> None:
    """Was: cuda-contradiction "CUDA 12.6 from 'build cuda126_h0' contradicts CUDA 11.8"."""
    item = _conda_need("cuda126_h0", "__cuda >=11.8")
    assert (str(item.need.cuda), item.need.conflicts) == ("12.6", ())
    assert judge(_target("12.6", "560.28.03"), [item]) == ()


@pytest.mark.parametrize(
    ("cuda", "driver", "depends", "code"),
    [
        # a 12.4 driver floor is no CUDA 13 driver; 550.54.14 is below 12.6's 560.28.03
        # (__cuda is a driver floor, no build claim: attack 100 names it cuda-driver-floor)
        ("12.4", "550.54.14", ("__cuda >=13",), "cuda-driver-floor"),
        ("12.4", "550.54.14", ("__cuda >=12.6",), "cuda-newer-minor"),
        # beside a cuda-version, __cuda no longer speaks alone: the build's major decides
        ("12.4", "550.54.14", ("cuda-version >=11.8,<12", "__cuda >=11.8"), "cuda-major-mismatch"),
        ("13.0", "580.65.06", ("__cuda >=12", "cuda-version >=12,<13"), "cuda-major-mismatch"),
        ("13.0", "580.65.06", ("cuda-version >=12.0,<13", "__cuda >=12.4"), "cuda-major-mismatch"),
    ],
)
def test_a_newer_driver_floor_or_an_older_build_still_fails(
    cuda: str, driver: str, depends: tuple[str, ...], code: str
) -> None:
    codes = [f.code for f in judge(_target(cuda, driver), [_conda_need("h0", *depends)])]
    assert code in codes


def _conda_project(tmp: Path, record_depends: tuple[str, ...]) -> Path:
    root = tmp / "p"
    root.mkdir()
    text = (
        '[environment]\nname = "t"\npython = "3.11"\n[cuda]\nversion = "12.4"\n'
        'driver-floor = "550.54.14"\n[conda]\nchannels = ["conda-forge"]\n'
        'dependencies = ["gpulib"]\n'
    )
    (root / "mlenv.toml").write_text(text)
    manifest = load_manifest(text)
    record = conda_record("gpulib", "1.0", "h0", depends=record_depends)
    target = dataclasses.replace(target_of(manifest), requires_driver="550.54.14")
    platform = LockedPlatform("linux-64", (), conda_closed(record))
    (root / "mlenv.lock").write_text(render(Lock(inputs_hash(manifest), target, (platform,))))
    return root


def test_verify_cli_passes_a_conda_lock_whose_package_asks_an_older_driver(
    tmp_path: Path,
) -> None:
    root = _conda_project(tmp_path, ("__cuda >=11.8", "cuda-version >=12.0,<13"))
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    passed = run_mlenv(["verify", "--driver", "550.54.14"], root, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "cuda-major-mismatch" not in passed.stdout and "contradict" not in passed.stdout
    below = run_mlenv(["verify", "--driver", "550.54.13"], root, env)
    assert below.returncode == 1, below.stdout + below.stderr
    assert (
        "driver 550.54.13 (checked) is below 550.54.14, the minimum driver for CUDA 12.4"
        in below.stdout
    )
    assert "hint: upgrade the driver to 550.54.14 or newer" in below.stdout


# nvidia-smi as NVIDIA's r580 prints it

_BANNER_580 = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 580.65.06              Driver Version: 580.65.06      CUDA Version: 13.0     |
+-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|=========================================+========================+======================|
|   0  NVIDIA H100 80GB HBM3          On  |   00000000:18:00.0 Off |                   On |
+-----------------------------------------+------------------------+----------------------+
| MIG devices:                                                                            |
"""


def test_a_580_host_with_mig_is_judged_by_its_banner_and_query() -> None:
    host = with_glibc(
        outputs={
            SMI_QUERY_ARGV: "580.65.06, 9.0, NVIDIA H100 80GB HBM3\n"
            "580.65.06, 9.0, NVIDIA H100 80GB HBM3\n",
            SMI_BANNER_ARGV: _BANNER_580,
        }
    )
    facts = detect(host)
    assert (facts.driver, facts.cuda_driver_version) == ("580.65.06", "13.0")
    assert [gpu.compute_cap for gpu in facts.gpus] == ["9.0", "9.0"]
    assert judge(_target("13.0", "580.65.06"), []) == ()
    assert [f.code for f in judge(_target("13.1", "580.65.06"), [])] == ["driver-below-toolkit"]


def test_a_failed_nvidia_smi_finds_no_driver() -> None:
    failed = (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make "
        "sure that the latest NVIDIA driver is installed and running.\n"
    )
    facts = detect(with_glibc(outputs={SMI_QUERY_ARGV: failed, SMI_BANNER_ARGV: failed}))
    assert (facts.driver, facts.cuda_driver_version) == (None, None)


@pytest.mark.parametrize("version", ["12.04", "013.0", "12.00", "12", "12.0.1", "cu124", "cu13"])
def test_a_cuda_version_nvidia_never_writes_is_refused_in_the_manifest(version: str) -> None:
    """Was: "12.04" read as CUDA 12.4 and recorded as "12.04" in the lock's [target]."""
    text = (
        '[environment]\nname = "t"\npython = "3.11"\n[cuda]\n'
        f'version = "{version}"\ndriver-floor = "550.54.14"\n'
    )
    with pytest.raises(ManifestError, match=r"\[cuda\]\.version: .* is not valid"):
        load_manifest(text)
