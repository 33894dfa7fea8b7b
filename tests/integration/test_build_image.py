"""The built image in the engines users run: skopeo, umoci + chroot, Docker, a registry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlenv.cuda.requirement import evaluate_requirement
from tests.support.base_image import base_image_layout
from tests.support.cli import run_mlenv
from tests.support.daemons import dockerd, registry
from tests.support.engines import skopeo_inspect, tool

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The golden fixture environment built onto the Debian 12 base image, with a CUDA target."""
    project = tmp_path_factory.mktemp("image") / "project"
    shutil.copytree(ROOT / "fixtures" / "golden", project)
    manifest = project / "mlenv.toml"
    manifest.write_text(
        manifest.read_text()
        + '[cuda]\nversion = "12.4"\ndriver-floor = "550.54.14"\n'
        + f'[build]\nbase-image = "{base_image_layout()}"\n'
    )
    env = {"MLENV_CACHE_DIR": str(project.parent / "cache")}
    for args in (["lock"], ["fetch"], ["build", "--offline"]):
        result = run_mlenv(args, project, env)
        assert result.returncode == 0, (args, result.stderr)
    return project, env


def test_skopeo_reads_layout_and_both_archive_kinds(built: tuple[Path, dict[str, str]]) -> None:
    project, _ = built
    dist = project / "dist"
    configs = [
        skopeo_inspect(f"oci:{dist / 'oci'}:latest"),
        skopeo_inspect(f"oci-archive:{dist / 'image.tar'}"),
        skopeo_inspect(f"docker-archive:{dist / 'image.tar'}"),
    ]
    assert configs[0] == configs[1] == configs[2]
    config = configs[0]
    record = json.loads((dist / "build.json").read_text())
    diff_ids = config["rootfs"]["diff_ids"]  # type: ignore[index]
    assert diff_ids[-1] == record["outputs"]["oci"]["layers"][-1]["diff-id"]
    assert len(diff_ids) == 2  # the base's layer, then the environment's
    env = dict(e.split("=", 1) for e in config["config"]["Env"])  # type: ignore[index]
    assert env["PATH"].startswith("/opt/mlenv/golden/bin:")
    assert env["VIRTUAL_ENV"] == "/opt/mlenv/golden"
    labels = config["config"]["Labels"]  # type: ignore[index]
    assert labels["dev.mlenv.lock-sha256"] == record["lock-sha256"]


def test_nvidia_require_cuda_admits_only_drivers_that_meet_the_lock(
    built: tuple[Path, dict[str, str]],
) -> None:
    project, _ = built
    config = skopeo_inspect(f"oci:{project / 'dist' / 'oci'}:latest")
    env = dict(e.split("=", 1) for e in config["config"]["Env"])  # type: ignore[index]
    requirement = env["NVIDIA_REQUIRE_CUDA"]
    assert requirement == "cuda>=12.4,driver>=550.54.14"
    # The container toolkit's semantics: `cuda` is the driver's CUDA version.
    assert evaluate_requirement(requirement, cuda="12.4", driver="550.54.14")
    assert evaluate_requirement(requirement, cuda="13.0", driver="580.65.06")
    assert not evaluate_requirement(requirement, cuda="12.2", driver="535.104.05")
    assert not evaluate_requirement(requirement, cuda="12.4", driver="550.40.07")


def test_umoci_unpacks_and_the_environment_runs_in_the_rootfs(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, _ = built
    bundle = tmp_path / "bundle"
    unpack = subprocess.run(
        [tool("umoci", "umoci"), "unpack", "--image", f"{project / 'dist' / 'oci'}:latest",
         str(bundle)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert unpack.returncode == 0, unpack.stderr
    rootfs = bundle / "rootfs"
    ran = subprocess.run(
        ["chroot", str(rootfs), "/opt/mlenv/golden/bin/python", "-c",
         "import hello, sys; print(hello.greet(), sys.prefix, sys.version_info[:2])"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.stdout == "hello /opt/mlenv/golden (3, 11)\n", ran.stderr
    entry = subprocess.run(
        ["chroot", str(rootfs), "/opt/mlenv/golden/bin/hello"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (entry.returncode, entry.stderr) == (1, "hello\n")


def test_docker_loads_and_runs_the_image(built: tuple[Path, dict[str, str]]) -> None:
    project, env = built
    with dockerd() as daemon:
        loaded = run_mlenv(["build", "--offline", "--load"], project, {**env,
                           "DOCKER_HOST": daemon.url})  # fmt: skip
        assert loaded.returncode == 0, loaded.stderr
        assert "loaded golden:latest into Docker" in loaded.stderr
        ran = daemon.docker("run", "--rm", "--network", "none", "golden:latest",
                            "python", "-c", "import hello; print(hello.greet())")  # fmt: skip
        assert ran.stdout == "hello\n", ran.stderr
        entry = daemon.docker("run", "--rm", "--network", "none", "golden:latest", "hello")
        assert (entry.returncode, entry.stderr) == (1, "hello\n")


def test_load_without_a_daemon_is_a_clear_error(
    built: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    project, env = built
    result = run_mlenv(["build", "--offline", "--load"], project,
                       {**env, "DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"})  # fmt: skip
    assert result.returncode == 1
    assert "no Docker daemon answers" in result.stderr
    assert "Traceback" not in result.stderr


def test_push_to_a_registry_and_read_it_back(built: tuple[Path, dict[str, str]]) -> None:
    project, env = built
    record = json.loads((project / "dist" / "build.json").read_text())
    with registry() as served:
        ref = f"{served.host}/team/golden:1"
        first = run_mlenv(["push", "--insecure", ref], project, env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip() == f"{ref}@{record['outputs']['oci']['manifest-digest']}"
        inspected = subprocess.run(
            [tool("skopeo", "skopeo"), "inspect", "--tls-verify=false", f"docker://{ref}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert inspected.returncode == 0, inspected.stderr
        assert json.loads(inspected.stdout)["Digest"] == record["outputs"]["oci"]["manifest-digest"]
        again = run_mlenv(["push", "--insecure", ref], project, env)
        assert "pushed 0 blob(s) (0 bytes), 3 already there" in again.stderr
