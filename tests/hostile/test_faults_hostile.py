"""Faults: SIGKILL at points spread over `lock`, `fetch` and `build`, a full disk, and two builds
at once. Afterwards the lock, the cache, the bundle and dist/ hold the old complete state or the
new complete state, the next run succeeds, and nothing half-written is left beside them."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlenv.cache import LAYERS
from mlenv.cache.artifacts import PARTIAL, ArtifactCache
from mlenv.cache.held import hash_file
from mlenv.cache.lock_artifacts import artifacts_of
from mlenv.commands.build import output_digests
from mlenv.lockfile_read import loads as load_lock
from tests.support.cli import run_mlenv
from tests.support.faultpoints import Held, changes, points, renames, run_killed
from tests.support.golden import build, golden_project
from tests.support.httpserver import IndexServer
from tests.support.mounts import tmpfs
from tests.support.wheels import build_wheel, write_simple_index

pytestmark = pytest.mark.hostile

KILLS = 10
WHEELS = [
    build_wheel("app", "1.0", requires_dist=["lib"], files={"app/__init__.py": b"x = 1\n"}),
    build_wheel("lib", "1.0", files={"lib/__init__.py": b"", "lib/blob.bin": bytes(300_000)}),
    build_wheel("lib", "2.0", files={"lib/__init__.py": b"", "lib/blob.bin": bytes(400_000)}),
    build_wheel("tool", "1.0", files={"tool/__init__.py": b"y = 2\n"}),
]
OLD_DEPENDENCIES, NEW_DEPENDENCIES = '"app", "lib<2"', '"app", "tool"'


def write_manifest(root: Path, index_url: str, dependencies: str) -> None:
    (root / "mlenv.toml").write_text(
        '[environment]\nname = "k"\npython = "3.11"\n'
        f'[pypi]\nindex-url = "{index_url}"\ndependencies = [{dependencies}]\n'
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IndexServer]:
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www") as running:
        yield running


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr


def beside(path: Path) -> list[str]:
    """What the directory holding ``path`` contains: half-written work shows up here."""
    return sorted(p.name for p in path.parent.iterdir())


def test_killed_lock_leaves_the_old_or_the_new_lock(tmp_path: Path, server: IndexServer) -> None:
    root = tmp_path / "project"
    root.mkdir()
    url = f"{server.url}/simple"
    write_manifest(root, url, OLD_DEPENDENCIES)
    ok(run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "warm")}))
    old = (root / "mlenv.lock").read_bytes()
    write_manifest(root, url, NEW_DEPENDENCIES)
    cold = {"MLENV_CACHE_DIR": str(tmp_path / "cold")}
    events = changes(["lock"], root, cold, tmp_path / "count")
    new = (root / "mlenv.lock").read_bytes()
    assert new != old
    for number, point in enumerate(points(events, KILLS, seed=1)):
        (root / "mlenv.lock").write_bytes(old)
        cache = {"MLENV_CACHE_DIR": str(tmp_path / f"cache-{number}")}  # cold, as counted
        run_killed(point, ["lock"], root, cache)
        assert (root / "mlenv.lock").read_bytes() in (old, new), point
        ok(run_mlenv(["lock"], root, cache))  # also reads what the kill left in the cache
        assert (root / "mlenv.lock").read_bytes() == new, point


def test_killed_fetch_leaves_old_or_new_cache_and_bundle(
    tmp_path: Path, server: IndexServer
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    url = f"{server.url}/simple"
    cache, bundle = tmp_path / "cache", tmp_path / "carry" / "bundle"
    env = {"MLENV_CACHE_DIR": str(cache)}
    write_manifest(root, url, OLD_DEPENDENCIES)
    ok(run_mlenv(["lock"], root, env))
    ok(run_mlenv(["fetch", "--bundle", str(bundle)], root, env))
    old_cache, old_bundle = tmp_path / "old-cache", tmp_path / "old-bundle"
    shutil.copytree(cache, old_cache)
    shutil.copytree(bundle, old_bundle)
    write_manifest(root, url, NEW_DEPENDENCIES)
    ok(run_mlenv(["lock"], root, env))
    artifacts = artifacts_of(load_lock((root / "mlenv.lock").read_text()))
    args = ["fetch", "-j", "1", "--bundle", str(bundle)]

    def reset() -> None:
        for copy, live in ((old_cache, cache), (old_bundle, bundle)):
            shutil.rmtree(live)
            shutil.copytree(copy, live)

    reset()
    events = changes(args, root, env, tmp_path / "count")
    states = {"old": output_digests(old_bundle), "new": output_digests(bundle)}
    assert states["old"] != states["new"]
    for point in points(events, KILLS, seed=2):
        reset()
        run_killed(point, args, root, env)
        assert output_digests(bundle) in states.values(), point
        for path in (cache / "artifacts-v1").rglob("*"):  # a stored artifact is a whole one
            if path.is_file() and not path.name.startswith(PARTIAL):
                assert hash_file(path) == path.name, (point, path)
        ok(run_mlenv(args, root, env))
        assert output_digests(bundle) == states["new"], point
        for artifact in artifacts:
            ArtifactCache(cache).copy_verified(artifact, None)
        assert not list(cache.rglob(f"{PARTIAL}*")), point
        assert beside(bundle) == ["bundle"], point


def test_killed_build_leaves_the_old_or_the_new_dist(tmp_path: Path) -> None:
    project = golden_project(tmp_path / "project")
    cache = tmp_path / "cache"
    ok(run_mlenv(["fetch"], project, {"MLENV_CACHE_DIR": str(cache)}))
    ok(build(project, cache, env={"SOURCE_DATE_EPOCH": "1000000000"}))
    old_dist = tmp_path / "old-dist"
    shutil.copytree(project / "dist", old_dist)
    env = {"MLENV_CACHE_DIR": str(cache), "SOURCE_DATE_EPOCH": ""}
    args = ["build", "--offline"]
    # Every run starts from the layer cache the counting run saw (no layer of this epoch yet),
    # so it makes the same changes, the layer cache's own included.
    layers = cache / LAYERS
    shutil.copytree(layers, tmp_path / "layers-before")
    events = changes(args, project, env, tmp_path / "count")
    states = {"old": output_digests(old_dist), "new": output_digests(project / "dist")}
    assert states["old"] != states["new"]
    listing = beside(project / "dist")
    for point in points(events, KILLS, seed=3):
        shutil.rmtree(project / "dist")
        shutil.copytree(old_dist, project / "dist")
        shutil.rmtree(layers)
        shutil.copytree(tmp_path / "layers-before", layers)
        run_killed(point, args, project, env)
        assert (project / "dist").is_dir() and output_digests(project / "dist") in (
            states.values()
        ), point
        ok(run_mlenv(args, project, env))
        assert output_digests(project / "dist") == states["new"], point
        assert beside(project / "dist") == listing, point


def test_two_builds_at_once_both_end_well_and_dist_is_whole(tmp_path: Path) -> None:
    """One build is held just before each of its renames while a second runs from start to
    end: every interleaving around the moments dist/ changes hands."""
    project = golden_project(tmp_path / "project")
    env = {"MLENV_CACHE_DIR": str(tmp_path / "cache"), "SOURCE_DATE_EPOCH": ""}
    ok(run_mlenv(["fetch"], project, env))
    args = ["build", "--offline"]
    ok(run_mlenv(args, project, env))
    events = changes(args, project, env, tmp_path / "count")  # replacing a dist, as below
    single = output_digests(project / "dist")
    listing = beside(project / "dist")
    for point in renames(events):
        with Held(point, args, project, env, tmp_path / f"held-{point[1]}") as held:
            second = run_mlenv(args, project, env)
        for code, stderr in ((second.returncode, second.stderr), (held.returncode, held.stderr)):
            assert "Traceback" not in stderr and "internal error" not in stderr, (point, stderr)
            assert code == 0 or (code == 1 and "error:" in stderr), (point, stderr)
        assert output_digests(project / "dist") == single, point
        assert beside(project / "dist") == listing, point


def test_a_full_cache_disk_is_a_clear_error_and_stores_nothing_partial(tmp_path: Path) -> None:
    noise = random.Random(0)
    wheels = [
        build_wheel(name, "1.0", files={f"{name}/blob.bin": noise.randbytes(1_200_000)})
        for name in ("big", "bigger")
    ]
    url = write_simple_index(tmp_path / "index", wheels)
    root = tmp_path / "project"
    root.mkdir()
    write_manifest(root, url, '"big", "bigger"')
    ok(run_mlenv(["lock"], root, {"MLENV_CACHE_DIR": str(tmp_path / "lock-cache")}))
    with tmpfs(tmp_path / "small", "2M") as disk:
        result = run_mlenv(["fetch", "-j", "1"], root, {"MLENV_CACHE_DIR": str(disk)})
        assert result.returncode == 1, result.stderr
        # the package whose download hit the full disk is named (attack 73)
        assert re.search(
            rf"error: {re.escape(str(disk))}: big(ger)? 1\.0: cannot write to the cache: "
            "No space left on device",
            result.stderr,
        ), result.stderr
        assert "Traceback" not in result.stderr
        stored = [p for p in (disk / "artifacts-v1").rglob("*") if p.is_file()]
        assert all(hash_file(p) == p.name for p in stored), stored  # whole files, no partials
        assert len(stored) == 1


def test_a_full_dist_disk_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    project = golden_project(tmp_path / "project")
    blob = random.Random(1).randbytes(1_500_000)
    name, data = build_wheel("hello", "2.0", files={"hello/__init__.py": b"", "hello/b": blob})
    (project / "wheels" / name).write_bytes(data)
    cache = tmp_path / "cache"
    env = {"MLENV_CACHE_DIR": str(cache)}
    ok(run_mlenv(["lock", "--upgrade"], project, env))
    ok(run_mlenv(["fetch"], project, env))
    with tmpfs(tmp_path / "small", "2M") as disk:
        result = run_mlenv(["build", "--offline", "-o", str(disk / "dist")], project, env)
        assert result.returncode == 1, result.stderr
        assert "No space left on device" in result.stderr and str(disk) in result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert list(disk.iterdir()) == []
