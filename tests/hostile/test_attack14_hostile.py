"""Fourteenth adversary pass: CUDA 7.0-9.2 (a known release with no architecture data and no
minor-version compatibility) through every reader and check, and the kept "fresh" verdict of a
no-op ``lock`` under shapes pass 12 did not try.

No unrunnable combination may pass with exit 0 and no error, and no false "up to date" may
answer. Each test names what it protects and fails if its enforcement is removed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mlenv.conda.records import CondaRecord
from mlenv.cuda.matrix import min_driver
from mlenv.cuda.needs import conda_need
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaError, CudaVersion, DriverVersion
from mlenv.errors import ManifestError
from mlenv.inputs import digest, toml_inputs
from mlenv.judge import Judged, compute_capability_arch, verify_lock
from mlenv.lockfile import LockedPlatform
from mlenv.manifest_read import loads
from tests.support.cli import run_mlenv
from tests.support.locks import HASH, codes, locked, make_lock
from tests.support.noop import entries, lock_for
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]


# -- CUDA 7.0-9.2 ---------------------------------------------------------------------------
def _conda(build: str, depends: tuple[str, ...] = ()) -> CondaRecord:
    channel = "https://conda.anaconda.org/pytorch"
    filename = f"pytorch-1.0.0-{build}.tar.bz2"
    return CondaRecord(
        name="pytorch", version="1.0.0", build=build, build_number=1, subdir="linux-64",
        channel=channel, url=f"{channel}/linux-64/{filename}", filename=filename,
        sha256="e" * 64, md5="d" * 32, size=10, depends=depends,
    )  # fmt: skip


@pytest.mark.parametrize(
    "build",
    [
        "py3.6_cuda9.2.148_cudnn7.1.4_1",  # the pytorch channel's CUDA 8/9 build strings
        "py3.6_cuda9.0.176_cudnn7.1.2_1",
        "py3.6_cuda8.0.61_cudnn7.1.2_1",
    ],
)
def test_a_one_digit_major_cuda_tag_in_a_conda_build_is_never_read_as_cpu(build: str) -> None:
    """Protects the unreadable-tag refusal (tags._CUDA_TAG_RE) for one-digit CUDA majors: the
    pytorch channel built CUDA 8/9 as py3.6_cuda9.2.148_cudnn7.1.4_1; 'cuda9' has one digit,
    so the tag detector (two digits) saw no tag, no pattern read it (cuda_?X.Y must end at
    '_'), and the package counted as no CUDA build: a CUDA 9.2 pytorch passed `verify --driver`
    of a CUDA 12.4 lock with exit 0. It must be read or refused, never nothing."""
    record = _conda(build)
    try:
        need = conda_need(record)
    except CudaError:
        need = None
    else:
        assert need is not None, f"{build} carries a CUDA tag but was read as no CUDA build"
    lock = make_lock([]).with_platforms([LockedPlatform("linux-64", (), (record,))])
    verdict = verify_lock(lock, HASH, Judged("550.54.14", "--driver"))
    assert not verdict.ok, codes(verdict)
    assert need is None or need.need.cuda.major in (8, 9)


@pytest.mark.parametrize(("version", "cuda"), [("0.1.37+cuda92", "9.2"), ("0.1.37+cuda90", "9.0")])
def test_jaxlib_cuda9_local_tags_read_as_cuda_9_not_92(version: str, cuda: str) -> None:
    """Protects the jaxlib tag rows of mlenv/data/cuda.json: jaxlib 0.1.x was built +cuda90 and
    +cuda92 (CUDA 9.0/9.2, with +cuda100 and +cuda101), but the major-only row took any two
    digits, so +cuda92 was 'CUDA 92.x' and a CUDA 9.2 lock refused it as a major mismatch while
    its message named a CUDA that never existed."""
    need = extract("jaxlib", version)
    assert need is not None
    assert (need.label, need.major_only) == (cuda, False)
    target = CudaTarget(CudaVersion.parse(cuda), DriverVersion.parse("396.26"))
    assert judge(target, [PackageNeed("jaxlib", version, need)]) == ()


def test_a_cuda9_floor_hint_does_not_promise_minor_version_compatibility() -> None:
    """Protects the driver-floor hint (matrix.minor_compat_note): NVIDIA's minor-version
    compatibility began with CUDA 11.0 (no minor_compat row before 11); the reworded hint told a
    CUDA 9.2 manifest that it 'would load the libraries on an older driver of the same major'."""
    text = (
        '[environment]\nname = "t"\npython = "3.11"\n'
        '[cuda]\nversion = "9.2"\ndriver-floor = "390.46"\n'
    )
    with pytest.raises(ManifestError) as caught:
        loads(text)
    rendered = str(caught.value)
    assert "driver 390.46 is below 396.26, the driver CUDA 9.2 needs" in rendered
    assert "would load the libraries" not in rendered
    assert "CUDA 9.x has no minor-version compatibility: it began with 11.0" in rendered


# Walls that held: each shape below already errors; the tests keep it so.
@pytest.mark.parametrize(
    ("cuda", "driver", "name", "version", "code"),
    [
        ("12.4", "550.54.14", "torch", "1.0.0+cu92", "cuda-major-mismatch"),
        ("13.0", "580.65.06", "cupy-cuda92", "5.0.0", "cuda-major-mismatch"),
        ("9.2", "396.26", "torch", "2.5.1+cu124", "cuda-major-mismatch"),
        ("9.0", "390.46", "torch", "1.0.0+cu92", "cuda-newer-minor"),  # between 9.1 and 9.2
        ("7.0", "346.46", "mxnet-cu75", "0.9.3", "cuda-newer-minor"),
        ("9.2", "390.46", "torch", "1.0.0+cu92", "driver-below-toolkit"),
    ],
)
def test_cuda9_combinations_verify_refuses(
    cuda: str, driver: str, name: str, version: str, code: str
) -> None:
    """Guards `verify --driver` on CUDA 7.0-9.2 rows: a cu92 build under a CUDA 12/13 target, a
    CUDA 12 build under a 9.2 target, a 9.2 build on a driver between the 9.1 and 9.2 rows, and
    a 9.2 target on a 9.1 driver are errors."""
    lock = make_lock([locked(name, version, cuda=None)], cuda=cuda, floor=driver)
    verdict = verify_lock(lock, HASH, Judged(driver, "--driver"))
    assert ("error", code) in [(s, c) for s, c, _ in codes(verdict)], codes(verdict)


def test_gpus_of_verify_nodes_on_a_cuda9_target_are_refused_not_admitted() -> None:
    """Guards arch-unchecked on the --nodes path: the compute capability labels of GPU nodes
    become archs, and CUDA 9.x has no architecture data, so each is an error, not a pass."""
    archs = tuple(compute_capability_arch(cap) for cap in ("7.0", "8.0"))
    lock = make_lock([locked("torch", "1.0.0+cu92", cuda="9.2")], cuda="9.2", floor="396.26")
    verdict = verify_lock(lock, HASH, Judged("396.37", "--nodes", archs))
    assert [c for s, c, _ in codes(verdict) if s == "error"] == ["arch-unchecked"] * 2


# -- kept verdicts: the full check is the full reader's -------------------------------------
VALID = '[environment]\nname = "e"\npython = "3.11"\n[pypi]\ndependencies = ["torch==2.14.1"]\n'


def _hashed_lock(text: str) -> str:
    """A lock whose inputs hash is the one of ``text``'s resolution inputs, as an mlenv with
    laxer rules (or a hand) writes it; everything else is a lock made for a valid manifest."""
    inputs = toml_inputs(tomllib.loads(text))
    assert inputs is not None
    made = digest(inputs)
    cuda = inputs.get("cuda", {})
    head = "".join(f'{key} = "{cuda[f]}"\n' for key, f in (("cuda", "version"),
                   ("driver-floor", "driver-floor")) if cuda.get(f))  # fmt: skip
    lock = lock_for(VALID).replace("\n\n[[platform", f"\n{head}\n[[platform", 1)
    return re.sub(r'inputs-hash = "[^"]*"', f'inputs-hash = "{made}"', lock)


@pytest.mark.parametrize(
    "cuda",
    [
        'version = "9.2"\ndriver-floor = "396.26"\narchs = ["sm_70"]\n',  # accepted at 0ecb823
        'version = "12.4"\ndriver-floor = "535.104.05"\n',  # below the 12.4 minimum
        'version = "9.3"\ndriver-floor = "396.26"\n',  # a CUDA NVIDIA never released
        'version = "12.4"\ndriver-floor = "R575"\n',  # a driver branch, not a driver
    ],
)
def test_a_lock_whose_hash_matches_a_manifest_the_reader_refuses_is_never_up_to_date(
    tmp_path: Path, cuda: str
) -> None:
    """Protects the no-op's full check (uptodate._judged_fresh running manifest_read.parse): it
    took a matching inputs hash as proof the manifest was valid, so a CUDA target the rules
    refuse (archs on CUDA 9.x, refused since cbd10a6, in a lock made by 0ecb823; a floor below
    the CUDA minimum in a hand-written lock) got "mlenv.lock is up to date", exit 0, and a kept
    verdict, where the full CLI refuses the manifest. Both runs must be the full refusal."""
    project = tmp_path / "p"
    project.mkdir()
    text = VALID + "[cuda]\n" + cuda
    (project / "mlenv.toml").write_text(text)
    (project / "mlenv.lock").write_text(_hashed_lock(text))
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLENV_CACHE_DIR": str(cache)}
    for args in (["lock", "--check"], ["lock", "--check"], ["lock", "--offline"]):
        command = [sys.executable, "-m", "mlenv", *args]
        result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                                check=False, timeout=120)  # fmt: skip
        assert result.returncode != 0, (args, result.stderr)
        assert "up to date" not in result.stderr
        assert "problem in the manifest" in result.stderr
    assert entries(cache) == []


def test_a_valid_cuda_manifest_still_keeps_its_verdict(tmp_path: Path) -> None:
    """Guards the other side of the fix: a valid CUDA manifest with its lock is up to date and
    its verdict kept, so the full reader costs only the first judging."""
    project = tmp_path / "p"
    project.mkdir()
    text = VALID + '[cuda]\nversion = "9.2"\ndriver-floor = "396.26"\n'
    (project / "mlenv.toml").write_text(text)
    floor = 'driver-floor = "396.26"\n'  # and the requires-driver `mlenv lock` writes with it
    needed = f'{floor}requires-driver = "{min_driver(CudaVersion(9, 2))}"\n'
    (project / "mlenv.lock").write_text(_hashed_lock(text).replace(floor, needed, 1))
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLENV_CACHE_DIR": str(cache)}
    for _ in range(2):
        result = subprocess.run([sys.executable, "-m", "mlenv", "lock", "--check"], cwd=project,
                                env=env, capture_output=True, text=True, check=False,
                                timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "mlenv.lock is up to date" in result.stderr
    assert len(entries(cache)) == 1


@pytest.mark.parametrize("form", [["-m=m.toml"], ["-m=m.toml", "-q"]])
def test_a_short_manifest_option_with_equals_is_the_manifest_click_reads(
    tmp_path: Path, form: list[str]
) -> None:
    """Protects the no-op's reading of the command line (uptodate._command): click gives a short
    option everything after it, so `mlenv -m=m.toml lock --check` names the manifest "=m.toml"
    and the full CLI says "no manifest here"; the fast path split at "=" and answered "up to
    date", exit 0, for m.toml, a file the command never named."""
    (tmp_path / "m.toml").write_text(VALID)
    (tmp_path / "mlenv.lock").write_text(lock_for(VALID))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLENV_CACHE_DIR": str(tmp_path / "cache")}
    for _ in range(2):  # the second run could answer from a verdict the first kept
        command = [sys.executable, "-m", "mlenv", *form, "lock", "--check"]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                                check=False, timeout=120)  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "=m.toml: no manifest here" in result.stderr
    spaced = subprocess.run([sys.executable, "-m", "mlenv", "-m", "m.toml", "lock", "--check"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
                            timeout=120)  # fmt: skip
    assert spaced.returncode == 0, spaced.stderr  # the wall: the spaced form is m.toml


@pytest.mark.parametrize(("key", "locked_as"), [("python", '"3.12"'), ("glibc", '"2.17"')])
def test_a_plain_lock_never_calls_a_drifted_target_up_to_date(
    tmp_path: Path, key: str, locked_as: str
) -> None:
    """Protects `mlenv lock`'s own freshness (commands.lock._fresh = lockfile_fresh.check_fresh): it
    compared only the inputs hash, so a lock whose [target] drifted from the manifest (edited,
    or made for another target) was "up to date" for `lock` while `lock --check` refused it
    and told the user to run `mlenv lock`: a loop that never rewrote the lock."""
    url = write_simple_index(tmp_path / "index", [build_wheel("lib", "1.0")])
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "e"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["lib"]\n'
    )
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock_path = root / "mlenv.lock"
    made = tomllib.loads(lock_path.read_text())["target"][key]
    text = lock_path.read_text()
    assert text.count(f'{key} = "{made}"') == 1
    lock_path.write_text(text.replace(f'{key} = "{made}"', f"{key} = {locked_as}"))
    assert run_mlenv(["lock", "--check"], root, env).returncode == 1
    relocked = run_mlenv(["lock"], root, env)
    assert relocked.returncode == 0, relocked.stderr
    assert "up to date" not in relocked.stderr
    assert tomllib.loads(lock_path.read_text())["target"][key] == made
    assert run_mlenv(["lock", "--check"], root, env).returncode == 0


