"""Attack 57: real ML stacks locked against PyPI, rebuilt here as in-memory wheels.

Each test is a case seen locking a real stack, built in code so no network is needed.
"""

from __future__ import annotations

from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from mlenv.cuda.matrix import table3_driver
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.dropped_extras import defines
from mlenv.index import CoreMetadata
from mlenv.passed_over import passed_over
from mlenv.reason_tally import MAX_REASONS, tally_reasons
from tests.support.cli import run_mlenv
from tests.support.wheels import build_wheel, write_simple_index

TAG = "cp312-cp312-manylinux_2_28_x86_64"
CUDA_13 = '[cuda]\nversion = "13.0"\ndriver-floor = "580.82.07"\n'


def test_vllm_refused_release_by_release_keeps_its_error_line_short(tmp_path: Path) -> None:
    """`vllm` from PyPI on a CUDA 13 fleet: every release after 0.6.6.post1 is refused with
    its own 'cannot tell which CUDA vllm X needs', and the summary line joined all of them,
    one error line of 11 kB for the real 40 releases. The line keeps the newest few."""
    releases = [f"0.{minor}.0" for minor in range(20, 35)]
    wheels = [build_wheel("vllm", v, tag=TAG) for v in releases]
    url = write_simple_index(tmp_path / "pypi", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "v"\npython = "3.12"\n{CUDA_13}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["vllm"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    head = next(line for line in result.stderr.splitlines() if "no installable file" in line)
    assert len(head) < 2000, head  # 15 reasons made 4 kB here
    assert "mlenv cannot tell which CUDA vllm 0.34.0 needs" in head  # the newest comes first
    assert "vllm 0.20.0 needs" not in head
    assert f"and {len(releases) - MAX_REASONS} other reason(s) for 11 file(s)" in head
    # the per-release lines under it still name the newest refusals
    assert "refused: 0.34.0: mlenv cannot tell which CUDA vllm 0.34.0 needs" in result.stderr
    assert "cuda-undetermined" in result.stderr or "unverified" in result.stderr
    assert not (root / "mlenv.lock").exists()


def test_tally_orders_by_count_then_newest_release() -> None:
    reasons = {"no wheel for the target's tags": 436, "b 1.0": 1, "b 2.0": 1, "b 10.0": 1}
    refused = [
        (Version("1.0"), "b 1.0"),
        (Version("10.0"), "b 10.0"),
        (Version("2.0"), "b 2.0"),
    ]
    assert tally_reasons(reasons, refused, limit=3) == (
        "436 file(s): no wheel for the target's tags; 1 file(s): b 10.0; 1 file(s): b 2.0; "
        "and 1 other reason(s) for 1 file(s), named per release below"
    )
    # a reason without a file (the conda environment provides it) sorts after those with one
    assert tally_reasons({"provided": 1, "b 1.0": 1}, refused[:1]) == (
        "1 file(s): b 1.0; 1 file(s): provided"
    )


CUDA_12 = '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.15"\n'


def test_a_conflict_deep_in_old_vllm_names_the_newer_vllm_releases_refused(
    tmp_path: Path,
) -> None:
    """`vllm` from PyPI on a CUDA 12 fleet: the releases after 0.6.6.post1 are refused (CUDA
    unreadable), the resolver walks back to 0.6.x, whose exact pin has no wheel for the
    target, and the error named only that pin's conflict: nothing said why vllm was old."""
    wheels = [
        build_wheel("vllm", "0.8.0", tag=TAG),
        build_wheel("vllm", "0.7.0", tag=TAG),
        build_wheel("vllm", "0.6.0", requires_dist=["flashy==2.5.9"], tag=TAG),
        build_wheel("flashy", "2.5.9", tag="cp310-cp310-manylinux_2_28_x86_64"),
        build_wheel("flashy", "2.6.1", tag=TAG),
    ]
    url = write_simple_index(tmp_path / "pypi", wheels)
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "v"\npython = "3.12"\n{CUDA_12}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["vllm"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "flashy==2.5.9 (from vllm 0.6.0 <- the manifest)" in result.stderr
    assert (
        "vllm: the resolver went back to vllm 0.6.0 because 2 newer release(s) were never "
        "candidates" in result.stderr
    )
    assert "refused: 0.8.0: mlenv cannot tell which CUDA vllm 0.8.0 needs" in result.stderr
    assert "refused: 0.7.0: mlenv cannot tell which CUDA vllm 0.7.0 needs" in result.stderr


def test_passed_over_is_silent_without_newer_refusals_and_respects_the_manifest() -> None:
    refused = {Version("3.0"): "r3", Version("2.0"): "r2", Version("1.0"): "r1"}
    parents = [("a", Version("1.5")), ("a", Version("2.5"))]
    assert passed_over(parents, lambda _: refused, lambda _n, _v: True) == [
        "a: the resolver went back to a 2.5 because 1 newer release(s) were never candidates",
        "  refused: 3.0: r3",
    ]
    # a manifest limit (a<3) that rules the newer release out leaves nothing to say
    assert passed_over(parents, lambda _: refused, lambda _n, v: v < Version("3")) == []
    assert passed_over([], lambda _: refused, lambda _n, _v: True) == []


def test_an_update_without_a_table3_row_says_its_driver_is_a_lower_bound() -> None:
    """PyPI torch 2.14 pins cuda-toolkit==13.0.3, a release with no Table 3 row (its installer
    bundles 580.126.20). The lock said "needs 580.95.05 (CUDA 13.0 Update 2)" and hinted to
    raise the floor to it, as if 13.0.3 were known to run there."""
    assert table3_driver(CudaVersion(13, 0), "13.0.3.0") == (
        DriverVersion.parse("580.95.05"),
        "CUDA 13.0 Update 2; CUDA 13.0.3 itself has no confirmed driver",
    )
    # a release with its own row keeps its own label, and so does the GA
    assert table3_driver(CudaVersion(13, 0), "13.0.2") == (
        DriverVersion.parse("580.95.05"),
        "CUDA 13.0 Update 2",
    )
    assert table3_driver(CudaVersion(13, 0)) == (DriverVersion.parse("580.65.06"), "CUDA 13.0 GA")


def test_a_package_whose_cuda_cannot_be_read_is_not_said_to_be_unrunnable(
    tmp_path: Path,
) -> None:
    """PyPI's paddlepaddle-gpu 2.6.2 names no CUDA; the hint said "builds the fleet cannot run
    on CUDA 12.4 were refused", a verdict mlenv never reached."""
    url = write_simple_index(
        tmp_path / "pypi",
        [build_wheel("paddlepaddle-gpu", "2.6.2", tag="cp311-cp311-manylinux_2_28_x86_64")],
    )
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "p"\npython = "3.11"\n{CUDA_12}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["paddlepaddle-gpu"]\n'
    )
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "mlenv cannot tell which CUDA paddlepaddle-gpu 2.6.2 needs" in result.stderr
    assert "builds whose CUDA mlenv cannot read were refused for the CUDA 12.4 fleet" in (
        result.stderr
    )
    assert "cannot run" not in result.stderr
    assert 'unverified = ["paddlepaddle-gpu"]' in result.stderr


def _jax_project(tmp_path: Path, cuda: str, deps: str) -> Path:
    wheels = [
        build_wheel(
            "jax",
            "0.5.0",
            provides_extra=["cuda12"],
            requires_dist=["jax-cuda12-plugin==0.5.0; extra == 'cuda12'"],
        ),
        build_wheel("jax-cuda12-plugin", "0.5.0", tag=TAG),
        build_wheel("jax", "0.4.0"),  # from before the extra existed
    ]
    url = write_simple_index(tmp_path / "pypi", wheels)
    root = tmp_path / "p"
    root.mkdir(exist_ok=True)
    (root / "mlenv.toml").write_text(
        f'[environment]\nname = "j"\npython = "3.12"\n{cuda}'
        f'[pypi]\nindex-url = "{url}"\ndependencies = [{deps}]\n'
    )
    return root


def test_jax_cuda12_on_a_cuda_13_fleet_is_no_silent_cpu_lock(tmp_path: Path) -> None:
    """`jax[cuda12]` for CUDA 13: jax-cuda12-plugin is refused, the resolver walks back to
    a jax without a `cuda12` extra, and the lock held jax alone, exit 0, no CUDA at all."""
    root = _jax_project(tmp_path, CUDA_13, '"jax[cuda12]"')
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    result = run_mlenv(["lock"], root, env)
    assert result.returncode == 1, result.stderr
    assert "jax 0.4.0 has no extra 'cuda12': the manifest asks for jax[cuda12]" in result.stderr
    assert "jax[cuda13]" in result.stderr  # the family's hint
    assert not (root / "mlenv.lock").exists()


def test_the_extra_still_resolves_where_the_fleet_runs_it(tmp_path: Path) -> None:
    root = _jax_project(tmp_path, CUDA_12, '"jax[cuda12]"')
    result = run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    lock = (root / "mlenv.lock").read_text()
    assert 'name = "jax-cuda12-plugin"' in lock


def test_an_extra_named_only_in_a_marker_counts_as_defined() -> None:
    metadata = CoreMetadata(
        canonicalize_name("old"),
        Version("1.0"),
        ('gpu-lib>=1; python_version >= "3.8" and "GPU" == extra',),
        None,
        (),
    )
    assert defines(metadata, "gpu")
    assert not defines(metadata, "cpu")
