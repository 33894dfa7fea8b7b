"""A per-package layered image in real engines: skopeo reads it, umoci stacks the layers into a
rootfs where the environment runs, and a registry receives only the changed layer on a bump."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.base_image import base_image_layout
from tests.support.cli import run_mlenv
from tests.support.daemons import registry
from tests.support.engines import skopeo_inspect, tool
from tests.support.layered import PACKAGES, configure, layered_project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden fixture and four more packages (one over 16 MiB) onto the Debian 12 base."""
    project = layered_project(tmp_path_factory.mktemp("layered") / "project", '"auto"')
    build_offline(project, "1.0")
    return project


def build_offline(project: Path, alpha: str) -> dict[str, Any]:
    configure(project, '"auto"', alpha, f'base-image = "{base_image_layout()}"\n')
    cache = {"MLENV_CACHE_DIR": str(project.parent / "cache")}
    result = run_mlenv(["build", "--offline"], project, cache)
    assert result.returncode == 0, result.stderr
    record: dict[str, Any] = json.loads((project / "dist" / "build.json").read_text())
    return record


def test_skopeo_sees_the_base_layer_then_one_per_plan(project: Path) -> None:
    config: dict[str, Any] = skopeo_inspect(f"oci:{project / 'dist' / 'oci'}:latest")
    record = json.loads((project / "dist" / "build.json").read_text())["outputs"]["oci"]
    layers = record["layers"]
    assert config["rootfs"]["diff_ids"] == [layer["diff-id"] for layer in layers]
    assert "layer" not in layers[0]  # the base's
    assert [layer["layer"] for layer in layers[1:3]] == ["skeleton", "big"]
    assert len(layers) >= 4
    history = [h["created_by"] for h in config["history"]]
    assert history[1:] == [f"mlenv build: golden: {layer['layer']}" for layer in layers[1:]]


def test_umoci_stacks_the_layers_and_every_package_runs(project: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    unpack = subprocess.run(
        [tool("umoci", "umoci"), "unpack", "--image", f"{project / 'dist' / 'oci'}:latest",
         str(bundle)], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert unpack.returncode == 0, unpack.stderr
    prefix = "/opt/mlenv/golden"
    code = f"import {', '.join(PACKAGES)}, sys; print(alpha.VERSION, hello.greet(), sys.prefix)"
    ran = subprocess.run(
        ["chroot", str(bundle / "rootfs"), f"{prefix}/bin/python", "-c", code],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.stdout == f"1.0 hello {prefix}\n", ran.stderr
    for script, expected in (("hello", (1, "hello\n")), ("beta", (0, ""))):
        entry = subprocess.run(
            ["chroot", str(bundle / "rootfs"), f"{prefix}/bin/{script}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert (entry.returncode, entry.stderr) == expected


def test_a_bump_pushes_only_its_layer_and_the_config(project: Path) -> None:
    env = {"MLENV_CACHE_DIR": str(project.parent / "cache")}
    with registry() as served:
        ref = f"{served.host}/team/golden:1"
        first = run_mlenv(["push", "--insecure", ref], project, env)
        assert first.returncode == 0, first.stderr
        record = build_offline(project, "1.1")
        second = run_mlenv(["push", "--insecure", ref], project, env)
        assert second.returncode == 0, second.stderr
        layers = record["outputs"]["oci"]["layers"]
        pushed = re.search(r"pushed (\d+) blob\(s\) \((\d+) bytes\), (\d+) already there",
                           second.stderr)  # fmt: skip
        assert pushed is not None, second.stderr
        assert (int(pushed[1]), int(pushed[3])) == (2, len(layers) - 1)
        inspected = subprocess.run(
            [tool("skopeo", "skopeo"), "inspect", "--tls-verify=false", f"docker://{ref}"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert inspected.returncode == 0, inspected.stderr
        digest = record["outputs"]["oci"]["manifest-digest"]
        assert json.loads(inspected.stdout)["Digest"] == digest