# Walls that held for kept verdicts: each answer is the full CLI's.
def _both(root: Path, args: list[str], cache: Path) -> tuple[int, int]:
    """The exit status of the no-op path and of the full CLI for the same command line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLENV_CACHE_DIR": str(cache)}
    full = "import sys; from mlenv.cli.app import main; sys.exit(main(sys.argv[1:]))"
    statuses = []
    for command in ([sys.executable, "-m", "mlenv"], [sys.executable, "-c", full]):
        result = subprocess.run([*command, *args], cwd=root, env=env, capture_output=True,
                                text=True, check=False, timeout=120)  # fmt: skip
        statuses.append(result.returncode)
    return statuses[0], statuses[1]


@pytest.mark.parametrize(("shape", "expected"), [("bom", 1), ("crlf", 0), ("cr", 1), ("lf", 0)])
def test_manifest_line_ends_and_a_bom_get_the_full_clis_answer(
    tmp_path: Path, shape: str, expected: int
) -> None:
    """Guards the no-op against text shapes: a UTF-8 BOM (tomllib refuses it) and bare CR line
    ends are refused by both paths, CRLF and LF are fresh in both, twice (the second run from
    a kept verdict when one was kept)."""
    body = VALID.encode()
    data = {"bom": b"\xef\xbb\xbf" + body, "crlf": body.replace(b"\n", b"\r\n"),
            "cr": body.replace(b"\n", b"\r"), "lf": body}[shape]  # fmt: skip
    (tmp_path / "mlenv.toml").write_bytes(data)
    (tmp_path / "mlenv.lock").write_text(lock_for(VALID))
    for _ in range(2):
        fast, full = _both(tmp_path, ["lock", "--check"], tmp_path / "cache")
        assert (fast, full) == (expected, expected)


def test_a_lock_symlinked_to_another_projects_lock_gets_the_full_clis_answer(
    tmp_path: Path,
) -> None:
    """Guards the key (bytes only, both paths read through a symlink): mlenv.lock linking to
    another project's lock is fresh exactly when that lock's bytes are fresh for this manifest,
    and a verdict kept while they were stays unused once the other project re-locks."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "mlenv.lock").write_text(lock_for(VALID))
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(VALID)
    (root / "mlenv.lock").symlink_to(other / "mlenv.lock")
    cache = tmp_path / "cache"
    assert _both(root, ["lock", "--check"], cache) == (0, 0)
    stale = VALID.replace("2.14.1", "2.14.0")
    (other / "mlenv.lock").write_text(lock_for(stale))  # the other project moved on
    assert _both(root, ["lock", "--check"], cache) == (1, 1)


