"""Bundles in a real OCI registry (Debian's docker-registry on loopback): `fetch --bundle
oci://` pushes every locked artifact under an mlenv artifact manifest, `fetch --from oci://`
fills an empty cache from it through the verified write, and an offline build from that cache
is byte-identical to one from the original index."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlenv.oci.bundle import ARTIFACT_TYPE, TITLE
from tests.support.bundle_wheels import WHEELS
from tests.support.cli import run_mlenv
from tests.support.daemons import Access, Registry, registry
from tests.support.httpserver import IndexServer
from tests.support.wheels import write_simple_index

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], IndexServer]]:
    write_simple_index(tmp_path / "www", WHEELS)
    with IndexServer(tmp_path / "www") as server:
        root = tmp_path / "project"
        root.mkdir()
        (root / "mlenv.toml").write_text(
            '[environment]\nname = "f"\npython = "3.11"\ninterpreter = "/usr/bin/python3.11"\n'
            f'[pypi]\nindex-url = "{server.url}/simple"\ndependencies = ["app"]\n'
            '[build]\noutputs = ["oci"]\n'
        )
        env = {"MLENV_CACHE_DIR": str(tmp_path / "cache")}
        locked = run_mlenv(["lock"], root, env)
        assert locked.returncode == 0, locked.stderr
        yield root, env, server


def uploads(accesses: list[Access]) -> list[Access]:
    """Blob uploads mlenv completed (PUT .../blobs/uploads/...?digest=...)."""
    return [
        a
        for a in accesses
        if a.agent.startswith("python-httpx") and a.method == "PUT" and "/blobs/uploads/" in a.path
    ]


def artifact_files(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "artifacts-v1").rglob("*") if p.is_file())


def test_push_then_fetch_from_then_offline_build_is_identical(
    reg: Registry, project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards the air-gap flow through a registry: what comes back from it builds the same
    bytes as what came from the index, and a second push uploads nothing."""
    root, env, _ = project
    ref = f"oci://{reg.host}/team/env:1"
    pushed = run_mlenv(["fetch", "--bundle", ref, "--insecure"], root, env)
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.strip().rpartition("@")[2]
    assert digest.startswith("sha256:")
    before = len(uploads(reg.accesses()))
    assert before == 5  # empty config, mlenv.toml, mlenv.lock and two wheels
    again = run_mlenv(["fetch", "--bundle", ref, "--insecure"], root, env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(digest)  # the same lock gives the same manifest
    assert len(uploads(reg.accesses())) == before  # a second push uploads 0 blobs
    assert "0 blob(s) uploaded" in again.stderr

    # The manifest is an mlenv artifact that ORAS-style clients can pull file by file.
    manifest_path = (
        reg.storage / "docker/registry/v2/blobs/sha256" / digest[7:9] / digest[7:] / "data"
    )
    manifest = json.loads(manifest_path.read_bytes())
    assert manifest["artifactType"] == ARTIFACT_TYPE
    titles = sorted(layer["annotations"][TITLE] for layer in manifest["layers"])
    assert titles == [
        "app-1.0-py3-none-any.whl",
        "lib-2.0-py3-none-any.whl",
        "mlenv.lock",
        "mlenv.toml",
    ]

    # An empty cache filled from the registry only (by digest), then an offline build.
    remote_env = {"MLENV_CACHE_DIR": str(tmp_path / "remote-cache")}
    pulled = run_mlenv(
        ["fetch", "--from", f"oci://{reg.host}/team/env@{digest}", "--insecure"], root, remote_env
    )
    assert pulled.returncode == 0, pulled.stderr
    assert "2 fetched" in pulled.stderr
    original = run_mlenv(["build", "--offline", "-o", str(tmp_path / "a")], root, env)
    assert original.returncode == 0, original.stderr
    rebuilt = run_mlenv(["build", "--offline", "-o", str(tmp_path / "b")], root, remote_env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    record_a = json.loads((tmp_path / "a" / "build.json").read_bytes())
    record_b = json.loads((tmp_path / "b" / "build.json").read_bytes())
    assert record_a == record_b
    assert (tmp_path / "a" / "image.tar").read_bytes() == (
        tmp_path / "b" / "image.tar"
    ).read_bytes()


def test_a_tampered_blob_in_the_registry_is_refused(
    reg: Registry, project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards the verified write on the way back: a registry serving other bytes for a
    digest (its storage edited) leaves nothing of that artifact in the cache."""
    root, env, _ = project
    ref = f"oci://{reg.host}/team/tampered:1"
    assert run_mlenv(["fetch", "--bundle", ref, "--insecure"], root, env).returncode == 0
    lock = (root / "mlenv.lock").read_text()
    lib_sha = lock.split('name = "lib"', 1)[1].split('sha256 = "', 1)[1].split('"', 1)[0]
    data = reg.storage / "docker/registry/v2/blobs/sha256" / lib_sha[:2] / lib_sha / "data"
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, one bit flipped
    try:
        cache = tmp_path / "victim-cache"
        result = run_mlenv(
            ["fetch", "--from", ref, "--insecure"], root, {"MLENV_CACHE_DIR": str(cache)}
        )
    finally:
        data.write_bytes(original)
    assert result.returncode == 1, result.stderr
    assert f"sha256 {lib_sha}" not in result.stderr.split("the lock says")[0]
    assert f"the lock says {lib_sha}" in result.stderr and "Traceback" not in result.stderr
    assert lib_sha not in [p.name for p in artifact_files(cache)]
    assert not [p for p in artifact_files(cache) if p.name.startswith(".partial-")]


def test_a_bundle_without_an_artifact_names_it(
    reg: Registry, project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards against a silent partial fill: a bundle of another lock lists what is missing,
    and not one artifact is fetched from it."""
    root, env, _ = project
    toml = (root / "mlenv.toml").read_text()
    (root / "mlenv.toml").write_text(
        toml.replace('dependencies = ["app"]', 'dependencies = ["lib"]')
    )
    (root / "mlenv.lock").unlink()
    assert run_mlenv(["lock"], root, env).returncode == 0
    lib_only = f"oci://{reg.host}/team/lib-only:1"
    assert run_mlenv(["fetch", "--bundle", lib_only, "--insecure"], root, env).returncode == 0
    (root / "mlenv.toml").write_text(toml)
    (root / "mlenv.lock").unlink()
    assert run_mlenv(["lock"], root, env).returncode == 0
    empty = tmp_path / "empty"
    result = run_mlenv(
        ["fetch", "--from", lib_only, "--insecure"], root, {"MLENV_CACHE_DIR": str(empty)}
    )
    assert result.returncode == 1
    assert "1 artifact(s) of the lock are not in oci://" in result.stderr
    assert "app 1.0" in result.stderr
    assert not empty.exists() or not artifact_files(empty)


def test_basic_auth_from_the_docker_config(
    project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards that bundle push and pull use the registry client's auth (htpasswd registry)."""
    root, env, _ = project
    config = tmp_path / "docker"
    config.mkdir()
    token = base64.b64encode(b"ci:s3cret-pw").decode()
    with registry(htpasswd=("ci", "s3cret-pw")) as secured:
        ref = f"oci://{secured.host}/private/env:1"
        anonymous = run_mlenv(
            ["fetch", "--bundle", ref, "--insecure"], root, {**env, "DOCKER_CONFIG": str(config)}
        )
        assert anonymous.returncode == 1 and "HTTP 401" in anonymous.stderr
        (config / "config.json").write_text(json.dumps({"auths": {secured.host: {"auth": token}}}))
        authed = {**env, "DOCKER_CONFIG": str(config)}
        assert run_mlenv(["fetch", "--bundle", ref, "--insecure"], root, authed).returncode == 0
        pulled = run_mlenv(
            ["fetch", "--from", ref, "--insecure"],
            root,
            {"MLENV_CACHE_DIR": str(tmp_path / "c2"), "DOCKER_CONFIG": str(config)},
        )
        assert pulled.returncode == 0, pulled.stderr
        assert len(artifact_files(tmp_path / "c2")) == 2


# ---------------------------------------------------------------------------------------------
# The shared cache of a fleet


def wheel_downloads(server: IndexServer) -> int:
    return sum(1 for r in server.requests if r.path.endswith(".whl") and r.method == "GET")


def runner(root: Path, tmp_path: Path, name: str, shared: str, *args: str) -> subprocess.Popen[str]:
    """One CI runner: its own empty cache, the fleet's shared cache from the environment."""
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": "/dev/null",
        "MLENV_CACHE_DIR": str(tmp_path / name),
        "MLENV_CACHE_REGISTRY": shared,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "mlenv", "fetch", "--insecure", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_runners_share_one_download_through_the_registry(
    reg: Registry, project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards the fleet cache: 8 cold runners started at once take turns through the lease
    (registry_lease), so each wheel is downloaded from the index once in all, and each runner
    leaves a consistent cache; after that, runners download nothing from the index."""
    root, _env, server = project
    shared = f"oci://{reg.host}/fleet/cache"
    server.clear_log()
    cold = [runner(root, tmp_path, f"cold-{i}", shared, "--push-cache") for i in range(8)]
    logs = [process.communicate(timeout=300)[1] for process in cold]
    assert [process.returncode for process in cold] == [0] * 8, "\n---\n".join(logs)
    wheels = sorted(r.path for r in server.requests if r.path.endswith(".whl"))
    assert len(wheels) == len(set(wheels)) == 2, (wheels, logs)  # each wheel once, in all
    waited = [log for log in logs if "waiting for it to publish them" in log]
    assert len(waited) >= 1, logs
    for i in range(8):
        check = run_mlenv(
            ["verify", "--cache"], root, {"MLENV_CACHE_DIR": str(tmp_path / f"cold-{i}")}
        )
        assert check.returncode == 0, check.stderr

    server.clear_log()
    warm = [runner(root, tmp_path, f"warm-{i}", shared) for i in range(4)]
    logs = [process.communicate(timeout=300)[1] for process in warm]
    assert [process.returncode for process in warm] == [0] * 4, "\n---\n".join(logs)
    assert all("2 artifact(s) from the shared cache" in log for log in logs), logs
    assert wheel_downloads(server) == 0, [r.path for r in server.requests]
    for i in range(4):
        check = run_mlenv(
            ["verify", "--cache"], root, {"MLENV_CACHE_DIR": str(tmp_path / f"warm-{i}")}
        )
        assert check.returncode == 0, check.stderr


def test_a_tampered_shared_cache_is_refused_not_trusted(
    reg: Registry, project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards that the shared cache is never trusted: other bytes for a digest fail the fetch
    with the registry named, and nothing of that artifact is stored."""
    root, env, _ = project
    shared = f"oci://{reg.host}/fleet/poisoned"
    warm = run_mlenv(
        ["fetch", "--insecure", "--push-cache"], root, {**env, "MLENV_CACHE_REGISTRY": shared}
    )
    assert warm.returncode == 0, warm.stderr
    lock = (root / "mlenv.lock").read_text()
    lib_sha = lock.split('name = "lib"', 1)[1].split('sha256 = "', 1)[1].split('"', 1)[0]
    data = reg.storage / "docker/registry/v2/blobs/sha256" / lib_sha[:2] / lib_sha / "data"
    original = data.read_bytes()
    data.write_bytes(bytes([original[0] ^ 1]) + original[1:])
    try:
        cache = tmp_path / "victim"
        result = run_mlenv(
            ["fetch", "--insecure"],
            root,
            {"MLENV_CACHE_DIR": str(cache), "MLENV_CACHE_REGISTRY": shared},
        )
    finally:
        data.write_bytes(original)
    assert result.returncode == 1
    assert "the shared cache serves other bytes for sha256:" + lib_sha in result.stderr
    assert lib_sha not in [p.name for p in artifact_files(cache)]


def test_an_unreachable_shared_cache_falls_back_to_the_index(
    project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards availability: a shared cache that is down warns and the index serves all."""
    root, _, _server = project
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cache = tmp_path / "alone"
    result = run_mlenv(
        ["fetch", "--insecure"],
        root,
        {
            "MLENV_CACHE_DIR": str(cache),
            "MLENV_CACHE_REGISTRY": f"oci://127.0.0.1:{port}/fleet/cache",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "the shared cache is unavailable, fetching from the indexes" in result.stderr
    assert len(artifact_files(cache)) == 2


def test_push_cache_without_a_shared_cache_is_a_usage_error(
    project: tuple[Path, dict[str, str], IndexServer],
) -> None:
    """Guards against --push-cache silently doing nothing."""
    root, env, _ = project
    result = run_mlenv(["fetch", "--push-cache"], root, env)
    assert result.returncode == 1
    assert "--push-cache needs a shared cache" in result.stderr


# ---------------------------------------------------------------------------------------------
# The air gap: a network namespace whose only server is the internal registry

_AIR_GAP = """
set -e
ip link set lo up
docker-registry serve "$CONFIG" > "$LOG" 2>&1 &
registry=$!
trap 'kill $registry' EXIT
python - <<'PY'
import socket, sys, time
for _ in range(300):
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 5000)) == 0:
            sys.exit(0)
    time.sleep(0.1)
sys.exit("the registry did not start")
PY
"$PYTHON" -m mlenv fetch --insecure --from "$BUNDLE"
"$PYTHON" -m mlenv build --offline -o "$DIST"
if MLENV_CACHE_DIR="$DIST.probe" "$PYTHON" -m mlenv fetch > /dev/null 2>&1; then
    echo "the index was reachable from the air gap" >&2
    exit 9
fi
"""


def test_fetch_from_inside_an_air_gap_that_has_only_the_registry(
    reg: Registry, project: tuple[Path, dict[str, str], IndexServer], tmp_path: Path
) -> None:
    """Guards the air-gap flow end to end: in a network namespace where the only server is
    the internal registry (the index is unreachable), `fetch --from` fills an empty cache and
    the offline build is byte-identical to the build from the index."""
    root, env, _ = project
    pushed = run_mlenv(
        ["fetch", "--bundle", f"oci://{reg.host}/airgap/env:1", "--insecure"], root, env
    )
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.strip().rpartition("@")[2]
    original = run_mlenv(["build", "--offline", "-o", str(tmp_path / "outside")], root, env)
    assert original.returncode == 0, original.stderr
    config = tmp_path / "inner.yml"  # the same storage, served inside the namespace on :5000
    config.write_text(
        "version: 0.1\nlog:\n  level: info\n"
        f"storage:\n  filesystem:\n    rootdirectory: {reg.storage}\n"
        "http:\n  addr: 127.0.0.1:5000\n"
    )
    inside = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", _AIR_GAP],
        cwd=root,
        env={
            **os.environ,
            "PIP_CONFIG_FILE": "/dev/null",
            "MLENV_CACHE_DIR": str(tmp_path / "air-gapped-cache"),
            "CONFIG": str(config),
            "LOG": str(tmp_path / "inner.log"),
            "PYTHON": sys.executable,
            "BUNDLE": f"oci://127.0.0.1:5000/airgap/env@{digest}",
            "DIST": str(tmp_path / "inside"),
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert inside.returncode == 0, inside.stderr
    assert "2 fetched" in inside.stderr
    outside_tar = (tmp_path / "outside" / "image.tar").read_bytes()
    assert (tmp_path / "inside" / "image.tar").read_bytes() == outside_tar


@pytest.mark.parametrize(
    "args",
    [
        ["--offline", "--bundle", "oci://127.0.0.1:9/x/y:1"],
        ["--offline", "--from", "oci://127.0.0.1:9/x/y:1"],
    ],
)
def test_offline_never_talks_to_a_registry(
    project: tuple[Path, dict[str, str], IndexServer], args: list[str]
) -> None:
    """Guards --offline: no registry push or pull is attempted, the user is told why."""
    root, env, _ = project
    result = run_mlenv(["fetch", *args], root, env)
    assert result.returncode == 1
    assert "--offline" in result.stderr and "Traceback" not in result.stderr
