"""Ninety-sixth adversary pass: conda NVIDIA components read to their toolkit update (attack 95)
raised the ``requires-driver`` a lock records, and a lock written before (cuda-cudart 12.6.77
at the 12.6 GA driver) had no way out but ``lock --upgrade``, which moves every pin: `verify`
refused it (lock-driver-mismatch) while `lock` and `lock --check` called it up to date, because
freshness looked only at the inputs hash. `mlenv lock` now writes the CUDA fields again
(``mlenv.cuda_fields``), moving no pin, and `lock --check` calls such a lock stale. Also the
shapes of conda versions the component rows must not over-read.

Drivers are Table 3's, read from mlenv's data (``min_driver``, ``table3_driver``), never typed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlenv import lockfile_fresh, lockfile_read, lockfile_render
from mlenv.conda.records import CondaRecord
from mlenv.cuda.matrix import min_driver, table3_driver
from mlenv.cuda.tags import extract_conda
from mlenv.cuda.versions import CudaVersion
from mlenv.cuda_fields import rederived
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.manifest_read import loads as load_manifest
from tests.support.cli import run_mlenv
from tests.support.locks import conda_closed, conda_record, target_of

pytestmark = pytest.mark.hostile

GA = str(min_driver(CudaVersion(12, 6)))
MANIFEST = (
    '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n[pypi]\n'
    f'[cuda]\nversion = "12.6"\ndriver-floor = "{GA}"\n'
    '[conda]\nchannels = ["conda-forge"]\ndependencies = ["cuda-cudart"]\n'
)


def _update_driver(release: str) -> str:
    found = table3_driver(CudaVersion(12, 6), release)
    assert found is not None
    return str(found[0])


def _old_lock() -> Lock:
    """The lock an mlenv before attack 95 wrote: cuda-cudart 12.6.77 read as plain CUDA 12.6,
    its record and [target] at the 12.6 GA driver."""
    made = load_manifest(MANIFEST)
    record = conda_record(
        "cuda-cudart",
        "12.6.77",
        "h5888daf_0",
        depends=("cuda-version >=12.6,<12.7.0a0",),
        cuda="12.6",
        requires_driver=GA,
    )
    records = tuple(dataclasses.replace(r, requires_driver=GA) for r in conda_closed(record))
    target = dataclasses.replace(target_of(made), requires_driver=GA)
    return Lock(lockfile_fresh.inputs_hash(made), target).with_platforms(
        [LockedPlatform("linux-64", (), records)]
    )


def _pins(lock: Lock) -> list[tuple[str, str, str, str]]:
    return [(r.name, r.version, r.build, r.sha256) for _, r in lock.conda_packages()]


def test_a_lock_from_before_the_component_rows_is_fixed_by_plain_lock(tmp_path: Path) -> None:
    """Protects ``commands.lock`` calling ``cuda_fields.rederived`` on a lock fresh by inputs
    (and ``uptodate._judged_fresh`` refusing its fast "up to date"): before, `lock` and `lock
    --check` said up to date, `verify` failed, and its hint's `lock --upgrade` moved every pin."""
    cache = str(tmp_path / "cache")
    (tmp_path / "mlenv.toml").write_text(MANIFEST)
    (tmp_path / "mlenv.lock").write_text(lockfile_render.render(_old_lock()))

    verify = run_mlenv(["--cache", cache, "verify"], cwd=tmp_path)
    shown = verify.stdout + verify.stderr
    assert verify.returncode == 1 and "lock-driver-mismatch" in shown, shown
    assert "run `mlenv lock`, which writes its CUDA fields again and moves no pin" in shown

    check = run_mlenv(["--cache", cache, "lock", "--check"], cwd=tmp_path)
    shown = check.stdout + check.stderr
    assert check.returncode == 1 and "CUDA fields" in shown and "up to date" not in shown, shown

    relock = run_mlenv(["--cache", cache, "lock", "--offline"], cwd=tmp_path)
    assert relock.returncode == 0, relock.stdout + relock.stderr
    fixed = lockfile_read.loads((tmp_path / "mlenv.lock").read_text(), "mlenv.lock")
    assert _pins(fixed) == _pins(_old_lock())  # no pin moved
    update2 = _update_driver("12.6.2")
    assert fixed.target.requires_driver == update2 != GA
    cudart = next(r for _, r in fixed.conda_packages() if r.name == "cuda-cudart")
    assert cudart.requires_driver == update2

    for args in (["verify"], ["lock", "--check"], ["lock"]):
        result = run_mlenv(["--cache", cache, *args], cwd=tmp_path)
        shown = result.stdout + result.stderr
        assert result.returncode == 0, (args, shown)
    assert "up to date" in shown, shown


