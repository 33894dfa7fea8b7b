"""A mixed conda + PyPI environment end to end: lock with __cuda, fetch, build twice
byte-identically, unpack the conda-pack archive elsewhere, relocate it, run it."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from mlenv.cache import MEMO
from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.conda_channel import write_channel
from tests.support.conda_project import channel_packages
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.integration


def write_project(root: Path, cuda: str, floor: str) -> dict[str, str]:
    channel = write_channel(root / "channel", channel_packages())
    index = write_simple_index(
        root / "pypi",
        [
            build_wheel("app", "1.0", requires_dist=["fastmath>=2", "tinylib"],
                        files={"app/__init__.py": b"import fastmath, tinylib\n"
                                                  b"def run():\n    return fastmath.twice(21)\n"},
                        entry_points="[console_scripts]\napp = app:run\n"),
            build_wheel("fastmath", "9.9", files={"fastmath/__init__.py": b"raise Bad\n"}),
            build_wheel("tinylib", "0.3", files={"tinylib/__init__.py": b""}),
        ],
    )  # fmt: skip
    project = root / "project"
    project.mkdir()
    (project / "mlenv.toml").write_text(
        '[environment]\nname = "mixed"\npython = "3.11"\nprefix = "/opt/mlenv/mixed"\n'
        f'[cuda]\nversion = "{cuda}"\ndriver-floor = "{floor}"\n'
        f'[conda]\nchannels = ["{channel}"]\n'
        'dependencies = ["python 3.11.*", "fastmath", "libgpu"]\n'
        f'[pypi]\nindex-url = "{index}"\ndependencies = ["app"]\n'
    )
    return {"MLENV_CACHE_DIR": str(root / "cache")}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mixed")
    env = write_project(root, "12.4", "550.54.14")
    project = root / "project"
    for args in (["lock"], ["fetch"]):
        result = run_mlenv(args, project, env)
        assert result.returncode == 0, (args, result.stderr)
    return project, env


def test_a_lock_with_a_conda_solve_is_never_remembered(mixed: tuple[Path, dict[str, str]]) -> None:
    """The solve runs in a child process, whose reads of the channel no stamp covers."""
    _, env = mixed
    memo = Path(env["MLENV_CACHE_DIR"]) / MEMO
    assert not memo.exists() or not list(memo.iterdir())


def test_lock_holds_both_parts_and_conda_wins_shared_names(
    mixed: tuple[Path, dict[str, str]],
) -> None:
    project, _ = mixed
    lock = load_lock((project / "mlenv.lock").read_text())
    platform = lock.platform("linux-64")
    assert sorted(c.name for c in platform.conda) == ["fastmath", "libgpu", "python"]
    # fastmath comes from conda (2.1); PyPI's 9.9 is never installed as a second copy.
    assert sorted(p.name for p in platform.packages) == ["app", "tinylib"]
    libgpu = next(c for c in platform.conda if c.name == "libgpu")
    assert libgpu.cuda == "12.4" and len(libgpu.sha256) == 64 and libgpu.md5
    assert lock.target.requires_driver == "550.54.14"


def test_cuda_too_old_for_a_conda_package_is_explained(tmp_path: Path) -> None:
    env = write_project(tmp_path, "12.1", "530.30.02")
    result = run_mlenv(["lock"], tmp_path / "project", env)
    assert result.returncode == 1
    assert "needs __cuda >=12.4, the manifest targets CUDA 12.1" in result.stderr
    assert "Traceback" not in result.stderr


def test_exports_of_the_conda_part(mixed: tuple[Path, dict[str, str]]) -> None:
    project, env = mixed
    explicit = run_mlenv(["export", "--format", "explicit"], project, env)
    assert explicit.returncode == 0, explicit.stderr
    lines = explicit.stdout.splitlines()
    assert "@EXPLICIT" in lines
    urls = [line for line in lines if line.startswith("file://")]
    assert len(urls) == 3 and all("#" in u and len(u.split("#")[1]) == 64 for u in urls)
    conda_lock = run_mlenv(["export", "--format", "conda-lock", "-o", "conda-lock.yml"], project,
                           env)  # fmt: skip
    assert conda_lock.returncode == 0, conda_lock.stderr
    import conda_lock as _  # noqa: F401  (conda_lock.lockfile needs the package imported first)
    from conda_lock.lockfile import parse_conda_lock_file

    parsed = parse_conda_lock_file(project / "conda-lock.yml")
    assert sorted(p.name for p in parsed.package) == ["fastmath", "libgpu", "python"]


def test_builds_twice_identically_then_unpacks_relocates_and_runs(
    mixed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, env = mixed
    built = run_mlenv(["build", "--offline", "--check"], project, env)
    assert built.returncode == 0, built.stderr
    assert "check: two builds are byte-identical" in built.stderr
    record = json.loads((project / "dist" / "build.json").read_text())
    archive = project / "dist" / record["outputs"]["conda-pack"]["file"]
    target = tmp_path / "site" / "mixed"
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(target, filter="tar")
    assert "conda-meta/fastmath-2.1-py311_0.json" in names
    assert "CACHEDIR.TAG" not in names
    meta = json.loads((target / "conda-meta" / "fastmath-2.1-py311_0.json").read_text())
    assert "extracted_package_dir" not in meta and "link" not in meta
    assert (target / "share/fastmath/prefix.txt").read_text() == "/opt/mlenv/mixed\n"
    unpack = subprocess.run([str(target / "bin" / "conda-unpack")], capture_output=True, text=True)
    assert unpack.returncode == 0, unpack.stderr
    assert (target / "share/fastmath/prefix.txt").read_text() == f"{target}\n"
    ran = subprocess.run(
        [str(target / "bin" / "python"), "-c",
         "import app, sys; print(app.run(), sys.prefix == sys.argv[1])", str(target)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.stdout == "42 True\n", ran.stderr
    entry = subprocess.run([str(target / "bin" / "app")], capture_output=True, text=True)
    assert (entry.returncode, entry.stderr) == (42, "")  # run() returns 42 to sys.exit