@pytest.mark.parametrize("mask", [0o077, 0o002, 0o000])
def test_a_verdict_kept_under_any_umask_is_private_and_answers(tmp_path: Path, mask: int) -> None:
    """Guards the bucket and entry modes against the umask: under 077, 002 (user private
    groups) and 000 the bucket is no one else's to write and the entry 0600, so the kept
    verdict is believed (the second run answers without judging) and nothing is group- or
    world-writable."""
    (tmp_path / "mlenv.toml").write_text(VALID)
    (tmp_path / "mlenv.lock").write_text(lock_for(VALID))
    cache = tmp_path / "cache"
    code = (
        f"import os, sys; os.umask({mask}); import mlenv.uptodate as u; real = u._judged_fresh\n"
        "def spy(*a):\n    print('judged', file=sys.stderr); return real(*a)\n"
        "u._judged_fresh = spy; sys.exit(u.main(['lock', '--check']))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLENV_CACHE_DIR": str(cache)}
    judged = []
    for _ in range(2):
        command = [sys.executable, "-c", code]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                                check=False, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
        judged.append("judged" in result.stderr)
    assert judged == [True, False]
    (entry,) = entries(cache)
    assert entry.stat().st_mode & 0o777 == 0o600
    assert entry.parent.stat().st_mode & 0o022 == 0


@pytest.mark.parametrize(("driver", "ok"), [("340.29", False), ("390.46", False), ("396.26", True)])
def test_a_checked_driver_is_judged_even_when_the_lock_declares_no_cuda_target(
    driver: str, ok: bool
) -> None:
    """Protects `verify --driver/--host/--nodes` on a lock without [cuda] (judge._below_packages):
    the checked driver was ignored there, so a torch +cu92 (driver 396.26, Table 3) "passed"
    driver 340.29 with exit 0 and only the cuda-undeclared warning."""
    lock = make_lock([locked("torch", "1.0.0+cu92", cuda="9.2")], cuda=None, floor=None)
    verdict = verify_lock(lock, HASH, Judged(driver, "--driver"))
    assert verdict.ok is ok, codes(verdict)
    expected = [("warning", "cuda-undeclared", "")]
    if not ok:
        expected.append(("error", "driver-below-package", "torch"))
    assert codes(verdict) == expected
    assert verify_lock(lock, HASH, None).ok  # no driver named: nothing to check it against
