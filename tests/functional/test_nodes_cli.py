"""`mlenv verify --nodes` and `mlenv export --format k8s-affinity` end to end: exit codes 0, 1
and 3, --selector, --json, stdin, and the affinity's YAML."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlenv.build_record import BuildRecord, ImageOutput, ImageTar, LayerRecord
from tests.support.cli import run_mlenv
from tests.support.k8s import admits

CLUSTER = Path(__file__).parents[2] / "fixtures" / "nodes" / "cluster.json"
MANIFEST = """\
[environment]
name = "fleet"
python = "3.11"
[cuda]
version = "12.4"
driver-floor = "550.54.14"
archs = ["sm_80", "sm_90"]
[pypi]
index-url = "file:///nonexistent"
dependencies = []
"""


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlenv.toml").write_text(MANIFEST)
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
    locked = run_mlenv(["lock"], root, env)
    assert locked.returncode == 0, locked.stderr
    return root, env


def test_a_failing_node_fails_the_check(project: tuple[Path, dict[str, str]]) -> None:
    """Guards exit 1 and the per-node table with reasons on the documented cluster."""
    root, env = project
    result = run_mlenv(["verify", "--nodes", str(CLUSTER)], root, env)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "the lock needs driver 550.54.14 or newer; 7 of 7 node(s) selected"
    assert "OK            gpu-a100-0  NVIDIA-A100-SXM4-80GB x8, driver 550.90.07, sm_80" in lines
    assert any(line.startswith("FAIL          gpu-t4-0") for line in lines)
    assert "  ERROR   driver-below-toolkit: driver 535.104.05 (checked) is below 550.54.14, " in (
        result.stdout
    )
    assert any(line.startswith("CANNOT JUDGE  cpu-0") for line in lines)
    assert lines[-1] == "FAIL: 3 node(s) cannot run the lock, 2 can, 2 cannot be judged"


def test_a_selector_of_good_nodes_passes(project: tuple[Path, dict[str, str]]) -> None:
    """Guards --selector (set-based and exists) and exit 0."""
    root, env = project
    args = ["verify", "--nodes", str(CLUSTER), "-l", "pool in (a100, h100), nvidia.com/gpu.count"]
    result = run_mlenv(args, root, env)
    assert result.returncode == 0, result.stdout
    assert (
        result.stdout.splitlines()[-1]
        == "OK: 0 node(s) cannot run the lock, 2 can, 0 cannot be judged"
    )


def test_nothing_judgeable_is_exit_3(project: tuple[Path, dict[str, str]]) -> None:
    """Guards exit 3 when no selected node carries GFD labels (and when none is selected)."""
    root, env = project
    unlabelled = run_mlenv(
        ["verify", "--nodes", str(CLUSTER), "-l", "!nvidia.com/gpu.count"], root, env
    )
    assert unlabelled.returncode == 3, unlabelled.stdout
    none = run_mlenv(["verify", "--nodes", str(CLUSTER), "-l", "pool=none"], root, env)
    assert none.returncode == 3
    assert "0 of 7 node(s) selected" in none.stdout


def test_json_and_stdin(project: tuple[Path, dict[str, str]]) -> None:
    """Guards --json's shape and reading `kubectl get nodes -o json | mlenv verify --nodes -`."""
    root, env = project
    result = subprocess.run(
        [sys.executable, "-m", "mlenv", "verify", "--json", "--nodes", "-", "-l", "pool=t4"],
        cwd=root,
        env={**os.environ, **env},
        input=CLUSTER.read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["status"] == "fail"
    assert data["requires-driver"] == "550.54.14"
    [node] = data["nodes"]
    assert node["name"] == "gpu-t4-0"
    assert node["gpu"] == {
        "driver": "535.104.05",
        "arch": "sm_75",
        "product": "Tesla-T4",
        "count": "1",
        "cuda": None,  # deprecated-only labels carry no runtime-version.full
    }
    assert [f["code"] for f in node["findings"]] == ["driver-below-toolkit", "node-arch-undeclared"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--selector", "pool in a100"], "--selector: expected '(' to open the value set"),
        (["--driver", "550.54.14"], "--driver, --host and --nodes exclude each other"),
    ],
)
def test_usage_errors(project: tuple[Path, dict[str, str]], args: list[str], message: str) -> None:
    """Guards clear exit-1 errors for a bad selector and conflicting options."""
    root, env = project
    result = run_mlenv(["verify", "--nodes", str(CLUSTER), *args], root, env)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_selector_without_nodes_is_an_error(project: tuple[Path, dict[str, str]]) -> None:
    """Guards against a --selector silently ignored."""
    root, env = project
    result = run_mlenv(["verify", "-l", "pool=a100"], root, env)
    assert result.returncode == 1
    assert "--selector chooses among --nodes" in result.stderr


def test_a_stale_lock_is_refused(project: tuple[Path, dict[str, str]]) -> None:
    """Guards that nodes are never judged against a lock the manifest no longer describes."""
    root, env = project
    (root / "mlenv.toml").write_text(MANIFEST.replace('"sm_80", ', ""))
    result = run_mlenv(["verify", "--nodes", str(CLUSTER)], root, env)
    assert result.returncode == 1
    assert "the lock is stale" in result.stderr


def test_export_k8s_affinity(project: tuple[Path, dict[str, str]]) -> None:
    """Guards the exported stanza end to end: valid YAML that admits the good nodes only."""
    root, env = project
    result = run_mlenv(["export", "--format", "k8s-affinity"], root, env)
    assert result.returncode == 0, result.stderr
    affinity = yaml.safe_load(result.stdout)
    nodes = json.loads(CLUSTER.read_text())["items"]
    admitted = [n["metadata"]["name"] for n in nodes if admits(affinity, n["metadata"]["labels"])]
    assert admitted == ["gpu-a100-0", "gpu-h100-0"]


@pytest.mark.parametrize("intact", [True, False])
def test_an_image_is_checked_against_its_build_before_the_nodes(
    project: tuple[Path, dict[str, str]], intact: bool
) -> None:
    """Guards `verify dist/image.tar --nodes`: the nodes judge the lock only once the image is
    shown to be this lock's build; a changed image fails even when every node passes."""
    root, env = project
    dist = root / "dist"
    dist.mkdir()
    (dist / "image.tar").write_bytes(b"image bytes")
    digest = hashlib.sha256(b"image bytes" if intact else b"other").hexdigest()
    layer = f"sha256:{'0' * 64}"
    image = ImageOutput(
        "oci",
        "latest",
        layer,
        layer,
        (LayerRecord(layer, layer),),
        ImageTar("image.tar", digest, 11, "env:latest"),
    )
    lock_sha256 = hashlib.sha256((root / "mlenv.lock").read_bytes()).hexdigest()
    record = BuildRecord("0", lock_sha256, "linux-64", 0, "gzip", {}, image, None, None)
    (dist / "build.json").write_text(json.dumps(record.to_dict()))
    args = ["verify", str(dist / "image.tar"), "--nodes", str(CLUSTER), "-l", "pool=a100"]
    result = run_mlenv(args, root, env)
    assert result.returncode == (0 if intact else 1), result.stdout + result.stderr
    assert ("output-digest-mismatch" in result.stdout) is not intact
    assert "OK            gpu-a100-0" in result.stdout
