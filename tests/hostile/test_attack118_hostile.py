"""Attack 118: conda-unpack run twice (an interrupted run finished by a second), on a listed
path that is no regular file, and as root over files another user owns."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlenv import lockfile_fresh, lockfile_read, lockfile_render
from mlenv.conda.pack import unpack_script
from mlenv.cuda.rules import CudaTarget, PackageNeed, judge
from mlenv.cuda.tags import extract
from mlenv.cuda.versions import CudaVersion, DriverVersion
from mlenv.index import MemoryIndex
from mlenv.index.model import MetadataError
from mlenv.lockfile import Lock, LockedPlatform
from mlenv.locking import lock_manifest
from mlenv.locking_sources import Sources
from mlenv.manifest_read import loads
from mlenv.report import MemoryReporter
from mlenv.resolver.model import ResolutionError
from tests.support.cli import run_mlenv
from tests.support.locks import locked, target_of
from tests.support.wheels import build_wheel

pytestmark = pytest.mark.hostile


def _run(root: Path, old: str, files: list[tuple[str, str]], rooms: dict[str, int]) -> str:
    """The archive's conda-unpack, as mlenv writes it, run in ``root``; its stderr."""
    script = root / "bin" / "conda-unpack"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(unpack_script(old, files, rooms))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=30
    )
    return f"{done.returncode}:{done.stderr}"


@pytest.mark.parametrize("deploy", ["env2", "env-gpu", "sub/env"])
def test_a_second_run_leaves_a_relocated_environment_alone(tmp_path: Path, deploy: str) -> None:
    """Protects `conda.unpack`: a deploy path holding the build prefix (built at /opt/env,
    unpacked at /opt/env2, or at .../sub/opt/env) is relocated once, and a second run (one
    finishing an interrupted run, or a rerun) changes nothing. Before, the second run found
    the build prefix inside the new one and wrote /opt/env22 into every file."""
    old = str(tmp_path / "env")
    root = tmp_path / deploy if deploy != "sub/env" else tmp_path / "sub" / old[1:]
    root.mkdir(parents=True)
    text = f"prefix={old}:{old}/lib\n".encode()
    binary = old.encode() + b"/lib:" + old.encode() + b"/x\x00" + bytes(200) + b"end"
    (root / "tool").write_bytes(text)
    (root / "lib.so").write_bytes(binary)
    files = [("lib.so", "binary"), ("tool", "text")]
    rooms = {"lib.so": len(old) + 90}
    assert _run(root, old, files, rooms).startswith("0:")
    new = str(root)
    once_text, once_binary = (root / "tool").read_bytes(), (root / "lib.so").read_bytes()
    assert once_text == f"prefix={new}:{new}/lib\n".encode()
    assert once_binary.startswith(new.encode() + b"/lib:" + new.encode() + b"/x\x00")
    assert _run(root, old, files, rooms).startswith("0:")
    assert (root / "tool").read_bytes() == once_text
    assert (root / "lib.so").read_bytes() == once_binary


def test_a_listed_path_that_is_a_directory_changes_nothing(tmp_path: Path) -> None:
    """Protects `conda.unpack.main`: a listed path that is a directory (or a FIFO, which
    blocked the run) is refused before any file is written. Before, the text files listed
    ahead of it were rewritten and the run ended in an IsADirectoryError traceback: a
    half-relocated prefix."""
    old, root = "/opt/mlenv/x", tmp_path / "env"
    (root / "share" / "doc").mkdir(parents=True)
    (root / "a.sh").write_bytes(f"{old}/bin\n".encode())
    os.mkfifo(root / "b.pipe")
    out = _run(root, old, [("a.sh", "text"), ("b.pipe", "text"), ("share/doc", "text")], {})
    assert out.startswith("1:") and "Traceback" not in out
    assert "share/doc" in out and "b.pipe" in out
    assert (root / "a.sh").read_bytes() == f"{old}/bin\n".encode()


