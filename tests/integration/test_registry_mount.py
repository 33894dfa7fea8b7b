"""Cross-repository blob mounts against a real registry (Debian's docker-registry): a bundle
pushed to a new repository takes the wheels the fleet's shared cache already holds by mount
(`POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<cache>`), and an image pushed under a
second name with --mount-from uploads no layer; the access log counts every upload."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.bundle_wheels import WHEELS
from tests.support.cli import run_mlenv
from tests.support.daemons import Access, Registry
from tests.support.wheels import write_simple_index

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, reg: Registry) -> tuple[Path, dict[str, str], list[str]]:
    url = write_simple_index(tmp_path / "www", WHEELS)
    root = tmp_path / "project"
    root.mkdir()
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "m"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
        f'[pypi]\nindex-url = "{url}"\ndependencies = ["app"]\n[build]\noutputs = ["oci"]\n'
    )
    env = {
        "MLENV_CACHE_DIR": str(tmp_path / "cache"),
        "MLENV_CACHE_REGISTRY": f"oci://{reg.host}/mlenv/cache",
    }
    assert run_mlenv(["lock"], root, env).returncode == 0
    lock = (root / "mlenv.lock").read_text()
    wheels = [f"sha256:{m}" for m in re.findall(r'sha256 = "([0-9a-f]{64})"', lock)]
    assert len(wheels) == 2
    return root, env, wheels


def uploads_of(accesses: list[Access], repository: str) -> list[str]:
    """Digests whose upload into ``repository`` completed (the closing PUT)."""
    return [
        a.path.split("digest=", 1)[1].split("&", 1)[0].replace("%3A", ":")
        for a in accesses
        if a.method == "PUT" and a.path.startswith(f"/v2/{repository}/blobs/uploads/")
    ]


def mounts_into(accesses: list[Access], repository: str) -> list[Access]:
    return [
        a
        for a in accesses
        if a.method == "POST"
        and a.path.startswith(f"/v2/{repository}/blobs/uploads/?")
        and "mount=" in a.path
        and a.status == 201
    ]


def test_a_bundle_mounts_the_wheels_the_shared_cache_holds(
    reg: Registry, project: tuple[Path, dict[str, str], list[str]]
) -> None:
    """Guards the mount from the shared cache: after `--push-cache` put the lock's blobs into
    the cache repository, a bundle pushed to another repository uploads none of them."""
    root, env, wheels = project
    published = run_mlenv(["fetch", "--push-cache", "--insecure"], root, env)
    assert published.returncode == 0, published.stderr
    assert set(wheels) <= set(uploads_of(reg.accesses(), "mlenv/cache"))
    bundle = run_mlenv(
        ["fetch", "--bundle", f"oci://{reg.host}/ship/env:1", "--insecure"], root, env
    )
    assert bundle.returncode == 0, bundle.stderr
    accesses = reg.accesses()
    # the cache holds this very lock's bundle: wheels, mlenv.toml, mlenv.lock, empty config
    assert uploads_of(accesses, "ship/env") == []
    mounted = {
        a.path.split("mount=", 1)[1].split("&", 1)[0] for a in mounts_into(accesses, "ship/env")
    }
    assert {w.replace(":", "%3A") for w in wheels} <= mounted and len(mounted) == 5
    assert "0 blob(s) uploaded (0 bytes), 5 mounted from other repositories" in bundle.stderr
    # what was mounted reads back and verifies as any bundle does
    pulled = run_mlenv(
        ["fetch", "--from", f"oci://{reg.host}/ship/env:1", "--insecure"],
        root,
        {"MLENV_CACHE_DIR": str(root.parent / "fresh")},
    )
    assert pulled.returncode == 0, pulled.stderr
    assert "2 fetched" in pulled.stderr


def test_an_image_pushed_under_a_second_name_mounts_every_blob(
    reg: Registry, project: tuple[Path, dict[str, str], list[str]]
) -> None:
    """Guards `push --mount-from`: the second repository gets config and layers by mount,
    nothing uploaded, and the same manifest digest."""
    root, env, _ = project
    for step in (["fetch", "--insecure"], ["build", "--offline"]):
        done = run_mlenv(step, root, env)
        assert done.returncode == 0, done.stderr
    first = run_mlenv(["push", f"{reg.host}/team/img:1", "--insecure"], root, env)
    assert first.returncode == 0, first.stderr
    second = run_mlenv(
        ["push", f"{reg.host}/other/img:1", "--insecure", "--mount-from", f"{reg.host}/team/img"],
        root,
        env,
    )
    assert second.returncode == 0, second.stderr
    accesses = reg.accesses()
    assert uploads_of(accesses, "other/img") == []
    assert len(mounts_into(accesses, "other/img")) >= 2  # config and the layer(s)
    assert second.stdout.split("@")[1] == first.stdout.split("@")[1]
    assert "pushed 0 blob(s)" in second.stderr