def test_a_lock_this_mlenv_wrote_is_left_as_it_is() -> None:
    """``rederived`` of a lock whose fields are already this mlenv's is that lock (`lock`
    stays a no-op): fails if it rewrote fields verify accepts."""
    fixed = rederived(_old_lock())
    assert fixed != _old_lock()
    assert rederived(fixed) is fixed


# Conda versions the component rows must not over-read: (name, version, depends, the update
# expected or None for no reading by the rows). Versions below every row, from another channel,
# or whose prefix two majors share are never placed by them.
SHAPES: list[tuple[str, str, tuple[str, ...], str | None]] = [
    ("libcublas", "0.1.0", (), None),  # a user channel's libcublas: no CUDA claimed
    ("libcublas", "1.0", (), None),
    ("libcurand", "10.3.99", (), None),  # curand 10.3 is in CUDA 11.8 and every 12.x
    ("libcufft", "13.0.0.1", (), None),
    ("cuda-cudart_linux-aarch64", "12.6.77", (), "12.6.2"),
    ("cuda-cudart-static_linux-ppc64le", "12.6.77", (), "12.6.2"),
    ("cuda-cudart_win-64", "12.6.77", (), "12.6.2"),
    # a 4-part or -dev version no toolkit pinned: the newest earlier update, a lower bound
    ("cuda-cudart", "12.6.77.1", (), "12.6.2"),
    ("cuda-cudart-dev", "12.6.99", (), "12.6.2"),
    # the record's own version wins over a dependency (tags._combine, §9 rule 1); the
    # cuda-version 12.8 record beside it sets its own driver in the lock
    ("cuda-cudart", "12.6.77", ("cuda-version >=12.8,<12.9.0a0",), "12.6.2"),
]


@pytest.mark.parametrize(("name", "version", "depends", "release"), SHAPES)
def test_a_conda_version_is_placed_only_where_the_rows_place_it(
    name: str, version: str, depends: tuple[str, ...], release: str | None
) -> None:
    """Protects ``conda_components._major`` and ``matrix.conda_component``: fails if a version
    the rows do not hold is read to an update (or a crash) instead of no reading."""
    need = extract_conda(name, version, "h5888daf_0", depends, ())
    if release is None:
        assert need is None or need.release is None, need
    else:
        assert need is not None and need.release == release, need


def test_a_user_channel_component_name_writes_no_cuda_field() -> None:
    """A ``libcublas 0.1.0`` of another channel: `lock` records no CUDA and no driver for it."""
    record = CondaRecord(
        **{
            **dataclasses.asdict(conda_record("libcublas", "0.1.0", "h0")),
            "channel": "https://conda.anaconda.org/mine",
            "url": "https://conda.anaconda.org/mine/linux-64/libcublas-0.1.0-h0.conda",
            "cuda": "12.6",
            "requires_driver": GA,
        }
    )
    made = load_manifest(MANIFEST)
    lock = Lock(lockfile_fresh.inputs_hash(made), target_of(made)).with_platforms(
        [LockedPlatform("linux-64", (), (record,))]
    )
    (written,) = [r for _, r in rederived(lock).conda_packages()]
    assert written.cuda is None and written.requires_driver is None


def test_a_cuda_version_dependency_above_the_record_still_sets_the_lock_driver() -> None:
    """cuda-cudart 12.6.77 beside the ``cuda-version 12.8`` it depends on: the record reads
    its own version (12.6 Update 2), and the cuda-version record sets the lock's driver to 12.8's,
    never the lower one. Fails if the lock's driver followed the cudart record alone."""
    record = conda_record(
        "cuda-cudart", "12.6.77", "h5888daf_0", depends=("cuda-version >=12.8,<12.9.0a0",)
    )
    made = load_manifest(MANIFEST)  # a 12.6 target: only the cuda-version record says 12.8
    lock = Lock(lockfile_fresh.inputs_hash(made), target_of(made)).with_platforms(
        [LockedPlatform("linux-64", (), conda_closed(record))]
    )
    written = rederived(lock)
    assert written.target.requires_driver == str(min_driver(CudaVersion(12, 8)))
    assert written.target.requires_driver != _update_driver("12.6.2")