def test_root_keeps_each_file_s_owner(tmp_path: Path) -> None:
    """Protects `conda.unpack._write`: run as root (a Dockerfile's RUN after chown -R), a
    rewritten file keeps its owner, group and setuid/setgid bits. Before, it became root's,
    and the environment's user could no longer change it."""
    assert os.geteuid() == 0, "this test's shape is conda-unpack run as root"
    old, root = "/opt/mlenv/x", tmp_path / "env"
    root.mkdir()
    tool = root / "tool"
    tool.write_bytes(f"{old}/bin\n".encode())
    os.chown(tool, 1000, 1001)
    tool.chmod(0o6755)
    assert _run(root, old, [("tool", "text")], {}).startswith("0:")
    done = tool.stat()
    assert (done.st_uid, done.st_gid, done.st_mode & 0o7777) == (1000, 1001, 0o6755)
    assert tool.read_bytes() == f"{root}/bin\n".encode()


# CUDA 12.5 Update 1's libraries per NVIDIA's redistrib_12.5.1.json (read in NixOS/nixpkgs@
# 32fda54dd307f8c90d9974b7c4d71599961a412a:pkgs/development/cuda-modules/cuda/manifests/
# redistrib_12.5.1.json); the GA's per the cuda-toolkit==12.5.0 wheel's pins
GA_12_5, UPDATE_12_5_1 = "555.42.02", "555.42.06"
WHEELS_12_5 = [
    ("nvidia-cublas-cu12", "12.5.2.13", "12.5.3.2"),
    ("nvidia-cufft-cu12", "11.2.3.18", "11.2.3.61"),
    ("nvidia-curand-cu12", "10.3.6.39", "10.3.6.82"),
    ("nvidia-cusolver-cu12", "11.6.2.40", "11.6.3.83"),
    ("nvidia-cusparse-cu12", "12.4.1.24", "12.5.1.3"),
    ("nvidia-npp-cu12", "12.3.0.116", "12.3.0.159"),
    ("nvidia-nvjitlink-cu12", "12.5.40", "12.5.82"),
    ("nvidia-nvjpeg-cu12", "12.3.2.38", "12.3.2.81"),
    ("nvidia-nvfatbin-cu12", "12.5.39", "12.5.82"),
]


@pytest.mark.parametrize(("name", "ga", "update"), WHEELS_12_5)
def test_cuda_12_5_update_1_libraries_need_its_driver(name: str, ga: str, update: str) -> None:
    """Protects the 12.5.1 component rows of ``data/cuda.json``: nvidia-cublas-cu12==12.5.3.2
    is CUDA 12.5 Update 1's cuBLAS, so a fleet on the GA's 555.42.02 is warned. Before, only
    Update 1's tools and runtime had rows: its cuBLAS, cuFFT, cuRAND, NPP, nvJitLink, nvJPEG and
    nvFatbin read as the GA (555.42.02 passed silently), its cuSOLVER and cuSPARSE as 'CUDA
    12.x'."""
    for version, release in ((ga, "12.5.0"), (update, "12.5.1")):
        need = extract(name, version)
        assert need is not None
        assert (str(need.cuda), need.release) == ("12.5", release), (name, version)
        for driver in (GA_12_5, UPDATE_12_5_1):
            target = CudaTarget(CudaVersion.parse("12.5"), DriverVersion.parse(driver))
            found = judge(target, [PackageNeed(name, version, need)])
            codes = [(finding.severity, finding.code) for finding in found]
            behind = release == "12.5.1" and driver == GA_12_5
            assert codes == ([("warning", "driver-minor-compat")] if behind else []), codes


URL = "https://attack118.invalid/simple"


def _lock(wheels: list[tuple[str, bytes]], roots: list[str]) -> None:
    deps = ", ".join(f'"{r}"' for r in roots)
    manifest = (
        '[environment]\nname = "d"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        f'glibc = "2.28"\n[pypi]\nindex-url = "{URL}"\ndependencies = [{deps}]\n'
    )
    sources = Sources(MemoryIndex(URL, dict(wheels)), (URL,), ())
    lock_manifest(loads(manifest), sources, reporter=MemoryReporter())


def test_a_release_another_requirement_excludes_is_not_the_cause() -> None:
    """Protects `resolver.resolve.resolve`'s reading of a failure after an unreadable release: b
    3.0's broken line is not why the lock fails when a's ``b!=3.0`` excludes b 3.0 anyway; the
    conflict (b>2.5 beside b!=3.0) is. Before, the resolver stopped at the root's b>2.5 (b 2.0
    too old) before reading a, so the only failing requirement admitted b 3.0 and the lock
    blamed its metadata: excluding b 3.0, as the hint said, fixed nothing."""
    wheels = [
        build_wheel("a", "1.0", requires_dist=["b!=3.0"]),
        build_wheel("b", "3.0", requires_dist=["c (>=1.0"]),
        build_wheel("b", "2.0"),
    ]
    with pytest.raises(ResolutionError) as info:
        _lock(wheels, ["a", "b>2.5"])
    assert not isinstance(info.value, MetadataError)
    assert "b!=3.0" in info.value.message and "b>2.5" in info.value.message


def test_unpacked_under_the_build_prefix_every_occurrence_is_relocated(tmp_path: Path) -> None:
    """Protects `conda.unpack._hits`: unpacked at a directory under the build prefix
    (/opt/env/lib for /opt/env), the build prefix's own /opt/env/lib/... is not mistaken for
    the new prefix: the first run relocates it."""
    old = str(tmp_path / "env")
    root = tmp_path / "env" / "lib"
    root.mkdir(parents=True)
    (root / "tool").write_bytes(f"{old}/lib/python3.11\n".encode())
    assert _run(root, old, [("tool", "text")], {}).startswith("0:")
    assert (root / "tool").read_bytes() == f"{root}/lib/python3.11\n".encode()


def test_a_lock_from_before_the_12_5_1_rows_is_rewritten_by_plain_lock(tmp_path: Path) -> None:
    """Protects ``cuda_fields.rederived`` for the rows above: a lock an earlier mlenv wrote,
    nvidia-cublas-cu12 12.5.3.2 and [target] at the GA's 555.42.02, is refused by verify and
    rewritten by a plain (offline) `mlenv lock` at 555.42.06, no pin moved."""
    manifest = (
        '[environment]\nname = "e"\npython = "3.11"\nplatforms = ["linux-64"]\n'
        '[pypi]\ndependencies = ["nvidia-cublas-cu12"]\n'
        f'[cuda]\nversion = "12.5"\ndriver-floor = "{GA_12_5}"\n'
    )
    made = loads(manifest)
    entry = locked("nvidia-cublas-cu12", "12.5.3.2", cuda="12.5", requires_driver=GA_12_5)
    target = dataclasses.replace(target_of(made), requires_driver=GA_12_5)
    old = Lock(lockfile_fresh.inputs_hash(made), target).with_platforms(
        [LockedPlatform("linux-64", (entry,), ())]
    )
    (tmp_path / "mlenv.toml").write_text(manifest)
    (tmp_path / "mlenv.lock").write_text(lockfile_render.render(old))
    cache = str(tmp_path / "cache")
    verify = run_mlenv(["--cache", cache, "verify"], cwd=tmp_path)
    shown = verify.stdout + verify.stderr
    assert verify.returncode == 1 and "lock-driver-mismatch" in shown, shown
    relock = run_mlenv(["--cache", cache, "lock", "--offline"], cwd=tmp_path)
    assert relock.returncode == 0, relock.stdout + relock.stderr
    fixed = lockfile_read.loads((tmp_path / "mlenv.lock").read_text(), "mlenv.lock")
    (pin,) = [package for _, package in fixed.packages()]
    assert (pin.name, pin.version, pin.sha256) == (entry.name, entry.version, entry.sha256)
    assert pin.requires_driver == fixed.target.requires_driver == UPDATE_12_5_1
    again = run_mlenv(["--cache", cache, "verify"], cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
